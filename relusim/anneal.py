"""One sample from start to finish: instance, initial state, annealing, final measurements, for every
weight prior (``relusim.priors``).

Reads like a table of contents; the hot loop is one kernel call per record (``record_every`` sweeps),
made by the prior (``Blocks.run``). The protocol for replicated systems is docs/model.md §8 (relusim's
recipe, ours, not the paper's): a beta schedule and a gamma schedule (a ramp), the gamma multiplied by
a feedback factor exp(c) with c += gamma_gain (q1 - q-bar) after each record (q-bar averaged over the
record's second half; ``relusim.protocol``). During the schedule c <= 0: the feedback only stops the
replicas from collapsing past q1, since forcing q1 at high temperature freezes them far from any
solution (measured). Then up to ``extra_sweeps`` sweeps at the final beta steer q-bar to q1 from both
sides, until the sample is solved (``protocol.solved``: every replica, or with ``ensemble.solved_when:
any`` some replica, a solution) at the target overlap.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .models import instance as _instance
from .models import measure, machine
from . import tempering
from .config import Config
from .kernels import detmath
from .priors import prior_of
from .protocol import LOG_GAMMA_CLAMP, feedback, schedule, solved, stopped

Progress = Callable[[int, int, int], None]  # (sample index, sweeps done, current total energy)
COMMON = ("sweep", "beta", "gamma", "energy", "overlap", "accepted")  # every prior's trace, first, in this order
INTEGER = ("sweep", "energy", "accepted")


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
    extra_datasets: dict = field(default_factory=dict)  # name -> array, written and sealed with the others


def make_problem(cfg: Config, xi: np.ndarray, sigma: np.ndarray):
    """The kernels' record of patterns xi (P, N) and labels sigma under ``cfg`` (its prior's ``problem``)."""
    return prior_of(cfg).problem(cfg, xi, sigma)


def init_chain(cfg: Config, problem, dynamics: np.random.SeedSequence):
    """The replicas (and reference) at the start, from the dynamics stream (its prior's ``start``)."""
    return prior_of(cfg).start(cfg, problem, dynamics)


def compile_run(cfg: Config) -> None:
    """Compile (or load from numba's cache) every kernel a run of ``cfg`` uses: sample 0 for one sweep,
    nothing written. Worker processes started afterwards load the cache instead of compiling."""
    one = replace(cfg, anneal=replace(cfg.anneal, sweeps=1, extra_sweeps=0, record_every=1))
    run_sample(one, 0)


def anneal_instance(cfg: Config, xi: np.ndarray, sigma: np.ndarray, dynamics: np.random.SeedSequence,
                    index: int = 0, progress: Progress | None = None):
    """Problem, start and anneal of one training set: returns (problem, state, trace). With
    ``anneal.tempering`` the state is the ladder's result (``relusim.tempering.anneal``)."""
    problem = make_problem(cfg, xi, sigma)
    if cfg.anneal.tempering.rungs > 1:
        return (problem, *tempering.anneal(cfg, problem, dynamics, index, progress))
    state = init_chain(cfg, problem, dynamics)
    return problem, state, anneal(cfg, problem, state, index, progress)


def run_sample(cfg: Config, index: int, progress: Progress | None = None) -> SampleResult:
    """Anneal sample ``index`` of ``cfg`` and measure it."""
    t0 = time.perf_counter()
    m = cfg.model
    inst = _instance.make(m.N, m.P, cfg.seed, index)
    problem, state, trace = anneal_instance(cfg, inst.xi, inst.sigma,
                                            _instance.stream(cfg.seed, index, _instance.DYNAMICS), index, progress)
    res = measure_sample(cfg, inst, state, trace, index, time.perf_counter() - t0)
    if cfg.anneal.equilibrium.sweeps > 0:
        if res.solved:
            datasets, attrs = prior_of(cfg).equilibrate(cfg, problem, state, inst, index)
            res.extra_datasets.update(datasets)
            res.extra_attrs.update(attrs)
        else:
            res.extra_attrs["equilibrium"] = "skipped: the sample is not solved"
        res.wall_s = time.perf_counter() - t0
    return res


def anneal(cfg: Config, problem, state, index: int = 0, progress: Progress | None = None) -> dict:
    """Run the schedule (and the extra sweeps) on ``state`` in place; return the trace records: ``COMMON``
    (gamma and overlap only for y > 1), then the prior's own (``Blocks.trace``)."""
    a, e = cfg.anneal, cfg.ensemble
    y = e.replicas
    betas, gammas = schedule(cfg)
    q1 = np.nan if e.target_overlap is None else e.target_overlap
    S = len(betas)
    energies = np.zeros((S, y), np.int64)
    accepted = np.zeros(S, np.int64)
    qbar = np.full(S, np.nan)
    blocks = prior_of(cfg).Blocks(cfg, problem, state, betas, gammas)
    rec = {k: [] for k in (*COMMON, *blocks.trace)}
    own = [rec[k] for k in blocks.trace]
    log_c = 0.0
    s = 0
    while s < S:
        stop = min(s + a.record_every, S)
        g = gammas[s:stop] * detmath.exp(log_c)  # libm/NumPy exp differ in last bits by CPU
        done = blocks.run(s, betas[s:stop], g, energies, accepted, qbar)
        rec["sweep"].append(s + done)
        rec["beta"].append(betas[s + done - 1])
        rec["gamma"].append(g[done - 1])
        rec["energy"].append(state.E.copy())
        rec["overlap"].append(qbar[s + done - 1])
        rec["accepted"].append(int(accepted[s:s + done].sum()))
        for values, v in zip(own, blocks.record(s, done)):
            values.append(v)
        s += done
        if not np.isnan(q1):
            # during the schedule the feedback only holds the replicas back (c <= 0): pushing them
            # together at high temperature freezes them far from the solutions; afterwards it steers
            log_c = feedback(log_c, e.gamma_gain, q1, qbar[s - done + done // 2:s],
                             0.0 if s < a.sweeps else LOG_GAMMA_CLAMP)
        if progress is not None:
            progress(index, s, int(state.E.sum()))
        if s < stop or stopped(cfg, state.E, qbar[s - 1]):  # solved (at the target overlap)
            break
    blocks.finish(index, log_c)
    dtype = {**dict.fromkeys(COMMON, np.float64), **dict.fromkeys(INTEGER, np.int64), **blocks.trace}
    return {k: np.array(v, dtype=dtype[k]) for k, v in rec.items() if y > 1 or k not in ("gamma", "overlap")}


def measure_sample(cfg: Config, inst, state, trace: dict, index: int, wall_s: float) -> SampleResult:
    """Final energies (the cached ones checked against the brute-force model), stabilities and overlaps."""
    m, y = cfg.model, cfg.ensemble.replicas
    prior = prior_of(cfg)
    W = state.w.copy()
    energy = np.array([machine.energy(w, inst.xi, inst.sigma, m.activation, m.K, m.architecture) for w in W], np.int64)
    if not np.array_equal(energy, state.E):
        raise RuntimeError(f"sample {index}: cached energies {state.E} != recomputed {energy}")
    res = SampleResult(
        index=index, seed_entropy=cfg.seed, solved=False, sweeps_done=int(trace["sweep"][-1]), wall_s=wall_s,
        patterns=inst.xi, labels=inst.sigma, weights=W, energy=energy,
        stabilities=measure.stabilities(W, inst.xi, inst.sigma, m.activation, m.K, m.architecture), trace=trace)
    q = float("nan")
    if y > 1:
        q = machine.mean_mutual_overlap(W)
        ref, kind = prior.reference(state)
        res.reference = ref
        res.reference_stabilities = machine.stabilities(ref, inst.xi, inst.sigma, m.activation, m.K, m.architecture)
        res.extra_attrs = {
            "final_overlap": q,
            "reference_energy": machine.energy(ref, inst.xi, inst.sigma, m.activation, m.K, m.architecture),
            "reference_kind": kind,
            "reference_overlaps": prior.overlaps(W, ref),
        }
    res.solved = solved(cfg, energy, q)
    return res
