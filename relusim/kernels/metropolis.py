"""Single-flip Metropolis sweeps of one machine or of a robust ensemble (docs/algorithms.md §2-3, [R] standardMC).

Each proposal picks one variable uniformly at random and accepts with probability min(1, exp(-beta dH));
a sweep is one proposal per variable. With gamma dimensionless (docs/model.md §7):
  NONE      y independent machines (a single system is y = 1):  beta dH = beta dE_a
  EXPLICIT  replicas and the reference are variables (N (y + 1) of them):
              replica flip (a, i):  beta dH = beta dE_a + 2 gamma ref_i W^a_i
              reference flip i:     beta dH = 2 gamma ref_i m_i,     m_i = sum_a W^a_i
  TRACED    the reference summed out ([R] RE.jl), N y variables; flipping W^a_i = s:
              beta dH = beta dE_a - [log cosh gamma (m_i - 2s) - log cosh gamma m_i]
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import bits as _bits
from . import detmath
from . import rng as _rng
from .fields import RELU, SIGN, SIGN_ODD, _dg, is_fc

NONE, EXPLICIT, TRACED = 0, 1, 2


@njit(cache=True)
def fill_etab(etab, beta, P):
    """etab[k] = exp(-beta (k - P)) for k = 0..2P: exp(-beta dE) at index dE + P (capped at e^700)."""
    for k in range(2 * P + 1):
        etab[k] = detmath.exp(min(-beta * (k - P), 700.0))


@njit(cache=True)
def fill_ctab(ctab, gamma, y):
    """Traced coupling factors ctab[m + y, (s + 1) // 2] = exp(logcosh gamma (m - 2s) - logcosh gamma m)."""
    for mm in range(-y, y + 1):
        for si in range(2):
            mn = mm - 2 * (2 * si - 1)
            ctab[mm + y, si] = detmath.exp(detmath.logcosh(gamma * mn) - detmath.logcosh(gamma * mm)) if abs(mn) <= y else 0.0


@njit(cache=True)
def sweep(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit):
    """One Metropolis sweep with the full O(P) pass; returns the number of accepted moves (``_sweep``).

    Each activation gets its own copy of the loop with ``act`` a compile-time constant: left as a
    run-time value, LLVM kept the test on it inside the vectorised pattern loop (two compare-and-
    branches per 128 patterns).
    """
    XB, UD, M, SG = _no_bits()
    if act == SIGN_ODD:
        return _sweep(XT, sig, c, n, SIGN_ODD, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit,
                      0, XB, UD, M, SG)
    if act == RELU:
        return _sweep(XT, sig, c, n, RELU, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit,
                      0, XB, UD, M, SG)
    return _sweep(XT, sig, c, n, SIGN, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit,
                  0, XB, UD, M, SG)


@njit(cache=True)
def sweep_bits(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit, XB, UD, M, SG):
    """The same sweep (same draws, same chain) with Delta E from class-change bitsets (``relusim.kernels.bits``).

    UD and M must match (H, marg) on entry (``bits.build``) and are kept so. Compiled once per
    activation and ``bits.levels``.
    """
    lev = _bits.levels(act, n)
    if act == SIGN_ODD:
        return _sweep(XT, sig, c, n, SIGN_ODD, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit,
                      1, XB, UD, M, SG)
    if act == RELU and lev == 1:
        return _sweep(XT, sig, c, n, RELU, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit,
                      1, XB, UD, M, SG)
    if act == RELU:
        return _sweep(XT, sig, c, n, RELU, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit,
                      2, XB, UD, M, SG)
    return _sweep(XT, sig, c, n, SIGN, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit,
                  2, XB, UD, M, SG)


@njit(inline="always")
def _no_bits():
    return (np.zeros((0, 0), np.uint64), np.zeros((0, 0, 4, 0), np.uint64), np.zeros((0, 4, 0), np.uint64),
            np.zeros(0, np.uint64))


@njit(inline="always")
def _sweep(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit, use_bits, XB, UD, M, SG):
    """One Metropolis sweep; returns the number of accepted moves.

    ``etab`` from ``fill_etab`` at this beta; ``ctab`` from ``fill_ctab`` at this gamma (TRACED only);
    ``unit[i] = i // n`` (a table lookup instead of a division per proposal).
    E, H, marg, w, ref and m (sum of the replicas) are kept in sync, and with ``use_bits`` (a
    compile-time constant: 0 for the full pass, else ``bits.levels``) the bitsets UD, M too. The energy changes of
    ``relusim.kernels.fields.delta_energy`` / ``bits.delta_energy`` and the update of ``apply_flip``
    are written out here: numba's inliner would wrap each call in atomic reference-count updates
    that cost more than the loop itself. Tests hold this loop to the same brute-force twin.
    """
    y, N = w.shape
    P = XT.shape[1]
    e_up, e_dn = detmath.exp(-2.0 * gamma), detmath.exp(2.0 * gamma)
    ny = y + 1 if mode == EXPLICIT else y  # "replica" y is the reference
    nvar = N * ny
    fc = is_fc(XT, w)
    z, one, sh = np.int16(0), np.int16(1), np.int16(15)
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    acc = 0
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for _ in range(nvar):
        # one 64-bit draw gives both coordinates: (replica, weight) uniform over ny x N
        r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
        a = np.int64(((r >> np.uint64(32)) * np.uint64(ny)) >> np.uint64(32))
        i = np.int64(((r & np.uint64(0xFFFFFFFF)) * np.uint64(N)) >> np.uint64(32))
        if a < y:
            l = unit[i]
            ri = i - l * n if fc else i  # fields.row: the input weight i multiplies
            t = np.int16(2 * w[a, i])
            cl = np.int16(c[l])
            if use_bits:  # bits.delta_energy, written out; use_bits = bits.levels
                flip = ones if t > 0 else np.uint64(0)
                cflip = np.uint64(0) if cl > 0 else ones
                d = np.int64(0)
                for k in range(XB.shape[1]):
                    u = XB[ri, k] ^ flip
                    sp = SG[k] ^ cflip
                    up = u & UD[a, l, 0, k]
                    dn = ~u & UD[a, l, 1, k]
                    brk = M[a, 1, k] & ((up & ~sp) | (dn & sp))
                    fix = M[a, 0, k] & ((up & sp) | (dn & ~sp))
                    if use_bits == 2:
                        up = u & UD[a, l, 2, k]
                        dn = ~u & UD[a, l, 3, k]
                        brk |= M[a, 3, k] & ((up & ~sp) | (dn & sp))
                        fix |= M[a, 2, k] & ((up & sp) | (dn & ~sp))
                    d += np.int64(_bits.popcount(brk)) - np.int64(_bits.popcount(fix))
                dE = d
            else:
                cnt = z
                for mu in range(P):
                    ho = H[a, l, mu]
                    hn = np.int16(ho - t * XT[ri, mu])
                    nm = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))
                    cnt = np.int16(cnt + np.int16(np.int16(nm - one) >> sh))
                dE = -np.int64(cnt) - E[a]
            x = etab[dE + P]
            if mode == EXPLICIT:
                x *= e_up if ref[i] == w[a, i] else e_dn
            elif mode == TRACED:
                x *= ctab[m[i] + y, (w[a, i] + 1) // 2]
            take = x >= 1.0
            if not take:
                r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
                take = _rng.to_unit(r) < x
            if take:
                for mu in range(P):
                    ho = H[a, l, mu]
                    hn = np.int16(ho - t * XT[ri, mu])
                    H[a, l, mu] = hn
                    marg[a, mu] = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))
                m[i] -= t
                w[a, i] = -w[a, i]
                E[a] += dE
                acc += 1
                if use_bits:
                    _bits.refresh(act, use_bits, H, marg, a, l, UD, M)
        else:
            x = 2.0 * gamma * ref[i] * m[i]
            take = x <= 0.0
            if not take:
                r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
                take = _rng.to_unit(r) < detmath.exp(-x)
            if take:
                ref[i] = -ref[i]
                acc += 1
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return acc


@njit(cache=True)
def sweeps(XT, sig, c, n, act, w, H, marg, E, state, betas, stop_when_solved, energies, accepted):
    """Single machine (w (1, N), H (1, K, Pp), marg (1, Pp), E (1,)): len(betas) sweeps at betas[s].

    After sweep s, energies[s] = E and accepted[s] = accepted flips. Returns the sweeps done: fewer
    than len(betas) only when ``stop_when_solved`` and E reached 0.
    """
    P = XT.shape[1]
    etab = np.empty(2 * P + 1)
    ctab = np.zeros((1, 2))
    ref = np.zeros(0, np.int8)
    m = w[0].astype(np.int16)
    unit = np.arange(w.shape[1]) // n
    last_beta = -1.0
    for s in range(betas.shape[0]):
        if betas[s] != last_beta:
            fill_etab(etab, betas[s], P)
            last_beta = betas[s]
        accepted[s] = sweep(XT, sig, c, n, act, w, H, marg, E, ref, m, NONE, state, etab, 0.0, ctab, unit)
        energies[s] = E[0]
        if stop_when_solved and E[0] == 0:
            return s + 1
    return betas.shape[0]
