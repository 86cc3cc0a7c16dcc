"""Effective order parameters of an activation in the K -> infinity limit.

docs/theory.md §1 (after eq. (4) of arXiv:1907.07578, following Barkai et al. 1992). For unit
pre-activations ``(x, y)`` standard Gaussian with correlation ``q`` the output fields become jointly
Gaussian with

.. math::

    Q_\\mathrm{eff} = \\mathrm{Var}[g(z)], \\quad
    q_\\mathrm{eff}(q) = \\mathrm{Cov}[g(x), g(y)], \\quad
    \\rho(q) = q_\\mathrm{eff}(q) / Q_\\mathrm{eff}.

By Price's theorem ``rho'(q) = E[g'(x) g'(y)] / Q_eff`` and ``rho''(q) = E[g''(x) g''(y)] / Q_eff``.

An :class:`Activation` holds ``Q_eff`` and vectorised callables for ``q_eff, rho, drho, d2rho``
plus ``drho1 = rho'(1)`` (``inf`` for sign). Closed forms exist for the perceptron (linear), sign and
ReLU; :func:`from_function` builds any other activation from ``g`` and ``g'`` (optionally ``g''``) by
Gauss-Hermite quadrature, so a new activation is one small function (see :func:`shifted_relu`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from relusim.errors import InputError

ArrayFn = Callable[[np.ndarray], np.ndarray]


@lru_cache(maxsize=32)
def gauss_hermite(n: int = 151) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``E f(z)``, ``z ~ N(0, 1)`` (probabilists' Hermite, weights sum to 1)."""
    z, w = hermegauss(n)
    return z, w / w.sum()


@dataclass(frozen=True)
class Activation:
    """Effective order parameters of ``g`` (docs/theory.md §1); every callable takes an array of ``q``."""

    name: str
    Q_eff: float
    q_eff: ArrayFn
    drho: ArrayFn
    d2rho: ArrayFn
    drho1: float

    def rho(self, q):
        """Normalised covariance ``rho(q) = q_eff(q) / Q_eff``; ``rho(0) = 0``, ``rho(1) = 1``."""
        return np.asarray(self.q_eff(q)) / self.Q_eff


def _clip(q):
    return np.clip(np.asarray(q, dtype=float), -1.0, 1.0)


def perceptron() -> Activation:
    """Linear unit: ``(Q_eff, q_eff, rho') = (1, q, 1)``, the single perceptron (docs/theory.md §1 table)."""
    return Activation("perceptron", 1.0, lambda q: _clip(q), lambda q: np.ones_like(_clip(q)),
                      lambda q: np.zeros_like(_clip(q)), 1.0)


def sign() -> Activation:
    """Sign unit: ``q_eff = (2/pi) arcsin q``, ``rho'(1) = inf`` (docs/theory.md §1 table)."""

    def drho(q):
        q = _clip(q)
        with np.errstate(divide="ignore"):
            return 2.0 / (np.pi * np.sqrt(1.0 - q * q))

    def d2rho(q):
        q = _clip(q)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2.0 * q / (np.pi * (1.0 - q * q) ** 1.5)

    return Activation("sign", 1.0, lambda q: 2.0 / np.pi * np.arcsin(_clip(q)), drho, d2rho, np.inf)


def relu() -> Activation:
    """ReLU unit: the mean-subtracted arc-cosine kernel (Cho & Saul 2009; docs/theory.md §1 table).

    ``q_eff = [sqrt(1-q^2) + q (pi/2 + arcsin q) - 1] / (2 pi)``, ``Q_eff = (pi-1)/(2 pi)``,
    ``rho' = (pi/2 + arcsin q)/(pi-1)``, ``rho'' = 1/((pi-1) sqrt(1-q^2))``.
    """
    Q = (np.pi - 1.0) / (2.0 * np.pi)

    def q_eff(q):
        q = _clip(q)
        return (np.sqrt(1.0 - q * q) + q * (np.pi / 2 + np.arcsin(q)) - 1.0) / (2.0 * np.pi)

    def d2rho(q):
        q = _clip(q)
        with np.errstate(divide="ignore"):
            return 1.0 / ((np.pi - 1.0) * np.sqrt(1.0 - q * q))

    return Activation("relu", Q, q_eff, lambda q: (np.pi / 2 + np.arcsin(_clip(q))) / (np.pi - 1.0),
                      d2rho, np.pi / (np.pi - 1.0))


