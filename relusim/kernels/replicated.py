"""Annealing driver for one machine or a robust ensemble, with Metropolis or RRR (MODEL.md §7-8).

``run`` does a block of sweeps at given (beta, gamma) per sweep. With the RRR sampler it falls back to
Metropolis sweeps while their acceptance is high (RRR pays for its bookkeeping only when most
Metropolis proposals would be rejected), and switches when the acceptance (measured, or z / nv in
RRR mode) drops below ``rrr_below``, as the reference implementation does.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import bits, metropolis, rrr
from .metropolis import TRACED

BITS_BELOW = 0.5  # bitsets while the acceptance is below this (measured: they lose only near 100%)


@njit(cache=True)
def replica_sums(w, m):
    """m_i = sum_a W^a_i."""
    y, N = w.shape
    for i in range(N):
        s = 0
        for a in range(y):
            s += w[a, i]
        m[i] = s


@njit(cache=True)
def mean_mutual_overlap(m, y):
    """q-bar = 2/(y(y-1)) sum_{a<b} W^a.W^b / N = (sum_i m_i^2 - y N) / (N y (y - 1)) (MODEL.md §7)."""
    N = m.shape[0]
    s = 0
    for i in range(N):
        s += np.int64(m[i]) * m[i]
    return (s - y * N) / (N * y * (y - 1.0))


@njit(cache=True)
def run(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, betas, gammas, use_rrr, rrr_below, bits_below,
        stop_when_solved, q_target, q_tol, energies, accepted, qbar, rrr_used):
    """len(betas) sweeps, sweep s at (betas[s], gammas[s]); returns the number of sweeps done.

    After sweep s: energies[s, :] = E, accepted[s], qbar[s] (nan for y = 1), rrr_used[s].
    Stops early when ``stop_when_solved``, every E[a] == 0 and (q_target is nan or
    |qbar - q_target| <= q_tol). Metropolis sweeps take Delta E from class-change bitsets
    (``metropolis.sweep_bits``) where ``bits.pays`` and while the acceptance is below ``bits_below``
    (BITS_BELOW; a benchmark or test forces the full pass with bits_below < 0, the bitsets with > 1),
    else the full pass; both are the same chain, so the choice never changes a result.
    """
    y, N = w.shape
    P = XT.shape[1]
    nv = N * (y + 1) if mode == metropolis.EXPLICIT else N * y
    etab = np.empty(2 * P + 1)
    ctab = np.zeros((2 * y + 1, 2))
    scratch = rrr.alloc(y, N, P, mode)
    unit = np.arange(N) // n
    XB, SG = bits.problem_bits(XT, sig)
    UD, M = bits.new_state(y, c.shape[0], P)
    with_bits = bits_below > 1.0 or bits.pays(act, n, P)
    in_bits = False
    last_beta, last_gamma = -1.0, -1.0
    in_rrr = False
    rate = 0.0 if rrr_below > 1.0 else 1.0  # the first sweep is Metropolis unless RRR is forced
    for s in range(betas.shape[0]):
        beta, gamma = betas[s], gammas[s]
        changed = beta != last_beta or gamma != last_gamma
        if beta != last_beta:
            metropolis.fill_etab(etab, beta, P)
        if mode == TRACED and gamma != last_gamma:
            metropolis.fill_ctab(ctab, gamma, y)
        last_beta, last_gamma = beta, gamma
        if use_rrr and mode != TRACED and rate < rrr_below:
            if not in_rrr:
                rrr.rebuild_delta(XT, sig, c, n, act, w, H, marg, E, scratch[0])
            if not in_rrr or changed:
                rrr.rebuild_p(scratch[0], w, ref, m, mode, etab, gamma, scratch[1], scratch[2])
            in_rrr, in_bits = True, False
            acc, rate = rrr.sweep(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma,
                                         scratch, stop_when_solved)
            rrr_used[s] = True
        elif with_bits and rate < bits_below:
            if not in_bits:
                bits.build(act, n, H, marg, UD, M)
            in_rrr, in_bits = False, True
            acc = metropolis.sweep_bits(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab,
                                        unit, XB, UD, M, SG)
            rate = acc / nv
            rrr_used[s] = False
        else:
            in_rrr, in_bits = False, False
            acc = metropolis.sweep(XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, gamma, ctab, unit)
            rate = acc / nv
            rrr_used[s] = False
        energies[s, :] = E
        accepted[s] = acc
        q = mean_mutual_overlap(m, y) if y > 1 else np.nan
        qbar[s] = q
        if stop_when_solved and E.max() == 0 and (np.isnan(q_target) or abs(q - q_target) <= q_tol):
            return s + 1
    return betas.shape[0]
