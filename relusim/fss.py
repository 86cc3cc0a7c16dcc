"""Solved fractions, their binomial errors and the finite-size-scaling fit of a SAT/UNSAT transition.

Finite-size scaling (Nadler & Fink, PRL 78, 555 (1997)): the probability that an instance of size N
at load alpha is solved depends on the two through one variable,

    P_solved(alpha, N) = f(x),   x = (alpha - alpha_c) N^(1/nu),

so the curves of all N cross at alpha_c and collapse onto f when drawn against x. Here
f(x) = F(-(x - x0)/w) with F the logistic 1/(1 + e^-t) or the normal CDF (``shape``): w sets the
width and x0 where f = 1/2, so the 50% point of size N is alpha_50(N) = alpha_c + x0 N^(-1/nu) and
its N -> infinity limit is alpha_c. The four parameters (alpha_c, nu, w, x0) are fitted by binomial
maximum likelihood over all (alpha, N) points; their errors are the standard deviations over a
parametric bootstrap (every point's count redrawn from Binomial(n, k/n), the fit repeated).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, log_ndtr, ndtr

SHAPES = ("logistic", "erf")
Z_ONE_SIGMA = 1.0


def wilson(k, n, z: float = Z_ONE_SIGMA):
    """Wilson score interval of a binomial proportion k/n (z = 1: the 68.3% interval).

    centre (k + z^2/2)/(n + z^2), half-width z sqrt(k(n-k)/n + z^2/4)/(n + z^2) (Wilson 1927).
    """
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (k + z * z / 2) / (n + z * z)
        half = z * np.sqrt(k * (n - k) / np.where(n > 0, n, 1) + z * z / 4) / (n + z * z)
    lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def _logF(t, shape):
    return log_expit(t) if shape == "logistic" else log_ndtr(t)


def scaling_function(x, w: float, x0: float, shape: str = "logistic"):
    """f(x) = F(-(x - x0)/w): the solved probability as a function of the scaling variable."""
    t = -(np.asarray(x, float) - x0) / w
    return expit(t) if shape == "logistic" else ndtr(t)


@dataclass(frozen=True)
class ScalingFit:
    """MLE of (alpha_c, nu, w, x0) with bootstrap standard deviations (nan when not bootstrapped)."""

    alpha_c: float
    nu: float
    w: float
    x0: float
    alpha_c_err: float
    nu_err: float
    shape: str
    deviance: float  # 2 (logL_saturated - logL): about the number of points minus 4 for a good fit
    points: int
    bootstrap: int
    converged: bool

    def alpha50(self, N) -> np.ndarray:
        """The 50% point at size N: alpha_c + x0 N^(-1/nu)."""
        return self.alpha_c + self.x0 * np.asarray(N, float) ** (-1.0 / self.nu)

    def to_dict(self) -> dict:
        return asdict(self)


def _nll(theta, alpha, N, k, n, shape):
    ac, inu, logw, x0 = theta
    t = -((alpha - ac) * N ** inu - x0) / np.exp(logw)
    return -np.sum(k * _logF(t, shape) + (n - k) * _logF(-t, shape))


def _deviance(theta, alpha, N, k, n, shape) -> float:
    p = np.clip(k / n, 1e-300, 1)
    q = np.clip(1 - k / n, 1e-300, 1)
    sat = np.sum(np.where(k > 0, k * np.log(p), 0) + np.where(n - k > 0, (n - k) * np.log(q), 0))
    return float(2 * (_nll(theta, alpha, N, k, n, shape) + sat))


def _bounded(fun, lo, hi):
    def f(theta, *args):
        if np.any(theta < lo) or np.any(theta > hi):
            return np.inf
        return fun(theta, *args)
    return f


def _fit_once(alpha, N, k, n, shape, starts):
    # Nelder-Mead: a handful of parameters, and no gradients to approximate
    lo = np.array([alpha.min() - 1.0, 0.02, np.log(1e-4), -1e3])
    hi = np.array([alpha.max() + 1.0, 3.0, np.log(1e4), 1e3])
    f = _bounded(_nll, lo, hi)
    best = None
    for s in starts:
        r = minimize(f, s, args=(alpha, N, k, n, shape), method="Nelder-Mead",
                     options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 4000})
        if best is None or r.fun < best.fun:
            best = r
    return best


def _starts(alpha, N, k, n):
    p = k / n
    big = N == N.max()
    a_big = alpha[big]
    ac = float(np.interp(0.5, p[big][::-1], a_big[::-1])) if np.ptp(p[big]) > 0 else float(np.median(a_big))
    width = max(float(np.ptp(alpha)) / 4, 1e-3)
    out = []
    for inu in (0.3, 0.5, 1.0):
        out.append(np.array([ac, inu, np.log(width * N.max() ** inu), 0.0]))
    return out


def fit_scaling(alpha, N, k, n, *, shape: str = "logistic", bootstrap: int = 200,
                seed: int = 0) -> ScalingFit:
    """Fit P_solved(alpha, N) = f((alpha - alpha_c) N^(1/nu)) to counts k of n at each (alpha, N).

    Errors: a parametric bootstrap, counts redrawn from Bin(n, f) of the fit (redrawing from the
    observed k/n would never move a point seen at 0/n or n/n, and so understate the errors)."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}")
    alpha, N, k, n = (np.asarray(a, float) for a in (alpha, N, k, n))
    use = n > 0
    alpha, N, k, n = alpha[use], N[use], k[use], n[use]
    if len(np.unique(N)) < 2 or len(alpha) < 5:
        raise ValueError("a scaling fit needs at least two sizes and five points")
    r = _fit_once(alpha, N, k, n, shape, _starts(alpha, N, k, n))
    theta = r.x
    boots = []
    rng = np.random.default_rng(seed)
    ac, inu, logw, x0 = theta
    pfit = np.exp(_logF(-((alpha - ac) * N ** inu - x0) / np.exp(logw), shape))
    for _ in range(bootstrap):  # parametric: a point observed at 0/n or n/n varies too
        kb = rng.binomial(n.astype(np.int64), pfit).astype(float)
        rb = _fit_once(alpha, N, kb, n, shape, [theta])
        boots.append(rb.x)
    boots = np.array(boots) if boots else np.full((1, 4), np.nan)
    nan = float("nan")
    return ScalingFit(
        alpha_c=float(theta[0]), nu=float(1 / theta[1]), w=float(np.exp(theta[2])), x0=float(theta[3]),
        alpha_c_err=float(np.std(boots[:, 0], ddof=1)) if bootstrap > 1 else nan,
        nu_err=float(np.std(1 / boots[:, 1], ddof=1)) if bootstrap > 1 else nan,
        shape=shape, deviance=_deviance(theta, alpha, N, k, n, shape), points=int(len(alpha)),
        bootstrap=int(bootstrap), converged=bool(r.success))


