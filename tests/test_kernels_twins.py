"""Every incremental kernel against its brute-force twin in relusim.models.machine, on random states."""
import numpy as np
import pytest

from relusim.models import machine as model
from relusim.kernels import fields

# (activation, N, K, P): odd and even n for ReLU, small n so that ties (H = 0, out = 0) are frequent;
# sign with even n exercises sgn(0) = 0 (allow_ties).
CASES = [("relu", 8, 2, 6), ("relu", 12, 4, 9), ("relu", 30, 6, 20), ("relu", 40, 4, 40),
         ("sign", 9, 3, 6), ("sign", 45, 5, 30), ("sign", 12, 3, 10), ("sign", 25, 5, 25)]
STATES = 50  # per case: 4 ReLU and 4 sign cases give 200 random states per activation


@pytest.mark.parametrize("activation,N,K,P", CASES)
def test_delta_energy_equals_energy_difference_for_every_weight(machine, activation, N, K, P):
    ties = 0
    for s in range(STATES):
        inst, pb, st = machine(activation, N, K, P, seed=1000 * s + N)
        w, marg, E = st.w, st.marg, st.E
        assert E[0] == model.energy(w[0], inst.xi, inst.sigma, activation, K)
        ties += int(np.count_nonzero(marg == 0))
        for i in range(N):
            w2 = w[0].copy()
            w2[i] = -w2[i]
            expected = model.energy(w2, inst.xi, inst.sigma, activation, K) - E[0]
            assert fields.delta_energy(pb, st, 0, i) == expected
    if activation == "relu" or N // K % 2 == 0:
        assert ties > 0, "the cases must include zero outputs (ties)"


def assert_caches_match_model(inst, w, H, marg, E, activation, K):
    """Every cached quantity of every replica equals its from-scratch value in relusim.models.machine."""
    P = inst.xi.shape[0]
    c_l = model.output_weights(activation, K)
    for a in range(w.shape[0]):
        Hs = model.unit_fields(w[a], inst.xi, K)
        np.testing.assert_array_equal(H[a, :, :P], Hs)
        np.testing.assert_array_equal(marg[a, :P], inst.sigma * (c_l @ model.activate(activation, Hs)))
        assert (H[a, :, P:] == 0).all() and (marg[a, P:] == fields.PAD).all()  # padding lanes stay inert
        assert E[a] == model.energy(w[a], inst.xi, inst.sigma, activation, K)


@pytest.mark.parametrize("activation,N,K,P", CASES)
def test_caches_after_flip_equal_fields_recomputed_from_scratch(machine, activation, N, K, P):
    for s in range(STATES):
        inst, pb, st = machine(activation, N, K, P, seed=7 + 1000 * s + N)
        rng = np.random.default_rng(s)
        for i in rng.integers(0, N, size=10):
            fields.apply_flip(pb, st, 0, i, fields.delta_energy(pb, st, 0, i))
            assert_caches_match_model(inst, st.w, st.H, st.marg, st.E, activation, K)
            np.testing.assert_array_equal(st.m, st.w.sum(axis=0))  # the replica sums follow


def test_zero_output_counts_as_an_error():
    # ReLU, K = 2: both units off gives out = 0, which docs/model.md §3 counts as an error.
    xi = np.array([[1, 1, 1, 1]], dtype=np.int8)
    w = np.array([-1, -1, -1, -1], dtype=np.int8)
    for label in (1, -1):
        assert model.energy(w, xi, np.array([label], dtype=np.int8), "relu", 2) == 1


def test_stabilities_follow_the_paper_normalisation():
    # sign: Delta = sigma * sum_l sgn(h_l) / sqrt(K); relu: sigma * sum_l c_l relu(h_l) / sqrt(K), h = H / sqrt(n)
    rng = np.random.default_rng(3)
    xi = (2 * rng.integers(0, 2, (5, 12)) - 1).astype(np.int8)
    sigma = (2 * rng.integers(0, 2, 5) - 1).astype(np.int8)
    w = (2 * rng.integers(0, 2, 12) - 1).astype(np.int8)
    H = np.einsum("pli,li->pl", xi.reshape(5, 4, 3).astype(float), w.reshape(4, 3).astype(float))
    relu = sigma * ((np.maximum(H[:, :2], 0).sum(1) - np.maximum(H[:, 2:], 0).sum(1)) / np.sqrt(3)) / 2
    np.testing.assert_allclose(model.stabilities(w, xi, sigma, "relu", 4), relu)
    xi3 = xi[:, :9]
    w3 = w[:9]
    H3 = np.einsum("pli,li->pl", xi3.reshape(5, 3, 3).astype(float), w3.reshape(3, 3).astype(float))
    np.testing.assert_allclose(model.stabilities(w3, xi3, sigma, "sign", 3),
                               sigma * np.sign(H3).sum(1) / np.sqrt(3))


@pytest.mark.parametrize("activation,N,K,P", CASES)
def test_metropolis_sweep_keeps_its_caches_equal_to_the_brute_force_twin(machine, activation, N, K, P):
    # the sweep kernel writes the energy change and the update out (no call): hold it to the same twin
    from relusim.kernels import metropolis
    from relusim.kernels.records import Point

    inst, pb, st = machine(activation, N, K, P, seed=99)
    pt = Point(metropolis.NONE, 0.0, np.empty(2 * pb.XT.shape[1] + 1), np.zeros((1, 2)))
    accepted = 0
    for beta in (0.3, 1.0, 3.0):
        metropolis.fill_etab(pt.etab, beta, pb.XT.shape[1])
        for _ in range(20):
            accepted += metropolis.sweep(pb, st, pt)
            assert_caches_match_model(inst, st.w, st.H, st.marg, st.E, activation, K)
    assert accepted > 0


def test_compiled_kernels_are_cached_under_a_digest_of_the_kernel_sources(tmp_path):
    """numba checks a cached function against its own file only; a cache folder named for the digest of
    every kernel source (and activations.py) keeps a changed callee from running stale in a cached caller."""
    import shutil
    from pathlib import Path

    from relusim.capacity import exact
    from relusim import kernels
    from relusim.analysis import robustness
    from relusim.kernels import metropolis

    src = Path(kernels.__file__).parent
    assert kernels.CACHE_DIR.endswith("relusim-" + kernels.source_digest())
    for disp in (metropolis.sweep_relu, robustness.input_flip_kernel, exact._perceptron_bb):
        assert disp._cache._cache_path.startswith(kernels.CACHE_DIR)
    copy = tmp_path / "kernels"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "models").mkdir()
    shutil.copy(src.parent / "models" / "activations.py", tmp_path / "models" / "activations.py")
    assert kernels.source_digest(copy) == kernels.source_digest()
    (copy / "metropolis.py").write_text((copy / "metropolis.py").read_text() + "\n# an edit\n")
    assert kernels.source_digest(copy) != kernels.source_digest()
