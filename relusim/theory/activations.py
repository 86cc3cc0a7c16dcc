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

The unit function itself, ``g`` as a plain NumPy callable, is defined once here for every name
(:func:`g_numpy`, :data:`G`, :func:`is_odd`), so that the Monte Carlo can evaluate exactly the ``g``
whose kernel the theory uses; every :class:`Activation` of the registry carries it as ``act.g``.

Names: ``linear`` (= ``perceptron``), ``sign``, ``relu``, ``erf``, ``tanh``, ``quadratic``,
``logistic``, ``softplus``, and two families with a parameter, spelt as in a config:
``relu_shift(shift=b)`` (``g = max(0, x - b)``) and ``erf(scale=a)`` (``g = erf(a x)``, ``a > 0``;
``erf`` is ``a = 1``). The older spellings ``relu_shift<b>`` and ``erf_scale<a>`` are read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import erf as _erf

from relusim.errors import InputError

ArrayFn = Callable[[np.ndarray], np.ndarray]


@lru_cache(maxsize=32)
def gauss_hermite(n: int = 151) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``E f(z)``, ``z ~ N(0, 1)`` (probabilists' Hermite, weights sum to 1)."""
    z, w = hermegauss(n)
    return z, w / w.sum()


@lru_cache(maxsize=32)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (cached: the panels of :func:`_bivariate` reuse them)."""
    return np.polynomial.legendre.leggauss(n)


@dataclass(frozen=True)
class Activation:
    """Effective order parameters of ``g`` (docs/theory.md §1); every callable takes an array of ``q``."""

    name: str
    Q_eff: float
    q_eff: ArrayFn
    drho: ArrayFn
    d2rho: ArrayFn
    drho1: float
    g: ArrayFn | None = field(default=None, compare=False)
    """The unit function ``g`` itself (the same callable as :func:`g_numpy` of ``name``); ``None`` only
    for an :class:`Activation` built by hand from its kernel."""

    def rho(self, q):
        """Normalised covariance ``rho(q) = q_eff(q) / Q_eff``; ``rho(0) = 0``, ``rho(1) = 1``."""
        return np.asarray(self.q_eff(q)) / self.Q_eff


def _clip(q):
    return np.clip(np.asarray(q, dtype=float), -1.0, 1.0)


# --- the unit functions g: one definition per name, for the theory and the Monte Carlo -----------

def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _linear(x):
    return np.array(x, dtype=float)


def _sign(x):
    return np.sign(_f(x))  # sgn 0 = 0


def _relu(x):
    return np.maximum(_f(x), 0.0)


def _quadratic(x):
    x = _f(x)
    return x * x


def _tanh(x):
    return np.tanh(_f(x))


def _erf1(x):
    return _erf(_f(x))


def _logistic(x):
    return 0.5 * (1.0 + np.tanh(0.5 * _f(x)))  # = 1/(1+e^-x), no overflow for large |x|


def _softplus(x):
    return np.logaddexp(0.0, _f(x))  # = log(1+e^x), no overflow


#: ``g`` of every parameter-free name (``erf`` is ``erf(x)``, scale 1), as plain NumPy callables.
G: dict[str, ArrayFn] = {
    "linear": _linear, "sign": _sign, "relu": _relu, "erf": _erf1, "tanh": _tanh,
    "quadratic": _quadratic, "logistic": _logistic, "softplus": _softplus,
}

#: family: (parameter name or None, its default (None: required), g odd)
FAMILIES: dict[str, tuple[str | None, float | None, bool]] = {
    "linear": (None, None, True), "sign": (None, None, True), "relu": (None, None, False),
    "erf": ("scale", 1.0, True), "tanh": (None, None, True), "quadratic": (None, None, False),
    "logistic": (None, None, False), "softplus": (None, None, False),
    "relu_shift": ("shift", None, False),
}
_ALIASES = {"perceptron": "linear"}
_CALL = re.compile(r"^([a-z_]+)\(\s*(?:([a-z_]+)\s*=\s*)?([^()=,\s]+)\s*\)$")
_PREFIXES = (("relu_shift", "relu_shift", "shift"), ("erf_scale", "erf", "scale"))  # name prefix, family, key
NAMES_ALLOWED = ("perceptron, linear, sign, relu, erf, tanh, quadratic, logistic, softplus, "
                 "relu_shift(shift=B) (g = max(0, x - B)), erf(scale=A) (g = erf(A x), A > 0)")


def _num(v: float) -> str:
    """The shortest spelling of ``v`` that reads back as ``v`` (``0.5``, ``-1``, ``0.1234567``)."""
    short = f"{v:g}"
    return short if float(short) == v else repr(float(v))


def _check_param(family: str, key: str, value, name) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or (key == "scale" and not v > 0):
        raise InputError("activation", name, f"the {key} of {family} must be a finite number"
                         + (" > 0" if key == "scale" else ""))
    return v


def split_name(name: str) -> tuple[str, dict[str, float]]:
    """Family and parameters of an activation name: a family name, the config spelling
    ``relu_shift(shift=0.5)``, ``erf(scale=2)``, ``erf(2)``, or the older ``relu_shift<b>``, ``erf_scale<a>``.

    >>> split_name("relu_shift(shift=-0.5)"), split_name("erf(scale=2)"), split_name("perceptron")
    (('relu_shift', {'shift': -0.5}), ('erf', {'scale': 2.0}), ('linear', {}))
    >>> split_name("erf_scale2") == split_name("erf(scale=2)")
    True
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in FAMILIES:
        pkey, default, _ = FAMILIES[key]
        return key, ({} if pkey is None or default is None else {pkey: default})
    call = _CALL.match(key)  # the config spelling: erf(scale=2), relu_shift(shift=0.5), erf(2)
    if call and _ALIASES.get(call.group(1), call.group(1)) in FAMILIES \
            and FAMILIES[_ALIASES.get(call.group(1), call.group(1))][0] is None:
        raise InputError("activation", name, f"{call.group(1)} takes no parameter")
    if call and call.group(1) in FAMILIES and FAMILIES[call.group(1)][0] is not None:
        family, pkey = call.group(1), FAMILIES[call.group(1)][0]
        if call.group(2) not in (None, pkey):
            raise InputError("activation", name, f"{family} takes the parameter {pkey}, not {call.group(2)}")
        return family, {pkey: _check_param(family, pkey, call.group(3), name)}
    for prefix, family, pkey in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return family, {pkey: _check_param(family, pkey, key[len(prefix):], name)}
    raise InputError("activation", name, "allowed: " + NAMES_ALLOWED)


def is_odd(name: str) -> bool:
    """``g(-x) = -g(x)``: linear, sign, erf (any scale) and tanh. The Monte Carlo's readout rule
    (odd: ``c_l = +1``; otherwise balanced ``+-1``). logistic is odd only up to the constant 1/2, so it
    is not odd here: with ``c_l = +1`` its output would have a mean growing like ``sqrt K``.

    >>> [is_odd(a) for a in ("perceptron", "sign", "erf(scale=2)", "tanh", "relu", "quadratic", "logistic")]
    [True, True, True, True, False, False, False]
    """
    return FAMILIES[split_name(name)[0]][2]


def g_numpy(name: str, **params) -> ArrayFn:
    """The unit function ``g`` of an activation as a NumPy callable (float64 in, float64 out).

    ``name`` is a family (``G``'s keys, ``perceptron``, ``relu_shift``, ``erf``) with its parameter
    as a keyword (``g_numpy("relu_shift", shift=0.5)``, ``g_numpy("erf", scale=2)``), or a full
    name (``"relu_shift(shift=0.5)"``, ``"erf(scale=2)"``). Unknown names or parameters: InputError.

    >>> g_numpy("relu_shift", shift=0.5)(np.array([0.0, 2.0])), float(g_numpy("erf(scale=2)")(0.25))
    (array([0. , 1.5]), 0.5204998778130465)
    """
    family, p = split_name(name)
    pkey, default, _ = FAMILIES[family]
    for k, v in params.items():
        if k != pkey:
            allowed = f"only the parameter {pkey}" if pkey else "no parameter"
            raise InputError("activation", f"{name}({k}={v})", f"{family} takes {allowed}")
        p[k] = _check_param(family, k, v, f"{name}({k}={v})")
    if pkey is None:
        return G[family]
    if pkey not in p:
        raise InputError("activation", name, f"{family} needs its {pkey}: {family}0.5 or "
                         f"g_numpy('{family}', {pkey}=0.5)")
    v = p[pkey]
    if family == "relu_shift":
        return lambda x: np.maximum(_f(x) - v, 0.0)
    if v == 1.0:
        return _erf1
    return lambda x: _erf(v * _f(x))


def perceptron() -> Activation:
    """Linear unit: ``(Q_eff, q_eff, rho') = (1, q, 1)``, the single perceptron (docs/theory.md §1 table)."""
    return Activation("perceptron", 1.0, lambda q: _clip(q), lambda q: np.ones_like(_clip(q)),
                      lambda q: np.zeros_like(_clip(q)), 1.0, _linear)


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

    return Activation("sign", 1.0, lambda q: 2.0 / np.pi * np.arcsin(_clip(q)), drho, d2rho, np.inf,
                      _sign)


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
                      d2rho, np.pi / (np.pi - 1.0), _relu)


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
    t, wt = gauss_legendre(n)
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

    return Activation(name, Q, q_eff, drho, d2rho, drho1, g)


