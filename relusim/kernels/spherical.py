"""Spherical (real) weights: cached fields and the two-coordinate rotation move (docs/algorithms.md §4).

Each unit's weights lie on its sphere, |W_l|^2 = n (n its fan-in; docs/model.md §2). Layout as for
binary weights (``relusim.kernels.fields``), for y machines (replicas); ft is the fields' dtype,
float64 or float32 (``PRECISIONS``, ``anneal.precision``; docs/algorithms.md §4.2):
  XT   (N_in, Pp) float32  patterns, input-major, padding columns 0 (a float copy: the int8 -> float
                           conversion in the pattern loop costs about a third of it)
  sig  (Pp,)  float32      labels, 0 in padding;  c (K,) float64 output weights
  w    (y, Nw)    float64  unit l holds w[a, l n:(l+1) n]; tree: weight i reads input i,
                           fully connected: input i - l n (``fields.row``; told from the shapes)
  H    (y, K, Pp) ft       H[a, l, mu] = sum_j W^a_lj xi^mu_j
  marg (y, Pp)    ft       sigma^mu sum_l c_l g(x_l mu), x = H / sqrt(n) (sign, ReLU: x = H, the same
                           signs since both are positively homogeneous)
  nact (y, Pp)    int16    the number of units with g != 0 (ReLU: H > 0); float32 with float32 fields
                           (the same lanes). For ReLU and shifted ReLU (``gfun.ZERO_OUTPUT``) the
                           output is exactly zero iff it is 0, whatever rounding left in marg, so the
                           zero-output rule stays exact; the other codes
                           need no count (a smooth output is exactly 0 with probability zero) and the
                           sampler does not keep it up to date for them.
  G    (y, K, Pp) ft       g(x_l mu) for the costly codes (``gfun.COSTLY``: tanh, erf, logistic,
                           softplus), so that a move evaluates g once per pattern, not twice
  S    (y, Pp)    ft       sum_l max(0, -sigma^mu c_l H_l mu): the units that vote against the label,
                           weighted by how far (sign and ReLU; 0 in padding)
  L    (y,)       float64  the perceptron cost, sum over errors mu of S_mu / sqrt(n) (``cost``)
Pattern mu is an error iff marg <= 0 (or, ZERO_OUTPUT codes, nact == 0). Sign units: marg is a sum of
+-c_l, an exact integer in either dtype; an exactly zero real field has probability zero, so there are no
parity rules (sgn(0) = 0 as in ``relusim.models.machine``). The activation is a code and a parameter
(``relusim.kernels.gfun``: g(code, p, x), the same bits on every CPU).

The perceptron cost (``anneal.energy: perceptron``, docs/algorithms.md §4.1): for sign and ReLU units
L = sum_mu [mu is an error] sum_l max(0, -sigma^mu c_l x_l mu), x = H / sqrt(n). For K = 1 it is the
classic perceptron criterion, sum over errors of |Delta_mu|. It is zero exactly when E is (a wrong
pattern has a unit voting against its label with a nonzero field, with probability one), and it tells
the sampler how far each error is from being fixed, which the error count does not.

The model's interface, used by the samplers (``relusim.kernels.spherical_mc``) and their twin tests:
  build(problem, state, a) -> E         fields, margins, counts of replica a from scratch, O(N P)
  normalise(problem, state, a)          restore |W^a_l|^2 = n (drift of the rounding only)
  rotated(state, a, i, j, cs, sn) -> (wi', wj')   the Givens rotation of coordinates i, j by theta
The move, inline on plain arrays (numba wraps a non-inlined call, or an array read from a record in the
proposal loop, in reference-count updates costing as much as the loop), which the sampler calls:
  rotation_steps(wi, wj, cs, sn) -> (di, dj)      the steps wi' - wi, wj' - wj
  rotation_delta(...) -> (errors after, sum of err S change)   one O(P) pass, nothing written but gbuf
  rotation_apply(...)                   commit it: H[a, l] += di xi_i + dj xi_j and the caches, then w, O(P)
and the same on the records, for the twin tests (``tests/test_spherical_kernels.py``, against the brute force):
  delta_energy(problem, state, move) -> dE        move = (a, l, i, j, wi', wj')
  delta_cost(problem, state, move) -> dL          the same move's change of the perceptron cost
  apply(problem, state, move)           commit it as the sampler does
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from . import detmath, gfun
from .lanes import as_field, count, counter, madd, sgn
from .fields import RELU, SIGN, aligned_full, padded

PAD = 1e30  # margin of a padding lane: never an error
NACT_PAD = np.int16(30000)

Problem = namedtuple("Problem", ["XT", "sig", "c", "n", "act", "p", "cost"])
State = namedtuple("State", ["w", "H", "marg", "nact", "E", "ref", "m", "rng", "G", "S", "L"])
ERRORS, PERCEPTRON = 0, 1  # the energy the sampler anneals (``cost``); E, the errors, decides "solved"
COSTS = {"errors": ERRORS, "perceptron": PERCEPTRON}
PRECISIONS = {"float64": np.float64, "float32": np.float32}  # of the cached fields (``anneal.precision``)
GENERIC = -1  # act of a loop that reads the activation code from the problem at run time (``g_at``)



def problem_record(xi: np.ndarray, sigma: np.ndarray, c: np.ndarray, n: int, code: int, p: float,
                   cost: int = ERRORS) -> Problem:
    """The kernels' view of a training set (float copies, padded to 64 patterns) for activation ``code``
    with parameter ``p`` (``relusim.kernels.gfun``) and annealed energy ``cost`` (``COSTS``).
    ``relusim.priors.spherical.problem_arrays`` builds it from an activation's name, and refuses the
    perceptron cost for any unit but sign and ReLU."""
    P, N = xi.shape
    Pp = padded(P)
    XT = aligned_full((N, Pp), np.float32)  # +-1 and 0 exactly: half the bytes of float64, the same bits
    XT[:, :P] = xi.T
    sig = aligned_full(Pp, np.float32)
    sig[:P] = sigma
    return Problem(XT, sig, np.asarray(c, np.float64), int(n), int(code), float(p), int(cost))


def new_state(w: np.ndarray, ref: np.ndarray, P: int, K: int, rng: np.ndarray, precision: str = "float64") -> State:
    """A State holding copies of weights w (y, Nw) (and ref (Nw,) or empty); caches to be filled by
    ``build``. ``precision`` (``PRECISIONS``) is the dtype of the cached fields H, marg, G and S (and of
    the counts nact for float32, which then vectorise in the same lanes); the weights are float64 in both."""
    y, Nw = w.shape
    Pp = padded(P)
    ft = PRECISIONS[precision]
    return State(np.array(w, np.float64, order="C"), aligned_full((y, K, Pp), ft),
                 aligned_full((y, Pp), ft, PAD), aligned_full((y, Pp), np.int16 if ft == np.float64 else ft, NACT_PAD),
                 np.zeros(y, np.int64), np.array(ref, np.float64, order="C"), np.zeros(Nw), rng,
                 aligned_full((y, K, Pp), ft), aligned_full((y, Pp), ft), np.zeros(y))


@njit(cache=True)
def gaussian_sphere(u, n):
    """Points uniform on each unit's sphere from uniforms u (y, Nw) in (0, 1]: Box-Muller with
    detmath's log and sincos (the same bits on every CPU), each block of n renormalised to |.|^2 = n."""
    y, Nw = u.shape
    out = np.empty((y, Nw))
    for a in range(y):
        for i in range(0, Nw, 2):
            r = np.sqrt(-2.0 * detmath.log(u[a, i]))
            v = u[a, i + 1] if i + 1 < Nw else u[a, 0]
            sn, cs = detmath.sincos(2.0 * np.pi * v - np.pi)
            out[a, i] = r * cs
            if i + 1 < Nw:
                out[a, i + 1] = r * sn
        for l in range(Nw // n):
            _rescale(out, a, l, n)
    return out


@njit(inline="always")
def _rescale(w, a, l, n):
    s = 0.0
    for i in range(l * n, (l + 1) * n):
        s += w[a, i] * w[a, i]
    f = np.sqrt(n / s)
    for i in range(l * n, (l + 1) * n):
        w[a, i] *= f


@njit(cache=True)
def normalise_rows(w, n):
    """|w[a, l n:(l+1) n]|^2 = n for every row a (w may be the reference as a (1, Nw) view)."""
    for a in range(w.shape[0]):
        for l in range(w.shape[1] // n):
            _rescale(w, a, l, n)


@njit(inline="always")
def scale(act, n):
    """The factor of H in g's argument: 1 for sign and ReLU (homogeneous), else 1/sqrt(n)."""
    return 1.0 if act == RELU or act == SIGN else 1.0 / np.sqrt(n)


@njit(inline="always")
def zero_output(act):
    """The output can be exactly 0 (g = 0 on a half-line): the nact rule applies."""
    return act == RELU or act == gfun.RELU_SHIFT


@njit(inline="always")
def costly(act):
    """g calls exp or log: the sampler reads g of the current field from G."""
    return act == gfun.TANH or act == gfun.ERF or act == gfun.LOGISTIC or act == gfun.SOFTPLUS


@njit(cache=True)
def build(problem, state, a):
    """Fill H[a], marg[a], nact[a], S[a], L[a] (and G[a]) from w[a] (sequential sums: the same bits on
    every CPU); return E."""
    XT, sig, c, n, act, p, _ = problem
    w, H, marg, nact, G, S = state.w, state.H, state.marg, state.nact, state.G, state.S
    rs = scale(act, n)
    zo = zero_output(act)
    Pp = XT.shape[1]
    K = c.shape[0]
    fc = w.shape[1] != XT.shape[0]
    Hd = np.zeros((K, Pp))  # float64 sums, stored rounded to H's dtype: a float32 H keeps their signs
    for i in range(w.shape[1]):
        l = i // n
        r = i - l * n if fc else i
        wi = w[a, i]
        for mu in range(Pp):
            Hd[l, mu] += wi * XT[r, mu]
    for l in range(K):
        for mu in range(Pp):
            H[a, l, mu] = Hd[l, mu]
    E = 0
    cost = 0.0
    for mu in range(Pp):
        if sig[mu] == 0.0:
            marg[a, mu] = PAD
            nact[a, mu] = NACT_PAD
            S[a, mu] = 0.0
            continue
        out = 0.0
        na = 0
        sv = 0.0
        for l in range(K):
            h = Hd[l, mu]
            sv += _against(sig[mu] * c[l], h, 0.0)
            if act == RELU:
                out += c[l] * max(h, 0.0)
                na += h > 0.0
            elif act == SIGN:
                out += c[l] * ((h > 0.0) - (h < 0.0))
                na += h > 0.0
            else:
                v = gfun.g(act, p, h * rs)
                G[a, l, mu] = v
                out += c[l] * v
                na += v != 0.0
        marg[a, mu] = sig[mu] * out
        nact[a, mu] = na
        S[a, mu] = sv
        bad = marg[a, mu] <= 0.0 or (zo and na == 0)
        E += bad
        if bad:
            cost += sv
    state.L[a] = cost / np.sqrt(n)
    return E


@njit(inline="always")
def _against(sc, h, z):
    """max(0, -sigma c_l H): how far unit l's field is on the wrong side of the label (0 if on the right;
    z is 0 in the fields' dtype)."""
    v = -sc * h
    return v if v > z else z


@njit(cache=True)
def normalise(problem, state, a):
    """Restore |W^a_l|^2 = n for every unit of replica a."""
    _n = problem.n
    for l in range(state.w.shape[1] // _n):
        _rescale(state.w, a, l, _n)


@njit(inline="always")
def rotated(state, a, i, j, cs, sn):
    """(W_i cos - W_j sin, W_i sin + W_j cos): the rotation by theta in the (i, j) plane, norm exact."""
    wi, wj = state.w[a, i], state.w[a, j]
    return wi * cs - wj * sn, wi * sn + wj * cs


@njit(inline="always")
def rotation_steps(wi, wj, cs, sn):
    """(wi' - wi, wj' - wj) of the rotation by theta (``rotated``): the steps the move adds to the weights
    (w += step, so the fields move by exactly the steps the weights take, rounded to their dtype)."""
    return (wi * cs - wj * sn) - wi, (wi * sn + wj * cs) - wj


@njit(inline="always")
def g_at(act, code, p, x):
    """g(code, p, x): inlined where the activation is a compile-time constant act, a call where it is read at
    run time (act GENERIC, code the problem's)."""
    if act == GENERIC:
        return gfun.g_call(code, p, x)
    return gfun.g(act, p, x)


@njit(inline="always")
def rotation_delta(XT, sig, c, n, p, H, marg, nact, G, S, gbuf, act, code, pc, a, l, ri, rj, di, dj):
    """(errors of replica a after the move, Delta of sum_mu err_mu S_mu) for the move of unit l's weights
    reading rows ri, rj of XT by steps di, dj (``rotation_steps``): one O(P) pass, nothing written but gbuf.

    H'_l = H_l + di xi_ri + dj xi_rj (``lanes.madd``: xi is +-1 or 0, the products exact); marg' = marg + c_l sigma (g(H' s) - g(H s)), s = ``scale``, in the
    fields' dtype (``lanes``): sign sgn(H') - sgn(H) (marg an exact integer), ReLU max(H', 0) - max(H, 0)
    with nact' = nact + [H' > 0] - [H > 0]; the other codes g (act, a compile-time constant, or GENERIC:
    ``g_at``), g(H s) read from G for the costly codes and g(H' s) kept in gbuf for ``rotation_apply``.
    With pc (the perceptron cost, sign and ReLU), the second value is sum_mu (err'_mu S'_mu - err_mu S_mu),
    S' = S + max(0, -sigma c_l H'_l) - max(0, -sigma c_l H_l); Delta L is it / sqrt(n) (docs/algorithms.md §4.1).
    """
    rs = scale(code, n)
    zo = zero_output(code)
    cg = costly(code)
    z = as_field(H, 0.0)  # field arithmetic stays in H's dtype (float32: twice the lanes)
    nz = as_field(nact, 0)
    dif, djf, cl = as_field(z, di), as_field(z, dj), as_field(z, c[l])
    cnt = counter(z)
    dL = 0.0
    for mu in range(XT.shape[1]):
        ho = H[a, l, mu]
        hn = madd(djf, as_field(z, XT[rj, mu]), madd(dif, as_field(z, XT[ri, mu]), ho))
        if act == RELU:
            nm = marg[a, mu] + cl * sig[mu] * ((hn if hn > z else z) - (ho if ho > z else z))
            na = nact[a, mu] + as_field(nz, hn > z) - as_field(nz, ho > z)
            bad = (nm <= z) | (na == nz)
        elif act == SIGN:
            nm = madd(cl * as_field(z, sig[mu]), sgn(z, hn) - sgn(z, ho), marg[a, mu])
            bad = nm <= z
        else:
            gn = g_at(act, code, p, hn * rs)
            if cg:
                go = G[a, l, mu]
                gbuf[mu] = gn
            else:
                go = g_at(act, code, p, ho * rs)
            nm = marg[a, mu] + cl * sig[mu] * (gn - go)
            if zo:
                na = nact[a, mu] + as_field(nz, gn != 0.0) - as_field(nz, go != 0.0)
                bad = (nm <= 0.0) | (na == nz)
            else:
                bad = nm <= 0.0
        cnt = count(cnt, bad)
        if pc:
            so = S[a, mu]
            was = marg[a, mu] <= 0.0
            if zo:
                was = was | (nact[a, mu] == 0)
            sc = cl * sig[mu]
            dL += (so + _against(sc, hn, z) - _against(sc, ho, z) if bad else 0.0) - (so if was else 0.0)
    return cnt, dL


@njit(inline="always")
def rotation_apply(XT, sig, c, n, p, w, H, marg, nact, G, S, gbuf, act, code, pc, a, l, i, j, ri, rj, di, dj):
    """Commit the move of ``rotation_delta`` (its gbuf): H[a, l], marg[a], nact[a] (ReLU and the codes
    with a zero output), G[a, l] (costly codes), S[a] (pc), then w[a, i] += di, w[a, j] += dj; O(P).
    E, L and the replica sums are the caller's."""
    rs = scale(code, n)
    zo = zero_output(code)
    cg = costly(code)
    z = as_field(H, 0.0)
    nz = as_field(nact, 0)
    dif, djf, cl = as_field(z, di), as_field(z, dj), as_field(z, c[l])
    for mu in range(XT.shape[1]):
        ho = H[a, l, mu]
        hn = madd(djf, as_field(z, XT[rj, mu]), madd(dif, as_field(z, XT[ri, mu]), ho))
        H[a, l, mu] = hn
        if pc:
            S[a, mu] += _against(cl * sig[mu], hn, z) - _against(cl * sig[mu], ho, z)
        if act == RELU:
            marg[a, mu] += cl * sig[mu] * ((hn if hn > z else z) - (ho if ho > z else z))
            nact[a, mu] += as_field(nz, hn > z) - as_field(nz, ho > z)
        elif act == SIGN:
            marg[a, mu] = madd(cl * as_field(z, sig[mu]), sgn(z, hn) - sgn(z, ho), marg[a, mu])
        elif cg:
            gn = gbuf[mu]
            marg[a, mu] += cl * sig[mu] * (gn - G[a, l, mu])
            G[a, l, mu] = gn
        else:
            gn = g_at(act, code, p, hn * rs)
            go = g_at(act, code, p, ho * rs)
            marg[a, mu] += cl * sig[mu] * (gn - go)
            if zo:
                nact[a, mu] += as_field(nz, gn != 0.0) - as_field(nz, go != 0.0)
    w[a, i] += di
    w[a, j] += dj


@njit(inline="always")
def _move(problem, state, move):
    """(a, l, i, j, rows of XT that weights i and j read, wi' - wi, wj' - wj) of move (a, l, i, j, wi', wj')."""
    a, l, i, j, wi2, wj2 = move
    n, w = problem.n, state.w
    fc = w.shape[1] != problem.XT.shape[0]
    return a, l, i, j, (i - l * n if fc else i), (j - l * n if fc else j), wi2 - w[a, i], wj2 - w[a, j]


@njit(cache=True)
def delta_energy(problem, state, move):
    """Delta E of move (a, l, i, j, wi', wj') (i, j weights of unit l): ``rotation_delta``, nothing written."""
    XT, sig, c, n, act, p, _ = problem
    a, l, i, j, ri, rj, di, dj = _move(problem, state, move)
    cnt, _ = rotation_delta(XT, sig, c, n, p, state.H, state.marg, state.nact, state.G, state.S,
                            np.empty(XT.shape[1]), act, act, False, a, l, ri, rj, di, dj)
    return cnt - state.E[a]


@njit(cache=True)
def delta_cost(problem, state, move):
    """Delta L of move (a, l, i, j, wi', wj') (sign and ReLU): ``rotation_delta``'s sum / sqrt(n)."""
    XT, sig, c, n, act, p, _ = problem
    a, l, i, j, ri, rj, di, dj = _move(problem, state, move)
    _, d = rotation_delta(XT, sig, c, n, p, state.H, state.marg, state.nact, state.G, state.S,
                          np.empty(XT.shape[1]), act, act, True, a, l, ri, rj, di, dj)
    return d / np.sqrt(n)


@njit(cache=True)
def apply(problem, state, move):
    """Commit move (a, l, i, j, wi', wj') as the sampler does (``rotation_delta``, then ``rotation_apply``):
    H[a, l], marg[a], nact[a], G[a, l], S[a] (perceptron cost), then w (E and L are the caller's)."""
    XT, sig, c, n, act, p, cost = problem
    a, l, i, j, ri, rj, di, dj = _move(problem, state, move)
    pc = cost == PERCEPTRON
    gbuf = np.empty(XT.shape[1])
    rotation_delta(XT, sig, c, n, p, state.H, state.marg, state.nact, state.G, state.S, gbuf, act, act, pc,
                   a, l, ri, rj, di, dj)
    rotation_apply(XT, sig, c, n, p, state.w, state.H, state.marg, state.nact, state.G, state.S, gbuf, act, act,
                   pc, a, l, i, j, ri, rj, di, dj)
