"""The annealing protocol's two numbers per sweep and the q1 feedback, for every weight prior.

docs/model.md §8 (relusim's recipe, ours, not the paper's): a beta schedule and a gamma schedule (a
ramp), the gamma multiplied by a feedback factor exp(c) with c += gamma_gain (q1 - q-bar) after each
record, q-bar averaged over the record's second half. ``relusim.anneal`` runs it;
``relusim.priors.binary.equilibrate`` steers with the same feedback. When a sample is solved
(``solved``) and the kernels' code for it (``stop_rule``) are defined here once.
"""
from __future__ import annotations

import math

import numpy as np

from .config import Config
from .kernels import stop

LOG_GAMMA_CLAMP = 30.0  # bounds the feedback factor exp(c), so gamma stays finite
SOLVED_WHEN = {"all": stop.ALL, "any": stop.ANY}  # ensemble.solved_when -> the kernels' stop code


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


def stop_rule(cfg: Config) -> int:
    """The kernels' stop code (``relusim.kernels.stop``): NEVER without ``anneal.stop_when_solved``, else
    ALL or ANY as ``ensemble.solved_when`` says (ALL for a single machine, where the two agree)."""
    if not cfg.anneal.stop_when_solved:
        return stop.NEVER
    return SOLVED_WHEN[cfg.ensemble.solved_when] if cfg.ensemble.replicas > 1 else stop.ALL


def solved(cfg: Config, E: np.ndarray, q: float) -> bool:
    """Whether a state with errors E (y,) and mean mutual overlap q (nan for y = 1) is solved:
    max_a E_a = 0 (``ensemble.solved_when: all``) or min_a E_a = 0 (``any``, docs/algorithms.md §12),
    and |q - q1| <= overlap_tolerance when a target overlap q1 is set."""
    e = cfg.ensemble
    errors = E.min() if e.solved_when == "any" else E.max()
    return bool(errors == 0 and (e.target_overlap is None or abs(q - e.target_overlap) <= e.overlap_tolerance))


def stopped(cfg: Config, E: np.ndarray, q: float) -> bool:
    """Whether a block of sweeps that ran to its end (errors E, overlap q after its last sweep) ends the
    run: the kernel stops after the first solved sweep, and when that is the block's last one only this
    tells the caller (before it, such a run went on: one more sweep, and with record_every 1 it never
    stopped)."""
    return stop_rule(cfg) != stop.NEVER and solved(cfg, E, q)


def feedback(log_c: float, gain: float, q1: float, qbar: np.ndarray, upper: float = LOG_GAMMA_CLAMP) -> float:
    """c + gain (q1 - <qbar>), clipped to [-LOG_GAMMA_CLAMP, upper]; <qbar> the mean of ``qbar`` (the
    second half of a record), correctly rounded (math.fsum): no CPU-dependent reduction order."""
    return float(np.clip(log_c + gain * (q1 - math.fsum(qbar) / len(qbar)), -LOG_GAMMA_CLAMP, upper))
