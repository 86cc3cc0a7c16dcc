"""The annealing protocol's two numbers per sweep and the q1 feedback, for every weight prior.

docs/model.md §8 (relusim's recipe, ours, not the paper's): a beta schedule and a gamma schedule (a
ramp), the gamma multiplied by a feedback factor exp(c) with c += gamma_gain (q1 - q-bar) after each
record, q-bar averaged over the record's second half. ``relusim.anneal`` runs it;
``relusim.priors.binary.equilibrate`` steers with the same feedback.
"""
from __future__ import annotations

import math

import numpy as np

from .config import Config

LOG_GAMMA_CLAMP = 30.0  # bounds the feedback factor exp(c), so gamma stays finite


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


def feedback(log_c: float, gain: float, q1: float, qbar: np.ndarray, upper: float = LOG_GAMMA_CLAMP) -> float:
    """c + gain (q1 - <qbar>), clipped to [-LOG_GAMMA_CLAMP, upper]; <qbar> the mean of ``qbar`` (the
    second half of a record), correctly rounded (math.fsum): no CPU-dependent reduction order."""
    return float(np.clip(log_c + gain * (q1 - math.fsum(qbar) / len(qbar)), -LOG_GAMMA_CLAMP, upper))
