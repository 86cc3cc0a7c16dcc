"""The committee machine in plain NumPy: slow, obvious, and the twin every kernel is tested against.

Notation of docs/model.md (arXiv:1907.07578, eq. (1) and App. A, E): K units, patterns xi (P, N),
labels sigma (P,), weights W[l, j] stored flat and unit-major, weight (l, j) at l*L + j, where L is
the fan-in of a unit. Binary weights are +-1 (integer arrays: every field is an exact integer);
spherical weights are real (float arrays), |W_l|^2 = L on each unit's sphere (docs/model.md §2),
and the same functions evaluate them in float64:

* ``architecture="tree"`` (the default): unit l sees its own block of L = n = N/K inputs;
  the network is w[N], unit l holds w[l*n:(l+1)*n] and input l*n + j.
* ``architecture="fully_connected"`` (Nishiyama & Ohzeki, arXiv:2404.13404): every unit sees all
  L = N inputs with its own weights; the network is w[K*N], unit l holds w[l*N:(l+1)*N].
"""
from __future__ import annotations

import math

import numpy as np

from . import activations

ARCHITECTURES = ("tree", "fully_connected")


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r}: allowed {', '.join(ARCHITECTURES)}")


def fan_in(N: int, K: int, architecture: str = "tree") -> int:
    """L, the inputs one unit sees: N/K for a tree, N fully connected."""
    _check_architecture(architecture)
    return N // K if architecture == "tree" else N


def n_weights(N: int, K: int, architecture: str = "tree") -> int:
    """The length of the flat weight vector: N for a tree, K N fully connected."""
    return K * fan_in(N, K, architecture)


def output_weights(activation: str, K: int) -> np.ndarray:
    """c_l: all +1 for an odd g (sign, tanh, ...); +1 for the first K/2 units and -1 for the rest
    otherwise (ReLU, ...; docs/model.md §1)."""
    return activations.readout(activations.parse(activation), K)


def _wide(w: np.ndarray) -> np.dtype:
    """int64 for integer (binary) weights, float64 for real (spherical) ones."""
    return np.dtype(np.float64) if np.issubdtype(np.asarray(w).dtype, np.floating) else np.dtype(np.int64)


def unit_fields(w: np.ndarray, xi: np.ndarray, K: int, architecture: str = "tree") -> np.ndarray:
    """Pre-activations, shape (K, P) (docs/model.md §3): integers for binary weights, float64 for real.

    tree: H[l, mu] = sum_i W_li xi^mu_li over the block of unit l;
    fully connected: H[l, mu] = sum_j W_lj xi^mu_j over all N inputs.
    """
    P, N = xi.shape
    L = fan_in(N, K, architecture)
    if w.shape[-1] != K * L or (architecture == "tree" and N % K):
        raise ValueError(f"{architecture} network with K={K}, N={N} needs {K * L} weights, got {w.shape[-1]}")
    t = _wide(w)
    W = w.reshape(K, L).astype(t)
    if t == np.float64:  # each term w xi = +-w is exact and fsum rounds once: the same bits on every CPU
        X = xi.reshape(P, K, L) if architecture == "tree" else np.broadcast_to(xi[:, None, :], (P, K, L))
        T = X * W[None, :, :]
        return np.array([[math.fsum(T[mu, l]) for mu in range(P)] for l in range(K)])
    if architecture == "tree":
        return np.einsum("li,pli->lp", W, xi.reshape(P, K, L).astype(t))
    return W @ xi.T.astype(t)


def activate(activation: str, H: np.ndarray, L: int | None = None) -> np.ndarray:
    """g of the units' pre-activations H (K, P) of fan-in L (docs/model.md §3).

    sign and ReLU: sgn(H) (sgn(0) = 0) and max(H, 0), on the integer (or real) field itself, since g
    is scale-free or homogeneous. Any other g acts on h = H / sqrt(L): for binary weights through the
    fixed-point table of ``activations.binary_table`` (an int64 per unit, exact sums), for real
    weights in float64.
    """
    spec = activations.parse(activation)
    if spec.code == activations.SIGN:
        return np.sign(H)
    if spec.code == activations.RELU:
        return np.maximum(H, 0)
    if L is None:
        raise ValueError(f"activation {spec.label} needs the fan-in L")
    if _wide(H) == np.int64:
        gq, _ = activations.binary_table(spec, L, H.shape[0])
        return gq[np.asarray(H, np.int64) + L]
    return activations._deterministic_g(spec, np.asarray(H, np.float64) / math.sqrt(L))


def output_scale(activation: str, K: int, L: int, binary: bool = True) -> float:
    """The factor that turns ``integer_output`` into sum_l c_l g(h_l) / sqrt(K) (the stability's scale):
    1/sqrt(K) for sign, 1/sqrt(K L) for ReLU, unit / sqrt(K) for a tabled g on binary weights (the
    value of one table step, ``activations.binary_table``)."""
    spec = activations.parse(activation)
    if spec.code == activations.SIGN:
        return 1.0 / math.sqrt(K)
    if spec.code == activations.RELU:
        return 1.0 / math.sqrt(K * L)
    if binary:
        return activations.binary_table(spec, L, K)[1] / math.sqrt(K)
    return 1.0 / math.sqrt(K)


