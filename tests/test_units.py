"""Hidden-unit overlaps up to the permutation symmetry, and the unit correlations (relusim.models.units)."""
import numpy as np
import pytest

from relusim.models import machine, units

FC = "fully_connected"


def random_net(K, L, rng):
    return (2 * rng.integers(0, 2, K * L) - 1).astype(np.int8)


def permuted(w, K, perm):
    """The network whose unit k is unit perm[k] of w."""
    return w.reshape(K, -1)[perm].reshape(-1)


def noisy(w, frac, rng):
    w = w.copy()
    w[rng.random(w.size) < frac] *= -1
    return w


@pytest.mark.parametrize("K", [3, 5, 8])
def test_alignment_recovers_a_known_permutation_under_noise(K):
    rng = np.random.default_rng(K)
    L = 200
    a = random_net(K, L, rng)
    pi = rng.permutation(K)
    b = noisy(permuted(a, K, pi), 0.15, rng)  # unit k of b is a noisy unit pi[k] of a
    al = units.aligned_overlaps(a, b, "sign", K, FC)
    np.testing.assert_array_equal(pi[al.perm], np.arange(K))  # unit k of a matched with b's copy of it
    assert np.all(np.abs(np.diag(al.Q) - 0.7) < 0.15)  # 1 - 2 * 0.15
    assert units.diagonal_mean(al.Q) > units.diagonal_mean(al.raw) or np.array_equal(pi, np.arange(K))


def test_relu_alignment_stays_within_the_c_halves():
    """b = a with its halves exchanged (not a symmetry): the best unconstrained match crosses halves,
    the constrained one may not, and within the halves a known permutation is found."""
    rng = np.random.default_rng(1)
    K, L = 6, 300
    a = random_net(K, L, rng)
    swap = np.array([3, 4, 5, 0, 1, 2])
    al = units.aligned_overlaps(a, permuted(a, K, swap), "relu", K, FC)
    c = machine.output_weights("relu", K)
    np.testing.assert_array_equal(c[al.perm], c)
    assert units.diagonal_mean(al.Q) < 0.3  # the crossed matches (overlap 1) were refused
    free = units.align(al.raw, [np.arange(K)])
    assert units.diagonal_mean(free.Q) == 1.0
    within = np.array([2, 0, 1, 5, 3, 4])
    al2 = units.aligned_overlaps(a, noisy(permuted(a, K, within), 0.1, rng), "relu", K, FC)
    np.testing.assert_array_equal(within[al2.perm], np.arange(K))


def test_groups_per_model():
    assert [list(g) for g in units.permutation_groups("sign", 3, FC)] == [[0, 1, 2]]
    assert [list(g) for g in units.permutation_groups("relu", 4, FC)] == [[0, 1], [2, 3]]
    assert [list(g) for g in units.permutation_groups("relu", 4, "tree")] == [[0], [1], [2], [3]]
    rng = np.random.default_rng(0)
    a = random_net(3, 50, rng)
    al = units.aligned_overlaps(a, permuted(a, 3, [2, 0, 1]), "sign", 3, "tree")
    np.testing.assert_array_equal(al.perm, [0, 1, 2])  # a tree has no unit symmetry


def test_alignment_is_optimal_against_all_permutations():
    from itertools import permutations

    rng = np.random.default_rng(3)
    for _ in range(20):
        Q = rng.normal(size=(5, 5))
        best = max(np.trace(Q[:, list(p)]) for p in permutations(range(5)))
        assert np.trace(units.align(Q, [np.arange(5)]).Q) == pytest.approx(best)
        halves = max(np.trace(Q[:, list(p)]) for p in permutations(range(5))
                     if set(p[:2]) == {0, 1})
        assert np.trace(units.align(Q, [np.arange(2), np.arange(2, 5)]).Q) == pytest.approx(halves)


