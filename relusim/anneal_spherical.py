"""One sample with spherical weights: instance, uniform start on the spheres, annealing, measurements.

The protocol is that of binary weights (``relusim.anneal``: beta and gamma schedules, the gamma
feedback toward ``ensemble.target_overlap``, ``extra_sweeps`` at the final beta); the moves are
rotations (docs/algorithms.md §4, ``relusim.kernels.spherical_mc``) and the robust ensemble has an
explicit reference on its own spheres with the coupling gamma sum_a sum_l Wt_l . W^a_l / n.
theta_max (``anneal.step``) adapts only after sweeps whose (beta, gamma) schedule point differs from
the next one's, so every stretch of constant (beta, gamma) is sampled by one fixed, exact kernel.
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import instance as _instance
from . import measure, model
from .anneal import LOG_GAMMA_CLAMP, Progress, SampleResult, schedule
from .config import Config
from .kernels import detmath, spherical, spherical_mc
from .kernels import rng as _rng


def _mode(cfg: Config) -> int:
    return spherical_mc.NONE if cfg.ensemble.replicas == 1 else spherical_mc.EXPLICIT


def make_problem(cfg: Config, xi: np.ndarray, sigma: np.ndarray) -> spherical.Problem:
    """The kernels' record of training set (xi, sigma) for the model and annealed energy of ``cfg``."""
    m = cfg.model
    return spherical.problem_arrays(xi, sigma, model.output_weights(m.activation, m.K), m.n, m.activation,
                                    cost=cfg.anneal.energy)


def kernel_key(cfg: Config) -> tuple[int, bool]:
    """The compiled driver a spherical ``cfg`` runs (``spherical_mc.loop_key``), from the config alone."""
    return spherical_mc.loop_key(spherical.act_code(cfg.model.activation), spherical.COSTS[cfg.anneal.energy])


def init_state(cfg: Config, problem: spherical.Problem, dynamics: np.random.SeedSequence) -> spherical.State:
    """Independent replicas (and reference) uniform on their spheres, from the dynamics stream."""
    m_, y = cfg.model, cfg.ensemble.replicas
    g = np.random.Generator(np.random.PCG64(dynamics.spawn(1)[0]))
    nw = m_.weights_count
    u = 1.0 - g.random((y + 1, nw))  # (0, 1]: log(u) finite
    W = spherical.gaussian_sphere(u, m_.n)
    ref = W[y].copy() if _mode(cfg) == spherical_mc.EXPLICIT else np.zeros(0)
    st = spherical.new_state(W[:y], ref, m_.P, m_.K, _rng.new_state(dynamics), cfg.anneal.precision)
    spherical_mc.rebuild(problem, st, _mode(cfg))
    return st


def theta_start(cfg: Config) -> float:
    t = cfg.anneal.step.theta_max
    return spherical_mc.default_theta(cfg.model.n) if t is None else float(t)


def adapt_flags(cfg: Config, betas: np.ndarray, gammas: np.ndarray) -> np.ndarray:
    """adapt[s]: the schedule point of sweep s + 1 differs from that of sweep s (never at the end)."""
    out = np.zeros(len(betas), np.bool_)
    if cfg.anneal.step.adapt:
        out[:-1] = (betas[1:] != betas[:-1]) | (gammas[1:] != gammas[:-1])
    return out


def run_sample(cfg: Config, index: int, progress: Progress | None = None) -> SampleResult:
    """Anneal sample ``index`` of a spherical ``cfg`` and measure it."""
    t0 = time.perf_counter()
    m = cfg.model
    inst = _instance.make(m.N, m.P, cfg.seed, index)
    problem = make_problem(cfg, inst.xi, inst.sigma)
    st = init_state(cfg, problem, _instance.stream(cfg.seed, index, _instance.DYNAMICS))
    trace = anneal(cfg, problem, st, index, progress)
    return measure_sample(cfg, inst, st, trace, index, time.perf_counter() - t0)


