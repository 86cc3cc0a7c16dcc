"""Parallel tempering (replica exchange) over any weight prior: ``anneal.tempering``, docs/algorithms.md §11.

M copies of the one machine (the prior's ``start``, each from its own stream) sit at the fixed ladder
beta_0 < ... < beta_{M-1} (``ladder``); each is swept at its rung's beta by its own prior ``Blocks``
(one block call per rung and stretch of sweeps), and after every ``swap_every`` sweeps adjacent rungs
(r, r + 1) are offered an exchange of their states, accepted with probability

    min(1, exp((beta_r - beta_{r+1}) (U_r - U_{r+1}))),

U the energy the sampler anneals (``Blocks.annealed``: the error count, the least-action cost, the
perceptron cost). Even pairs (0-1, 2-3, ...) and odd pairs (1-2, ...) alternate between rounds. A swap
exchanges which state sits at which rung (``at``), never arrays. The decisions use relusim's own exp
(``detmath.exp``) and a PCG64 stream spawned from the sample's dynamics stream (``streams``), so the
same config and seed give the same bits on every CPU and worker count.

The result is the state at the coldest rung at the end or, with ``stop_when_solved``, the first state
to reach zero errors (the run stops in the sweep it does). The trace is written by ``anneal``.
"""
from __future__ import annotations

import numpy as np

from .config import Config
from .kernels import detmath
from .priors import prior_of
from .protocol import stopped

RUNG_KEY, SWAP_KEY = 1, 2  # spawn keys under the dynamics stream (``start`` uses key 0 via spawn(1))


def ladder(cfg: Config) -> np.ndarray:
    """beta_r = start (stop/start)^(r/(M-1)), r = 0 .. M-1 (``detmath.geometric``: the same bits on every
    CPU); one rung sits at beta.stop."""
    a = cfg.anneal
    M = a.tempering.rungs
    if M == 1:
        return np.array([float(a.beta.stop)])
    return detmath.geometric(float(a.beta.start), float(a.beta.stop), M)


def streams(dynamics: np.random.SeedSequence, rungs: int) -> tuple[list, np.random.SeedSequence]:
    """The start stream of every rung and the swap stream: children of the sample's dynamics stream at
    spawn keys (RUNG_KEY, r) and (SWAP_KEY,), built without touching its spawn counter."""
    def child(*key):
        return np.random.SeedSequence(dynamics.entropy, spawn_key=(*dynamics.spawn_key, *key))

    return [child(RUNG_KEY, r) for r in range(rungs)], child(SWAP_KEY)


def swap_round(at: np.ndarray, betas: np.ndarray, U: np.ndarray, first: int, u: np.ndarray) -> np.ndarray:
    """One round of exchanges over the pairs (r, r + 1), r = first, first + 2, ...: ``at`` (the state of
    every rung) permuted in place; U[i] the annealed energy of state i; u one uniform draw per pair.
    Returns whether each pair of the round swapped (in the order of the pairs)."""
    pairs = range(first, len(at) - 1, 2)
    out = np.zeros(len(pairs), np.bool_)
    for j, r in enumerate(pairs):
        d = (betas[r] - betas[r + 1]) * (U[at[r]] - U[at[r + 1]])
        if d >= 0.0 or u[j] < detmath.exp(d):
            at[r], at[r + 1] = at[r + 1], at[r]
            out[j] = True
    return out


