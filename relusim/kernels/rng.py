"""xoshiro256** (Blackman & Vigna 2018) inside numba kernels, with an explicit uint64[4] state.

The state is a plain array owned by the caller, so a chain's random stream is part of its state,
is seeded from a ``numpy.random.SeedSequence`` and never touches a global generator.
"""
from __future__ import annotations

import numpy as np
from numba import njit, uint64

_M = np.uint64(0xFFFFFFFFFFFFFFFF)


def new_state(seed_sequence: np.random.SeedSequence) -> np.ndarray:
    """A fresh xoshiro256** state from a SeedSequence (never all-zero)."""
    s = seed_sequence.generate_state(4, np.uint64)
    if not s.any():
        s[0] = 1
    return s


@njit(inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit(inline="always")
def step(s0, s1, s2, s3):
    """One xoshiro256** step on a state held in locals: (output, s0, s1, s2, s3).

    A kernel that loads its state once and stores it back at the end keeps the stream in registers
    (through the array, every draw is 4 loads and 4 stores the compiler cannot move).
    """
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(inline="always")
def next_u64(s):
    """Advance the state array and return the next 64-bit output."""
    result, s[0], s[1], s[2], s[3] = step(s[0], s[1], s[2], s[3])
    return result


@njit(inline="always")
def to_unit(r):
    """The double in [0, 1) made of the top 53 bits of r."""
    return (r >> uint64(11)) * (1.0 / 9007199254740992.0)


@njit(inline="always")
def uniform(s):
    """A double uniform in [0, 1) with 53 random bits."""
    return to_unit(next_u64(s))


@njit(inline="always")
def below(s, n):
    """An integer uniform in [0, n) for n < 2^32 (Lemire's multiply-shift on the top 32 bits)."""
    return np.int64(((next_u64(s) >> uint64(32)) * uint64(n)) >> uint64(32))
