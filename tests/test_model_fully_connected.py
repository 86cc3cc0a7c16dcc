"""The fully connected brute-force model against an explicit loop over its definition (docs/model.md §1, §3, §4)."""
import numpy as np
import pytest

from relusim.models import measure, machine


def random_problem(K, N, P, seed):
    g = np.random.default_rng(seed)
    w = (2 * g.integers(0, 2, K * N) - 1).astype(np.int8)
    xi = (2 * g.integers(0, 2, (P, N)) - 1).astype(np.int8)
    sigma = (2 * g.integers(0, 2, P) - 1).astype(np.int8)
    return w, xi, sigma


def loop_lambda(w, x, activation, K):
    """lambda = 1/sqrt(K) sum_l c_l g(h_l), h_l = 1/sqrt(N) sum_j W[l*N + j] x_j, written out in floats."""
    N = len(x)
    lam = 0.0
    for l in range(K):
        h = sum(float(w[l * N + j]) * float(x[j]) for j in range(N)) / np.sqrt(N)
        if activation == "sign":
            g = 1.0 if h > 0 else (-1.0 if h < 0 else 0.0)
            c = 1.0
        else:
            g = max(h, 0.0)
            c = 1.0 if l < K // 2 else -1.0
        lam += c * g
    return lam / np.sqrt(K)


@pytest.mark.parametrize("activation,K,N", [("sign", 3, 7), ("sign", 2, 6), ("relu", 2, 5), ("relu", 4, 6)])
def test_fields_output_energy_and_stabilities_match_the_loop(activation, K, N):
    w, xi, sigma = random_problem(K, N, 40, seed=K * 100 + N)
    H = machine.unit_fields(w, xi, K, "fully_connected")
    assert H.shape == (K, 40)
    for l in range(K):
        np.testing.assert_array_equal(H[l], [sum(int(w[l * N + j]) * int(x[j]) for j in range(N)) for x in xi])
    lam = np.array([loop_lambda(w, x, activation, K) for x in xi])
    out = machine.integer_output(w, xi, activation, K, "fully_connected")
    np.testing.assert_array_equal(np.sign(out), np.sign(np.round(lam, 12)))
    assert machine.energy(w, xi, sigma, activation, K, "fully_connected") == np.sum(sigma * np.round(lam, 12) <= 0)
    np.testing.assert_allclose(machine.stabilities(w, xi, sigma, activation, K, "fully_connected"), sigma * lam,
                               atol=1e-12)
    np.testing.assert_allclose(measure.stabilities(np.stack([w, -w]), xi, sigma, activation, K, "fully_connected")[0],
                               sigma * lam, atol=1e-12)


def test_relu_stability_scale_is_one_over_sqrt_K_N():
    K, N = 2, 9
    w = np.ones(K * N, np.int8)
    w[N:] = -1  # unit 2 (c = -1) sees -x: g = 0 on the all-ones pattern
    xi = np.ones((1, N), np.int8)
    assert machine.stabilities(w, xi, np.array([1], np.int8), "relu", K, "fully_connected")[0] == pytest.approx(
        N / np.sqrt(K * N))


def test_ties_are_errors():
    """A zero output is misclassified whatever the label: sign K = 2 with opposite units, ReLU with equal halves."""
    N = 5
    x = (2 * np.random.default_rng(1).integers(0, 2, (1, N)) - 1).astype(np.int8)
    w = np.concatenate([x[0], -x[0]]).astype(np.int8)  # h_1 = +N, h_2 = -N: sign out = 0
    for label in (1, -1):
        s = np.array([label], np.int8)
        assert machine.integer_output(w, x, "sign", 2, "fully_connected")[0] == 0
        assert machine.energy(w, x, s, "sign", 2, "fully_connected") == 1
    w_relu = np.concatenate([x[0], x[0]]).astype(np.int8)  # c = (+1, -1), equal fields: out = 0
    for label in (1, -1):
        s = np.array([label], np.int8)
        assert machine.integer_output(w_relu, x, "relu", 2, "fully_connected")[0] == 0
        assert machine.energy(w_relu, x, s, "relu", 2, "fully_connected") == 1


def test_sign_with_K_odd_and_N_odd_never_ties():
    for K, N in [(1, 5), (3, 5), (5, 7)]:
        g = np.random.default_rng(K + N)
        xi = (2 * g.integers(0, 2, (2000, N)) - 1).astype(np.int8)
        for _ in range(5):
            w = (2 * g.integers(0, 2, K * N) - 1).astype(np.int8)
            assert np.all(machine.unit_fields(w, xi, K, "fully_connected") % 2 == 1)
            assert np.all(machine.integer_output(w, xi, "sign", K, "fully_connected") != 0)
    # and the property is not vacuous: N even gives zero fields
    w, xi, _ = random_problem(3, 6, 500, seed=0)
    assert np.any(machine.integer_output(w, xi, "sign", 3, "fully_connected") == 0)


def test_a_fully_connected_unit_is_a_perceptron_on_the_whole_pattern():
    """K = 1: both architectures are the same perceptron, so they must agree."""
    w, xi, sigma = random_problem(1, 9, 50, seed=3)
    for act in ("sign", "relu"):
        np.testing.assert_array_equal(machine.integer_output(w, xi, act, 1, "fully_connected"),
                                      machine.integer_output(w, xi, act, 1, "tree"))


def test_weight_count_and_bad_lengths():
    assert machine.n_weights(12, 3, "tree") == 12 and machine.n_weights(12, 3, "fully_connected") == 36
    w, xi, _ = random_problem(3, 6, 4, seed=0)
    with pytest.raises(ValueError):
        machine.unit_fields(w[:6], xi, 3, "fully_connected")
    with pytest.raises(ValueError):
        machine.unit_fields(w, xi, 3, "dense")
