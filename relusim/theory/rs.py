"""Replica-symmetric theory: free entropy, saddle points, capacities and the AT line.

docs/theory.md §2-4 (App. B.1 of arXiv:1907.07578, RS stability [ours]). With
``G(rho) = E_z log Phi(x)``, ``x = sqrt(rho/(1-rho)) z``:

.. math::

    \\phi^\\mathrm{bin}_\\mathrm{RS} = -\\tfrac{\\hat q}{2}(1-q) + E_z\\log 2\\cosh(\\sqrt{\\hat q}z)
        + \\alpha G(\\rho(q)), \\qquad
    \\phi^\\mathrm{sph}_\\mathrm{RS} = \\tfrac12\\log(1-q) + \\frac{q}{2(1-q)} + \\alpha G(\\rho(q)).

Every solver here is a 1-D bracketed root in ``q`` (the maps ``q -> alpha`` are explicit), and
raises :class:`ConvergenceError` with its parameters when no bracket or no converged root exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.special import log_ndtr

from relusim.errors import InputError, RunError
from relusim.theory.activations import Activation, as_activation, gauss_hermite

WEIGHTS = ("binary", "spherical")
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


class ConvergenceError(RunError):
    """A saddle-point solver did not converge; ``params`` holds what it was asked to solve."""

    def __init__(self, message: str, **params):
        self.params = params
        detail = ", ".join(f"{k}={v!r}" for k, v in params.items())
        super().__init__(f"{message} ({detail})" if detail else message)


def check_weights(weights: str) -> str:
    if weights not in WEIGHTS:
        raise InputError("weights", weights, "allowed: " + ", ".join(WEIGHTS))
    return weights


def check_alpha(alpha: float) -> float:
    if not (np.isfinite(alpha) and alpha > 0):
        raise InputError("alpha", alpha, "must be a finite number > 0")
    return float(alpha)


# --- Gaussian helpers ---------------------------------------------------------------------------

def mills(x):
    """``r(x) = N(x)/Phi(x)``, stable for very negative ``x`` (docs/theory.md header)."""
    x = np.asarray(x, dtype=float)
    return np.exp(-0.5 * x * x - _LOG_SQRT_2PI - log_ndtr(x))


def gauss_grid(scale: float = 1.0, n_hermite: int = 151) -> tuple[np.ndarray, np.ndarray]:
    """Nodes/weights for ``E_z f(scale * z)`` when ``f`` varies on scale 1 (kink of ``log Phi``, ``tanh``).

    Gauss-Hermite while ``scale <= 1``. Beyond, a trapezoid in ``t`` with ``scale * z = sinh(t)``: spacing
    0.01 near the kink and relative spacing 1% in the Gaussian tails, so a few thousand nodes serve any
    ``scale`` (relative error below 1e-12 for ``log Phi``, ``r^2``, ``tanh^2``, ``log 2cosh`` against
    adaptive quadrature). 151 Hermite nodes are good to 1e-14 at ``scale = 1`` but lose the kink
    beyond: 3e-7 at scale 2 and 3% at scale 10 for ``E tanh^2``, which made the binary ``alpha(q)``
    wrong for ``0.75 < q < 0.95``.
    """
    if scale <= 1.0:
        return gauss_hermite(n_hermite)
    T = np.arcsinh(12.0 * scale)
    t = np.linspace(-T, T, 2 * int(np.ceil(T / 0.01)) + 1)
    x = np.sinh(t)
    z = x / scale
    w = np.exp(-0.5 * z * z) * np.cosh(t)
    return z, w / w.sum()


def _x_grid(rho: float):
    s = np.sqrt(rho / (1.0 - rho))
    z, w = gauss_grid(s)
    return s * z, w


def G(rho: float) -> float:
    """``G(rho) = E_z log Phi(sqrt(rho/(1-rho)) z)`` (docs/theory.md §3)."""
    x, w = _x_grid(rho)
    return float(w @ log_ndtr(x))


def A1(rho: float) -> float:
    """``A1 = E_z r(x)^2 / (1-rho)``, so that ``dG/drho = -A1/2`` (docs/theory.md §2-3)."""
    x, w = _x_grid(rho)
    return float(w @ mills(x) ** 2) / (1.0 - rho)


def A2(rho: float) -> float:
    """``A2 = E_z [r(x)(x + r(x))]^2 / (1-rho)^2`` (docs/theory.md §3)."""
    x, w = _x_grid(rho)
    r = mills(x)
    return float(w @ (r * (x + r)) ** 2) / (1.0 - rho) ** 2


def _binary_entropic(qhat: float, n: int = 201):
    """``(E log 2cosh(sqrt(qhat) z), E tanh^2, E (1-tanh^2)^2)`` for the binary prior.

    ``log 2cosh h = |h| + log(1 + e^{-2|h|})``.
    """
    z, w = gauss_grid(np.sqrt(qhat), n)
    h = np.sqrt(qhat) * z
    t2 = np.tanh(h) ** 2
    lc = np.abs(h) + np.log1p(np.exp(-2.0 * np.abs(h)))
    return float(w @ lc), float(w @ t2), float(w @ (1.0 - t2) ** 2)


def qhat_of_q_binary(q: float) -> float:
    """Invert ``q = E tanh^2(sqrt(qhat) z)`` (monotone in ``qhat``)."""
    if q <= 0.0:
        return 0.0
    f = lambda lq: _binary_entropic(np.exp(lq))[1] - q  # noqa: E731
    lo, hi = -40.0, 14.0
    if f(hi) < 0:
        raise ConvergenceError("q too close to 1 for the binary prior", q=q)
    return float(np.exp(brentq(f, lo, hi, xtol=1e-14)))


# --- free entropies ------------------------------------------------------------------------------

def phi_rs_binary(act: Activation | str, alpha: float, q: float, qhat: float) -> float:
    """RS free entropy, binary weights, at arbitrary ``(q, qhat)`` (docs/theory.md §3)."""
    act = as_activation(act)
    return (-0.5 * qhat * (1.0 - q) + _binary_entropic(qhat)[0]
            + alpha * G(float(act.rho(q))))


def phi_rs_spherical(act: Activation | str, alpha: float, q: float) -> float:
    """RS free entropy, spherical weights, at arbitrary ``q`` (docs/theory.md §3)."""
    act = as_activation(act)
    return 0.5 * np.log1p(-q) + q / (2.0 * (1.0 - q)) + alpha * G(float(act.rho(q)))


def alpha_of_q(act: Activation | str, weights: str, q: float) -> tuple[float, float]:
    """The ``alpha`` whose RS saddle is at overlap ``q``, and the conjugate ``qhat``.

    Binary: ``qhat = qhat(q)`` from the entropic equation, ``alpha = qhat / (rho'(q) A1)``.
    Spherical: ``alpha = q / ((1-q)^2 rho'(q) A1)`` (``qhat = q/(1-q)^2``). docs/theory.md §3.
    """
    act = as_activation(act)
    energetic = float(act.drho(q)) * A1(float(act.rho(q)))
    qhat = qhat_of_q_binary(q) if weights == "binary" else q / (1.0 - q) ** 2
    return qhat / energetic, qhat


@dataclass(frozen=True)
class RSSaddle:
    """An RS saddle point: overlap ``q``, its conjugate ``qhat`` and the free entropy ``phi``."""

    activation: str
    weights: str
    alpha: float
    q: float
    qhat: float
    phi: float


_Q_MAX = {"binary": 0.999, "spherical": 1.0 - 1e-10}


def _root_in_q(f: Callable[[float], float], what: str, lo: float, hi: float, **params) -> float:
    flo, fhi = f(lo), f(hi)
    if not (np.isfinite(flo) and np.isfinite(fhi)) or flo * fhi > 0:
        raise ConvergenceError(f"no bracketed root for {what}", q_lo=lo, q_hi=hi, f_lo=flo,
                               f_hi=fhi, **params)
    q, res = brentq(f, lo, hi, xtol=1e-14, rtol=1e-13, full_output=True)
    if not res.converged:
        raise ConvergenceError(f"root finding for {what} did not converge", **params)
    return float(q)


def is_even(act: Activation | str) -> bool:
    """``rho'(0) = (E[x g(x)])^2 / Q_eff = 0``: ``g`` has no linear Hermite part, as every even ``g`` (quadratic).

    Then ``q = 0`` solves the RS equations at every alpha (``qhat = alpha rho'(q) A1`` vanishes there): the
    unit-wise symmetry ``w_l -> -w_l`` of an even ``g`` leaves typical solutions uncorrelated until
    :func:`alpha_paramagnetic`. (An odd ``g`` with no linear part, e.g. ``He_3``, would qualify too.)
    """
    return abs(float(as_activation(act).drho(0.0))) < 1e-9


def alpha_paramagnetic(act: Activation | str) -> float:
    """Even activations: end of the ``q = 0`` RS saddle, ``alpha_0 = 1/(rho''(0) A1(0)) = pi/(2 rho''(0))``.

    There the ``q > 0`` branch is born (``alpha(q -> 0) = alpha_0`` for both priors) and the ``q = 0``
    saddle loses stability (:func:`at_lhs` at ``q = 0`` is ``alpha rho''(0) A1(0)``). ``inf`` if not even.

    >>> round(alpha_paramagnetic("quadratic"), 6)  # pi/4
    0.785398
    """
    act = as_activation(act)
    return 1.0 / (float(act.d2rho(0.0)) * A1(0.0)) if is_even(act) else np.inf


_TURN_GRID = np.concatenate([np.geomspace(1e-4, 0.05, 8), np.linspace(0.1, 0.95, 18), [0.99]])


@lru_cache(maxsize=None)
def _turns(act: Activation, weights: str) -> tuple[float, float] | None:
    a = np.array([alpha_of_q(act, weights, q)[0] for q in _TURN_GRID])
    down = np.nonzero(np.diff(a) < 0)[0]
    if len(down) == 0:
        return None
    return float(a[down[-1] + 1:].min() if down[-1] + 1 < len(a) else a[-1]), float(a[:down[0] + 1].max())


def rs_ambiguous_range(act: Activation | str, weights: str) -> tuple[float, float] | None:
    """``(alpha_min, alpha_max)`` where the RS map ``q -> alpha(q)`` folds back (several RS saddles at one
    alpha, a first-order transition of the RS theory), or ``None`` where it is monotone (every
    registry activation; shifted ReLUs up to ``b = 2.5``). On a 27-point grid in ``q <= 0.99``.

    A unit that rarely fires (``relu_shift3``: ``rho'(0) = H(b)^2/Var g = 0.024``) makes ``alpha(q)`` rise
    steeply at small ``q``, fall, then rise again to the capacity; the solvers here follow one branch,
    so inside this range they raise :class:`ConvergenceError` rather than pick one.

    >>> rs_ambiguous_range("relu", "spherical") is None
    True
    """
    return _turns(as_activation(act), weights)


def _check_unique(act: Activation, weights: str, alpha: float, what: str) -> None:
    amb = rs_ambiguous_range(act, weights)
    if amb is not None and amb[0] <= alpha <= amb[1]:
        raise ConvergenceError(f"{what}: several RS saddles for alpha in [{amb[0]:.6g}, {amb[1]:.6g}] "
                               "(alpha(q) not monotone, a first-order RS transition): not handled",
                               activation=act.name, weights=weights, alpha=alpha)


def rs_saddle(act: Activation | str, weights: str, alpha: float) -> RSSaddle:
    """Solve the RS saddle point at ``alpha`` (docs/theory.md §3) by a bracketed root of ``alpha(q) = alpha``.

    Spherical weights have no RS solution at or above ``alpha_c = 2 rho'(1)``: ConvergenceError. Even
    activations (``rho'(0) = 0``) return ``q = 0`` up to :func:`alpha_paramagnetic`.

    >>> s = rs_saddle("relu", "spherical", 1.0)
    >>> round(s.q, 5), round(s.phi, 5)
    (0.45261, -0.77196)
    >>> rs_saddle("quadratic", "binary", 0.5).q  # paramagnetic below pi/4
    0.0
    """
    act = as_activation(act)
    check_weights(weights)
    check_alpha(alpha)
    if is_even(act) and alpha <= alpha_paramagnetic(act):
        phi = (phi_rs_binary(act, alpha, 0.0, 0.0) if weights == "binary"
               else phi_rs_spherical(act, alpha, 0.0))
        return RSSaddle(act.name, weights, alpha, 0.0, 0.0, float(phi))
    _check_unique(act, weights, alpha, "RS saddle")
    q = _root_in_q(lambda q: np.log(alpha_of_q(act, weights, q)[0] / alpha), "RS saddle",
                   1e-12, _Q_MAX[weights], activation=act.name, weights=weights, alpha=alpha)
    a, qhat = alpha_of_q(act, weights, q)
    if abs(a / alpha - 1.0) > 1e-8:
        raise ConvergenceError("RS saddle residual too large", activation=act.name, weights=weights,
                               alpha=alpha, q=q, residual=a / alpha - 1.0)
    phi = (phi_rs_binary(act, alpha, q, qhat) if weights == "binary"
           else phi_rs_spherical(act, alpha, q))
    return RSSaddle(act.name, weights, alpha, q, qhat, float(phi))


# --- capacities ----------------------------------------------------------------------------------

def capacity_rs_binary(act: Activation | str) -> RSSaddle:
    """Binary RS capacity: ``phi_RS(alpha_c) = 0`` (Krauth-Mezard zero entropy; docs/theory.md §3).

    >>> s = capacity_rs_binary("relu")
    >>> round(s.alpha, 5), round(s.q, 4)
    (0.90399, 0.4487)
    """
    act = as_activation(act)
    if is_even(act) and alpha_paramagnetic(act) >= 1.0:  # q = 0: phi = (1 - alpha) log 2
        return RSSaddle(act.name, "binary", 1.0, 0.0, 0.0, 0.0)

    def phi_at(q):
        a, qhat = alpha_of_q(act, "binary", q)
        return phi_rs_binary(act, a, q, qhat)

    lo, hi = 0.05, 0.95
    if phi_at(lo) < 0:  # a unit that rarely fires (relu_shift2.5): rho(q) << q, the zero is at small q
        grid = np.geomspace(1e-8, lo, 25)
        pos = [q for q in grid if phi_at(q) > 0]
        if pos:
            lo = pos[-1]
            hi = grid[min(np.searchsorted(grid, lo) + 1, len(grid) - 1)]
    q = _root_in_q(phi_at, "binary zero-entropy capacity", lo, hi, activation=act.name)
    a, qhat = alpha_of_q(act, "binary", q)
    _check_unique(act, "binary", a, "binary zero-entropy capacity")
    return RSSaddle(act.name, "binary", a, q, qhat, phi_at(q))


def capacity_rs_spherical(act: Activation | str) -> float:
    """Spherical RS capacity, closed form ``alpha_c = 2 rho'(1) = 2 E[g'^2]/Var g`` (docs/theory.md §3, §9).

    ``inf`` when ``rho'(1)`` diverges (sign units).

    >>> round(capacity_rs_spherical("relu"), 5), capacity_rs_spherical("perceptron")  # 2 pi/(pi-1), Gardner
    (2.93388, 2.0)
    >>> capacity_rs_spherical("sign")
    inf
    """
    return 2.0 * as_activation(act).drho1


def capacity_rs_spherical_limit(act: Activation | str, eps: tuple[float, ...] = (
        1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)) -> float:
    """Spherical RS capacity as the numerical ``q -> 1`` limit of ``alpha(q)``.

    Extrapolates ``alpha(1 - eps)`` with a quadratic in ``sqrt(eps)`` (docs/theory.md §3: corrections go like
    ``sqrt(1-q)`` because ``arcsin`` enters ``rho'``). An independent check of the closed form.
    """
    act = as_activation(act)
    s = np.sqrt(np.asarray(eps))
    a = np.array([alpha_of_q(act, "spherical", 1.0 - e)[0] for e in eps])
    return float(np.polyfit(s, a, 2)[-1])


def capacity_rs(act: Activation | str, weights: str) -> float:
    """RS capacity for either prior (binary: zero entropy; spherical: closed form).

    >>> [round(capacity_rs(a, "binary"), 5) for a in ("sign", "relu")]
    [0.94695, 0.90399]
    """
    check_weights(weights)
    return capacity_rs_binary(act).alpha if weights == "binary" else capacity_rs_spherical(act)


# --- stability of RS -----------------------------------------------------------------------------

def at_lhs(act: Activation | str, weights: str, q: float) -> float:
    """Left side of the RS stability condition at the RS saddle with overlap ``q`` (docs/theory.md §4).

    spherical: ``alpha (1-q)^2 [rho'^2 A2 + rho'' A1]``; binary: ``alpha [rho'^2 A2 + rho'' A1] E(1-tanh^2)^2``.
    RS is stable iff it is < 1.
    """
    act = as_activation(act)
    alpha, qhat = alpha_of_q(act, weights, q)
    rho = float(act.rho(q))
    energetic = float(act.drho(q)) ** 2 * A2(rho) + float(act.d2rho(q)) * A1(rho)
    entropic = (1.0 - q) ** 2 if weights == "spherical" else _binary_entropic(qhat)[2]
    return alpha * energetic * entropic


def at_lhs_limit(act: Activation | str) -> float:
    """``lim_{q -> 1}`` of the spherical :func:`at_lhs`: ``L = rho'(1) + rho''(1)/rho'(1)`` (ours, docs/theory.md §4).

    As ``rho -> 1``, ``A1 ~ A2 ~ 1/(2 (1-rho)^2)`` (``r(x) ~ -x`` and ``r (x + r) -> 1`` for ``x -> -inf``), and
    ``alpha (1-q)^2 = q/(rho' A1)``, so ``at_lhs = q [rho' A2/A1 + rho''/rho'] -> L``, with corrections of
    order ``sqrt(1-q)``. Gaussian Poincare inequality: ``rho'(1) = E g'^2 / Var g >= 1``, equality iff ``g``
    is affine, and ``rho''(1) = E g''^2 / Var g >= 0``; so ``L > 1`` for every non-linear ``g``: its RS
    branch is unstable before the spherical RS capacity, however weak the non-linearity.

    >>> at_lhs_limit("perceptron"), round(at_lhs_limit("quadratic"), 12)  # 1 + 0; 2 + 2/2
    (1.0, 3.0)
    """
    act = as_activation(act)
    return float(act.drho1 + float(act.d2rho(1.0)) / act.drho1)


@dataclass(frozen=True)
class ATPoint:
    """The RS instability: ``alpha_AT`` and the overlap there; ``marginal`` if RS holds up to capacity.

    ``note`` says in one line what kind of instability it is when it is not a plain AT crossing.
    """

    activation: str
    weights: str
    alpha: float
    q: float
    marginal: bool
    note: str = ""


_AT_Q_MAX = {"binary": 0.999, "spherical": 1.0 - 1e-6}  # beyond 1 - 1e-6, A2 loses digits (x + r(x))


def at_threshold(act: Activation | str, weights: str) -> ATPoint:
    """RS (de Almeida-Thouless) instability ``alpha_AT`` (docs/theory.md §4): root of ``at_lhs(q) = 1`` in ``q``.

    The scan runs up to ``q = 1 - 1e-6`` (spherical) or ``0.999`` (binary): logistic crosses at
    ``q = 0.98``. If the condition never fails there: a linear ``g`` (spherical perceptron) is stable up
    to the capacity, returned with ``marginal=True``; any other spherical ``g`` crosses beyond the scan
    (:func:`at_lhs_limit` ``> 1``, e.g. ``erf(scale=0.1)`` at ``1 - q ~ 3e-7``), returned as ``alpha(q_max)``,
    a lower bound on ``alpha_AT``, with a note. Even activations: the ``q = 0`` saddle goes unstable at
    :func:`alpha_paramagnetic`, where the ``q > 0`` branch starts; if that branch starts unstable the
    threshold is ``alpha_0`` at ``q = 0`` (quadratic: ``pi/4``, the branch is unstable everywhere).

    >>> at = at_threshold("relu", "spherical")
    >>> round(at.alpha, 4), round(at.q, 4)
    (1.7212, 0.7244)
    >>> round(at_threshold("quadratic", "spherical").alpha, 6)
    0.785398
    """
    act = as_activation(act)
    check_weights(weights)
    amb = rs_ambiguous_range(act, weights)
    if amb is not None:
        raise ConvergenceError(f"AT line not computed: several RS saddles for alpha in [{amb[0]:.6g}, "
                               f"{amb[1]:.6g}] (alpha(q) not monotone)", activation=act.name, weights=weights)
    q_max = _AT_Q_MAX[weights]
    tail = 1.0 - np.logspace(-2, np.log10(1.0 - q_max), 2 * int(round(-np.log10(1.0 - q_max))) - 3)
    qs = np.concatenate([np.linspace(0.02, 0.98, 17), tail])
    vals = np.array([at_lhs(act, weights, q) - 1.0 for q in qs])
    cross = np.nonzero(vals > 0)[0]
    if is_even(act) and at_lhs(act, weights, 1e-3) > 1.0:
        where = "everywhere" if len(cross) == len(qs) else "where it starts"
        return ATPoint(act.name, weights, alpha_paramagnetic(act), 0.0, False,
                       f"the q = 0 saddle is unstable above alpha_0 = {alpha_paramagnetic(act):.6g}, "
                       f"where the q > 0 branch starts, RS-unstable {where}")
    if len(cross) == 0:
        if weights == "spherical" and np.isfinite(act.drho1):
            L = at_lhs_limit(act)
            if not L > 1.0 + 1e-9:
                return ATPoint(act.name, weights, capacity_rs_spherical(act), 1.0, True,
                               "none below capacity: RS is stable up to alpha_c_rs (marginal there)")
            a_lo = alpha_of_q(act, weights, q_max)[0]
            return ATPoint(act.name, weights, a_lo, q_max, False,
                           f"RS turns unstable only beyond q = 1 - {1.0 - q_max:.0e} (the AT left side tends to "
                           f"rho'(1) + rho''(1)/rho'(1) = {L:.6g} > 1 as q -> 1): alpha_AT lies between "
                           f"{a_lo:.6g} (shown) and alpha_c_rs")
        raise ConvergenceError(f"no RS instability for q <= {q_max}", activation=act.name,
                               weights=weights)
    i = cross[0]
    lo = qs[i - 1] if i > 0 else 1e-6
    q = _root_in_q(lambda q: at_lhs(act, weights, q) - 1.0, "AT line", lo, qs[i],
                   activation=act.name, weights=weights)
    return ATPoint(act.name, weights, alpha_of_q(act, weights, q)[0], q, False)
