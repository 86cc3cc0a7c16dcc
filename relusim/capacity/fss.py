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

The extrapolated capacity (``extrapolate_with_systematics``) carries two errors: the statistical one
of the default fit, alpha_50(N) = alpha_inf + b/N over all sizes, and a systematic one, the largest
deviation from it of the other reasonable fits (1/N, 1/N + 1/N^2, Nadler-Fink, each over all sizes,
without the smallest and without the largest).
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
    return -(k * _logF(t, shape) + (n - k) * _logF(-t, shape)).sum()


def _deviance(theta, alpha, N, k, n, shape) -> float:
    p = np.clip(k / n, 1e-300, 1)
    q = np.clip(1 - k / n, 1e-300, 1)
    sat = np.sum(np.where(k > 0, k * np.log(p), 0) + np.where(n - k > 0, (n - k) * np.log(q), 0))
    return float(2 * (_nll(theta, alpha, N, k, n, shape) + sat))


def _bounded(fun, lo, hi):
    def f(theta, *args):  # ndarray methods, not np.any: a fit calls this thousands of times
        if (theta < lo).any() or (theta > hi).any():
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
    return -(k * log_expit(t) + (n - k) * log_expit(-t)).sum()


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
    """alpha_50(N) = alpha_inf + b / N (+ c / N^2 when ``order`` = 2) fitted to the 50% points by
    weighted least squares.

    ``chi2`` over ``dof`` = sizes - (order + 1) degrees of freedom; ``err`` is the least-squares error
    scaled by max(1, sqrt(chi2/dof)) (the Birge ratio), so scatter beyond the points' own errors
    (finite-size oscillations the form does not describe) widens it instead of being ignored."""

    alpha_inf: float
    err: float
    b: float
    sizes: int
    chi2: float = float("nan")
    dof: int = 0
    c: float = float("nan")  # the 1/N^2 coefficient (order 2; nan for the 1/N form)
    order: int = 1


def extrapolate_midpoints(Ns, alpha50, err, order: int = 1) -> Extrapolation:
    """The 50% points extrapolated to N -> infinity with the polynomial in 1/N of degree ``order``:

        alpha_50(N) = alpha_inf + b / N                (order 1, the default form)
        alpha_50(N) = alpha_inf + b / N + c / N^2      (order 2)

    by least squares with weights 1/err^2; nan with fewer finite points than parameters. An
    alternative to the scaling fit, whose drift exponent is tied to 1/nu."""
    if order not in (1, 2):
        raise ValueError("order must be 1 or 2")
    Ns, a, e = (np.asarray(v, float) for v in (Ns, alpha50, err))
    ok = np.isfinite(a) & np.isfinite(e) & (e > 0)
    npar = order + 1
    if ok.sum() < npar:
        return Extrapolation(float("nan"), float("nan"), float("nan"), int(ok.sum()), order=order)
    inv = 1.0 / Ns[ok]
    X = np.column_stack([np.ones(ok.sum()), inv] + ([inv * inv] if order == 2 else []))
    Wt = 1.0 / e[ok] ** 2
    cov = np.linalg.inv(X.T @ (X * Wt[:, None]))
    coef = cov @ (X.T @ (Wt * a[ok]))
    chi2 = float(np.sum(Wt * (a[ok] - X @ coef) ** 2))
    dof = int(ok.sum()) - npar
    scale = max(1.0, math.sqrt(chi2 / dof)) if dof > 0 else 1.0
    return Extrapolation(float(coef[0]), float(scale * np.sqrt(cov[0, 0])), float(coef[1]), int(ok.sum()),
                         chi2, dof, float(coef[2]) if order == 2 else float("nan"), order)


# The forms of the finite-size drift of the 50% point tried for the systematic error, with the number
# of parameters each fits to the drift (Nadler-Fink: alpha_c + x0 N^(-1/nu); its width w is fitted too,
# from the shape of the curves, not from the drift)
FORMS = {"1/N": 2, "1/N + 1/N^2": 3, "Nadler-Fink": 3}
DEFAULT_FORM = "1/N"
WINDOWS = ("all sizes", "without the smallest", "without the largest")
MIN_DOF = 1  # a midpoint fit enters with at least this many degrees of freedom
MAX_ERR_RATIO = 4.0  # ... and a statistical error at most this many times the default's
SYS_RULE = ("largest |alpha_inf - default| over forms x size windows (50%-point fits with >= 1 degree of "
            "freedom and an error <= 4 x stat; Nadler-Fink with >= 3 sizes)")