@dataclass(frozen=True)
class Midpoint:
    """The 50% point of one size from a logistic fit in alpha, with its bootstrap error."""

    N: int
    alpha50: float
    err: float


def _nll_one(theta, alpha, k, n):
    a50, logs = theta
    t = -(alpha - a50) / np.exp(logs)
    return -np.sum(k * log_expit(t) + (n - k) * log_expit(-t))


def midpoint(alpha, k, n, N: int, *, bootstrap: int = 200, seed: int = 0) -> Midpoint:
    """alpha_50 of one size: P = 1/(1 + exp((alpha - alpha_50)/s)) by binomial MLE; nan if undetermined.

    The error is the standard deviation of a parametric bootstrap (counts redrawn from Bin(n, P) of
    the fit). When the fitted width s is below the grid step h around alpha_50, the grid does not
    resolve the transition: the data then place alpha_50 only within that step, so the error is at
    least h / sqrt(12), the standard deviation of a point uniform in it."""
    alpha, k, n = (np.asarray(a, float) for a in (alpha, k, n))
    use = n > 0
    alpha, k, n = alpha[use], k[use], n[use]
    p = k / n
    if len(alpha) < 2 or not (p.max() > 0.5 > p.min() or p.max() >= 0.5 >= p.min() and np.ptp(p) > 0):
        return Midpoint(int(N), float("nan"), float("nan"))
    order = np.argsort(alpha)
    a0 = float(np.interp(0.5, p[order][::-1], alpha[order][::-1]))
    f = _bounded(_nll_one, np.array([alpha.min() - 0.5, np.log(1e-4)]), np.array([alpha.max() + 0.5, np.log(10.0)]))

    def fit(kk, start):
        return minimize(f, start, args=(alpha, kk, n), method="Nelder-Mead",
                        options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 2000}).x

    theta = fit(k, np.array([a0, np.log(max(np.ptp(alpha) / 8, 1e-3))]))
    rng = np.random.default_rng(seed)
    pfit = expit(-(alpha - theta[0]) / np.exp(theta[1]))
    boots = [fit(rng.binomial(n.astype(np.int64), pfit).astype(float), theta)[0] for _ in range(bootstrap)]
    err = float(np.std(boots, ddof=1)) if bootstrap > 1 else float("nan")
    h = grid_step(alpha, theta[0])
    if np.exp(theta[1]) < h:
        err = max(err, h / math.sqrt(12.0)) if math.isfinite(err) else err
    return Midpoint(int(N), float(theta[0]), err)


