"""One sample from start to finish: instance, initial state, annealing, final measurements.

Reads like a table of contents; the hot loop is one kernel call per block of ``record_every`` sweeps.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import instance as _instance
from . import measure, model
from .config import Config
from .kernels import fields, metropolis
from .kernels import rng as _rng

Progress = Callable[[int, int, int], None]  # (sample index, sweeps done, current total energy)


@dataclass
class SampleResult:
    """Everything written for one finished sample (CONTRACT.md, /samples/NNNNNN)."""

    index: int
    seed_entropy: int
    solved: bool
    sweeps_done: int
    wall_s: float
    patterns: np.ndarray
    labels: np.ndarray
    weights: np.ndarray  # (y, N)
    energy: np.ndarray  # (y,)
    stabilities: np.ndarray  # (y, P)
    trace: dict = field(default_factory=dict)
    reference: np.ndarray | None = None
    reference_stabilities: np.ndarray | None = None
    extra_attrs: dict = field(default_factory=dict)


@dataclass
class Chain:
    """The mutable state of one machine: weights, caches, energy and its random stream."""

    w: np.ndarray
    H: np.ndarray
    marg: np.ndarray
    E: np.ndarray
    rng: np.ndarray


def init_chain(cfg: Config, problem, dynamics: np.random.SeedSequence) -> Chain:
    """Uniformly random initial weights and the kernel RNG, both from the dynamics stream."""
    m = cfg.model
    XT, sig, c = problem
    g = np.random.Generator(np.random.PCG64(dynamics.spawn(1)[0]))
    w = (2 * g.integers(0, 2, size=m.N, dtype=np.int8) - 1).astype(np.int8)
    H, marg = fields.new_caches(m.K, m.P)
    E = np.array([fields.build(XT, sig, c, m.n, fields.ACT_CODES[m.activation], w, H, marg)])
    return Chain(w, H, marg, E, _rng.new_state(dynamics))


def run_sample(cfg: Config, index: int, progress: Progress | None = None) -> SampleResult:
    """Anneal sample ``index`` of ``cfg`` (y = 1, Metropolis) and measure it."""
    t0 = time.perf_counter()
    m, a = cfg.model, cfg.anneal
    inst = _instance.make(m.N, m.P, cfg.seed, index)
    problem = fields.problem_arrays(inst.xi, inst.sigma, model.output_weights(m.activation, m.K))
    chain = init_chain(cfg, problem, _instance.stream(cfg.seed, index, _instance.DYNAMICS))
    betas = a.beta.values(a.sweeps)
    trace = _anneal_single(cfg, problem, chain, betas, index, progress)
    sweeps_done = int(trace["sweep"][-1])
    W = chain.w[None, :]
    energy = np.array([model.energy(chain.w, inst.xi, inst.sigma, m.activation, m.K)])
    if energy[0] != chain.E[0]:
        raise RuntimeError(f"sample {index}: cached energy {chain.E[0]} != recomputed {energy[0]}")
    return SampleResult(
        index=index,
        seed_entropy=cfg.seed,
        solved=bool(energy[0] == 0),
        sweeps_done=sweeps_done,
        wall_s=time.perf_counter() - t0,
        patterns=inst.xi,
        labels=inst.sigma,
        weights=W,
        energy=energy,
        stabilities=measure.stabilities(W, inst.xi, inst.sigma, m.activation, m.K),
        trace=trace,
    )


def _anneal_single(cfg, problem, chain: Chain, betas, index, progress) -> dict:
    m, a = cfg.model, cfg.anneal
    XT, sig, c = problem
    act = fields.ACT_CODES[m.activation]
    S = len(betas)
    energies = np.zeros(S, dtype=np.int64)
    accepted = np.zeros(S, dtype=np.int64)
    rec_sweep, rec_beta, rec_E, rec_acc = [], [], [], []
    s = 0
    while s < S:
        block = betas[s:s + a.record_every]
        done = metropolis.sweeps(XT, sig, c, m.n, act, chain.w, chain.H, chain.marg, chain.E, chain.rng,
                                 block, a.stop_when_solved, energies[s:], accepted[s:])
        s += done
        rec_sweep.append(s)
        rec_beta.append(block[done - 1])
        rec_E.append([chain.E[0]])
        rec_acc.append(int(accepted[s - done:s].sum()))
        if progress is not None:
            progress(index, s, int(chain.E[0]))
        if a.stop_when_solved and chain.E[0] == 0:
            break
    return {
        "sweep": np.array(rec_sweep, dtype=np.int64),
        "beta": np.array(rec_beta, dtype=np.float64),
        "energy": np.array(rec_E, dtype=np.int64).reshape(-1, 1),
        "accepted": np.array(rec_acc, dtype=np.int64),
    }
