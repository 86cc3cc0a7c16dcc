"""Single-flip Metropolis sweeps of one machine or of a robust ensemble (ALGORITHMS.md §2-3, [R] standardMC).

Each proposal picks one variable uniformly at random and accepts with probability min(1, exp(-beta dH));
a sweep is one proposal per variable. With gamma dimensionless (MODEL.md §7):
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

from . import rng as _rng
from .fields import RELU, SIGN, SIGN_ODD, _dg

NONE, EXPLICIT, TRACED = 0, 1, 2


@njit(cache=True)
def fill_etab(etab, beta, P):
    """etab[k] = exp(-beta (k - P)) for k = 0..2P: exp(-beta dE) at index dE + P (capped at e^700)."""
    for k in range(2 * P + 1):
        etab[k] = np.exp(min(-beta * (k - P), 700.0))


@njit(inline="always")
def _logcosh(x):
    x = abs(x)
    return x + np.log1p(np.exp(-2.0 * x)) - np.log(2.0)


@njit(cache=True)
def fill_ctab(ctab, gamma, y):
    """Traced coupling factors ctab[m + y, (s + 1) // 2] = exp(logcosh gamma (m - 2s) - logcosh gamma m)."""
    for mm in range(-y, y + 1):
        for si in range(2):
            mn = mm - 2 * (2 * si - 1)
            ctab[mm + y, si] = np.exp(_logcosh(gamma * mn) - _logcosh(gamma * mm)) if abs(mn) <= y else 0.0


@njit(cache=True)
def sweep(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit):
    """One Metropolis sweep; returns the number of accepted moves (see ``_sweep``).

    Each activation gets its own copy of the loop with ``act`` a compile-time constant: left as a
    run-time value, LLVM kept the test on it inside the vectorised pattern loop (two compare-and-
    branches per 128 patterns).
    """
    if act == SIGN_ODD:
        return _sweep(XT, sig, c, n, SIGN_ODD, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit)
    if act == RELU:
        return _sweep(XT, sig, c, n, RELU, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit)
    return _sweep(XT, sig, c, n, SIGN, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit)


@njit(inline="always")
def _sweep(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit):
    """One Metropolis sweep; returns the number of accepted moves.

    ``etab`` from ``fill_etab`` at this beta; ``ctab`` from ``fill_ctab`` at this gamma (TRACED only);
    ``unit[i] = i // n`` (a table lookup instead of a division per proposal).
    E, H, marg, w, ref and m (sum of the replicas) are kept in sync. The energy change and the
    update of ``relusim.kernels.fields.delta_energy``/``apply_flip`` are written out here: numba's
    inliner would wrap each call in atomic reference-count updates that cost more than the O(P)
    loop itself. Tests hold this loop to the same brute-force twin.
    """
    y, N = w.shape
    P = XT.shape[1]
    e_up, e_dn = np.exp(-2.0 * gamma), np.exp(2.0 * gamma)
    ny = y + 1 if mode == EXPLICIT else y  # "replica" y is the reference
    nvar = N * ny
    z, one, sh = np.int16(0), np.int16(1), np.int16(15)
    acc = 0
    for _ in range(nvar):
        # one 64-bit draw gives both coordinates: (replica, weight) uniform over ny x N
        r = _rng.next_u64(state)
        a = np.int64(((r >> np.uint64(32)) * np.uint64(ny)) >> np.uint64(32))
        i = np.int64(((r & np.uint64(0xFFFFFFFF)) * np.uint64(N)) >> np.uint64(32))
        if a < y:
            l = unit[i]
            t = np.int16(2 * w[a, i])
            cl = np.int16(c[l])
            cnt = z
            for mu in range(P):
                ho = H[a, l, mu]
                hn = np.int16(ho - t * XT[i, mu])
                nm = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))
                cnt = np.int16(cnt + np.int16(np.int16(nm - one) >> sh))
            dE = -np.int64(cnt) - E[a]
            x = etab[dE + P]
            if mode == EXPLICIT:
                x *= e_up if ref[i] == w[a, i] else e_dn
            elif mode == TRACED:
                x *= ctab[m[i] + y, (w[a, i] + 1) // 2]
            if x >= 1.0 or _rng.uniform(state) < x:
                for mu in range(P):
                    ho = H[a, l, mu]
                    hn = np.int16(ho - t * XT[i, mu])
                    H[a, l, mu] = hn
                    marg[a, mu] = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))
                m[i] -= t
                w[a, i] = -w[a, i]
                E[a] += dE
                acc += 1
        else:
            x = 2.0 * gamma * ref[i] * m[i]
            if x <= 0.0 or _rng.uniform(state) < np.exp(-x):
                ref[i] = -ref[i]
                acc += 1
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