def tanh() -> Activation:
    """``g = tanh``, generic quadrature path (docs/theory.md §9)."""
    def dg(x):
        return 1.0 / np.cosh(x) ** 2
    return from_function("tanh", _tanh, dg, lambda x: -2.0 * np.tanh(x) * dg(x))


def erf_(scale: float = 1.0) -> Activation:
    """``g = erf(a x)``, ``a = scale > 0``, in closed form (Williams, NIPS 1997, "Computing with infinite
    networks": its erf kernel with input covariance ``[[1, q], [q, 1]]`` and input weight ``a``; docs/theory.md §9):

    ``q_eff(q) = (2/pi) arcsin(c q)``, ``c = 2a^2/(1 + 2a^2)``, ``Q_eff = (2/pi) arcsin c``, hence
    ``rho = arcsin(c q)/arcsin c``, ``rho' = c/(sqrt(1 - c^2 q^2) arcsin c)``,
    ``rho'' = c^3 q/((1 - c^2 q^2)^{3/2} arcsin c)``. ``a = 1`` (``c = 2/3``) is ``erf``; ``a -> 0``
    is the perceptron (``rho -> q``), ``a -> inf`` is sign (``c -> 1``). Named ``erf`` for
    ``a = 1``, else ``erf(scale=a)``, as a config spells it.

    >>> round(erf_(1.0).Q_eff, 6), round(erf_(2.0).drho1, 6)  # (2/pi) arcsin(2/3); c = 8/9
    (0.464559, 1.772089)
    """
    a = _check_param("erf", "scale", scale, f"erf(scale={scale})")
    c = 2.0 * a * a / (1.0 + 2.0 * a * a)
    asc = float(np.arcsin(c))

    def drho(q):
        q = _clip(q)
        return c / (np.sqrt(1.0 - (c * q) ** 2) * asc)

    def d2rho(q):
        q = _clip(q)
        return c ** 3 * q / ((1.0 - (c * q) ** 2) ** 1.5 * asc)

    name = "erf" if a == 1.0 else f"erf(scale={_num(a)})"
    return Activation(name, 2.0 / np.pi * asc, lambda q: 2.0 / np.pi * np.arcsin(c * _clip(q)), drho,
                      d2rho, float(drho(1.0)), g_numpy("erf", scale=a))


