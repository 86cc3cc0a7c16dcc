"""Cached integer fields of a binary tree committee machine and the single-flip updates (ALGORITHMS.md §1).

Layout (one machine = one replica):
  XT   (N, P) int8   patterns, weight-major: the column of weight i is contiguous over mu
  sig  (P,)   int16  labels sigma^mu
  c    (K,)   int16  output weights c_l (MODEL.md §1)
  w    (N,)   int8   weights; unit l holds w[l*n:(l+1)*n]
  H    (K, P) int16  H[l, mu] = sum_i W_li xi^mu_li
  marg (P,)   int32  sigma^mu out^mu with out = sum_l c_l g(H_l): pattern mu is an error iff marg <= 0
act is SIGN (g = sgn, sgn(0) = 0) or RELU (g = max(., 0)). ``relusim.model`` is the brute-force twin.
"""
from __future__ import annotations

import numpy as np
from numba import njit

SIGN, RELU = 0, 1
ACT_CODES = {"sign": SIGN, "relu": RELU}


@njit(inline="always")
def _g(act, h):
    if act == SIGN:
        return (h > 0) - (h < 0)
    return h if h > 0 else 0


@njit(cache=True)
def build(XT, sig, c, n, act, w, H, marg):
    """Fill H and marg from scratch (O(NP)) and return the energy E = #{mu: marg <= 0}."""
    N, P = XT.shape
    K = c.shape[0]
    H[:, :] = 0
    for i in range(N):
        l = i // n
        wi = np.int16(w[i])
        for mu in range(P):
            H[l, mu] += wi * XT[i, mu]
    E = 0
    for mu in range(P):
        out = 0
        for l in range(K):
            out += c[l] * _g(act, H[l, mu])
        marg[mu] = sig[mu] * out
        E += marg[mu] <= 0
    return E


@njit(cache=True, inline="always")
def delta_energy(XT, sig, c, n, act, w, H, marg, E, i):
    """Delta E of flipping w[i]: H'_l = H_l - 2 w_i xi_i changes only unit l = i // n (ALGORITHMS.md §1).

    A full O(P) pass: counts the errors after the flip and subtracts the current E.
    """
    l = i // n
    t = np.int16(2 * w[i])
    x = XT[i]
    h = H[l]
    cnt = 0
    if act == SIGN:
        for mu in range(x.shape[0]):
            ho = h[mu]
            hn = ho - t * x[mu]
            dg = ((hn > 0) - (hn < 0)) - ((ho > 0) - (ho < 0))
            cnt += marg[mu] + sig[mu] * dg <= 0
    else:
        cl = c[l]
        for mu in range(x.shape[0]):
            ho = h[mu]
            hn = ho - t * x[mu]
            dg = max(hn, 0) - max(ho, 0)
            cnt += marg[mu] + cl * sig[mu] * dg <= 0
    return cnt - E


@njit(cache=True, inline="always")
def apply_flip(XT, sig, c, n, act, w, H, marg, i):
    """Commit the flip of w[i]: update H[l], marg and w in O(P) (ALGORITHMS.md §1)."""
    l = i // n
    t = np.int16(2 * w[i])
    x = XT[i]
    h = H[l]
    cl = c[l]
    if act == SIGN:
        for mu in range(x.shape[0]):
            ho = h[mu]
            hn = ho - t * x[mu]
            h[mu] = hn
            marg[mu] += sig[mu] * (((hn > 0) - (hn < 0)) - ((ho > 0) - (ho < 0)))
    else:
        for mu in range(x.shape[0]):
            ho = h[mu]
            hn = ho - t * x[mu]
            h[mu] = hn
            marg[mu] += cl * sig[mu] * (max(hn, 0) - max(ho, 0))
    w[i] = -w[i]


def problem_arrays(xi: np.ndarray, sigma: np.ndarray, c: np.ndarray):
    """The kernels' view of a training set: XT (N, P) int8 contiguous, sig int16, c int16."""
    return (np.ascontiguousarray(xi.T, dtype=np.int8), sigma.astype(np.int16), c.astype(np.int16))


def new_caches(K: int, P: int):
    """Empty H (K, P) int16 and marg (P,) int32 for one machine."""
    return np.zeros((K, P), dtype=np.int16), np.zeros(P, dtype=np.int32)