def _bivariate(f1: ArrayFn, f2: ArrayFn, q, n: int, kinks: tuple[float, ...] = ()) -> np.ndarray:
    """``E[f1(x) f2(y)]`` with ``corr(x, y) = q``; ``y = q x + sqrt(1-q^2) z``.

    Smooth ``f``: n x n Gauss-Hermite. With ``kinks`` (points where ``f`` or ``f'`` jumps): Gauss-Legendre
    on ``[-L, L]`` split at the kinks in ``x`` and at ``z = (k - q x)/sqrt(1-q^2)`` in ``z``, so that
    every panel is smooth and the rule keeps its spectral accuracy.
    """
    q = _clip(q)
    shape = q.shape
    qf = q.reshape(-1, 1, 1, 1)
    sq = np.sqrt(np.maximum(1.0 - qf * qf, 1e-24))
    if not kinks:
        z, w = gauss_hermite(n)
        x = z[None, :, None, None]
        y = qf * x + sq * z[None, None, None, :]
        vals = f1(x) * f2(y)
        return np.einsum("qiaj,i,j->q", vals, w, w).reshape(shape)
    L = 10.0
    t, wt = np.polynomial.legendre.leggauss(n)
    xe = np.concatenate(([-L], np.sort([k for k in kinks if -L < k < L]), [L]))
    x = (xe[:-1, None] + (xe[1:] - xe[:-1])[:, None] * (t + 1) / 2).ravel()
    wx = ((xe[1:] - xe[:-1])[:, None] / 2 * wt).ravel() * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    xx = x[None, :, None]
    zk = np.sort(np.clip((np.asarray(kinks)[None, None, :] - qf[..., 0] * xx) / sq[..., 0], -L, L), -1)
    ze = np.concatenate([np.full(zk.shape[:2] + (1,), -L), zk, np.full(zk.shape[:2] + (1,), L)], -1)
    a, b = ze[..., :-1, None], ze[..., 1:, None]
    z = a + (b - a) * (t + 1) / 2
    wz = (b - a) / 2 * wt * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    y = qf * x[None, :, None, None] + sq * z
    vals = f1(x)[None, :, None, None] * f2(y) * wz
    return np.einsum("qiaj,i->q", vals, wx).reshape(shape)


def from_function(name: str, g: ArrayFn, dg: ArrayFn, d2g: ArrayFn | None = None,
                  n: int = 121, kinks: tuple[float, ...] = ()) -> Activation:
    """Effective parameters of a generic ``g`` by quadrature (docs/theory.md §1, Price's theorem).

    ``q_eff(q) = E[g(x)g(y)] - (E g)^2``, ``rho' = E[g'(x)g'(y)]/Q_eff``, ``rho'' = E[g''(x)g''(y)]/Q_eff``
    (or a central difference of ``rho'`` when ``d2g`` is not given). Gauss-Hermite for smooth ``g``;
    pass ``kinks`` (points where ``g`` or ``g'`` is not smooth) for split Gauss-Legendre panels.
    """
    one = np.ones(1)

    def moment(f1, f2):
        return float(_bivariate(f1, f2, one, n, kinks)[0])

    mean = moment(g, lambda y: np.ones_like(y))
    Q = moment(g, g) - mean ** 2
    if not Q > 0:
        raise InputError("activation", name, "g must have a positive variance under N(0,1)")
    drho1 = moment(dg, dg) / Q

    def q_eff(q):
        return _bivariate(g, g, q, n, kinks) - mean ** 2

    def drho(q):
        return _bivariate(dg, dg, q, n, kinks) / Q

    if d2g is not None:
        def d2rho(q):
            return _bivariate(d2g, d2g, q, n, kinks) / Q
    else:
        def d2rho(q):
            q = _clip(q)
            h = 1e-4
            lo, hi = np.clip(q - h, -1, 1), np.clip(q + h, -1, 1)
            return (drho(hi) - drho(lo)) / (hi - lo)

    return Activation(name, Q, q_eff, drho, d2rho, drho1)


