"""The committee machine in plain NumPy: slow, obvious, and the twin every kernel is tested against.

Notation of docs/model.md (arXiv:1907.07578, eq. (1) and App. A, E): K units, patterns xi (P, N),
labels sigma (P,), binary weights W[l, j] = +-1 stored flat and unit-major, weight (l, j) at l*L + j,
where L is the fan-in of a unit:

* ``architecture="tree"`` (the default): unit l sees its own block of L = n = N/K inputs;
  the network is w[N], unit l holds w[l*n:(l+1)*n] and input l*n + j.
* ``architecture="fully_connected"`` (Nishiyama & Ohzeki, arXiv:2404.13404): every unit sees all
  L = N inputs with its own weights; the network is w[K*N], unit l holds w[l*N:(l+1)*N].
"""
from __future__ import annotations

import numpy as np

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
    """c_l: all +1 for sign; +1 for the first K/2 units and -1 for the rest for ReLU (docs/model.md §1)."""
    if activation == "sign":
        return np.ones(K, dtype=np.int64)
    return np.where(np.arange(K) < K // 2, 1, -1).astype(np.int64)


def unit_fields(w: np.ndarray, xi: np.ndarray, K: int, architecture: str = "tree") -> np.ndarray:
    """Integer pre-activations, shape (K, P) (docs/model.md §3).

    tree: H[l, mu] = sum_i W_li xi^mu_li over the block of unit l;
    fully connected: H[l, mu] = sum_j W_lj xi^mu_j over all N inputs.
    """
    P, N = xi.shape
    L = fan_in(N, K, architecture)
    if w.shape[-1] != K * L or (architecture == "tree" and N % K):
        raise ValueError(f"{architecture} network with K={K}, N={N} needs {K * L} weights, got {w.shape[-1]}")
    W = w.reshape(K, L).astype(np.int64)
    if architecture == "tree":
        return np.einsum("li,pli->lp", W, xi.reshape(P, K, L).astype(np.int64))
    return W @ xi.T.astype(np.int64)


def activate(activation: str, H: np.ndarray) -> np.ndarray:
    """g(H): sgn (with sgn(0) = 0) or max(H, 0)."""
    return np.sign(H) if activation == "sign" else np.maximum(H, 0)


def integer_output(w, xi, activation: str, K: int, architecture: str = "tree") -> np.ndarray:
    """out_mu = sum_l c_l g(H_l mu): an integer with the sign of lambda^mu (docs/model.md §3)."""
    return output_weights(activation, K) @ activate(activation, unit_fields(w, xi, K, architecture))


def energy(w, xi, sigma, activation: str, K: int, architecture: str = "tree") -> int:
    """E(W) = sum_mu Theta(-sigma^mu lambda^mu) with Theta(0) = 1: a zero output is an error (docs/model.md §3)."""
    return int(np.count_nonzero(sigma * integer_output(w, xi, activation, K, architecture) <= 0))


def stabilities(w, xi, sigma, activation: str, K: int, architecture: str = "tree") -> np.ndarray:
    """Delta^mu = sigma^mu / sqrt(K) sum_l c_l g(h_l^mu), h_l = H_l / sqrt(L) (App. E; docs/model.md §4).

    L = n = N/K for a tree, N fully connected. sgn is scale-free; for ReLU g(H/sqrt L) = g(H)/sqrt L,
    so the scale is 1/sqrt(K n) (tree) or 1/sqrt(K N) (fully connected). Not divided by sqrt(Q_eff).
    """
    L = fan_in(xi.shape[1], K, architecture)
    out = integer_output(w, xi, activation, K, architecture).astype(np.float64)
    scale = 1.0 / np.sqrt(K) if activation == "sign" else 1.0 / np.sqrt(K * L)
    return sigma * out * scale


def mean_mutual_overlap(W: np.ndarray) -> float:
    """q-bar = 2/(y(y-1)) sum_{a<b} q^{ab} over the rows of W (y, N); nan for y = 1 (docs/model.md §7)."""
    y, N = W.shape
    if y < 2:
        return float("nan")
    G = W.astype(np.int64) @ W.astype(np.int64).T / N
    return float((G.sum() - np.trace(G)) / (y * (y - 1)))