def anneal(cfg: Config, problem, dynamics: np.random.SeedSequence, index: int = 0, progress=None):
    """Run the ladder for ``sweeps + extra_sweeps`` sweeps per rung; return (the result's state, trace).

    Trace per record (``record_every`` sweeps), in this order: sweep, beta (the coldest rung's), energy
    (1,) and accepted of the coldest rung, the prior's own entries (``Blocks.trace``) for the state at
    the coldest rung, then rung_beta (M,) the ladder, rung_energy (M,) the error count at each rung,
    rung_cost (M,) the annealed energy at each rung (when it is not the error count), rung_accepted (M,)
    the moves accepted at each rung over the record, swap_rate (M - 1,) the fraction of exchanges
    accepted between rungs r and r + 1 over the record (nan where none was offered).
    """
    a = cfg.anneal
    M, k = a.tempering.rungs, a.tempering.swap_every
    prior = prior_of(cfg)
    betas = ladder(cfg)
    S = a.sweeps + a.extra_sweeps
    starts, swaps = streams(dynamics, M)
    states = [prior.start(cfg, problem, st) for st in starts]
    zeros = np.zeros(S)
    blocks = [prior.Blocks(cfg, problem, st, np.full(S, betas[r]), zeros) for r, st in enumerate(states)]
    energies = np.zeros((M, S, 1), np.int64)
    accepted = np.zeros((M, S), np.int64)
    qbar = np.full((M, S), np.nan)
    g = np.random.Generator(np.random.PCG64(swaps))
    at = np.arange(M)
    cost = a.energy != "errors"
    own_keys = list(blocks[0].trace)
    cost_dtype = blocks[0].annealed().dtype  # the prior's own: integer L for binary weights, float on spheres
    rec = {k_: [] for k_ in ("sweep", "beta", "energy", "accepted", *own_keys, "rung_beta", "rung_energy",
                             *(("rung_cost",) if cost else ()), "rung_accepted", "swap_rate")}
    first, s, winner = 0, 0, -1
    while s < S and winner < 0:
        s0, stop = s, min(s + a.record_every, S)
        rung_acc = np.zeros(M, np.int64)
        offered, taken = np.zeros(M - 1, np.int64), np.zeros(M - 1, np.int64)
        while s < stop:
            n = min(stop, (s // k + 1) * k) - s
            for r in range(M):
                i = at[r]
                done = blocks[i].run(s, np.full(n, betas[r]), zeros[:n], energies[i], accepted[i], qbar[i])
                rung_acc[r] += accepted[i, s:s + done].sum()
                # solved: stop at the first solution (on the chunk's last sweep only ``stopped`` tells)
                if done < n or stopped(cfg, states[i].E, float("nan")):
                    winner, s = i, s + done
                    break
            if winner >= 0:
                break
            s += n
            if s % k == 0:
                U = np.array([b.annealed()[0] for b in blocks], np.float64)
                swapped = swap_round(at, betas, U, first, g.random(len(range(first, M - 1, 2))))
                offered[first::2] += 1
                taken[first::2] += swapped
                first = 1 - first if M > 2 else 0
        cold = at[M - 1] if winner < 0 else winner
        rec["sweep"].append(s)
        rec["beta"].append(betas[M - 1])
        rec["energy"].append(states[cold].E.copy())
        rec["accepted"].append(int(rung_acc[M - 1]))
        for key, v in zip(own_keys, blocks[cold].record(s0, s - s0)):
            rec[key].append(v)
        rec["rung_beta"].append(betas)
        rec["rung_energy"].append(np.array([states[i].E[0] for i in at], np.int64))
        if cost:
            rec["rung_cost"].append(np.array([blocks[i].annealed()[0] for i in at]))
        rec["rung_accepted"].append(rung_acc)
        with np.errstate(invalid="ignore", divide="ignore"):
            rec["swap_rate"].append(taken / offered)
        if progress is not None:
            progress(index, s, int(states[cold].E.sum()))
    for i, b in enumerate(blocks):
        b.finish(index, 0.0)
    dtype = {"sweep": np.int64, "energy": np.int64, "accepted": np.int64, "rung_energy": np.int64,
             "rung_accepted": np.int64, **blocks[0].trace,
             "rung_cost": cost_dtype}
    trace = {key: np.array(v, dtype=dtype.get(key, np.float64)) for key, v in rec.items()}
    return states[at[M - 1] if winner < 0 else winner], trace
