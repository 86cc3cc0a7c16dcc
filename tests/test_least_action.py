"""The least-action energy of binary weights (docs/algorithms.md §10): exact values, exact moves, exact laws.

L(W) = sum_mu (least number of weight flips, the others held, after which pattern mu is right). The
twin ``brute_least_action`` shares no code with the kernel: it enumerates every weight vector of a
tiny machine, evaluates the network in plain integer arithmetic and takes the least Hamming distance
to one that classifies each pattern right. The laws of the samplers are checked by G-tests against
exp(-beta L) over all 2^N states at a false-alarm rate ALPHA_FA = 1e-3 per comparison (fixed seeds),
with power checks (a chain at a wrong beta, or the law of the error count, must be rejected).
"""
import itertools

import numpy as np
import pytest

from exact_oracle import all_weights, g_test, lag1_autocorrelation
from relusim import instance, model
from relusim.kernels import fields, least_action, metropolis, replicated
from relusim.kernels import rng as krng

from conftest import make_problem, make_state

ALPHA_FA = 1e-3


def brute_outputs(Wall, xi, K, activation, fc):
    """Integer outputs (states, P) of every weight vector in Wall (states, Nw): sign or ReLU units, c_l as
    docs/model.md §1 (+1 for sign; +1 for the first K/2 ReLU units, -1 for the rest)."""
    P, N = xi.shape
    n = N if fc else N // K
    out = np.zeros((Wall.shape[0], P), np.int64)
    for l in range(K):
        Wl = Wall[:, l * n:(l + 1) * n].astype(np.int64)
        Xl = (xi if fc else xi[:, l * n:(l + 1) * n]).astype(np.int64)
        h = Wl @ Xl.T
        if activation == "sign":
            out += np.sign(h)
        else:
            out += (1 if l < K // 2 else -1) * np.maximum(h, 0)
    return out


class Brute:
    """Every weight vector of a tiny machine and which patterns each gets right."""

    def __init__(self, nw, xi, sigma, K, activation, fc):
        self.Wall = np.array(list(itertools.product((-1, 1), repeat=nw)), np.int8)
        self.right = sigma[None, :] * brute_outputs(self.Wall, xi, K, activation, fc) > 0

    def costs(self, w):
        """L_mu for every pattern: the least Hamming distance from w to a weight vector that gets it right."""
        dist = (self.Wall != w[None, :]).sum(1)
        return np.where(self.right, dist[:, None], 10**9).min(0)


MACHINES = [  # activation, N inputs, K, fully connected, allow even fan-in (sign ties)
    ("sign", 9, 1, False), ("sign", 8, 1, False), ("sign", 9, 3, False), ("sign", 12, 3, False),
    ("sign", 4, 3, True), ("sign", 3, 3, True), ("relu", 8, 2, False), ("relu", 10, 2, False),
    ("relu", 12, 4, False), ("relu", 3, 2, True), ("relu", 4, 2, True), ("relu", 8, 4, False),
]


def machine(activation, N, K, fc, P, seed, y=1):
    inst = instance.make(N, P, seed, 0)
    n = N if fc else N // K
    pb = make_problem(inst, activation, K, n)
    g = np.random.default_rng(seed)
    w = (2 * g.integers(0, 2, (y, K * n)) - 1).astype(np.int8)
    return inst, pb, w


@pytest.mark.parametrize("activation,N,K,fc", MACHINES)
def test_cached_cost_equals_brute_force_hamming_ball_minimum(activation, N, K, fc):
    for seed in range(3):
        inst, pb, w = machine(activation, N, K, fc, 40, seed)
        st = make_state(pb, w)
        la = least_action.new(pb, st)
        L_mu = Brute(w.shape[1], inst.xi, inst.sigma, K, activation, fc).costs(w[0])
        np.testing.assert_array_equal(la.C[0, :len(L_mu)], L_mu)
        assert la.L[0] == L_mu.sum()
        assert (L_mu == 0).sum() == 40 - st.E[0]


@pytest.mark.parametrize("activation,N,K,fc", MACHINES)
def test_incremental_delta_cost_equals_recomputed_difference_on_random_walks(activation, N, K, fc):
    inst, pb, w = machine(activation, N, K, fc, 30, 7)
    st = make_state(pb, w)
    la = least_action.new(pb, st)
    g = np.random.default_rng(3)
    nw = w.shape[1]
    brute = Brute(nw, inst.xi, inst.sigma, K, activation, fc)
    for _ in range(25):
        base = brute.costs(st.w[0]).sum()
        assert la.L[0] == base
        for i in range(nw):
            nerr, dL = least_action.delta_cost(pb, st, la, 0, i)
            w2 = st.w[0].copy()
            w2[i] = -w2[i]
            assert dL == brute.costs(w2).sum() - base
            assert abs(dL) <= 30
            E2 = model.energy(w2, inst.xi, inst.sigma, activation, K, "fully_connected" if fc else "tree")
            assert nerr == E2
        # walk: flip a random weight with the kernel's own update (a beta = 0 sweep of one proposal)
        i = int(g.integers(nw))
        nerr, dL = least_action.delta_cost(pb, st, la, 0, i)
        least_action.apply_flip(pb, st, la, 0, i, nerr, dL)
