"""One sample from start to finish: instance, initial state, annealing, final measurements.

Reads like a table of contents; the hot loop is one kernel call per record (``record_every`` sweeps).
The protocol for replicated systems is docs/model.md §8 (relusim's recipe, ours, not the paper's): a
beta schedule and a gamma schedule (a ramp), the gamma multiplied by a feedback factor exp(c) with
c += gamma_gain (q1 - q-bar) after each record (q-bar averaged over the record's second half).
During the schedule c <= 0: the feedback only stops the replicas from collapsing past q1, since
forcing q1 at high temperature freezes them far from any solution (measured). Then up to
``extra_sweeps`` sweeps at the final beta steer q-bar to q1 from both sides, until every replica is
a solution at the target overlap.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from . import instance as _instance
from . import measure, model
from .config import Config
from .kernels import detmath, fields, least_action, metropolis, records, replicated
from .kernels import rng as _rng

Progress = Callable[[int, int, int], None]  # (sample index, sweeps done, current total energy)
LOG_GAMMA_CLAMP = 30.0  # bounds the feedback factor exp(c), so gamma stays finite


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
    """The mutable state of y machines (and their reference): weights, caches, energies, random stream."""

    w: np.ndarray  # (y, N) int8
    H: np.ndarray  # (y, K, Pp) int16
    marg: np.ndarray  # (y, Pp) int16
    E: np.ndarray  # (y,) int64
    ref: np.ndarray  # (N,) int8; empty unless an explicit reference is sampled
    m: np.ndarray  # (N,) int16, sum of the replicas
    rng: np.ndarray  # xoshiro256** state
    hyb: np.ndarray = field(default_factory=replicated.hybrid_state)  # the RRR/Metropolis choice of the stage

    @property
    def state(self) -> records.State:
        """The kernels' record of this chain (the same arrays: kernels update the chain in place)."""
        return records.State(self.w, self.H, self.marg, self.E, self.ref, self.m, self.rng)


def _mode(cfg: Config) -> int:
    if cfg.ensemble.replicas == 1:
        return metropolis.NONE
    return metropolis.EXPLICIT if cfg.ensemble.reference == "explicit" else metropolis.TRACED


def init_chain(cfg: Config, problem, dynamics: np.random.SeedSequence) -> Chain:
    """Independent uniformly random replicas (and reference), docs/model.md §8.1, from the dynamics stream."""
    m_, y = cfg.model, cfg.ensemble.replicas
    g = np.random.Generator(np.random.PCG64(dynamics.spawn(1)[0]))
    nw = m_.weights_count
    w = (2 * g.integers(0, 2, size=(y, nw), dtype=np.int8) - 1).astype(np.int8)
    ref = np.zeros(0, np.int8)
    if _mode(cfg) == metropolis.EXPLICIT:
        ref = (2 * g.integers(0, 2, size=nw, dtype=np.int8) - 1).astype(np.int8)
    st = fields.new_state(problem, w, ref, _rng.new_state(dynamics))
    return Chain(st.w, st.H, st.marg, st.E, st.ref, st.m, st.rng)


def make_problem(cfg: Config, xi: np.ndarray, sigma: np.ndarray) -> records.Problem:
    """The kernels' record of patterns xi (P, N) and labels sigma under ``cfg.model`` (readout, fan-in,
    activation code)."""
    m = cfg.model
    return fields.problem(xi, sigma, model.output_weights(m.activation, m.K), m.n,
                          fields.act_code(m.activation, m.n), fields.gtable(m.activation, m.n, m.K))


def kernel_key(cfg: Config) -> tuple[int, int, bool]:
    """The compiled driver a binary-weight ``cfg`` runs on the error count (``replicated.kernel_key``), from
    the config alone (the least-action energy runs ``least_action.driver(act, bits)``: ``driver_of``)."""
    m = cfg.model
    return replicated.kernel_key(fields.act_code(m.activation, m.n), m.n, fields.padded(m.P), _mode(cfg),
                                 cfg.anneal.sampler == "rrr")


