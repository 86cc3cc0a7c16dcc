"""Input flips and weight noise on fully connected machines (docs/algorithms.md §7): a flipped input
reaches every unit, weight noise draws from all K N weights; checked against plain loops and limits."""
import numpy as np
import pytest

from relusim.models import instance, machine
from relusim.analysis import robustness as R

FC = "fully_connected"


def teacher_solutions(activation, N, K, P, seed, C=3):
    """C random fully connected machines (C, K N), patterns, and the labels of machine 0 (ties dropped)."""
    inst = instance.make(N, P, seed, 0)
    W = (2 * np.random.default_rng([seed, 1]).integers(0, 2, (C, K * N)) - 1).astype(np.int8)
    out = machine.integer_output(W[0], inst.xi, activation, K, FC)
    keep = out != 0
    return W, inst.xi[keep], np.sign(out[keep]).astype(np.int8)


def binomial_sigma(p, n):
    return np.sqrt(max(p * (1 - p), 1e-4) / n)


@pytest.mark.parametrize("activation,N,K", [("relu", 16, 4), ("sign", 15, 3), ("sign", 14, 2)])
def test_input_flips_equal_the_plain_loop_with_the_same_flips(activation, N, K):
    W, xi, sigma = teacher_solutions(activation, N, K, 12, seed=5)
    fr = [0.3, 0.0, 0.5, 1.0, 0.1, 0.3]
    fast = R.input_flip_error(W, xi, sigma, activation, K, fr, 6, seed=11, index=2, architecture=FC)
    slow = R.input_flip_error_loop(W, xi, sigma, activation, K, fr, 6, seed=11, index=2, architecture=FC)
    np.testing.assert_array_equal(fast, slow)
    assert len(np.unique(fast)) > 3  # the curves are not trivially flat


@pytest.mark.parametrize("activation,N,K", [("relu", 10, 4), ("sign", 9, 3)])
def test_weight_flips_equal_a_plain_loop_over_all_K_N_weights(activation, N, K):
    W, xi, sigma = teacher_solutions(activation, N, K, 30, seed=3)
    fr, T = [0.0, 0.1, 0.25, 0.5], 4
    fast = R.weight_flip_error(W, xi, sigma, activation, K, fr, T, seed=1, index=0, architecture=FC)
    ms = R.flip_counts(fr, K * N)
    slow = np.zeros_like(fast)
    states = R.stream_states(1, 0, R.WEIGHT_NOISE, T)
    for t in range(T):
        perm = np.arange(K * N)
        for j in range(ms.max()):
            r = j + R.below(states[t], K * N - j)
            perm[j], perm[r] = perm[r], perm[j]
        for k, m in enumerate(ms):
            for c in range(len(W)):
                w = W[c].copy()
                w[perm[:m]] *= -1
                slow[c, k] += machine.energy(w, xi, sigma, activation, K, FC) / len(sigma) / T
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    assert np.any(perm[:ms.max()] >= N)  # flips reach beyond the first unit's weights


@pytest.mark.parametrize("activation,N,K", [("relu", 20, 4), ("sign", 21, 3)])
def test_p0_is_the_training_error(activation, N, K):
    W, xi, sigma = teacher_solutions(activation, N, K, 60, seed=7)
    E = np.array([machine.energy(w, xi, sigma, activation, K, FC) for w in W]) / len(sigma)
    assert E[0] == 0.0 and np.all(E[1:] > 0)
    np.testing.assert_array_equal(R.input_flip_error(W, xi, sigma, activation, K, [0.0, 0.1], 5, seed=3,
                                                     architecture=FC)[:, 0], E)
    np.testing.assert_array_equal(R.weight_flip_error(W, xi, sigma, activation, K, [0.0], 3, seed=3,
                                                      architecture=FC)[:, 0], E)


def test_sign_all_flipped_is_always_wrong():
    """K, N odd: no ties, and lambda(-xi) = -lambda(xi), lambda(-W) = -lambda(W): p = 1 and f = 1 give 1."""
    W, xi, sigma = teacher_solutions("sign", 21, 3, 100, seed=4)
    assert R.input_flip_error(W[:1], xi, sigma, "sign", 3, [1.0], 2, seed=9, architecture=FC)[0, 0] == 1.0
    assert R.weight_flip_error(W[:1], xi, sigma, "sign", 3, [1.0], 2, seed=9, architecture=FC)[0, 0] == 1.0


@pytest.mark.parametrize("activation,N,K", [("sign", 20, 3), ("relu", 20, 4)])
def test_half_flipped_is_a_coin_toss_plus_half_the_ties(activation, N, K):
    """p = 1/2 (N even: exactly N/2 flips): 1/2 + 1/2 P(lambda = 0), P measured on random inputs.

    sign: exact in expectation (given xi, xi' and -xi' are equally likely and lambda is odd);
    ReLU: in the mean over machines whose c = +-1 halves are exchangeable.
    """
    W, xi, sigma = teacher_solutions(activation, N, K, 400, seed=8)
    T = 60
    err = R.input_flip_error(W[:1], xi, sigma, activation, K, [0.5], T, seed=5, architecture=FC)[0, 0]
    rnd = (2 * np.random.default_rng(0).integers(0, 2, (100000, N)) - 1).astype(np.int8)
    p0 = np.mean(machine.integer_output(W[0], rnd, activation, K, FC) == 0)
    assert p0 > 0.03  # the ties term has teeth at this size
    assert abs(err - (0.5 + 0.5 * p0)) < 4 * binomial_sigma(0.5, len(sigma) * T) + 0.005


def test_shapes_are_checked_per_architecture():
    from relusim.errors import InputError

    W, xi, sigma = teacher_solutions("relu", 12, 4, 10, seed=1)
    with pytest.raises(InputError):
        R.input_flip_error(W, xi, sigma, "relu", 4, [0.1], 3, seed=1)  # K N weights read as a tree
    with pytest.raises(InputError):
        R.input_flip_error(W[:, :12], xi, sigma, "relu", 4, [0.1], 3, seed=1, architecture=FC)
    with pytest.raises(InputError):
        R.input_flip_error(W, xi, sigma, "relu", 4, [0.1], 3, seed=1, architecture="dense")
