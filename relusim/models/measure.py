"""Measurements on finished configurations (docs/algorithms.md §7). Pure NumPy; robustness is in
relusim.analysis.robustness, the hidden-unit overlaps and correlations in relusim.models.units."""
from __future__ import annotations

import numpy as np

from . import machine


def stabilities(W: np.ndarray, xi: np.ndarray, sigma: np.ndarray, activation: str, K: int,
                architecture: str = "tree") -> np.ndarray:
    """Delta^mu for every row of W (y, weights): shape (y, P), docs/model.md §4 / App. E of arXiv:1907.07578."""
    return np.stack([machine.stabilities(w, xi, sigma, activation, K, architecture) for w in W])


def integrated_autocorrelation_time(x: np.ndarray, c: float = 5.0) -> tuple[float, int]:
    """Integrated autocorrelation time of the series ``x`` (in steps of the series) and its window.

    tau = 1 + 2 sum_{t=1}^{M} rho(t), rho the normalised autocovariance (the 1/n "biased" estimator,
    by FFT), with Sokal's automatic window: the smallest M with M >= c tau(M), c = 5
    (A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and new algorithms",
    in Functional Integration, Plenum 1997, §3; N. Madras & A. D. Sokal, J. Stat. Phys. 50, 109
    (1988)). Returns (tau, M); tau is nan for a constant series or fewer than 2 points. The
    estimate is trustworthy only when len(x) is many times tau (Sokal: >~ 1000 tau; 50 tau is a
    common minimum); when no window satisfies the rule, M is the last lag and tau is a lower bound.
    """
    x = np.asarray(x, np.float64)
    n = len(x)
    if n < 2:
        return float("nan"), 0
    d = x - x.mean()
    f = np.fft.rfft(d, 2 * n)
    acov = np.fft.irfft(f * np.conj(f))[:n] / n
    if not acov[0] > 0:
        return float("nan"), 0
    rho = acov / acov[0]
    taus = 2.0 * np.cumsum(rho) - 1.0  # taus[M] = 1 + 2 sum_{t=1}^{M} rho(t)
    ok = np.arange(n) >= c * taus
    M = int(np.argmax(ok)) if ok.any() else n - 1
    return float(taus[M]), M