def quadratic() -> Activation:
    """``g = x^2``: ``q_eff = 2 q^2``, ``Q_eff = 2``, ``rho = q^2`` (exact)."""
    return Activation("quadratic", 2.0, lambda q: 2.0 * _clip(q) ** 2, lambda q: 2.0 * _clip(q),
                      lambda q: 2.0 * np.ones_like(_clip(q)), 2.0, _quadratic)


def logistic() -> Activation:
    """``g = 1/(1+e^{-x})``, generic quadrature path."""
    def dg(x):
        return 0.25 / np.cosh(x / 2.0) ** 2

    return from_function("logistic", _logistic, dg, lambda x: -np.tanh(x / 2.0) * dg(x))


def softplus() -> Activation:
    """``g = log(1+e^x)``, generic quadrature path."""
    def dg(x):
        return 0.5 * (1.0 + np.tanh(x / 2.0))

    return from_function("softplus", _softplus, dg,
                         lambda x: 0.25 / np.cosh(x / 2.0) ** 2)


def shifted_relu(b: float) -> Activation:
    """``g = max(0, x - b)``: an example of a new activation in a few lines (generic path).

    ``g'' = delta(x - b)`` has no pointwise form, so ``rho''`` comes from a difference of ``rho'``.
    """
    b = _check_param("relu_shift", "shift", b, f"relu_shift(shift={b})")
    return from_function(f"relu_shift(shift={_num(b)})", g_numpy("relu_shift", shift=b),
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
    """Look an activation up by name: ``REGISTRY`` keys, ``relu_shift(shift=b)`` (``g = max(0, x - b)``) or
    ``erf(scale=a)`` (``g = erf(a x)``, ``a > 0``; the older ``relu_shift<b>``, ``erf_scale<a>`` too;
    :func:`split_name`). Cached by name.

    >>> relu = get_activation("relu")
    >>> round(relu.Q_eff, 6), round(relu.drho1, 6)  # (pi-1)/(2 pi), pi/(pi-1)
    (0.340845, 1.466942)
    >>> round(float(get_activation("sign").rho(0.5)), 6)  # (2/pi) arcsin(1/2) = 1/3
    0.333333
    """
    key = str(name).strip().lower()
    if key in REGISTRY:
        return REGISTRY[key]()
    family, params = split_name(name)  # InputError (naming ``name`` as given) for an unknown name or parameter
    if family == "relu_shift":
        return shifted_relu(params["shift"])
    return erf_(params["scale"])


def as_activation(act: "Activation | str") -> Activation:
    """Accept an :class:`Activation` or its registry name."""
    return act if isinstance(act, Activation) else get_activation(act)
