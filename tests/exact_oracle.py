"""Exact enumeration of tiny committee machines: the oracle the samplers are tested against (docs/algorithms.md §8)."""
from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

from relusim.models import machine


def all_weights(N: int) -> np.ndarray:
    """Every binary weight vector, shape (2^N, N) int8."""
    return np.array(list(itertools.product((-1, 1), repeat=N)), dtype=np.int8)


def energies_of_all(xi, sigma, activation: str, K: int, architecture: str = "tree") -> np.ndarray:
    """E(W) for every W, by the brute-force model (independent of the kernels)."""
    nw = machine.n_weights(xi.shape[1], K, architecture)
    return np.array([machine.energy(w, xi, sigma, activation, K, architecture) for w in all_weights(nw)])


def boltzmann_energy_law(E_all: np.ndarray, beta: float, P: int) -> np.ndarray:
    """P_beta(E) = g(E) exp(-beta E) / Z over E = 0..P."""
    g = np.bincount(E_all, minlength=P + 1).astype(float)
    p = g * np.exp(-beta * np.arange(P + 1))
    return p / p.sum()


def g_test(counts: np.ndarray, probs: np.ndarray) -> float:
    """p-value of the G-test of ``counts`` against ``probs`` (bins with expected count < 5 pooled)."""
    counts = np.asarray(counts, float)
    expected = probs * counts.sum()
    order = np.argsort(expected)
    c, e = [], []
    acc_c = acc_e = 0.0
    for k in order:  # pool the smallest bins until each pooled bin expects >= 5
        acc_c += counts[k]
        acc_e += expected[k]
        if acc_e >= 5:
            c.append(acc_c), e.append(acc_e)
            acc_c = acc_e = 0.0
    if acc_e > 0:
        c[-1] += acc_c
        e[-1] += acc_e
    c, e = np.array(c), np.array(e)
    G = 2 * np.sum(np.where(c > 0, c * np.log(np.where(c > 0, c, 1) / e), 0.0))
    return float(stats.chi2.sf(G, len(c) - 1))


def lag1_autocorrelation(x: np.ndarray) -> float:
    x = np.asarray(x, float) - np.mean(x)
    return float(np.dot(x[:-1], x[1:]) / np.dot(x, x))


def replicated_laws(E_all: np.ndarray, W_all: np.ndarray, beta: float, gamma: float, y: int, P: int):
    """Exact laws of the explicit-reference ensemble (docs/algorithms.md §8, docs/model.md §7).

    P(ref) ~ Z(ref)^y with Z(ref) = sum_W exp(-beta E(W) + gamma ref.W), and the replicas are
    independent given ref. Returns (joint law of (E(W^a), ref.W^a) as an array over
    [E, (ref.W + N) / 2], law of the mutual overlap W^1.W^2 over (W^1.W^2 + N) / 2). The traced
    ensemble has the same replica marginals.
    """
    N = W_all.shape[1]
    G = W_all.astype(np.int64) @ W_all.T.astype(np.int64)  # G[r, w] = ref . W
    logw = -beta * E_all[None, :] + gamma * G  # (refs, W)
    logZ = np.logaddexp.reduce(logw, axis=1)
    logPref = y * logZ - np.logaddexp.reduce(y * logZ)
    cond = np.exp(logw - logZ[:, None])  # P(W | ref)
    weight = np.exp(logPref)[:, None] * cond  # P(ref, W) for one replica
    joint = np.zeros((P + 1, N + 1))
    np.add.at(joint, (np.broadcast_to(E_all, G.shape), (G + N) // 2), weight)
    mutual = np.zeros(N + 1)
    for r in range(len(W_all)):  # P(q12) = sum_ref P(ref) sum_{W1, W2} P(W1|ref) P(W2|ref) [W1.W2 = q]
        mutual += np.exp(logPref[r]) * np.bincount(((G + N) // 2).ravel(),
                                                   weights=np.outer(cond[r], cond[r]).ravel(), minlength=N + 1)
    return joint, mutual