def driver_of(cfg: Config):
    """The compiled schedule driver (a numba dispatcher) a binary-weight ``cfg`` runs."""
    if cfg.anneal.energy == "least_action":
        act = fields.act_code(cfg.model.activation, cfg.model.n)
        return least_action.driver(act, least_action.uses_bits(act, cfg.model.K))
    return replicated.driver(*kernel_key(cfg))


def compile_run(cfg: Config) -> None:
    """Compile (or load from numba's cache) every kernel a run of ``cfg`` uses: sample 0 for one sweep,
    nothing written. Worker processes started afterwards load the cache instead of compiling."""
    one = replace(cfg, anneal=replace(cfg.anneal, sweeps=1, extra_sweeps=0, record_every=1))
    run_sample(one, 0)


def run_sample(cfg: Config, index: int, progress: Progress | None = None) -> SampleResult:
    """Anneal sample ``index`` of ``cfg`` and measure it."""
    if cfg.model.weights == "spherical":
        from .anneal_spherical import run_sample as run_spherical

        return run_spherical(cfg, index, progress)
    t0 = time.perf_counter()
    m = cfg.model
    inst = _instance.make(m.N, m.P, cfg.seed, index)
    problem = make_problem(cfg, inst.xi, inst.sigma)
    chain = init_chain(cfg, problem, _instance.stream(cfg.seed, index, _instance.DYNAMICS))
    trace = anneal(cfg, problem, chain, index, progress)
    return measure_sample(cfg, inst, chain, trace, index, time.perf_counter() - t0)