@dataclass(frozen=True)
class Variant:
    """One extrapolation of a systematics scan: a form fitted over a window of sizes."""

    form: str
    window: str
    N_min: int
    N_max: int
    sizes: int
    alpha_inf: float
    err: float  # its own statistical error (nan for the Nadler-Fink fits of a reduced window: not bootstrapped)
    chi2: float = float("nan")  # Nadler-Fink: the deviance
    dof: int = 0
    z: float = float("nan")  # (alpha_inf - default) / sqrt(|err^2 - stat^2|): beyond its own scatter?


@dataclass(frozen=True)
class Systematics:
    """The extrapolated capacity with a statistical and a systematic error (``extrapolate_with_systematics``).

    ``alpha_inf`` and ``stat`` are the default fit's (``DEFAULT_FORM`` over all sizes: the same numbers as
    ``extrapolate_midpoints``); ``sys`` the largest deviation of the other fits from it (nan when no
    other fit had enough sizes); ``disagree``: sys > stat, the forms disagree by more than the
    statistical error, so the extrapolation is limited by the form, not by the counts."""

    alpha_inf: float
    stat: float
    sys: float
    variants: tuple[Variant, ...]
    disagree: bool
    farthest: Variant | None


def _windows(sizes) -> list[tuple[str, np.ndarray]]:
    """``WINDOWS`` of the sorted sizes: all, without the smallest, without the largest."""
    s = np.unique(np.asarray(sizes, float))
    return list(zip(WINDOWS, (s, s[1:], s[:-1])))


