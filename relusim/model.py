"""The tree committee machine in plain NumPy: slow, obvious, and the twin every kernel is tested against.

Notation of docs/model.md (arXiv:1907.07578, eq. (1) and App. A, E): K units, each seeing its own block of
n = N/K inputs; binary weights W[l, i] = +-1 stored flat as w[N] (unit l holds w[l*n:(l+1)*n]);
patterns xi (P, N), labels sigma (P,).
"""
from __future__ import annotations

import numpy as np


def output_weights(activation: str, K: int) -> np.ndarray:
    """c_l: all +1 for sign; +1 for the first K/2 units and -1 for the rest for ReLU (docs/model.md §1)."""
    if activation == "sign":
        return np.ones(K, dtype=np.int64)
    return np.where(np.arange(K) < K // 2, 1, -1).astype(np.int64)


def unit_fields(w: np.ndarray, xi: np.ndarray, K: int) -> np.ndarray:
    """Integer pre-activations H[l, mu] = sum_i W_li xi^mu_li, shape (K, P) (docs/model.md §3)."""
    P, N = xi.shape
    n = N // K
    return np.einsum("li,pli->lp", w.reshape(K, n).astype(np.int64), xi.reshape(P, K, n).astype(np.int64))


def activate(activation: str, H: np.ndarray) -> np.ndarray:
    """g(H): sgn (with sgn(0) = 0) or max(H, 0)."""
    return np.sign(H) if activation == "sign" else np.maximum(H, 0)


def integer_output(w, xi, activation: str, K: int) -> np.ndarray:
    """out_mu = sum_l c_l g(H_l mu): an integer with the sign of lambda^mu (docs/model.md §3)."""
    return output_weights(activation, K) @ activate(activation, unit_fields(w, xi, K))


def energy(w, xi, sigma, activation: str, K: int) -> int:
    """E(W) = sum_mu Theta(-sigma^mu lambda^mu) with Theta(0) = 1: a zero output is an error (docs/model.md §3)."""
    return int(np.count_nonzero(sigma * integer_output(w, xi, activation, K) <= 0))


def stabilities(w, xi, sigma, activation: str, K: int) -> np.ndarray:
    """Delta^mu = sigma^mu / sqrt(K) sum_l c_l g(h_l^mu), h_l = H_l / sqrt(n) (App. E; docs/model.md §4).

    sgn is scale-free; for ReLU g(H/sqrt n) = g(H)/sqrt n. Not divided by sqrt(Q_eff).
    """
    P, N = xi.shape
    n = N // K
    out = integer_output(w, xi, activation, K).astype(np.float64)
    scale = 1.0 / np.sqrt(K) if activation == "sign" else 1.0 / np.sqrt(K * n)
    return sigma * out * scale


def mean_mutual_overlap(W: np.ndarray) -> float:
    """q-bar = 2/(y(y-1)) sum_{a<b} q^{ab} over the rows of W (y, N); nan for y = 1 (docs/model.md §7)."""
    y, N = W.shape
    if y < 2:
        return float("nan")
    G = W.astype(np.int64) @ W.astype(np.int64).T / N
    return float((G.sum() - np.trace(G)) / (y * (y - 1)))