def schedule(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """beta and gamma of every sweep: the schedules, then ``extra_sweeps`` at their final values
    (gamma 0 for a single machine)."""
    a, e = cfg.anneal, cfg.ensemble
    betas = a.beta.values(a.sweeps)
    gammas = e.gamma.values(a.sweeps) if e.replicas > 1 else np.zeros(a.sweeps)
    if a.extra_sweeps:
        betas = np.concatenate([betas, np.full(a.extra_sweeps, betas[-1])])
        gammas = np.concatenate([gammas, np.full(a.extra_sweeps, gammas[-1])])
    return betas, gammas


def anneal(cfg: Config, problem, chain: Chain, index: int = 0, progress: Progress | None = None) -> dict:
    """Run the schedule (and the extra sweeps) on ``chain`` in place; return the trace records."""
    a, e = cfg.anneal, cfg.ensemble
    y = e.replicas
    betas, gammas = schedule(cfg)
    q1 = np.nan if e.target_overlap is None else e.target_overlap
    S = len(betas)
    energies = np.zeros((S, y), np.int64)
    accepted = np.zeros(S, np.int64)
    qbar = np.full(S, np.nan)
    used_rrr = np.zeros(S, np.bool_)
    rec = {"sweep": [], "beta": [], "gamma": [], "energy": [], "overlap": [], "accepted": [], "rrr": []}
    ctl = replicated.control(_mode(cfg), a.sampler == "rrr", a.rrr_below, replicated.BITS_BELOW,
                             a.stop_when_solved, q1, e.overlap_tolerance)
    la = None
    if a.energy == "least_action":  # docs/algorithms.md §10: Metropolis on exp(-beta L), E kept beside it
        la = least_action.new(problem, chain.state)
        costs = np.zeros((S, y), np.int64)
        rec["cost"] = []  # the annealed energy L of every replica (E, the errors, is "energy")
    explicit = len(chain.ref) > 0
    if explicit:
        rec["reference_overlap"] = []
    log_c = 0.0
    s = 0
    while s < S:
        block = slice(s, min(s + a.record_every, S))
        g = gammas[block] * detmath.exp(log_c)  # libm/NumPy exp differ in last bits by CPU
        out = records.Trace(energies[s:], accepted[s:], qbar[s:], used_rrr[s:])
        if la is None:
            done = replicated.run(problem, chain.state, betas[block], g, ctl, out, chain.hyb)
        else:
            done = least_action.run(problem, chain.state, la, betas[block], g, ctl, out, costs[s:], chain.hyb)
            rec["cost"].append(la.L.copy())
        rec["sweep"].append(s + done)
        rec["beta"].append(betas[s + done - 1])
        rec["gamma"].append(g[done - 1])
        rec["energy"].append(chain.E.copy())
        rec["overlap"].append(qbar[s + done - 1])
        rec["accepted"].append(int(accepted[s:s + done].sum()))
        rec["rrr"].append(float(used_rrr[s:s + done].mean()))
        if explicit:  # p_a = ref . W^a / N, exact in float64 (integer dot product)
            rec["reference_overlap"].append(chain.w.astype(np.int64) @ chain.ref.astype(np.int64)
                                            / cfg.model.weights_count)
        s += done
        if not np.isnan(q1):
            half = qbar[s - done + done // 2:s]
            q_stage = math.fsum(half) / len(half)  # correctly rounded: no CPU-dependent reduction order
            # during the schedule the feedback only holds the replicas back (c <= 0): pushing them
            # together at high temperature freezes them far from the solutions; afterwards it steers
            upper = 0.0 if s < a.sweeps else LOG_GAMMA_CLAMP
            log_c = float(np.clip(log_c + e.gamma_gain * (q1 - q_stage), -LOG_GAMMA_CLAMP, upper))
        if progress is not None:
            progress(index, s, int(chain.E.sum()))
        if done < block.stop - block.start:  # the kernel stopped: solved (at the target overlap)
            break
    if la is not None:  # the cached costs against a rebuild from the fields (themselves checked against
        # the brute-force model's energy in measure_sample)
        cached = la.L.copy()
        for a_ in range(y):
            least_action.build(problem, chain.state, la, a_)
        if not np.array_equal(cached, la.L):
            raise RuntimeError(f"sample {index}: cached least-action costs {cached} != rebuilt {la.L}")
    return {k: np.array(v, dtype=np.int64 if k in ("sweep", "energy", "accepted", "cost") else np.float64)
            for k, v in rec.items() if y > 1 or k not in ("gamma", "overlap")}


def _solved(cfg: Config, E: np.ndarray, q: float) -> bool:
    t = cfg.ensemble.target_overlap
    return bool(E.max() == 0 and (t is None or abs(q - t) <= cfg.ensemble.overlap_tolerance))


def measure_sample(cfg: Config, inst, chain: Chain, trace: dict, index: int, wall_s: float) -> SampleResult:
    """Final energies (checked against the brute-force model), stabilities and overlaps."""
    m, y = cfg.model, cfg.ensemble.replicas
    energy = np.array([model.energy(w, inst.xi, inst.sigma, m.activation, m.K, m.architecture) for w in chain.w], np.int64)
    if not np.array_equal(energy, chain.E):
        raise RuntimeError(f"sample {index}: cached energies {chain.E} != recomputed {energy}")
    res = SampleResult(
        index=index, seed_entropy=cfg.seed, solved=False, sweeps_done=int(trace["sweep"][-1]), wall_s=wall_s,
        patterns=inst.xi, labels=inst.sigma, weights=chain.w.copy(), energy=energy,
        stabilities=measure.stabilities(chain.w, inst.xi, inst.sigma, m.activation, m.K, m.architecture), trace=trace)
    q = float("nan")
    if y > 1:
        q = model.mean_mutual_overlap(chain.w)
        # traced ensembles have no sampled centre: the majority vote stands in for it
        ref = chain.ref.copy() if len(chain.ref) else np.where(chain.m >= 0, 1, -1).astype(np.int8)
        res.reference = ref
        res.reference_stabilities = model.stabilities(ref, inst.xi, inst.sigma, m.activation, m.K, m.architecture)
        res.extra_attrs = {
            "final_overlap": q,
            "reference_energy": model.energy(ref, inst.xi, inst.sigma, m.activation, m.K, m.architecture),
            "reference_kind": "sampled" if len(chain.ref) else "majority of the replicas",
            "reference_overlaps": (chain.w.astype(np.int64) @ ref.astype(np.int64) / m.weights_count),
        }
    res.solved = _solved(cfg, energy, q)
    return res
