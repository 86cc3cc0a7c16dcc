"""Franz-Parisi entropy: solutions at overlap ``p`` (distance ``d = (1-p)/2``) from a typical solution.

docs/theory.md §6 (App. C of arXiv:1907.07578). ``V(p) = extr_{q1, qhat1, t, that, phat} [G_S + alpha G_E]``
with the reference at its RS saddle ``(q, qhat)`` (docs/theory.md §3). Energetic term, ``rho_x = rho(x)``:

.. math::

    G_E = \\int Dz_0 \\frac{1}{\\Phi(a_0)} \\int_{u>-a_0} Du \\int Dz_1
          \\log\\Phi\\Big(\\frac{A z_0 + B u + C z_1}{\\sqrt{1-\\rho_{q_1}}}\\Big),

``A = rho_t/sqrt(rho_q)``, ``B = (rho_p - rho_t)/sqrt(1-rho_q)``,
``C^2 = rho_q1 - rho_t^2/rho_q - (rho_p - rho_t)^2/(1-rho_q)``, ``a0 = sqrt(rho_q/(1-rho_q)) z0``.

Saddle equations [ours, standard steps]: ``qhat1 = alpha rho'(q1) E[r(X)^2]/(1 - rho_q1)`` (heat equation),
``that = -alpha rho'(t) dG_E/drho_t`` (central difference), and for binary weights
``p = <tanh h>``, ``q1 = <tanh^2 h>``, ``t = <tanh h tanh(sqrt(qhat) z0)>``. They are solved as a 2-D root
in ``(q1, t)`` from the start of docs/theory.md §6, fresh at each ``p``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq, root
from scipy.special import log_ndtr, ndtri_exp

from relusim.errors import InputError
from relusim.theory.activations import Activation, as_activation, gauss_hermite
from relusim.theory.rs import ConvergenceError, check_alpha, check_weights, mills, rs_saddle

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


@lru_cache(maxsize=4)
def _legendre01(n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1.0) / 2.0, w / 2.0


def _energetic(rq: float, rq1: float, rt: float, rp: float, n0: int = 61, ns: int = 40,
               n1: int = 61) -> tuple[float, float]:
    """``(G_E, E[r(X)^2]/(1-rho_q1))`` of docs/theory.md §6 by Hermite (z0, z1) x Gauss-Legendre (s) quadrature.

    The truncated ``u > -a0`` is sampled as ``u = -Phi^{-1}(Phi(a0)(1-s))``.
    """
    z0, w0 = gauss_hermite(n0)
    s, ws = _legendre01(ns)
    z1, w1 = gauss_hermite(n1)
    a0 = np.sqrt(rq / (1.0 - rq)) * z0
    u = -ndtri_exp(log_ndtr(a0)[:, None] + np.log1p(-s)[None, :])
    A = rt / np.sqrt(rq)
    B = (rp - rt) / np.sqrt(1.0 - rq)
    C = np.sqrt(max(rq1 - rt ** 2 / rq - (rp - rt) ** 2 / (1.0 - rq), 0.0))
    sig = np.sqrt(1.0 - rq1)
    X = ((A * z0[:, None, None] + B * u[:, :, None]) + C * z1[None, None, :]) / sig
    W = w0[:, None, None] * ws[None, :, None] * w1[None, None, :]
    return float(np.sum(W * log_ndtr(X))), float(np.sum(W * mills(X) ** 2)) / (1.0 - rq1)


def _dGE_drho_t(rq, rq1, rt, rp, h=1e-6):
    return (_energetic(rq, rq1, rt + h, rp)[0] - _energetic(rq, rq1, rt - h, rp)[0]) / (2 * h)


@dataclass(frozen=True)
class _EntFP:
    I: float       # 2 E_z0 w(z0) E_z1 log 2cosh h
    m1: float      # <tanh h>
    m2: float      # <tanh^2 h>
    mt: float      # <tanh h tanh(sqrt(qhat) z0)>


def _entropic_binary(qhat, qhat1, that, phat, n0: int = 81) -> _EntFP:
    """Binary FP entropic averages with ``h = that/sqrt(qhat) z0 + sqrt(qhat1 - that^2/qhat) z1 + phat - that``.

    ``z0`` carries the reference's weight ``2 e^{sqrt(qhat) z0} / (2cosh sqrt(qhat) z0)`` (gauge ``W~ = +1``).
    """
    z0, w0 = gauss_hermite(n0)
    c = np.sqrt(max(qhat1 - that ** 2 / qhat, 0.0))
    h1 = min(0.05, 0.3 / max(c, 1e-12))
    z1 = np.arange(-10.0, 10.0 + h1 / 2, h1)
    w1 = np.exp(-0.5 * z1 * z1 - _LOG_SQRT_2PI)
    w1 /= w1.sum()
    t0 = np.tanh(np.sqrt(qhat) * z0)
    W = (w0 * (1.0 + t0))[:, None] * w1[None, :]
    h = (that / np.sqrt(qhat)) * z0[:, None] + c * z1[None, :] + (phat - that)
    a = np.abs(h)
    th = np.tanh(h)
    return _EntFP(float(np.sum(W * (a + np.log1p(np.exp(-2 * a))))), float(np.sum(W * th)),
                  float(np.sum(W * th * th)), float(np.sum(W * th * t0[:, None])))


@dataclass(frozen=True)
class FPPoint:
    """Franz-Parisi saddle at overlap ``p``: ``V`` and the order parameters."""

    activation: str
    weights: str
    alpha: float
    p: float
    V: float
    q1: float
    t: float
    qhat1: float
    that: float
    phat: float

    @property
    def d(self) -> float:
        return (1.0 - self.p) / 2.0


def _solve_phat(qhat, qhat1, that, p, params) -> tuple[float, _EntFP]:
    f = lambda ph: _entropic_binary(qhat, qhat1, that, ph).m1 - p  # noqa: E731
    g = np.arctanh(min(p, 1 - 1e-12)) + that
    lo, hi = g - 1.0, g + 1.0
    while f(lo) > 0:
        lo -= 2.0 * (hi - lo)
    while f(hi) < 0:
        hi += 2.0 * (hi - lo)
        if hi > 1e3:
            raise ConvergenceError("FP: p not reachable", **params)
    ph = brentq(f, lo, hi, xtol=1e-13, rtol=1e-13)
    return float(ph), _entropic_binary(qhat, qhat1, that, ph)


def franz_parisi_entropy(act: Activation | str, weights: str, alpha: float, p: float,
                 tol: float = 1e-9) -> FPPoint:
    """Franz-Parisi entropy ``V(p)`` (docs/theory.md §6) for binary or spherical weights.

    Raises ConvergenceError if the 2-D root does not converge or leaves ``C^2 >= 0``.

    >>> fp = franz_parisi_entropy("relu", "binary", 0.5, 0.8)  # d = 0.1 from a typical solution
    >>> round(fp.V, 4), round(fp.d, 3)
    (0.1587, 0.1)
    """
    act = as_activation(act)
    check_weights(weights)
    check_alpha(alpha)
    if not 0.0 < p < 1.0:
        raise InputError("p", p, "must lie in (0, 1), i.e. 0 < d < 0.5")
    rs = rs_saddle(act, weights, alpha)
    q, qhat = rs.q, rs.qhat
    if q <= 0.0:
        raise ConvergenceError(
            "franz-parisi: not implemented at a q = 0 reference (even activation below alpha_0, "
            "the paramagnetic RS saddle): the equations divide by rho(q) and sqrt(qhat)", **dict(
                activation=act.name, weights=weights, alpha=alpha))
    rq, rp = float(act.rho(q)), float(act.rho(p))
    params = dict(activation=act.name, weights=weights, alpha=alpha, p=p)

    def energetic(q1, t):
        rq1, rt = float(act.rho(q1)), float(act.rho(t))
        GE, r2 = _energetic(rq, rq1, rt, rp)
        qhat1 = alpha * float(act.drho(q1)) * r2
        that = -alpha * float(act.drho(t)) * _dGE_drho_t(rq, rq1, rt, rp)
        return GE, qhat1, that

    def c2(q1, t):
        rq1, rt = float(act.rho(q1)), float(act.rho(t))
        return rq1 - rt ** 2 / rq - (rp - rt) ** 2 / (1.0 - rq)

    if weights == "binary":
        def residual(x):
            q1, t = x
            if not (0 < q1 < 1 and -1 < t < 1) or c2(q1, t) < 0:
                return np.array([1.0, 1.0])
            _, qhat1, that = energetic(q1, t)
            if qhat1 <= that ** 2 / qhat:
                return np.array([1.0, 1.0])
            _, ent = _solve_phat(qhat, qhat1, that, p, params)
            return np.array([ent.m2 - q1, ent.mt - t])
    else:
        def gamma(t):
            return (p * p - t * t - q * (p - t) ** 2 / (1.0 - q)) / (1.0 - q)

        def residual(x):
            q1, t = x
            if not (0 < q1 < 1 and -1 < t < 1) or c2(q1, t) < 0:
                return np.array([1.0, 1.0])
            _, qhat1, that = energetic(q1, t)
            dq1 = 0.5 * (-1.0 / (1.0 - q1) + (1.0 - gamma(t)) / (1.0 - q1) ** 2) - 0.5 * qhat1
            dgam = (-2.0 * t + 2.0 * q * (p - t) / (1.0 - q)) / (1.0 - q)
            dt = -0.5 * dgam / (1.0 - q1) - that
            return np.array([dq1 * (1.0 - q1) ** 2, dt * (1.0 - q1)])

    x0 = np.array([p * p + 0.5 * (1.0 - p * p) * q, p * q])
    sol = root(residual, x0, method="hybr", options=dict(xtol=tol))
    res = residual(sol.x)
    if not sol.success or np.max(np.abs(res)) > 1e-7:
        raise ConvergenceError("FP saddle did not converge", residual=res.tolist(), x=sol.x.tolist(),
                               **params)
    q1, t = (float(v) for v in sol.x)
    GE, qhat1, that = energetic(q1, t)
    if weights == "binary":
        phat, ent = _solve_phat(qhat, qhat1, that, p, params)
        GS = -0.5 * qhat1 * (1.0 - q1) - phat * p + that * t + ent.I
    else:
        phat = np.nan
        GS = 0.5 * (np.log1p(-q1) + (q1 - gamma(t)) / (1.0 - q1))
    return FPPoint(act.name, weights, alpha, p, GS + alpha * GE, q1, t, qhat1, that, float(phat))


def franz_parisi_curve(act: Activation | str, weights: str, alpha: float, d: np.ndarray,
                       skip_failures: bool = False) -> list[FPPoint | None]:
    """``V`` on a grid of distances ``d = (1-p)/2``; with ``skip_failures`` a failed point is ``None``."""
    out: list[FPPoint | None] = []
    for di in np.atleast_1d(d):
        try:
            out.append(franz_parisi_entropy(act, weights, alpha, 1.0 - 2.0 * float(di)))
        except ConvergenceError:
            if not skip_failures:
                raise
            out.append(None)
    return out
