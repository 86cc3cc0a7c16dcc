"""Single-flip Metropolis sweeps on one binary committee machine (ALGORITHMS.md §2, [R] standardMC).

Each proposal picks a weight uniformly at random, computes Delta E and accepts with probability
min(1, exp(-beta Delta E)). One sweep is N proposals; beta is constant within a sweep.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import rng as _rng
from .fields import apply_flip, delta_energy


@njit(cache=True)
def sweeps(XT, sig, c, n, act, w, H, marg, E, state, betas, stop_when_solved, energies, accepted):
    """Run len(betas) sweeps, sweep s at inverse temperature betas[s].

    E is a 1-element int64 array holding the current energy (kept in sync). After sweep s,
    energies[s] holds E and accepted[s] the number of accepted flips in it. Returns the number of
    sweeps done: fewer than len(betas) only when ``stop_when_solved`` and E reached 0.
    """
    N, P = XT.shape
    etab = np.empty(P + 1)
    last_beta = -1.0
    e = E[0]
    for s in range(betas.shape[0]):
        beta = betas[s]
        if beta != last_beta:
            for k in range(P + 1):
                etab[k] = np.exp(-beta * k)
            last_beta = beta
        acc = 0
        for _ in range(N):
            i = _rng.below(state, N)
            dE = delta_energy(XT, sig, c, n, act, w, H, marg, e, i)
            if dE <= 0 or _rng.uniform(state) < etab[dE]:
                apply_flip(XT, sig, c, n, act, w, H, marg, i)
                e += dE
                acc += 1
        E[0] = e
        energies[s] = e
        accepted[s] = acc
        if stop_when_solved and e == 0:
            return s + 1
    return betas.shape[0]
