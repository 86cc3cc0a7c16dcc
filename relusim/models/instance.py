"""Random training sets and the per-sample random streams, all derived from (config.seed, sample index).

Streams: ``SeedSequence(seed, spawn_key=(index, 0))`` draws the disorder (patterns, labels) and
``spawn_key=(index, 1)`` the dynamics (initial weights, Monte Carlo moves), so a sample's bits depend
only on the config seed and its index, never on the worker that runs it (ARCHITECTURE.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DISORDER, DYNAMICS = 0, 1


def stream(seed: int, index: int, which: int) -> np.random.SeedSequence:
    """The SeedSequence of one sample's disorder (``which=0``) or dynamics (``which=1``) stream."""
    return np.random.SeedSequence(seed, spawn_key=(index, which))


@dataclass(frozen=True)
class Instance:
    """A training set: ``xi`` (P, N) int8 of +-1 patterns and ``sigma`` (P,) int8 of +-1 labels (docs/model.md §3)."""

    xi: np.ndarray
    sigma: np.ndarray


def make(N: int, P: int, seed: int, index: int) -> Instance:
    """i.i.d. uniform +-1 patterns and labels for sample ``index``."""
    rng = np.random.Generator(np.random.PCG64(stream(seed, index, DISORDER)))
    xi = (2 * rng.integers(0, 2, size=(P, N), dtype=np.int8) - 1).astype(np.int8)
    sigma = (2 * rng.integers(0, 2, size=P, dtype=np.int8) - 1).astype(np.int8)
    return Instance(xi, sigma)
