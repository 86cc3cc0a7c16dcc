"""One-step RSB: spherical capacity, and the large-deviation (local entropy) analysis.

docs/theory.md §5 and §7 (App. B.2 and App. D of arXiv:1907.07578). Groups of ``m`` replicas, overlap
``q1`` inside a group and ``q0`` between groups, ``rho_i = rho(q_i)``:

.. math::

    G_E = \\frac1m \\int Dz_0 \\log \\int Dz_1\\,
          \\Phi\\Big(\\frac{\\sqrt{\\rho_0}z_0 + \\sqrt{\\rho_1-\\rho_0}z_1}{\\sqrt{1-\\rho_1}}\\Big)^m .

The large-deviation analysis (§7) uses these expressions with ``m = y`` (the number of replicas) and
``q1`` fixed (the replicas' mutual overlap, distance ``d = (1 - q1)/2``), and reports the per-replica
local entropy ``phi~(y, q1) = phi_alpha - phi_{alpha=0} <= 0``.

``y -> infinity``: the closed form of App. D is not reconstructed (docs/theory.md §7). Following the notes,
:func:`local_entropy_extrapolated` computes ``phi~`` at several large finite ``y`` and **extrapolates in
1/y** (a polynomial fit), checking ``phi~ <= 0``. Curves labelled ``y = inf`` are extrapolated, not derived.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize
from scipy.special import gammaln, log_ndtr, logsumexp

from relusim.theory.activations import Activation, as_activation, gauss_hermite
from relusim.theory.rs import (ConvergenceError, check_alpha, check_weights, mills,
                               capacity_rs_spherical)

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


# --- 1RSB spherical capacity ---------------------------------------------------------------------

def _capacity_ratio(act: Activation, q0: float, x: float, n: int = 151) -> float:
    """``-S/E`` of docs/theory.md §5 (the 1/epsilon coefficients of the 1RSB free entropy, q1 -> 1)."""
    z, w = gauss_hermite(n)
    S = 0.5 * (np.log1p(x * (1.0 - q0)) / x + q0 / (1.0 + x * (1.0 - q0)))
    r0 = float(act.rho(q0))
    a, b = np.sqrt(r0) * z, np.sqrt(1.0 - r0)
    k = x / act.drho1
    s = np.sqrt(1.0 + k * b * b)
    E = float(w @ np.logaddexp(log_ndtr(a / b), -np.log(s) - k * a * a / (2 * s * s)
                               + log_ndtr(-a / (b * s)))) / x
    return -S / E


@dataclass(frozen=True)
class Capacity1RSB:
    """1RSB spherical capacity: ``alpha``, ``q0`` and ``x = m/(1-q1)`` at the stationary point."""

    activation: str
    alpha: float
    q0: float
    x: float


def capacity_1rsb_spherical(act: Activation | str,
                            starts: tuple[tuple[float, float], ...] = ((0.6, 10.0), (0.7, 15.0),
                                                                       (0.8, 20.0), (0.75, 5.0))
                            ) -> Capacity1RSB:
    """Spherical 1RSB capacity ``alpha_c = min_{q0, x} (-S/E)`` (docs/theory.md §5; App. B.2).

    ``q1 -> 1``, ``m = x (1 - q1) -> 0``. RS is the boundary ``x -> 0`` or ``q0 -> 1`` (value ``2 rho'(1)``);
    the solver starts in the interior (several starts, as the paper's footnote warns) and returns the
    lowest interior stationary point. If all starts drift to the boundary the RS value is exact and
    ``x = 0`` is reported. ``inf`` for activations with ``rho'(1) = inf``.

    >>> c = capacity_1rsb_spherical("relu")  # below the RS value 2.93388
    >>> round(c.alpha, 4), round(c.q0, 4), round(c.x, 2)
    (2.6643, 0.7571, 16.63)
    """
    act = as_activation(act)
    if not np.isfinite(act.drho1):
        return Capacity1RSB(act.name, np.inf, np.nan, np.nan)
    alpha_rs = capacity_rs_spherical(act)

    def f(p):
        q0, lx = p
        if not 0.0 < q0 < 1.0 or not -8.0 < lx < 8.0:
            return alpha_rs + 1.0
        return _capacity_ratio(act, q0, np.exp(lx))

    best = None
    for q0, x in starts:
        res = minimize(f, [q0, np.log(x)], method="Nelder-Mead",
                       options=dict(xatol=1e-9, fatol=1e-13, maxiter=4000))
        if best is None or res.fun < best.fun:
            best = res
    q0, x = best.x[0], float(np.exp(best.x[1]))
    if best.fun > alpha_rs - 1e-6 or x < 1e-3 or q0 > 1 - 1e-4:
        return Capacity1RSB(act.name, alpha_rs, 1.0, 0.0)
    h = 1e-5
    grad = [(f(best.x + h * e) - f(best.x - h * e)) / (2 * h) for e in np.eye(2)]
    if not best.success or max(abs(g) for g in grad) > 1e-4:
        raise ConvergenceError("1RSB capacity: no stationary point", activation=act.name,
                               q0=q0, x=x, grad=grad)
    return Capacity1RSB(act.name, float(best.fun), float(q0), x)


# --- 1RSB building blocks at finite m ------------------------------------------------------------

def _trap(lo: float, hi: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes and log-weights (including the standard normal density) on [lo, hi]."""
    n = int(np.ceil((hi - lo) / h)) + 1
    z = np.linspace(lo, hi, n)
    lw = -0.5 * z * z - _LOG_SQRT_2PI + np.log(z[1] - z[0])
    lw[[0, -1]] -= np.log(2.0)
    return z, lw


def _log2cosh(h):
    a = np.abs(h)
    return a + np.log1p(np.exp(-2.0 * a))


@dataclass(frozen=True)
class _Entropic:
    G: float          # (1/m) E_z0 log E_z1 (2cosh h)^m
    tanh2: float      # E_z0 <tanh^2 h>
    tanh_sq: float    # E_z0 <tanh h>^2


def _binary_entropic(m: float, qhat0: float, dqhat: float, n0: int = 81) -> _Entropic:
    """Binary 1RSB entropic integrals, ``h = sqrt(qhat0) z0 + sqrt(dqhat) z1`` (docs/theory.md §5).

    Integer ``m >= 2``: exact in ``z1`` through the binomial expansion
    ``(2cosh h)^m = sum_k C(m,k) e^{(m-2k)h}`` and ``E_z1 e^{c h} = e^{c a + c^2 dqhat/2}``.
    Otherwise a trapezoid in ``z1`` wide enough for the tilt ``e^{m|h|}`` and fine enough for its core.
    """
    if m >= 2 and float(m).is_integer():
        return _binary_entropic_binomial(int(m), qhat0, dqhat, n0)
    z0, w0 = gauss_hermite(n0)
    sd = np.sqrt(dqhat)
    half = m * sd + 11.0
    z1, lw1 = _trap(-half, half, min(0.05, 0.2 / np.sqrt(1.0 + m * dqhat)))
    h = np.sqrt(qhat0) * z0[:, None] + sd * z1[None, :]
    lw = m * _log2cosh(h) + lw1
    lZ = logsumexp(lw, axis=1)
    p = np.exp(lw - lZ[:, None])
    t = np.tanh(h)
    return _Entropic(float(w0 @ lZ) / m, float(w0 @ (p * t * t).sum(1)), float(w0 @ (p * t).sum(1) ** 2))


def _log_binom(n: int) -> np.ndarray:
    k = np.arange(n + 1)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def _binary_entropic_binomial(m: int, qhat0: float, dqhat: float, n0: int) -> _Entropic:
    z0, w0 = gauss_hermite(n0)
    a = np.sqrt(qhat0) * z0[:, None]

    def log_sum(n):  # log E_z1 (2cosh h)^n, n >= 0
        c = n - 2.0 * np.arange(n + 1)
        return logsumexp(_log_binom(n) + c * a + 0.5 * c * c * dqhat, axis=1)

    lZ = log_sum(m)
    c = m - 2.0 * np.arange(m)  # (2cosh)^{m-1} 2 sinh = sum_k C(m-1,k) (e^{c_k h} - e^{(c_k-2) h})
    lb = _log_binom(m - 1)
    lp = logsumexp(lb + c * a + 0.5 * c * c * dqhat, axis=1)
    lm = logsumexp(lb + (c - 2) * a + 0.5 * (c - 2) ** 2 * dqhat, axis=1)
    mean_t = np.exp(lp - lZ) - np.exp(lm - lZ)
    sech2 = 4.0 * np.exp(log_sum(m - 2) - lZ)
    return _Entropic(float(w0 @ lZ) / m, float(w0 @ (1.0 - sech2)), float(w0 @ mean_t ** 2))


@dataclass(frozen=True)
class _Energetic:
    G: float          # (1/m) E_z0 log E_z1 Phi(x)^m
    r_sq: float       # E_z0 <r(x)>_Phi^2


def _energetic(m: float, rho0: float, rho1: float, n0: int = 81) -> _Energetic:
    """Energetic 1RSB integrals, ``x = (sqrt(rho0) z0 + sqrt(rho1-rho0) z1)/sqrt(1-rho1)`` (docs/theory.md §5)."""
    z0, w0 = gauss_hermite(n0)
    b = np.sqrt(max(rho1 - rho0, 0.0))
    width = np.sqrt(1.0 - rho1) / max(b, 1e-12)
    # Phi(x)^m suppresses x < ~ -sqrt(2 log m): for z0 < 0 the mass moves to large z1, so widen the top.
    top = 11.0 + min(60.0, (np.sqrt(2.0 * np.log1p(m) * (1.0 - rho1)) + 6.0 * np.sqrt(rho0))
                     / max(b, 1e-12))
    z1, lw1 = _trap(-11.0, top, min(0.05, width / 6.0))
    x = (np.sqrt(rho0) * z0[:, None] + b * z1[None, :]) / np.sqrt(1.0 - rho1)
    lw = m * log_ndtr(x) + lw1
    lZ = logsumexp(lw, axis=1)
    p = np.exp(lw - lZ[:, None])
    return _Energetic(float(w0 @ lZ) / m, float(w0 @ (p * mills(x)).sum(1) ** 2))


def G_S_binary(m: float, q0: float, q1: float, qhat0: float, qhat1: float) -> float:
    """Binary 1RSB entropic term (docs/theory.md §5):
    ``-qhat1/2 - (m-1)/2 qhat1 q1 + m/2 qhat0 q0 + (1/m) E_z0 log E_z1 [2cosh h]^m``."""
    ent = _binary_entropic(m, qhat0, qhat1 - qhat0)
    return -0.5 * qhat1 - 0.5 * (m - 1.0) * qhat1 * q1 + 0.5 * m * qhat0 * q0 + ent.G


def G_S_spherical(m: float, q0: float, q1: float) -> float:
    """Spherical 1RSB entropic term (docs/theory.md §5):
    ``1/2 [(m-1)/m log(1-q1) + 1/m log(1-q1+m(q1-q0)) + q0/(1-q1+m(q1-q0))]``."""
    D = 1.0 - q1 + m * (q1 - q0)
    return 0.5 * ((m - 1.0) / m * np.log1p(-q1) + np.log(D) / m + q0 / D)


def phi_1rsb_binary(act: Activation | str, alpha: float, m: float, q0: float, q1: float,
                    qhat0: float, qhat1: float) -> float:
    """Binary 1RSB free entropy per replica at arbitrary order parameters (docs/theory.md §5)."""
    act = as_activation(act)
    rho0, rho1 = float(act.rho(q0)), float(act.rho(q1))
    return G_S_binary(m, q0, q1, qhat0, qhat1) + alpha * _energetic(m, rho0, rho1).G


def phi_1rsb_spherical(act: Activation | str, alpha: float, m: float, q0: float, q1: float) -> float:
    """Spherical 1RSB free entropy per replica at arbitrary order parameters (docs/theory.md §5)."""
    act = as_activation(act)
    rho0, rho1 = float(act.rho(q0)), float(act.rho(q1))
    return G_S_spherical(m, q0, q1) + alpha * _energetic(m, rho0, rho1).G


# --- large deviations (local entropy) ------------------------------------------------------------

@dataclass(frozen=True)
class LDPoint:
    """A large-deviation saddle: ``phi`` per replica, ``phi0`` at alpha = 0, ``local_entropy = phi - phi0``."""

    activation: str
    weights: str
    alpha: float
    y: float
    q1: float
    q0: float
    qhat0: float
    qhat1: float
    phi: float
    phi0: float

    @property
    def local_entropy(self) -> float:
        return self.phi - self.phi0

    @property
    def d(self) -> float:
        return (1.0 - self.q1) / 2.0


def _dqhat_for_q1(m: float, qhat0: float, q1: float, params: dict,
                  guess: float = -1.0) -> tuple[float, _Entropic]:
    """Solve ``q1 = E_z0 <tanh^2 h>`` for ``qhat1 - qhat0`` (monotone; root in log space near ``guess``)."""
    f = lambda ld: _binary_entropic(m, qhat0, np.exp(ld)).tanh2 - q1  # noqa: E731
    if f(-30.0) > 0:
        return 0.0, _binary_entropic(m, qhat0, 0.0)
    lo, hi = guess - 0.5, guess + 0.5
    while f(lo) > 0:
        lo, hi = max(lo - 2.0 * (hi - lo), -30.0), lo
    while f(hi) < 0:
        lo, hi = hi, hi + 2.0 * (hi - lo)
        if hi > 15.0:
            raise ConvergenceError("LD: q1 not reachable", qhat0=qhat0, **params)
    ld = brentq(f, lo, hi, xtol=1e-12, rtol=1e-12)
    return float(np.exp(ld)), _binary_entropic(m, qhat0, float(np.exp(ld)))


def _check_ld(y: float, q1: float) -> None:
    from relusim.errors import InputError
    if not (np.isfinite(y) and y >= 1.0):
        raise InputError("y", y, "must be a finite number >= 1")
    if not 0.0 < q1 < 1.0:
        raise InputError("q1", q1, "must lie in (0, 1), i.e. 0 < d < 0.5")


def local_entropy_binary(act: Activation | str, alpha: float, y: float, q1: float,
                         tol: float = 1e-10) -> LDPoint:
    """Binary LD saddle at fixed ``(y, q1)`` (docs/theory.md §7, App. D).

    Unknowns ``(q0, qhat0, qhat1)``: for given ``qhat0``, ``qhat1`` solves ``q1 = E<tanh^2>``; then
    ``q0 = E<tanh>^2`` and ``qhat0_new = alpha rho'(q0) E<r>_Phi^2 / (1 - rho1)``. The fixed point in
    ``qhat0`` is found by a bracketed root of ``qhat0_new - qhat0``.
    """
    act = as_activation(act)
    check_alpha(alpha) if alpha != 0 else None
    _check_ld(y, q1)
    rho1 = float(act.rho(q1))
    params = dict(activation=act.name, alpha=alpha, y=y, q1=q1)

    guess = [np.log(max(np.arctanh(q1) / y, 1e-12))]

    def update(qhat0):
        dq, ent = _dqhat_for_q1(y, qhat0, q1, params, guess[0])
        guess[0] = np.log(max(dq, 1e-12))
        q0 = min(ent.tanh_sq, q1)
        en = _energetic(y, float(act.rho(q0)), rho1)
        new = alpha * float(act.drho(q0)) * en.r_sq / (1.0 - rho1)
        return new, q0, dq, ent, en

    dq_free, ent_free = _dqhat_for_q1(y, 0.0, q1, params)
    phi0 = -0.5 * dq_free - 0.5 * (y - 1.0) * dq_free * q1 + ent_free.G
    if alpha == 0:
        return LDPoint(act.name, "binary", 0.0, y, q1, 0.0, 0.0, dq_free, phi0, phi0)

    F = lambda qh: update(qh)[0] - qh  # noqa: E731
    lo, hi = 0.0, 0.5
    while F(hi) > 0:
        lo, hi = hi, 2.0 * hi
        if hi > 1e3:
            raise ConvergenceError("LD binary: no bracket for qhat0", **params)
    qhat0 = brentq(F, lo, hi, xtol=tol, rtol=1e-12)
    new, q0, dq, ent, en = update(qhat0)
    if abs(new - qhat0) > 1e-7 * max(1.0, qhat0):
        raise ConvergenceError("LD binary: fixed point not reached", qhat0=qhat0, residual=new - qhat0,
                               **params)
    qhat1 = qhat0 + dq
    phi = (-0.5 * qhat1 - 0.5 * (y - 1.0) * qhat1 * q1 + 0.5 * y * qhat0 * q0 + ent.G
           + alpha * en.G)
    return LDPoint(act.name, "binary", alpha, y, q1, q0, qhat0, qhat1, phi, phi0)


def local_entropy_spherical(act: Activation | str, alpha: float, y: float, q1: float) -> LDPoint:
    """Spherical LD saddle at fixed ``(y, q1)`` (docs/theory.md §7): root in ``q0`` of

    ``q0 / D^2 = alpha rho'(q0) E<r>_Phi^2 / (1 - rho1)``, ``D = 1 - q1 + y (q1 - q0)``, scanning from
    ``q0 = 0`` (the alpha = 0 solution) for the first sign change.
    ``phi0``: ``y phi0 = [(y-1) log(1-q1) + log(1 + (y-1) q1)] / 2``.
    """
    act = as_activation(act)
    _check_ld(y, q1)
    rho1 = float(act.rho(q1))
    phi0 = 0.5 * ((y - 1.0) * np.log1p(-q1) + np.log1p((y - 1.0) * q1)) / y
    params = dict(activation=act.name, alpha=alpha, y=y, q1=q1)
    if alpha == 0:
        return LDPoint(act.name, "spherical", 0.0, y, q1, 0.0, 0.0, 0.0, phi0, phi0)
    check_alpha(alpha)

    def F(q0):
        D = 1.0 - q1 + y * (q1 - q0)
        en = _energetic(y, float(act.rho(q0)), rho1)
        return q0 / D ** 2 - alpha * float(act.drho(q0)) * en.r_sq / (1.0 - rho1)

    grid = np.linspace(0.0, q1 * (1 - 1e-6), 21)
    vals = np.array([F(q) for q in grid])
    cross = np.nonzero(np.sign(vals[1:]) != np.sign(vals[:-1]))[0]
    if len(cross) == 0:
        raise ConvergenceError("LD spherical: no root in q0", **params)
    i = cross[0]
    q0 = float(brentq(F, grid[i], grid[i + 1], xtol=1e-13))
    phi = phi_1rsb_spherical(act, alpha, y, q0, q1)
    return LDPoint(act.name, "spherical", alpha, y, q1, q0, np.nan, np.nan, phi, phi0)


def local_entropy(act: Activation | str, weights: str, alpha: float, y: float, q1: float) -> LDPoint:
    """Dispatch to :func:`local_entropy_binary` or :func:`local_entropy_spherical`.

    Per-replica local entropy of ``y`` replicas at mutual distance ``d = (1 - q1)/2`` (here ``d = 0.01``):

    >>> round(local_entropy("relu", "binary", 0.4, 3, 0.98).local_entropy, 5)
    -0.1139
    >>> round(local_entropy("sign", "binary", 0.4, 3, 0.98).local_entropy, 5)
    -0.13575
    """
    check_weights(weights)
    fn = local_entropy_binary if weights == "binary" else local_entropy_spherical
    return fn(act, alpha, y, q1)


@dataclass(frozen=True)
class LDExtrapolation:
    """``y -> inf`` local entropy extrapolated in ``1/y``; ``spread`` compares two fitting windows."""

    q1: float
    local_entropy: float
    spread: float
    ys: tuple[float, ...]
    values: tuple[float, ...]

    @property
    def d(self) -> float:
        return (1.0 - self.q1) / 2.0


def local_entropy_extrapolated(act: Activation | str, weights: str, alpha: float, q1: float,
                               ys: tuple[float, ...] = (20.0, 40.0, 80.0, 160.0)) -> LDExtrapolation:
    """**Extrapolated** ``y -> inf`` local entropy (docs/theory.md §7; not derived).

    A quadratic in ``1/y`` through the three largest ``ys`` gives the value; the same fit through the
    three smallest gives a second estimate and ``spread = |difference|`` is a rough error bar (largest
    near the d at which the curve leaves zero, where the approach to y = inf is slow). At ``d -> 0`` the
    finite-y value is ``(phi_RS - log 2)/y`` (-> 0, the flat region of Fig. 2). A positive value beyond
    ``1e-3`` is impossible and raises ConvergenceError; smaller positive values are clipped to 0.

    >>> e = local_entropy_extrapolated("relu", "binary", 0.4, 0.9, ys=(10.0, 20.0, 40.0))
    >>> round(e.local_entropy, 4), round(e.d, 3)
    (-0.0039, 0.05)
    """
    ys = tuple(sorted(ys))
    vals = np.array([local_entropy(act, weights, alpha, y, q1).local_entropy for y in ys])
    inv = 1.0 / np.asarray(ys)

    def fit(sl):
        return float(np.polyfit(inv[sl], vals[sl], min(2, len(inv[sl]) - 1))[-1])

    v = fit(slice(-3, None))
    alt = fit(slice(0, 3)) if len(ys) > 3 else v
    if v > 1e-3:
        raise ConvergenceError("LD extrapolation gave a positive local entropy",
                               activation=str(act), weights=weights, alpha=alpha, q1=q1, value=v)
    return LDExtrapolation(q1, min(v, 0.0), abs(v - alt), ys, tuple(vals))