def integer_output(w, xi, activation: str, K: int, architecture: str = "tree") -> np.ndarray:
    """out_mu = sum_l c_l g(H_l mu): a number with the sign of lambda^mu (docs/model.md §3); an integer
    for binary weights (sign, ReLU, or the fixed-point table of any other g); for real ones exactly 0
    when no unit is active (ReLU, shifted ReLU)."""
    L = fan_in(xi.shape[1], K, architecture)
    g = activate(activation, unit_fields(w, xi, K, architecture), L)
    c = output_weights(activation, K)
    out = c[0] * g[0]
    for l in range(1, K):  # elementwise, in order: no CPU-dependent reduction for real weights
        out = out + c[l] * g[l]
    return out


def energy(w, xi, sigma, activation: str, K: int, architecture: str = "tree") -> int:
    """E(W) = sum_mu Theta(-sigma^mu lambda^mu) with Theta(0) = 1: a zero output is an error (docs/model.md §3).

    Real weights: a field or an active output is 0 with probability 0; the zero output that does
    happen (ReLU, no active unit) is an exact 0 here, so it counts as an error.
    """
    return int(np.count_nonzero(sigma * integer_output(w, xi, activation, K, architecture) <= 0))


def perceptron_cost(w, xi, sigma, activation: str, K: int, architecture: str = "tree") -> float:
    """L(W) = sum over errors mu of sum_l max(0, -sigma^mu c_l h_l^mu), h_l = H_l / sqrt(L) (sign and
    ReLU; docs/algorithms.md §4.1): every unit that votes against the label, weighted by how far its
    field is on the wrong side. For K = 1, sum over errors of |Delta^mu|. Zero iff E(W) is, for real
    weights (a field is never exactly 0)."""
    spec = activations.parse(activation)
    if spec.code not in (activations.SIGN, activations.RELU):
        raise ValueError(f"the perceptron cost is defined for sign and ReLU units, not {spec.label}")
    L = fan_in(xi.shape[1], K, architecture)
    H = np.asarray(unit_fields(w, xi, K, architecture), np.float64)
    c = output_weights(activation, K)
    against = np.maximum(0.0, -(sigma[None, :] * c[:, None]) * H).sum(0)
    err = sigma * integer_output(w, xi, activation, K, architecture) <= 0
    return float(math.fsum(against[err]) / math.sqrt(L))


def least_action_costs(w, xi, sigma, activation: str, K: int, architecture: str = "tree") -> np.ndarray:
    """L_mu for every pattern (binary weights, sign and ReLU; docs/algorithms.md §10): the least number of
    weight flips, the other weights held, after which sigma^mu out^mu > 0 (0 on a right pattern).

    The kernels' twin (``relusim.kernels.least_action`` uses closed forms): a flip moves one unit's
    integer field by 2, so unit l reaches any H' in [-L, L] of the parity of L in |H' - H_l| / 2 flips;
    a dynamic programme over the units keeps, for every exact partial output, its least cost. Slow
    (O(K^2 L^2) per pattern for ReLU): for tests.
    """
    spec = activations.parse(activation)
    if spec.code not in (activations.SIGN, activations.RELU):
        raise ValueError(f"the least-action cost is defined for sign and ReLU units, not {spec.label}")
    L = fan_in(xi.shape[1], K, architecture)
    H = np.asarray(unit_fields(np.asarray(w, np.int64), xi, K, architecture), np.int64)
    c = output_weights(activation, K).astype(np.int64)
    targets = np.arange(-L, L + 1, 2)
    g = np.sign(targets) if spec.code == activations.SIGN else np.maximum(targets, 0)
    out = np.zeros(xi.shape[0], np.int64)
    for mu in range(xi.shape[0]):
        best = {0: 0}  # partial sigma * output -> least flips
        for l in range(K):
            options: dict[int, int] = {}
            for v, cost in zip(sigma[mu] * c[l] * g, np.abs(targets - H[l, mu]) // 2):
                options[int(v)] = min(options.get(int(v), 1 << 60), int(cost))
            nxt: dict[int, int] = {}
            for s_, cs in best.items():
                for v, cv in options.items():
                    nxt[s_ + v] = min(nxt.get(s_ + v, 1 << 60), cs + cv)
            best = nxt
        out[mu] = min(cost for s_, cost in best.items() if s_ > 0)
    return out


def stabilities(w, xi, sigma, activation: str, K: int, architecture: str = "tree") -> np.ndarray:
    """Delta^mu = sigma^mu / sqrt(K) sum_l c_l g(h_l^mu), h_l = H_l / sqrt(L) (App. E; docs/model.md §4).

    L = n = N/K for a tree, N fully connected. sgn is scale-free; for ReLU g(H/sqrt L) = g(H)/sqrt L,
    so the scale is 1/sqrt(K n) (tree) or 1/sqrt(K N) (fully connected); ``output_scale`` for any
    other g. Not divided by sqrt(Q_eff).
    """
    L = fan_in(xi.shape[1], K, architecture)
    out = integer_output(w, xi, activation, K, architecture).astype(np.float64)
    return sigma * out * output_scale(activation, K, L, _wide(w) == np.int64)


def mean_mutual_overlap(W: np.ndarray) -> float:
    """q-bar = 2/(y(y-1)) sum_{a<b} q^{ab} over the rows of W (y, N); nan for y = 1 (docs/model.md §7)."""
    y, N = W.shape
    if y < 2:
        return float("nan")
    if _wide(W) == np.float64:  # spherical: |W^a|^2 = N, so q^{aa} = 1 as for binary weights
        s = math.fsum(math.fsum(W[a] * W[b]) for a in range(y) for b in range(a + 1, y))
        return float(2.0 * s / (N * y * (y - 1)))
    V = W.astype(np.int64)
    G = V @ V.T / N
    return float((G.sum() - np.trace(G)) / (y * (y - 1)))