def test_invariants_do_not_change_under_independent_relabellings():
    rng = np.random.default_rng(4)
    K, L = 6, 40
    a, b = random_net(K, L, rng), random_net(K, L, rng)
    ref = units.invariants(units.overlaps(a, b, K))
    for _ in range(5):
        pa, pb = rng.permutation(K), rng.permutation(K)
        inv = units.invariants(units.overlaps(permuted(a, K, pa), permuted(b, K, pb), K))
        assert inv.sum_squares == pytest.approx(ref.sum_squares)
        np.testing.assert_allclose(inv.singular_values, ref.singular_values, atol=1e-12)
    assert ref.sum_squares == pytest.approx(np.sum(ref.singular_values ** 2))
    assert np.all(np.diff(ref.singular_values) <= 0)
    # and they do see a change of the networks themselves
    assert units.invariants(units.overlaps(a, a, K)).sum_squares != pytest.approx(ref.sum_squares)


def test_independent_random_units_are_uncorrelated_within_the_stated_error():
    rng = np.random.default_rng(5)
    K, L, M = 6, 101, 400
    d = np.array([units.unit_correlations(random_net(K, L, rng), "sign", K).division_of_labour for _ in range(M)])
    null = units.unit_correlations(random_net(K, L, rng), "sign", K).null_sem
    assert null == pytest.approx(1 / np.sqrt(L * K * (K - 1) / 2))
    assert abs(d.mean()) < 4 * null / np.sqrt(M)
    assert d.std(ddof=1) == pytest.approx(null, rel=0.15)  # the stated error is the actual spread


def test_duplicated_units_correlate_fully():
    rng = np.random.default_rng(6)
    K, L = 4, 50
    w = random_net(K, L, rng).reshape(K, L)
    w[2] = w[0]
    w[3] = -w[1]
    uc = units.unit_correlations(w.reshape(-1), "relu", K)
    assert uc.C[0, 2] == uc.C[2, 0] == 1.0 and uc.C[1, 3] == -1.0
    np.testing.assert_array_equal(np.diag(uc.C), 1.0)
    # c = (+, +, -, -): (0, 2) and (1, 3) are opposite-c pairs, (0, 1) and (2, 3) same-c
    assert uc.opposite_c_mean == pytest.approx((2 * 1.0 - 2 * 1.0 + 2 * uc.C[0, 3] + 2 * uc.C[1, 2]) / 8)
    assert uc.same_c_mean == pytest.approx((uc.C[0, 1] + uc.C[2, 3]) / 2)


def test_summary_of_replicas_that_are_permuted_copies_of_the_reference():
    """Replicas = reference with units permuted and 10% noise: aligned diagonal 0.8 against the
    reference, 0.64 between replicas; off-diagonal ~ 0; the division of labour of random units ~ 0."""
    rng = np.random.default_rng(7)
    K, L, y = 5, 400, 3
    samples = []
    for _ in range(6):
        ref = random_net(K, L, rng)
        W = np.stack([noisy(permuted(ref, K, rng.permutation(K)), 0.1, rng) for _ in range(y)])
        samples.append((W, ref))
    s = units.summarise(samples, "sign", K, FC)
    assert abs(s.replica_reference_diagonal.mean - 0.8) < 0.02
    assert abs(s.replica_replica_diagonal.mean - 0.64) < 0.03
    assert abs(s.replica_reference_offdiagonal.mean) < 0.02 and abs(s.replica_replica_offdiagonal.mean) < 0.02
    assert abs(s.division_of_labour.mean) < 4 * s.null_sem
    assert s.replica_replica_diagonal.n_samples == 6 and np.isfinite(s.division_of_labour.sem)
    text = "\n".join(s.lines())
    assert "replica-reference" in text and "division of labour" in text
    # the tree reading of the same weights does not align, so it sees only chance overlaps
    t = units.summarise(samples, "sign", K, "tree")
    assert not t.aligned and t.replica_reference_diagonal.mean < 0.5


def test_summary_without_reference_or_replicas():
    rng = np.random.default_rng(8)
    s = units.summarise([(random_net(4, 30, rng)[None, :], None) for _ in range(3)], "relu", 4, FC)
    assert s.replica_replica_diagonal.n_samples == 0 and s.replica_reference_diagonal.n_samples == 0
    assert s.division_of_labour.n_samples == 3
    assert "replica-replica" not in "\n".join(s.lines())
