"""Metropolis with marginal-pattern bitsets: Delta E in O(P / 64) word operations (ALGORITHMS.md §1).

A flip of W_i moves H_l (l = i // n) by +2 (where W_i xi_i = -1) or -2 (where W_i xi_i = +1), and a
pattern's error status can change only through that. For every replica a and unit l we keep four
bitsets over the patterns:
  B[a, l, 0] = {mu: H_l + 2 turns a correct pattern into an error}
  B[a, l, 1] = {mu: H_l + 2 turns an error into a correct pattern}
  B[a, l, 2], B[a, l, 3]: the same for H_l - 2.
With U the bitset of {mu: W_i xi_i = -1} (from the packed patterns XB), exactly
  Delta E_i = |U & B0| - |U & B1| + |~U & B2| - |~U & B3|.
After an accepted flip the bits of unit l are recomputed for every pattern, and those of the other
units for the patterns whose margin changed. That costs far more than one energy change, so the
driver uses this path only while the acceptance is low (low temperature), where it replaces the
O(P) pass by a few popcounts. The plain pass in ``metropolis.sweep`` is the twin it is tested against.
"""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from . import rng as _rng
from .fields import _dg
from .metropolis import EXPLICIT, TRACED


@intrinsic
def _popcount(typingctx, x):
    """llvm.ctpop on a uint64 (one popcnt instruction)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [args[0].type])
        return builder.call(fn, args)

    return sig, codegen


def pack_patterns(XT: np.ndarray) -> np.ndarray:
    """XB (N, Pp/64) uint64: bit mu % 64 of word mu // 64 of row i set iff xi^mu_i = +1 (padding is 0)."""
    return np.ascontiguousarray(np.packbits(XT > 0, axis=1, bitorder="little")).view("<u8").astype(np.uint64)


def new_bits(y: int, K: int, Pp: int) -> np.ndarray:
    """Empty bitsets B (y, K, 4, Pp/64) (filled by ``build_bits``)."""
    return np.zeros((y, K, 4, Pp // 64), np.uint64)


@njit(inline="always")
def _set_bits(B, sig, c, act, H, marg, a, l, mu):
    """Recompute the four bits of (replica a, unit l, pattern mu) from H and marg."""
    word = mu >> 6
    bit = np.uint64(1) << np.uint64(mu & 63)
    keep = ~bit
    s = sig[mu]
    for k in range(4):
        B[a, l, k, word] &= keep
    if s == 0:
        return
    m = np.int64(marg[a, mu])
    err = m <= 0
    ho = H[a, l, mu]
    cl = np.int64(c[l] * s)
    up = m + cl * _dg(act, ho, np.int16(ho + 2)) <= 0
    dn = m + cl * _dg(act, ho, np.int16(ho - 2)) <= 0
    if up != err:
        B[a, l, 1 if err else 0, word] |= bit
    if dn != err:
        B[a, l, 3 if err else 2, word] |= bit


@njit(cache=True)
def build_bits(sig, c, act, H, marg, B):
    """Every bit of every replica from H and marg (O(y K P))."""
    y, K, Pp = H.shape
    for a in range(y):
        for l in range(K):
            for mu in range(Pp):
                _set_bits(B, sig, c, act, H, marg, a, l, mu)


@njit(cache=True)
def delta_energy_bits(XB, B, w, a, i, l):
    """Delta E of flipping W^a_i from the bitsets: |U & B0| - |U & B1| + |~U & B2| - |~U & B3|."""
    flipx = np.uint64(0xFFFFFFFFFFFFFFFF) if w[a, i] > 0 else np.uint64(0)
    d = np.int64(0)
    for k in range(XB.shape[1]):
        u = XB[i, k] ^ flipx  # bit set where W_i xi_i = -1, i.e. H_l moves by +2
        nu = ~u
        d += (np.int64(_popcount(u & B[a, l, 0, k])) - np.int64(_popcount(u & B[a, l, 1, k]))
              + np.int64(_popcount(nu & B[a, l, 2, k])) - np.int64(_popcount(nu & B[a, l, 3, k])))
    return d


@njit(cache=True)
def sweep(XT, XB, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit, B, msave):
    """One Metropolis sweep, the same moves and acceptance as ``metropolis.sweep``, energy changes from B.

    B must be consistent with (H, marg) on entry (``build_bits``) and is kept so.
    """
    y, N = w.shape
    P = XT.shape[1]
    K = c.shape[0]
    e_up, e_dn = np.exp(-2.0 * gamma), np.exp(2.0 * gamma)
    ny = y + 1 if mode == EXPLICIT else y
    nvar = N * ny
    acc = 0
    for _ in range(nvar):
        r = _rng.next_u64(state)
        a = np.int64(((r >> np.uint64(32)) * np.uint64(ny)) >> np.uint64(32))
        i = np.int64(((r & np.uint64(0xFFFFFFFF)) * np.uint64(N)) >> np.uint64(32))
        if a < y:
            l = unit[i]
            dE = delta_energy_bits(XB, B, w, a, i, l)
            x = etab[dE + P]
            if mode == EXPLICIT:
                x *= e_up if ref[i] == w[a, i] else e_dn
            elif mode == TRACED:
                x *= ctab[m[i] + y, (w[a, i] + 1) // 2]
            if x >= 1.0 or _rng.uniform(state) < x:
                t = np.int16(2 * w[a, i])
                cl = np.int16(c[l])
                for mu in range(P):
                    msave[mu] = marg[a, mu]
                    ho = H[a, l, mu]
                    hn = np.int16(ho - t * XT[i, mu])
                    H[a, l, mu] = hn
                    marg[a, mu] = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))
                m[i] -= t
                w[a, i] = -w[a, i]
                E[a] += dE
                acc += 1
                for mu in range(P):
                    if marg[a, mu] != msave[mu]:
                        for l2 in range(K):
                            _set_bits(B, sig, c, act, H, marg, a, l2, mu)
                    else:
                        _set_bits(B, sig, c, act, H, marg, a, l, mu)
        else:
            x = 2.0 * gamma * ref[i] * m[i]
            if x <= 0.0 or _rng.uniform(state) < np.exp(-x):
                ref[i] = -ref[i]
                acc += 1
    return acc
