"""Predicted stability distributions, typical (RS) and large-deviation (1RSB with m = y).

docs/theory.md §8 (App. E of arXiv:1907.07578). ``Delta = sigma lambda`` normalised as in docs/model.md §4
(**not** divided by ``sqrt(Q_eff)``), so ``Var lambda = Q_eff``. With ``q_e = Q_eff rho(q)``, ``v = Q_eff - q_e``:

.. math::

    P_\\mathrm{RS}(\\Delta) = \\Theta(\\Delta)\\int Dz\\,\\frac{\\mathcal N(\\Delta;\\sqrt{q_e}z, v)}{\\Phi(\\sqrt{q_e/v}\\,z)},
    \\qquad
    P_y(\\Delta) = \\Theta(\\Delta)\\int Dz_0\\,
        \\frac{\\int Dz_1\\,\\Phi(u/\\sqrt{v_1})^{y-1}\\mathcal N(\\Delta;u,v_1)}{\\int Dz_1\\,\\Phi(u/\\sqrt{v_1})^{y}},

``u = sqrt(q0e) z0 + sqrt(q1e - q0e) z1``, ``v1 = Q_eff - q1e``. Both integrate to 1. Densities use the
Gaussian-product identity ``N(z) N(Delta; a + b z, v) = N(Delta; a, b^2+v) N(z; mu, s^2)`` so that they stay
accurate as ``v -> 0``; bin probabilities use the exact tails ``P(Delta > eps)``.

Public API (what ``relusim compare`` calls)::

    stability_density(activation, weights, alpha, *, y=1, q1=None, x)      -> density at x (array)
    stability_bin_probs(activation, weights, alpha, *, y=1, q1=None, edges) -> mass per bin (len(edges)-1)
    sign_lattice_edges(K, upper)  -> bin edges 0, 2/sqrt(K), 4/sqrt(K), ... around {1,3,5,...}/sqrt(K)

``y = 1``: typical solutions (RS saddle at ``alpha``). ``y > 1``: one replica of a group of ``y`` at mutual
overlap ``q1`` (docs/theory.md §7 saddle for ``q0``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, logsumexp

from relusim.errors import InputError
from relusim.theory.activations import Activation, as_activation, gauss_hermite
from relusim.theory.rs import check_alpha, check_weights, mills, rs_saddle
from relusim.theory.rsb import local_entropy

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def _normal_pdf(x, mean, var):
    return np.exp(-0.5 * (x - mean) ** 2 / var - _LOG_SQRT_2PI) / np.sqrt(var)


def _z_grid(step: float, lo: float = -10.0, hi: float = 10.0):
    z = np.arange(lo, hi + step / 2, step)
    w = np.exp(-0.5 * z * z - _LOG_SQRT_2PI)
    return z, w / w.sum()


# --- typical (RS) --------------------------------------------------------------------------------

def _rs_variances(act: Activation, q: float) -> tuple[float, float, float]:
    """Q_eff, q_eff = Q_eff rho(q) and v = Q_eff - q_eff of the RS output fields (docs/theory.md §1, §8)."""
    Q = act.Q_eff
    qe = Q * float(act.rho(q))
    return Q, qe, Q - qe


def _sinh_grid(scale: float, lo: float, hi: float, h: float = 0.01):
    """Trapezoid nodes and weights on ``[lo, hi]`` (``lo < 0 < hi``) with ``t = scale sinh(u)``.

    Spacing ``scale h`` at 0 and relative spacing ``h`` far out: resolves functions that vary on
    scale ``>= scale`` near 0 and on a scale proportional to ``|t|`` in the tails, over any range.
    """
    ua, ub = np.arcsinh(lo / scale), np.arcsinh(hi / scale)
    u = np.linspace(ua, ub, int(np.ceil((ub - ua) / h)) + 1)
    w = np.full(u.shape, u[1] - u[0])
    w[[0, -1]] *= 0.5
    return scale * np.sinh(u), w * scale * np.cosh(u)


def typical_density(act: Activation | str, q: float, x) -> np.ndarray:
    """RS stability density at overlap ``q`` (docs/theory.md §8), evaluated at ``x`` (0 for ``x <= 0``).

    With ``t = sqrt(q_e/v) z``, ``delta = Delta/sqrt(v)``, ``k = sqrt(q_e/v)`` and
    ``1/Phi(t) = 1 + Phi(-t)/Phi(t)`` the density splits into an exact Gaussian and a remainder:

    .. math::

        P(\\Delta) = \\mathcal N(\\Delta; 0, Q_\\mathrm{eff})
            + \\frac{1}{\\sqrt v}\\int dt\\,\\mathcal N(t; 0, k^2)\\,\\mathcal N(t - \\delta)
              \\frac{\\Phi(-t)}{\\Phi(t)} .

    As ``q -> 1`` (``k -> inf``) the remainder is the spike at ``Delta ~ sqrt(v)`` (half the mass at the
    spherical capacity, Kepler & Abbott 1988); its integrand spreads over ``|t|`` up to ``~ k`` and is
    integrated on a sinh-mapped trapezoid, accurate to ~1e-9 relative for any ``q`` in ``[0, 1)``.

    >>> from relusim.theory.stabilities import typical_density
    >>> [round(float(p), 3) for p in typical_density("relu", 0.999, [0.001, 0.1, 1.0])]
    [140.484, 0.674, 0.158]
    """
    act = as_activation(act)
    x = np.asarray(x, dtype=float)
    Q, qe, v = _rs_variances(act, q)
    gauss = _normal_pdf(x, 0.0, Q)
    if qe <= 0.0:
        return np.where(x > 0, 2.0 * gauss, 0.0)
    k = np.sqrt(qe / v)
    t, w = _sinh_grid(min(1.0, k), -40.0 * k - 40.0, 40.0)
    lt = -0.5 * (t / k) ** 2 - np.log(k) - 2.0 * _LOG_SQRT_2PI + log_ndtr(-t) - log_ndtr(t)
    delta = np.maximum(x, 0.0).reshape(-1) / np.sqrt(v)
    rest = np.empty_like(delta)
    for i in range(0, len(delta), 512):  # bounded memory for long x arrays
        d = delta[i:i + 512, None]
        rest[i:i + 512] = np.exp(lt - 0.5 * (t - d) ** 2) @ w
    return np.where(x > 0, gauss + rest.reshape(x.shape) / np.sqrt(v), 0.0)


def _z_step(qe: float, v: float) -> float:
    """Trapezoid step in ``z`` resolving ``Phi(sqrt(q_e/v) z)`` (any step at ``q_e = 0``, where it is flat)."""
    return 0.01 if qe <= 0.0 else max(min(0.01, 0.2 * np.sqrt(v / qe)), 1e-5)


def typical_tail(act: Activation | str, q: float, eps) -> np.ndarray:
    """``P(Delta > eps) = E_z Phi((sqrt(q_e) z - eps)/sqrt(v)) / Phi(sqrt(q_e/v) z)`` (docs/theory.md §8)."""
    act = as_activation(act)
    eps = np.asarray(eps, dtype=float)
    Q, qe, v = _rs_variances(act, q)
    z, w = _z_grid(_z_step(qe, v))
    num = log_ndtr((np.sqrt(qe) * z - np.maximum(eps[..., None], 0.0)) / np.sqrt(v))
    out = np.exp(num - log_ndtr(np.sqrt(qe / v) * z)) @ w
    return np.where(eps <= 0, 1.0, out)


def typical_moments(act: Activation | str, q: float, eps: float = 0.1) -> tuple[float, float, float]:
    """Mean, standard deviation and ``P(Delta < eps)`` of the RS stability law (docs/theory.md §8).

    Given ``z`` the law is a Gaussian ``N(mu, v)``, ``mu = sqrt(q_e) z``, truncated to ``Delta > 0``:
    ``E[Delta|z] = mu + sqrt(v) r(mu/sqrt(v))`` and ``E[Delta^2|z] = mu^2 + v + mu sqrt(v) r(mu/sqrt(v))``.

    >>> from relusim.theory import rs_saddle
    >>> [round(m, 4) for m in typical_moments("relu", rs_saddle("relu", "binary", 0.5).q)]
    [0.4328, 0.3366, 0.1532]
    """
    act = as_activation(act)
    Q, qe, v = _rs_variances(act, q)
    z, w = _z_grid(_z_step(qe, v))
    mu = np.sqrt(qe) * z
    r = mills(mu / np.sqrt(v))
    m1 = float(w @ (mu + np.sqrt(v) * r))
    m2 = float(w @ (mu * mu + v + mu * np.sqrt(v) * r))
    return m1, float(np.sqrt(m2 - m1 * m1)), float(1.0 - typical_tail(act, q, eps))


# --- large deviation (y replicas at mutual overlap q1) -------------------------------------------

def _ld_setup(act: Activation, q0: float, q1: float, y: float):
    Q = act.Q_eff
    q0e, q1e = Q * float(act.rho(q0)), Q * float(act.rho(q1))
    v1 = Q - q1e
    b = np.sqrt(max(q1e - q0e, 0.0))
    z0, w0 = gauss_hermite(81)
    a = np.sqrt(q0e) * z0
    step = min(0.05, np.sqrt(v1) / max(b, 1e-12) / 6.0)
    top = 11.0 + min(60.0, (np.sqrt(2 * np.log1p(y) * v1) + 6 * np.sqrt(q0e)) / max(b, 1e-12))
    z1 = np.arange(-11.0, top + step / 2, step)
    lw1 = -0.5 * z1 * z1 - _LOG_SQRT_2PI + np.log(step)
    u = a[:, None] + b * z1[None, :]
    lphi = log_ndtr(u / np.sqrt(v1))
    lZ = logsumexp(y * lphi + lw1, axis=1)
    return Q, v1, a, b, w0, z1, lw1, u, lphi, lZ


def ld_density(act: Activation | str, q0: float, q1: float, y: float, x) -> np.ndarray:
    """Large-deviation stability density (docs/theory.md §8, 1RSB with ``m = y``) at ``x``."""
    act = as_activation(act)
    x = np.asarray(x, dtype=float)
    Q, v1, a, b, w0, _, _, _, _, lZ = _ld_setup(act, q0, q1, y)
    zeta, wz = gauss_hermite(81)
    s2 = b * b + v1
    mu = b * (x[..., None] - a) / s2                      # (..., z0)
    zz = mu[..., None] + np.sqrt(v1 / s2) * zeta          # (..., z0, zeta)
    lnum = (y - 1.0) * log_ndtr((a[:, None] + b * zz) / np.sqrt(v1))
    inner = np.exp(lnum - lZ[:, None]) @ wz               # (..., z0)
    dens = (_normal_pdf(x[..., None], a, s2) * inner) @ w0
    return np.where(x > 0, dens, 0.0)


def ld_tail(act: Activation | str, q0: float, q1: float, y: float, eps) -> np.ndarray:
    """``P(Delta > eps) = E_z0 [E_z1 Phi(u/sqrt v1)^{y-1} Phi((u-eps)/sqrt v1)] / E_z1 Phi(u/sqrt v1)^y``."""
    act = as_activation(act)
    eps = np.asarray(eps, dtype=float)
    Q, v1, a, b, w0, z1, lw1, u, lphi, lZ = _ld_setup(act, q0, q1, y)
    e = np.maximum(eps.reshape(-1), 0.0)
    lt = log_ndtr((u[None] - e[:, None, None]) / np.sqrt(v1))
    num = logsumexp((y - 1.0) * lphi[None] + lt + lw1, axis=2)
    out = np.exp(num - lZ[None]) @ w0
    return np.where(eps <= 0, 1.0, out.reshape(eps.shape))


# --- public API ----------------------------------------------------------------------------------

def _overlaps(act, weights, alpha, y, q1):
    check_weights(weights)
    check_alpha(alpha)
    if y == 1:
        return rs_saddle(act, weights, alpha).q, None
    if q1 is None:
        raise InputError("q1", q1, "required when y > 1 (the replicas' mutual overlap, 0 < q1 < 1)")
    return local_entropy(act, weights, alpha, y, q1).q0, q1


def stability_density(activation: Activation | str, weights: str, alpha: float, *, y: float = 1,
                      q1: float | None = None, x) -> np.ndarray:
    """K -> inf stability density at points ``x`` (docs/model.md §4 normalisation; docs/theory.md §8).

    ``activation``: name or :class:`Activation`; ``weights``: ``"binary"`` or ``"spherical"``;
    ``y = 1``: typical solutions (RS saddle at ``alpha``); ``y > 1``: one of ``y`` replicas at mutual overlap
    ``q1`` (``q0`` from the large-deviation saddle). Returns an array shaped like ``x``; 0 for ``x <= 0``.

    >>> stability_density("relu", "binary", 0.5, x=[0.1, 0.5, 1.0]).round(4)  # typical: mode at 0+
    array([1.4925, 0.9282, 0.2704])
    >>> stability_density("relu", "binary", 0.5, y=7, q1=0.9, x=[0.1, 0.5]).round(4)  # dense regions
    array([0.705 , 1.2671])
    """
    act = as_activation(activation)
    q, q1 = _overlaps(act, weights, alpha, y, q1)
    return typical_density(act, q, x) if q1 is None else ld_density(act, q, q1, y, x)


def stability_bin_probs(activation: Activation | str, weights: str, alpha: float, *, y: float = 1,
                        q1: float | None = None, edges) -> np.ndarray:
    """Probability mass of the K -> inf law in each bin ``[edges[i], edges[i+1])``, from exact tails.

    For sign units at finite K use ``edges = sign_lattice_edges(K, upper)`` so that each bin holds one
    lattice value ``(2j+1)/sqrt(K)`` (docs/model.md §4). Same arguments as :func:`stability_density`.

    >>> edges = sign_lattice_edges(9, 2.0)  # bins around 1/3, 1, 5/3
    >>> stability_bin_probs("sign", "binary", 0.5, edges=edges).round(4)
    array([0.5177, 0.3164, 0.1265])
    """
    act = as_activation(activation)
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise InputError("edges", edges, "a strictly increasing 1-D array of at least 2 edges")
    q, q1 = _overlaps(act, weights, alpha, y, q1)
    tail = typical_tail(act, q, edges) if q1 is None else ld_tail(act, q, q1, y, edges)
    return tail[:-1] - tail[1:]


def sign_lattice_edges(K: int, upper: float) -> np.ndarray:
    """Edges ``0, 2/sqrt(K), 4/sqrt(K), ...`` up to ``upper``: one sign-lattice value per bin (docs/model.md §4)."""
    if K < 1:
        raise InputError("K", K, "must be a positive integer")
    n = int(np.ceil(upper * np.sqrt(K) / 2.0))
    return 2.0 * np.arange(n + 1) / np.sqrt(K)