def extrapolate_with_systematics(Ns, alpha50, err, points=None, *, shape: str = "logistic",
                                 nadler_fink_err: float = float("nan")) -> Systematics:
    """alpha_inf with its statistical error and a systematic error over fit forms and size windows.

    The default fit, alpha_50(N) = alpha_inf + b/N over every size with a 50% point, gives the central
    value and the statistical error (weighted least squares, Birge-scaled: ``extrapolate_midpoints``,
    unchanged). The systematic error is the spread of other reasonable extrapolations of the same
    data, every form of ``FORMS`` fitted over every window of ``WINDOWS``:

        1/N:          alpha_50(N) = alpha_inf + b/N               (midpoints, >= 3 sizes)
        1/N + 1/N^2:  alpha_50(N) = alpha_inf + b/N + c/N^2       (midpoints, >= 4 sizes)
        Nadler-Fink:  P(alpha, N) = f((alpha - alpha_c) N^(1/nu)) (``fit_scaling`` on the counts
                      ``points`` = (alpha, N, k, n) of the window's sizes, >= 3 sizes; alpha_inf = alpha_c)

    A midpoint fit enters only with at least one degree of freedom left (a size more than it has
    parameters: a fit through as many points as parameters has nothing to test its form against) and
    with a statistical error at most ``MAX_ERR_RATIO`` = 4 times the default's: a fit that loose
    cannot resolve a form effect of the size of stat, and its deviation is mostly its own noise
    (sqrt(4^2 - 1) = 3.9 stat expected from noise alone). The case that set the rule: the binary
    perceptron's 50% points oscillate with N (odd lattice effects), and its 1/N + 1/N^2 fits over five
    of its six sizes have 7.7-8 times the default's error; they moved sys from 0.018 to 0.127 at 1.2
    sigma of their own scatter. Nadler-Fink fits every count of the window (points - 4 degrees of
    freedom), its exponent set by the widths of the curves as well as by the drift of their 50%
    points, so three sizes suffice, as for the scaling fit ``analyse`` reports; its reduced windows are
    not bootstrapped and enter without the error filter. The default fit itself keeps its old rule
    (two sizes suffice).

        sys = max_j |alpha_inf,j - alpha_inf,default|

    the largest deviation, not half the spread (max_j - min_j)/2: the interval is centred on the
    default fit, not on the middle of the spread, and when the default form is the biased one (a
    1/N^2 term it leaves out pulls it to one end of the spread) half the spread would not reach the
    fits that describe the data. The fits on fewer sizes or with more parameters carry more
    statistical noise, which enters sys too. That is deliberate (the default fit's error assumes its
    form is exact; allow a 1/N^2 term and the same data fix alpha_inf only to about that fit's error),
    but it means a warning (sys > stat) also fires on data that follow 1/N exactly whenever the wider
    fits scatter by more than stat. Measured on synthetic 50% points at N = 9..33 with those errors
    (2000 data sets each, ``scripts/capacity_systematics_calibration.py``): the truth lies within
    stat + sys in 96% of them when the drift is exactly 1/N (warning in 75%, median sys/stat 1.9), in
    91% and 75% with a 1/N^2 term that biases the 1/N fit by 1.1 and 2.2 stat (warning in 76% and
    83%); within stat alone in 72%, 44% and 8%. At these sizes the 50% points do not fix the form to
    the statistical error, and the warning says so. To tell a form
    effect from that scatter each variant carries

        z = (alpha_inf,j - alpha_inf,default) / sqrt(|err_j^2 - stat^2|)

    (Hausman, Econometrica 46, 1251 (1978): the variance of the difference between an efficient fit
    and a consistent, less efficient one of the same data is the difference of their variances; nan
    without err_j; Nadler-Fink is not nested in the 1/N fit, so its z is only indicative): |z| of
    about 1 is scatter, |z| >= 3 a form the data contradict.
    ``points`` None: the Nadler-Fink fits are left out. ``nadler_fink_err``: the bootstrap error of the
    all-sizes Nadler-Fink fit when the caller has it (the reduced windows are not bootstrapped).
    """
    Ns, a, e = (np.asarray(v, float) for v in (Ns, alpha50, err))
    default = extrapolate_midpoints(Ns, a, e)
    ok = np.isfinite(a) & np.isfinite(e) & (e > 0)
    variants: list[Variant] = []
    if points is not None:
        pa, pN, pk, pn = (np.asarray(v, float) for v in points)
        use = pn > 0
        pa, pN, pk, pn = pa[use], pN[use], pk[use], pn[use]
        all_sizes = np.unique(np.concatenate([Ns, pN]))
    else:
        all_sizes = np.unique(Ns)
    for window, sizes in _windows(all_sizes):
        inw = np.isin(Ns, sizes) & ok
        for form, order in (("1/N", 1), ("1/N + 1/N^2", 2)):
            if form == DEFAULT_FORM and window == "all sizes":
                continue
            if inw.sum() < FORMS[form] + MIN_DOF:
                continue
            if any(v.form == form and v.sizes == int(inw.sum()) and v.N_min == int(Ns[inw].min())
                   and v.N_max == int(Ns[inw].max()) for v in variants):
                continue  # a window that dropped a size without a 50% point: the same fit again
            x = extrapolate_midpoints(Ns[inw], a[inw], e[inw], order)
            if math.isfinite(x.alpha_inf) and x.err <= MAX_ERR_RATIO * default.err:
                variants.append(Variant(form, window, int(Ns[inw].min()), int(Ns[inw].max()), x.sizes,
                                        x.alpha_inf, x.err, x.chi2, x.dof))
        if points is not None and len(sizes) >= 3:
            sel = np.isin(pN, sizes)
            try:
                f = fit_scaling(pa[sel], pN[sel], pk[sel], pn[sel], shape=shape, bootstrap=0)
            except ValueError:
                continue
            if f.converged and math.isfinite(f.alpha_c):
                variants.append(Variant("Nadler-Fink", window, int(sizes.min()), int(sizes.max()), len(sizes),
                                        f.alpha_c, nadler_fink_err if window == "all sizes" else float("nan"),
                                        f.deviance, f.points - 4))
    if not math.isfinite(default.alpha_inf):
        return Systematics(default.alpha_inf, default.err, float("nan"), tuple(variants), False, None)
    variants = [Variant(**{**asdict(v), "z": _z(v, default)}) for v in variants]
    dev = [abs(v.alpha_inf - default.alpha_inf) for v in variants]
    if not dev:
        return Systematics(default.alpha_inf, default.err, float("nan"), (), False, None)
    j = int(np.argmax(dev))
    sys = float(dev[j])
    return Systematics(default.alpha_inf, default.err, sys, tuple(variants), bool(sys > default.err), variants[j])


def _z(v: Variant, default: Extrapolation) -> float:
    d = math.sqrt(abs(v.err ** 2 - default.err ** 2)) if math.isfinite(v.err) else float("nan")
    return (v.alpha_inf - default.alpha_inf) / d if d > 0 else float("nan")