def grid_step(alpha, a) -> float:
    """The spacing of the grid ``alpha`` around ``a``: the gap that holds a (the mean of the two gaps
    beside it when a is a grid point)."""
    g = np.unique(np.asarray(alpha, float))
    j = int(np.searchsorted(g, a))
    if j < len(g) and math.isclose(g[j], a, abs_tol=1e-12):
        gaps = [g[i + 1] - g[i] for i in (j - 1, j) if 0 <= i < len(g) - 1]
        return float(np.mean(gaps)) if gaps else 0.0
    if 0 < j < len(g):
        return float(g[j] - g[j - 1])
    return 0.0


@dataclass(frozen=True)
class Extrapolation:
    """alpha_50(N) = alpha_inf + b / N fitted to the 50% points by weighted least squares.

    ``chi2`` over ``dof`` = sizes - 2 degrees of freedom; ``err`` is the least-squares error scaled by
    max(1, sqrt(chi2/dof)) (the Birge ratio), so scatter beyond the points' own errors (finite-size
    oscillations the 1/N form does not describe) widens it instead of being ignored."""

    alpha_inf: float
    err: float
    b: float
    sizes: int
    chi2: float = float("nan")
    dof: int = 0


def extrapolate_midpoints(Ns, alpha50, err) -> Extrapolation:
    """The 50% points extrapolated to N -> infinity with a leading 1/N correction (an alternative to
    the scaling fit, whose drift exponent is tied to 1/nu); nan with fewer than two finite points."""
    Ns, a, e = (np.asarray(v, float) for v in (Ns, alpha50, err))
    ok = np.isfinite(a) & np.isfinite(e) & (e > 0)
    if ok.sum() < 2:
        return Extrapolation(float("nan"), float("nan"), float("nan"), int(ok.sum()))
    X = np.column_stack([np.ones(ok.sum()), 1.0 / Ns[ok]])
    Wt = 1.0 / e[ok] ** 2
    cov = np.linalg.inv(X.T @ (X * Wt[:, None]))
    coef = cov @ (X.T @ (Wt * a[ok]))
    chi2 = float(np.sum(Wt * (a[ok] - X @ coef) ** 2))
    dof = int(ok.sum()) - 2
    scale = max(1.0, math.sqrt(chi2 / dof)) if dof > 0 else 1.0
    return Extrapolation(float(coef[0]), float(scale * np.sqrt(cov[0, 0])), float(coef[1]), int(ok.sum()),
                         chi2, dof)