def anneal(cfg: Config, problem, st: spherical.State, index: int = 0, progress: Progress | None = None) -> dict:
    """The schedule (and the extra sweeps) on ``st`` in place; returns the trace records."""
    a, e = cfg.anneal, cfg.ensemble
    y = e.replicas
    betas, gammas = schedule(cfg)
    adapt = adapt_flags(cfg, betas, gammas)
    q1 = np.nan if e.target_overlap is None else e.target_overlap
    S = len(betas)
    energies = np.zeros((S, y), np.int64)
    accepted = np.zeros(S, np.int64)
    qbar = np.full(S, np.nan)
    thetas = np.zeros(S)
    theta = np.array([theta_start(cfg)])
    mode = _mode(cfg)
    rec = {"sweep": [], "beta": [], "gamma": [], "energy": [], "overlap": [], "accepted": [], "rrr": [], "theta_max": []}
    if mode == spherical_mc.EXPLICIT:
        rec["reference_overlap"] = []
    if problem.cost == spherical.PERCEPTRON:
        rec["cost"] = []  # the annealed energy L of every replica (E, the errors, is "energy")
    log_c = 0.0
    s = 0
    while s < S:
        block = slice(s, min(s + a.record_every, S))
        g = gammas[block] * detmath.exp(log_c)
        done = spherical_mc.run(problem, st, mode, betas[block], g, adapt[block], theta, a.step.target_acceptance,
                                s, a.stop_when_solved, q1, e.overlap_tolerance, energies[s:], accepted[s:],
                                qbar[s:], thetas[s:])
        rec["sweep"].append(s + done)
        rec["beta"].append(betas[s + done - 1])
        rec["gamma"].append(g[done - 1])
        rec["energy"].append(st.E.copy())
        rec["overlap"].append(qbar[s + done - 1])
        rec["accepted"].append(int(accepted[s:s + done].sum()))
        rec["rrr"].append(0.0)  # as binary files: the fraction of RRR sweeps (spherical: Metropolis only)
        rec["theta_max"].append(thetas[s + done - 1])
        if mode == spherical_mc.EXPLICIT:
            rec["reference_overlap"].append(_overlaps(st.w, st.ref))
        if "cost" in rec:  # L sums over the wrong patterns: none on a solution, so exactly 0 there (the
            # cached L carries the rounding of its updates, up to 1e-15 in float64 and 1e-6 in float32)
            rec["cost"].append(np.where(st.E == 0, 0.0, st.L))
        s += done
        if not np.isnan(q1):
            half = qbar[s - done + done // 2:s]
            q_stage = math.fsum(half) / len(half)
            upper = 0.0 if s < a.sweeps else LOG_GAMMA_CLAMP
            log_c = float(np.clip(log_c + e.gamma_gain * (q1 - q_stage), -LOG_GAMMA_CLAMP, upper))
        if progress is not None:
            progress(index, s, int(st.E.sum()))
        if done < block.stop - block.start:
            break
    spherical_mc.rebuild(problem, st, mode)  # the final state's caches from scratch (the chain is over)
    return {k: np.array(v, dtype=np.int64 if k in ("sweep", "energy", "accepted") else np.float64)
            for k, v in rec.items() if y > 1 or k not in ("gamma", "overlap")}


def _overlaps(W: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """p_a = Wt . W^a / Nw, summed with math.fsum (correctly rounded, the same bits on every CPU)."""
    return np.array([math.fsum(ref * w) / W.shape[1] for w in W])


def measure_sample(cfg: Config, inst, st: spherical.State, trace: dict, index: int, wall_s: float) -> SampleResult:
    """Final energies (the cached ones checked against the brute-force model), stabilities, overlaps."""
    m, y = cfg.model, cfg.ensemble.replicas
    W = st.w.copy()
    energy = np.array([model.energy(w, inst.xi, inst.sigma, m.activation, m.K, m.architecture) for w in W], np.int64)
    if not np.array_equal(energy, st.E):
        raise RuntimeError(f"sample {index}: cached energies {st.E} != recomputed {energy}")
    res = SampleResult(
        index=index, seed_entropy=cfg.seed, solved=False, sweeps_done=int(trace["sweep"][-1]), wall_s=wall_s,
        patterns=inst.xi, labels=inst.sigma, weights=W, energy=energy,
        stabilities=measure.stabilities(W, inst.xi, inst.sigma, m.activation, m.K, m.architecture), trace=trace)
    q = float("nan")
    if y > 1:
        q = model.mean_mutual_overlap(W)
        ref = st.ref.copy()
        res.reference = ref
        res.reference_stabilities = model.stabilities(ref, inst.xi, inst.sigma, m.activation, m.K, m.architecture)
        res.extra_attrs = {
            "final_overlap": q,
            "reference_energy": model.energy(ref, inst.xi, inst.sigma, m.activation, m.K, m.architecture),
            "reference_kind": "sampled",
            "reference_overlaps": _overlaps(W, ref),
        }
    t = cfg.ensemble.target_overlap
    res.solved = bool(energy.max() == 0 and (t is None or abs(q - t) <= cfg.ensemble.overlap_tolerance))
    return res
