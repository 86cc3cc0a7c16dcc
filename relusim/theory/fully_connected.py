"""Replica theory of the FULLY CONNECTED two-layer network at large K (docs/theory_fully_connected.md).

Every unit sees all N inputs: ``lambda = K^{-1/2} sum_k c_k g(h_k)``, ``h_k = W_k . xi / sqrt(N)``,
``alpha = P / (K N)`` patterns per weight. Order parameters under the permutation-symmetric (PS)
ansatz, for the sign-absorbed weights ``c_k W_k`` (eq. (FC2)): ``C`` between two units of one
network, ``q`` between the same unit of two replicas, ``p`` between different units of two replicas.

The large-K scaling (eq. (FC5)-(FC9)): ``C, p = O(1/K)`` per pair, so their sums ``c = (K-1) C`` and
``pt = (K-1) p`` are O(1) and enter the output field only through the linear Hermite component
``a1 = E[h g(h)]`` of ``g``. The sum of the weights (the uniform mode) costs O(1/K) entropy per weight
while its linear channel is an N-dimensional perceptron loaded with ``alpha K N`` patterns, so the
saddle point removes it: ``c -> -1`` (``C = -1/(K-1)``, division of labour) and ``pt -> -q`` (eq. (FC12)).
What is left is the tree theory of the projected activation ``g_perp = g - E g - a1 h`` (eq. (FC13)):

.. math::

    \\rho_\\perp(q) = \\frac{q_\\mathrm{eff}(q) - a_1^2 q}{Q_\\mathrm{eff} - a_1^2}, \\qquad
    \\rho_\\perp(q) = O(q^2)\\ \\text{(so } q = 0 \\text{ is always a saddle: the PS phase, eq. (FC14))}.

The PS phase ``q = p = 0`` is the annealed solution. The PS-broken (PSB) branch ``q > 0`` solves the
tree RS equations with ``rho_perp`` (eq. (FC15)); it bifurcates continuously at
``alpha_PS = pi / (2 rho_perp''(0))`` when ``g_perp`` has an even part (ReLU, quadratic, eq. (FC17)),
and appears discontinuously at a spinodal when ``g_perp`` is odd (sign, erf, tanh: ``rho_perp ~ q^3``,
eq. (FC18)). The 1/K correction of the unit correlation follows from the uniform-mode equations
(FC10)-(FC11): ``(K-1) C = -1 + U(alpha)/K`` with ``U`` in closed form (eq. (FC12)).

Public API (for ``relusim compare`` and the CLI)::

    fc_saddle(activation, weights, alpha)              -> FCSaddle (thermodynamic branch)
    unit_correlation(activation, weights, alpha, K=None) -> float: (K-1) C at K -> inf, or C at finite K
    transition(activation, weights)                    -> FCTransition (alpha of the PS breaking, kind)
    capacity_fc(activation, weights)                   -> FCCapacity (RS capacity per weight)
    at_threshold_fc(activation, weights)               -> alpha of the replicon instability of PSB
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq, minimize_scalar, root

from relusim.errors import InputError
from relusim.theory.activations import Activation, as_activation
from relusim.theory.rs import (A1, ConvergenceError, G, alpha_of_q, at_lhs,
                               check_alpha, check_weights, phi_rs_binary, phi_rs_spherical,
                               qhat_of_q_binary)

LOG2 = float(np.log(2.0))
_Q_MAX = {"binary": 0.999, "spherical": 1.0 - 1e-9}
_Q_GRID = np.concatenate([np.geomspace(2e-3, 0.1, 25), np.linspace(0.11, 0.99, 45)])


# --- the projected activation (eq. (FC13)) -------------------------------------------------------

def linear_weight(act: Activation | str) -> float:
    """``a1^2 = (E[h g(h)])^2 = q_eff'(0) = Q_eff rho'(0)`` (Price's theorem; eq. (FC6))."""
    act = as_activation(act)
    return float(act.Q_eff * act.drho(np.array(0.0)))


@lru_cache(maxsize=None)
def _projected(name: str) -> Activation:
    act = as_activation(name)
    a2 = linear_weight(act)
    Q = act.Q_eff
    V = Q - a2
    if not V > 1e-9 * Q:
        raise InputError("activation", name,
                         "a non-linear g: a linear unit has no capacity per weight at K -> inf "
                         "(it is a perceptron in N dimensions, alpha_c = 2/K; see uniform_mode)")
    with np.errstate(invalid="ignore", divide="ignore"):
        drho1 = (Q * act.drho1 - a2) / V if np.isfinite(act.drho1) else np.inf
    return Activation(
        f"{act.name}_perp", V,
        lambda q: np.asarray(act.q_eff(q)) - a2 * np.clip(np.asarray(q, float), -1, 1),
        lambda q: (Q * np.asarray(act.drho(q)) - a2) / V,
        lambda q: Q * np.asarray(act.d2rho(q)) / V,
        float(drho1))


def projected_activation(act: Activation | str) -> Activation:
    """The activation with its mean and linear Hermite part removed, ``g_perp = g - E g - a1 h``.

    eq. (FC13): ``Q_perp = Q_eff - a1^2``, ``q_perp(q) = q_eff(q) - a1^2 q``, ``rho_perp' = (Q rho' - a1^2)/Q_perp``,
    ``rho_perp'' = Q rho''/Q_perp``. Raises InputError for a linear ``g`` (nothing is left).
    """
    return _projected(as_activation(act).name)


def rho_perp_second(act: Activation | str) -> float:
    """``rho_perp''(0) = (E g'')^2 / Q_perp``: zero iff ``g_perp`` is odd (eq. (FC17))."""
    return float(projected_activation(act).d2rho(np.array(0.0)))


# --- free entropy of the two branches (eq. (FC14)-(FC16)) ----------------------------------------

def phi_ps(weights: str, alpha: float) -> float:
    """PS phase ``q = p = 0``: the annealed free entropy per weight, eq. (FC14).

    spherical ``-alpha log 2`` (log volume fraction); binary ``(1 - alpha) log 2``.
    """
    check_weights(weights)
    return (1.0 - alpha) * LOG2 if weights == "binary" else -alpha * LOG2


def phi_fc(act: Activation | str, weights: str, alpha: float, q: float, qhat: float | None = None) -> float:
    """Leading-order FC free entropy per weight at arbitrary ``q`` (and ``qhat``, binary), eq. (FC15).

    The tree RS free entropy with ``rho -> rho_perp``; ``q = 0`` gives :func:`phi_ps`.
    """
    ap = projected_activation(act)
    if weights == "binary":
        return phi_rs_binary(ap, alpha, q, qhat_of_q_binary(q) if qhat is None else qhat)
    return phi_rs_spherical(ap, alpha, q)


def alpha_of_q_fc(act: Activation | str, weights: str, q: float) -> tuple[float, float]:
    """The ``alpha`` at which ``q`` solves the PSB saddle equations, and ``qhat`` (eq. (FC16))."""
    return alpha_of_q(projected_activation(act), weights, float(q))


@dataclass(frozen=True)
class FCSaddle:
    """A saddle point of the FC free entropy at K -> inf (docs/theory_fully_connected.md §4-5).

    ``q``: same unit, two replicas; ``pt = (K-1) p`` cross-unit between replicas (``-q``);
    ``c = (K-1) C`` the summed unit correlation within a network (``-1`` when ``a1 != 0``);
    ``U``: ``(K-1) C = -1 + U/K`` (eq. (FC12)); ``branch`` 'PS' (q = 0) or 'PSB'.
    """

    activation: str
    weights: str
    alpha: float
    branch: str
    q: float
    qhat: float
    phi: float
    c: float
    pt: float
    U: float


def _U(act: Activation, weights: str, alpha: float, q: float) -> float:
    """1/K coefficient of the unit correlation, eq. (FC12): ``U = (2 - rho)/(kappa (1 - rho)^2)``.

    ``kappa = alpha A1(rho_perp(q)) a1^2 / Q_perp``; ``0`` when ``a1 = 0`` (no correlation at O(1/K)
    from the linear channel).
    """
    a2 = linear_weight(act)
    if a2 <= 0.0:
        return 0.0
    ap = projected_activation(act)
    rho = float(ap.rho(q))
    kappa = alpha * A1(rho) * a2 / ap.Q_eff
    return (2.0 - rho) / (kappa * (1.0 - rho) ** 2)


def _make(act, weights, alpha, branch, q, qhat):
    a2 = linear_weight(act)
    phi = phi_ps(weights, alpha) if branch == "PS" else phi_fc(act, weights, alpha, q, qhat)
    return FCSaddle(act.name, weights, float(alpha), branch, float(q), float(qhat), float(phi),
                    -1.0 if a2 > 0 else 0.0, -float(q) if a2 > 0 else 0.0,
                    float(_U(act, weights, alpha, q)))


# --- the PSB branch and the transition (eq. (FC17)-(FC19)) ---------------------------------------

@dataclass(frozen=True)
class FCTransition:
    """Where permutation symmetry breaks (docs/theory_fully_connected.md §6).

    ``kind``: 'continuous' (PSB bifurcates from q = 0 at ``alpha_ps``) or 'discontinuous' (PSB appears at
    the spinodal ``alpha_spinodal`` with overlap ``q_spinodal``; it takes over at ``alpha_transition``
    where ``phi_PSB = phi_PS``, with overlap ``q_transition``). ``alpha_ps`` is also where the PS phase
    loses local stability (``inf`` when ``rho_perp''(0) = 0``).
    """

    activation: str
    weights: str
    kind: str
    alpha_ps: float
    alpha_spinodal: float
    q_spinodal: float
    alpha_transition: float
    q_transition: float


@lru_cache(maxsize=None)
def _transition(name: str, weights: str) -> FCTransition:
    act = as_activation(name)
    ap = projected_activation(act)
    r2 = float(ap.d2rho(np.array(0.0)))
    alpha_ps = np.pi / (2.0 * r2) if r2 > 1e-10 else np.inf
    qs = _Q_GRID[_Q_GRID < _Q_MAX[weights]]
    al = np.array([alpha_of_q(ap, weights, q)[0] for q in qs])
    i = int(np.argmin(al))
    if i == 0 and al[1] > al[0] and np.isfinite(alpha_ps) and al[0] >= alpha_ps * (1 - 1e-3):
        return FCTransition(act.name, weights, "continuous", float(alpha_ps), float(alpha_ps), 0.0,
                            float(alpha_ps), 0.0)
    if i == 0 or i == len(qs) - 1:
        raise ConvergenceError("no spinodal of the PSB branch on the q grid", activation=name,
                               weights=weights)
    res = minimize_scalar(lambda q: alpha_of_q(ap, weights, q)[0], bracket=(qs[i - 1], qs[i], qs[i + 1]),
                          tol=1e-10)
    q_sp, a_sp = float(res.x), float(res.fun)

    def dphi(q):
        a, qh = alpha_of_q(ap, weights, q)
        return phi_fc(act, weights, a, q, qh) - phi_ps(weights, a)

    hi = next((q for q in qs if q > q_sp and dphi(q) < 0), None)
    if hi is None:
        raise ConvergenceError("PSB never overtakes PS", activation=name, weights=weights)
    q_t = brentq(dphi, q_sp, hi, xtol=1e-12)
    return FCTransition(act.name, weights, "discontinuous", float(alpha_ps), a_sp, q_sp,
                        float(alpha_of_q(ap, weights, q_t)[0]), float(q_t))


def transition(act: Activation | str, weights: str) -> FCTransition:
    """The permutation-symmetry-breaking point (eq. (FC17)-(FC19)); cached per (activation, weights)."""
    check_weights(weights)
    return _transition(as_activation(act).name, weights)


def psb_saddle(act: Activation | str, weights: str, alpha: float) -> FCSaddle:
    """The PSB saddle at ``alpha`` on its stable branch (``d alpha / d q > 0``, the local minimum of
    ``phi(q)``, eq. (FC16)). Raises ConvergenceError below the spinodal or at/above the spherical capacity.
    """
    act = as_activation(act)
    check_weights(weights)
    check_alpha(alpha)
    tr = transition(act, weights)
    ap = projected_activation(act)
    lo = max(tr.q_spinodal, 1e-9)
    f = lambda q: np.log(alpha_of_q(ap, weights, q)[0] / alpha)  # noqa: E731
    flo, fhi = f(lo), f(_Q_MAX[weights])
    if not (flo < 0 < fhi):
        raise ConvergenceError("no PSB saddle at this alpha", activation=act.name, weights=weights,
                               alpha=alpha, alpha_spinodal=tr.alpha_spinodal)
    q = brentq(f, lo, _Q_MAX[weights], xtol=1e-14, rtol=1e-13)
    a, qhat = alpha_of_q(ap, weights, q)
    if abs(a / alpha - 1) > 1e-8:
        raise ConvergenceError("PSB residual too large", activation=act.name, alpha=alpha, q=q)
    return _make(act, weights, alpha, "PSB", q, qhat)


def fc_saddle(act: Activation | str, weights: str, alpha: float) -> FCSaddle:
    """The thermodynamic saddle at ``alpha``: PS below the transition, PSB above (the smaller free
    entropy of the two, as for every inter-replica order parameter when n -> 0; eq. (FC19))."""
    act = as_activation(act)
    check_weights(weights)
    check_alpha(alpha)
    tr = transition(act, weights)
    if alpha <= tr.alpha_transition:
        return _make(act, weights, alpha, "PS", 0.0, 0.0)
    return psb_saddle(act, weights, alpha)


def unit_correlation(act: Activation | str, weights: str, alpha: float, K: int | None = None) -> float:
    """Within-network unit correlation of the sign-absorbed weights, ``C = c_k c_l W_k.W_l / N`` (k != l).

    ``K=None``: the K -> inf limit of ``(K-1) C``: ``-1`` when ``a1 != 0`` (every alpha > 0), ``0`` when ``a1 = 0``
    (eq. (FC12)). ``K`` given: ``C`` itself from the uniform-mode equations (FC10)-(FC11) at finite K
    (:func:`uniform_mode`); it interpolates from 0 at alpha = 0 to ``(-1 + U/K)/(K-1)`` at alpha >> 1/K.
    For a ReLU network with balanced ``c`` this is ``C`` for two units of the same sign of ``c`` and ``-C`` across.
    """
    if K is None:
        return fc_saddle(act, weights, alpha).c
    return uniform_mode(act, weights, alpha, K).C


# --- the uniform mode at finite K (eq. (FC10)-(FC11)) -------------------------------------------

@dataclass(frozen=True)
class UniformMode:
    """Uniform-mode solution at finite K: ``u = 1 + (K-1) C``, ``delta = u - q - (K-1) p`` (eq. (FC10)).

    ``C`` within a network, ``p`` cross-unit between replicas, ``q_w = 1 - delta/u`` the overlap of the
    summed weight vector between replicas; ``q`` the leading-order same-unit overlap used.
    """

    activation: str
    weights: str
    alpha: float
    K: int
    q: float
    u: float
    delta: float
    C: float
    p: float
    q_w: float


def _rho_fc(act, q, u, delta):
    a2 = linear_weight(act)
    Q = act.Q_eff
    num = float(act.q_eff(q)) - a2 * q + a2 * (u - delta)
    den = Q - a2 + a2 * u
    return num / den, den


def uniform_free_entropy(act: Activation | str, alpha: float, K: int, q: float, u: float,
                         delta: float) -> float:
    """The (u, delta)-dependent part of the FC free entropy per weight, eq. (FC10):

    ``B(u, delta; q)/(2K) + alpha G(rho_FC)``, ``B = log delta + u/delta - 1 - (u-1)(1-2q)/(1-q)^2
    - (u-delta-q) q/(1-q)^2 - s(1,q)``, ``rho_FC = (q_perp(q) + a1^2 (u - delta)) / (Q_perp + a1^2 u)``.
    """
    act = as_activation(act)
    s1 = np.log1p(-q) + q / (1.0 - q)
    B = (np.log(delta) + u / delta - 1.0 - (u - 1.0) * (1.0 - 2.0 * q) / (1.0 - q) ** 2
         - (u - delta - q) * q / (1.0 - q) ** 2 - s1)
    rho, _ = _rho_fc(act, q, u, delta)
    return float(B / (2.0 * K) + alpha * G(rho))


def uniform_mode(act: Activation | str, weights: str, alpha: float, K: int,
                 q: float | None = None, start: tuple[float, float] | None = None) -> UniformMode:
    """Solve the uniform-mode stationarity equations (FC11) at finite K for ``(u, delta)``.

    ``q`` defaults to the leading-order thermodynamic overlap (:func:`fc_saddle`; ``0`` for a linear unit).
    ``start = (u, delta)`` replaces the default starting points (closed form (FC12), then fixed ones).
    The staggered modes and ``q`` are kept at leading order: an approximation at small K
    (docs/theory_fully_connected.md §5). A linear unit gives the N-dimensional perceptron at ``alpha K``.
    """
    act = as_activation(act)
    check_weights(weights)
    check_alpha(alpha)
    if not (isinstance(K, (int, np.integer)) and K >= 2):
        raise InputError("K", K, "an integer >= 2")
    a2 = linear_weight(act)
    Q = act.Q_eff
    if q is None:
        q = 0.0 if Q - a2 <= 1e-9 * Q else fc_saddle(act, weights, alpha).q
    qperp = float(act.q_eff(q)) - a2 * q
    V = Q - a2
    if a2 <= 0.0:
        u, delta = 1.0, 1.0 - q
    else:
        def eqs(x):
            if not np.all(np.abs(x) < 50):
                return [1e6, 1e6]
            u, d = np.exp(x)
            rho, den = _rho_fc(act, q, u, d)
            if not 0.0 <= rho < 1.0:
                return [1e6, 1e6]
            a1 = A1(rho) if rho < 1 - 1e-13 else np.inf
            e1 = (1.0 / d - 1.0 / (1.0 - q)) / (2 * K) - alpha * a1 / 2 * a2 * (V - qperp + a2 * d) / den ** 2
            e2 = (1.0 / d - u / d ** 2 + q / (1.0 - q) ** 2) / (2 * K) + alpha * a1 / 2 * a2 / den
            return [e1 * d, e2 * d * d / u]

        if start is None and V > 0:  # closed form (FC12), capped: fast Newton, bracketed fallback
            rho = float(projected_activation(act).rho(q))
            kappa = alpha * A1(rho) * a2 / V
            start = (min(_U(act, weights, alpha, q) / K, 1.0),
                     min(1.0 / (kappa * (1.0 - rho) * K), 0.5 * min(_U(act, weights, alpha, q) / K, 1.0)))
            fallback = True
        else:
            fallback = start is None
        r = None
        if start is not None:
            r = root(eqs, np.log(np.asarray(start, dtype=float)), method="hybr", options=dict(xtol=1e-13))
        if r is not None and r.success and np.max(np.abs(eqs(r.x))) < 1e-10:
            u, delta = (float(v) for v in np.exp(r.x))
        elif fallback:
            u, delta = _uniform_bracketed(eqs, act, alpha, K, q)
        else:
            raise ConvergenceError("uniform-mode equations did not converge from this start",
                                   activation=act.name, weights=weights, alpha=alpha, K=K, q=q,
                                   start=start)
    C = (u - 1.0) / (K - 1)
    p = (u - delta - q) / (K - 1)
    return UniformMode(act.name, weights, float(alpha), int(K), float(q), u, delta, C, p, 1.0 - delta / u)


def _uniform_bracketed(eqs, act, alpha, K, q):
    """Nested bracketed roots of eq. (FC11): ``delta(u) in (0, u)`` from the second equation (it runs from
    ``-inf`` at ``delta -> 0`` to ``> 0`` at ``delta = u``), then ``u`` from the first."""
    def e2(ld, lu):
        return eqs(np.array([lu, ld]))[1]

    def delta_of(lu):
        lo, hi = lu - 25.0, lu - 1e-12
        if not (e2(lo, lu) < 0 < e2(hi, lu)):
            raise ConvergenceError("no bracket for delta in the uniform mode", activation=act.name,
                                   alpha=alpha, K=K, q=q, u=float(np.exp(lu)))
        return brentq(lambda ld: e2(ld, lu), lo, hi, xtol=1e-14)

    def e1(lu):
        return eqs(np.array([lu, delta_of(lu)]))[0]

    def e1_or_nan(lu):
        try:
            return e1(lu)
        except ConvergenceError:
            return np.nan

    lus = np.linspace(-12.0, 6.0, 37)
    vals = [e1_or_nan(lu) for lu in lus]
    i = next((j for j in range(len(lus) - 1) if vals[j] * vals[j + 1] < 0), None)
    if i is None:
        raise ConvergenceError("uniform-mode equations have no root (beyond capacity?)",
                               activation=act.name, alpha=alpha, K=K, q=q)
    lu = brentq(e1, lus[i], lus[i + 1], xtol=1e-14)
    ld = delta_of(lu)
    if np.max(np.abs(eqs(np.array([lu, ld])))) > 1e-10:
        raise ConvergenceError("uniform-mode residual too large", activation=act.name, alpha=alpha, K=K)
    return float(np.exp(lu)), float(np.exp(ld))


# --- capacity and replicon (eq. (FC20)-(FC21)) --------------------------------------------------

@dataclass(frozen=True)
class FCCapacity:
    """RS capacity per weight of the FC network at K -> inf, the branch it is reached on, and ``q`` there."""

    activation: str
    weights: str
    alpha: float
    branch: str
    q: float


def capacity_fc(act: Activation | str, weights: str) -> FCCapacity:
    """RS capacity per weight, eq. (FC20).

    spherical: the PSB branch reaches ``q -> 1`` at ``alpha_c = 2 rho_perp'(1) = 2 (E g'^2 - a1^2)/(Var g - a1^2)``
    (``inf`` for sign). binary: the zero of the thermodynamic free entropy (Krauth-Mezard); on the PS
    branch that is ``alpha = 1`` (the information bound), reached only if PSB has not taken over before.
    """
    act = as_activation(act)
    check_weights(weights)
    ap = projected_activation(act)
    tr = transition(act, weights)
    if weights == "spherical":
        return FCCapacity(act.name, weights, 2.0 * ap.drho1, "PSB", 1.0)
    if tr.alpha_transition >= 1.0:
        return FCCapacity(act.name, weights, 1.0, "PS", 0.0)

    def phi_at(q):
        a, qh = alpha_of_q(ap, weights, q)
        return phi_fc(act, weights, a, q, qh)

    lo = max(tr.q_transition, 1e-6)
    q = brentq(phi_at, lo, 0.99, xtol=1e-13)
    return FCCapacity(act.name, weights, float(alpha_of_q(ap, weights, q)[0]), "PSB", float(q))


@dataclass(frozen=True)
class FCATPoint:
    """Replicon instability of the PSB branch (eq. (FC21)); ``at_transition`` when it is unstable from
    the moment it takes over."""

    activation: str
    weights: str
    alpha: float
    q: float
    at_transition: bool


def at_threshold_fc(act: Activation | str, weights: str) -> FCATPoint:
    """The tree replicon condition (docs/theory.md §4 form, ``rho -> rho_perp``) along the PSB branch, eq. (FC21)."""
    act = as_activation(act)
    check_weights(weights)
    ap = projected_activation(act)
    tr = transition(act, weights)
    q0 = max(tr.q_transition, 1e-4)
    qs = np.concatenate([[q0], np.linspace(q0, _Q_MAX[weights], 40)[1:-1]])
    vals = np.array([at_lhs(ap, weights, q) - 1.0 for q in qs])
    if vals[0] > 0:
        return FCATPoint(act.name, weights, tr.alpha_transition, tr.q_transition, True)
    cross = np.nonzero(vals > 0)[0]
    if len(cross) == 0:
        cap = capacity_fc(act, weights)
        return FCATPoint(act.name, weights, cap.alpha, cap.q, False)
    i = cross[0]
    q = brentq(lambda q: at_lhs(ap, weights, q) - 1.0, qs[i - 1], qs[i], xtol=1e-12)
    return FCATPoint(act.name, weights, float(alpha_of_q(ap, weights, q)[0]), float(q), False)


__all__ = ["linear_weight", "projected_activation", "rho_perp_second", "phi_ps", "phi_fc",
           "alpha_of_q_fc", "FCSaddle", "FCTransition", "FCCapacity", "FCATPoint", "UniformMode",
           "transition", "psb_saddle", "fc_saddle", "unit_correlation", "uniform_mode",
           "uniform_free_entropy", "capacity_fc", "at_threshold_fc"]
