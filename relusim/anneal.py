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
    extra_datasets: dict = field(default_factory=dict)  # name -> array, written and sealed with the others


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
    log_c: float = 0.0  # the q1 feedback's log factor on gamma when the anneal ended (``anneal``)

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
    res = measure_sample(cfg, inst, chain, trace, index, time.perf_counter() - t0)
    if cfg.anneal.equilibrium.sweeps > 0:
        if res.solved:
            datasets, attrs = equilibrate(cfg, problem, chain, inst, index)
            res.extra_datasets.update(datasets)
            res.extra_attrs.update(attrs)
        else:
            res.extra_attrs["equilibrium"] = "skipped: the sample is not solved"
        res.wall_s = time.perf_counter() - t0
    return res


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
    chain.log_c = log_c
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


def equilibrate(cfg: Config, problem, chain: Chain, inst, index: int,
                use_rrr: bool | None = None) -> tuple[dict, dict]:
    """Sample the robust ensemble over solutions in equilibrium; return (datasets, attributes).

    Starts from the anneal's last state, which must have every replica at E = 0. With
    ``anneal.equilibrium.steer`` = T > 0, first T sweeps at beta = inf during which the anneal's q1
    feedback goes on (c += gamma_gain (q1 - q-bar) after every ``every`` sweeps, both ways), nothing
    recorded: at the gamma where the anneal stopped, the equilibrium over solutions has q-bar near 1
    (measured on Fig. 3: 0.99), not q1, since the anneal stops on its way there. Then
    ``anneal.equilibrium.sweeps`` sweeps at beta = inf and gamma = the final gamma times the q1
    feedback factor exp(c) where the steering (or the anneal) left it, frozen. An adaptation that
    stops after a finite time leaves a time-homogeneous chain, exact for its gamma (as the RRR hybrid,
    relusim.kernels.replicated). With beta = inf a
    proposal that makes a replica's E > 0 has acceptance exp(-inf) = 0 (``metropolis.fill_etab``)
    and is rejected exactly, and every other proposal is the anneal's Metropolis move of the
    coupling alone; so the chain samples, exactly, the coupled measure restricted to solutions,
        P(W^1..W^y, W~) ∝ prod_a 1[E(W^a) = 0] exp(gamma sum_a W^a . W~)   (explicit reference),
    the reference traced out for ``reference: traced``, and flat over solutions for y = 1 (gamma 0).
    It is irreducible only on the set of solutions reachable by single flips from the start, as
    any single-flip sampler at beta = inf. The sampler is RRR from the first sweep (not the hybrid)
    except for the traced ensemble, which has Metropolis only: at beta = inf in the Fig. 3 runs a
    Metropolis proposal is accepted with probability ~2e-6, and RRR (docs/model.md §7; exact, tests/
    test_hybrid_exact.py) draws only moves with a non-zero acceptance, error moves having p = 0.
    Either way the chain is time-homogeneous from the first sweep. A sweep is N (y + 1) (explicit)
    or N y steps of either sampler, so autocorrelation times in sweeps are not comparable between them.

    Records, after every ``every`` sweeps (``sweeps // every`` records; trailing sweeps are run too):
      equilibrium_weights (R, y, weights) int8 and, y > 1, equilibrium_reference (R, weights) int8;
      equilibrium_stabilities (R, y, P) float64, the replicas' Delta^mu (``measure.stabilities``);
      equilibrium_reference_stabilities (R, P), the reference's (the majority vote for a traced
      ensemble), y > 1 only; equilibrium_overlap (sweeps,) the q-bar after every sweep, y > 1 only;
      equilibrium_steer_overlap (T,) the q-bar after every steering sweep, when T > 0.
    Attributes: the gamma used, the mean acceptance, and the integrated autocorrelation time
    (``measure.integrated_autocorrelation_time``, Sokal's window) of q-bar (per sweep) and of the
    mean replica stability (per record, converted to sweeps), in sweeps.
    """
    a, e, m = cfg.anneal, cfg.ensemble, cfg.model
    q = a.equilibrium
    y = e.replicas
    if chain.E.max() != 0:
        raise RuntimeError(f"sample {index}: equilibrium sampling needs every replica solved, E = {chain.E}")
    _, gammas = schedule(cfg)
    # RRR wherever it runs (not the traced ensemble): at the Fig. 3 settings a Metropolis proposal is
    # accepted with probability ~2e-6 at beta = inf, and RRR picks only moves that can be accepted.
    # Forced from the first sweep (rrr_below > 1), so the chain is time-homogeneous.
    use_rrr = _mode(cfg) != metropolis.TRACED if use_rrr is None else use_rrr  # tests and benchmarks may choose
    ctl = replicated.control(_mode(cfg), use_rrr, 2.0 if use_rrr else -1.0, replicated.BITS_BELOW, False)
    log_c = chain.log_c
    steer_q = np.full(q.steer, np.nan)
    s = 0
    while s < q.steer:  # the anneal's feedback, both ways, at beta = inf; nothing recorded
        n = min(q.every, q.steer - s)
        out = records.Trace(np.zeros((n, y), np.int64), np.zeros(n, np.int64), steer_q[s:], np.zeros(n, np.bool_))
        g = np.full(n, gammas[-1] * detmath.exp(log_c))
        if replicated.run(problem, chain.state, np.full(n, np.inf), g, ctl, out, chain.hyb) != n or chain.E.max():
            raise RuntimeError(f"sample {index}: equilibrium steering left the solutions (E = {chain.E})")
        half = steer_q[s + n // 2:s + n]
        s += n
        log_c = float(np.clip(log_c + e.gamma_gain * (e.target_overlap - math.fsum(half) / len(half)),
                              -LOG_GAMMA_CLAMP, LOG_GAMMA_CLAMP))
    gamma = float(gammas[-1] * detmath.exp(log_c)) if y > 1 else 0.0
    R = q.sweeps // q.every
    P = inst.xi.shape[0]
    stab = np.zeros((R, y, P))
    ref_stab = np.zeros((R, P))
    ws = np.zeros((R, y, m.weights_count), np.int8)
    refs = np.zeros((R, m.weights_count), np.int8)
    qbar = np.full(q.sweeps, np.nan)
    energies = np.zeros((q.sweeps, y), np.int64)
    accepted = np.zeros(q.sweeps, np.int64)
    used_rrr = np.zeros(q.sweeps, np.bool_)
    s, r = 0, 0
    while s < q.sweeps:
        n = min(q.every, q.sweeps - s)
        out = records.Trace(energies[s:], accepted[s:], qbar[s:], used_rrr[s:])
        done = replicated.run(problem, chain.state, np.full(n, np.inf), np.full(n, gamma), ctl, out, chain.hyb)
        if done != n or chain.E.max() != 0 or (used_rrr[s:s + n] != use_rrr).any():
            raise RuntimeError(f"sample {index}: equilibrium sweep left the solutions (E = {chain.E})")
        s += n
        if n == q.every:
            ws[r] = chain.w
            stab[r] = measure.stabilities(chain.w, inst.xi, inst.sigma, m.activation, m.K, m.architecture)
            if y > 1:
                ref = chain.ref if len(chain.ref) else np.where(chain.m >= 0, 1, -1).astype(np.int8)
                refs[r] = ref
                ref_stab[r] = model.stabilities(ref, inst.xi, inst.sigma, m.activation, m.K, m.architecture)
            r += 1
    energy = np.array([model.energy(w, inst.xi, inst.sigma, m.activation, m.K, m.architecture) for w in chain.w])
    if energy.max() != 0:
        raise RuntimeError(f"sample {index}: equilibrium ended off the solutions (recomputed E = {energy})")
    nv = m.weights_count * (y + 1 if len(chain.ref) else y)
    tau_s, _ = measure.integrated_autocorrelation_time(stab.mean(axis=(1, 2)))
    attrs = {"equilibrium": "sampled", "equilibrium_gamma": gamma, "equilibrium_sweeps": q.sweeps,
             "equilibrium_steer": q.steer,
             "equilibrium_every": q.every, "equilibrium_acceptance": float(accepted.sum() / (nv * q.sweeps)),
             "equilibrium_tau_stability_sweeps": tau_s * q.every}
    datasets = {"equilibrium_weights": ws, "equilibrium_stabilities": stab}
    if y > 1:
        tau_q, _ = measure.integrated_autocorrelation_time(qbar)
        attrs["equilibrium_tau_overlap_sweeps"] = tau_q
        datasets["equilibrium_reference"] = refs
        datasets["equilibrium_reference_stabilities"] = ref_stab
        datasets["equilibrium_overlap"] = qbar
        if q.steer:
            datasets["equilibrium_steer_overlap"] = steer_q
    return datasets, attrs