def tanh() -> Activation:
    """``g = tanh``, generic quadrature path (docs/theory.md §9)."""
    def dg(x):
        return 1.0 / np.cosh(x) ** 2
    return from_function("tanh", np.tanh, dg, lambda x: -2.0 * np.tanh(x) * dg(x))


def erf_() -> Activation:
    """``g = erf``: ``q_eff = (2/pi) arcsin(2q/3)`` in closed form (Williams 1997; docs/theory.md §9)."""
    Q = 2.0 / np.pi * np.arcsin(2.0 / 3.0)

    def drho(q):
        q = _clip(q)
        return 2.0 / np.pi * (2.0 / 3.0) / np.sqrt(1.0 - (2.0 * q / 3.0) ** 2) / Q

    def d2rho(q):
        q = _clip(q)
        a = 2.0 / 3.0
        return 2.0 / np.pi * a ** 3 * q / (1.0 - (a * q) ** 2) ** 1.5 / Q

    return Activation("erf", Q, lambda q: 2.0 / np.pi * np.arcsin(2.0 * _clip(q) / 3.0), drho, d2rho,
                      float(drho(1.0)))


def quadratic() -> Activation:
    """``g = x^2``: ``q_eff = 2 q^2``, ``Q_eff = 2``, ``rho = q^2`` (exact)."""
    return Activation("quadratic", 2.0, lambda q: 2.0 * _clip(q) ** 2, lambda q: 2.0 * _clip(q),
                      lambda q: 2.0 * np.ones_like(_clip(q)), 2.0)


def logistic() -> Activation:
    """``g = 1/(1+e^{-x})``, generic quadrature path."""
    def g(x):
        return 0.5 * (1.0 + np.tanh(x / 2.0))

    def dg(x):
        return 0.25 / np.cosh(x / 2.0) ** 2

    return from_function("logistic", g, dg, lambda x: -np.tanh(x / 2.0) * dg(x))


def softplus() -> Activation:
    """``g = log(1+e^x)``, generic quadrature path."""
    def dg(x):
        return 0.5 * (1.0 + np.tanh(x / 2.0))

    return from_function("softplus", lambda x: np.logaddexp(0.0, x), dg,
                         lambda x: 0.25 / np.cosh(x / 2.0) ** 2)


def shifted_relu(b: float) -> Activation:
    """``g = max(0, x - b)``: an example of a new activation in a few lines (generic path).

    ``g'' = delta(x - b)`` has no pointwise form, so ``rho''`` comes from a difference of ``rho'``.
    """
    return from_function(f"relu_shift{b:g}", lambda x: np.maximum(x - b, 0.0),
                         lambda x: (x > b).astype(float), n=40, kinks=(b,))


REGISTRY: dict[str, Callable[[], Activation]] = {
    "perceptron": perceptron,
    "linear": perceptron,
    "sign": sign,
    "relu": relu,
    "erf": erf_,
    "tanh": tanh,
    "quadratic": quadratic,
    "logistic": logistic,
    "softplus": softplus,
}


@lru_cache(maxsize=None)
def get_activation(name: str) -> Activation:
    """Look an activation up by name (``REGISTRY`` keys, or ``relu_shift<b>`` for a shifted ReLU).

    >>> relu = get_activation("relu")
    >>> round(relu.Q_eff, 6), round(relu.drho1, 6)  # (pi-1)/(2 pi), pi/(pi-1)
    (0.340845, 1.466942)
    >>> round(float(get_activation("sign").rho(0.5)), 6)  # (2/pi) arcsin(1/2) = 1/3
    0.333333
    """
    key = str(name).lower()
    if key in REGISTRY:
        return REGISTRY[key]()
    if key.startswith("relu_shift"):
        try:
            return shifted_relu(float(key[len("relu_shift"):]))
        except ValueError:
            pass
    raise InputError("activation", name, "allowed: " + ", ".join(REGISTRY) + ", relu_shift<b>")


def as_activation(act: "Activation | str") -> Activation:
    """Accept an :class:`Activation` or its registry name."""
    return act if isinstance(act, Activation) else get_activation(act)
