"""Input-flip and weight-noise robustness (docs/algorithms.md §7): exact checks, the plain twin, the CLI."""
import h5py
import numpy as np
import pytest
from numba import get_num_threads, set_num_threads

from cli_helpers import relusim_here, write_config
from relusim.models import instance, machine
from relusim.analysis import robustness as R


def teacher_solutions(activation, N, K, P, seed, C=3):
    """C random machines, patterns, and the labels of machine 0, so that machine 0 is a solution.

    Patterns whose output is 0 (a ReLU tie) are dropped: they can't be labelled correctly.
    """
    inst = instance.make(N, P, seed, 0)
    W = (2 * np.random.default_rng([seed, 1]).integers(0, 2, (C, N)) - 1).astype(np.int8)
    out = machine.integer_output(W[0], inst.xi, activation, K)
    keep = out != 0
    return W, inst.xi[keep], np.sign(out[keep]).astype(np.int8)


def binomial_sigma(p, n):
    return np.sqrt(max(p * (1 - p), 1e-4) / n)


@pytest.mark.parametrize("activation,N,K", [("relu", 40, 4), ("sign", 45, 3), ("relu", 42, 2), ("tanh", 40, 4),
                                            ("quadratic", 40, 2)])
def test_vectorised_equals_plain_loop_with_the_same_flips(activation, N, K):
    W, xi, sigma = teacher_solutions(activation, N, K, 12, seed=5)
    fr = [0.3, 0.0, 0.5, 1.0, 0.02, 0.3]  # unsorted, repeated, both ends
    fast = R.input_flip_error(W, xi, sigma, activation, K, fr, 6, seed=11, index=2)
    slow = R.input_flip_error_loop(W, xi, sigma, activation, K, fr, 6, seed=11, index=2)
    np.testing.assert_array_equal(fast, slow)


def test_same_streams_give_same_bits_whatever_the_threads():
    W, xi, sigma = teacher_solutions("relu", 80, 4, 40, seed=2)
    fr = np.linspace(0, 0.5, 11)
    n0 = get_num_threads()
    try:
        set_num_threads(1)
        one = R.input_flip_error(W, xi, sigma, "relu", 4, fr, 20, seed=1, index=3)
        w_one = R.weight_flip_error(W, xi, sigma, "relu", 4, fr, 7, seed=1, index=3)
    finally:
        set_num_threads(n0)
    np.testing.assert_array_equal(one, R.input_flip_error(W, xi, sigma, "relu", 4, fr, 20, seed=1, index=3))
    np.testing.assert_array_equal(w_one, R.weight_flip_error(W, xi, sigma, "relu", 4, fr, 7, seed=1, index=3))
    assert not np.array_equal(one, R.input_flip_error(W, xi, sigma, "relu", 4, fr, 20, seed=1, index=4))


@pytest.mark.parametrize("activation,N,K", [("relu", 80, 4), ("sign", 99, 3)])
def test_p0_is_the_training_error(activation, N, K):
    W, xi, sigma = teacher_solutions(activation, N, K, 60, seed=7)
    err = R.input_flip_error(W, xi, sigma, activation, K, [0.0, 0.1], 5, seed=3)
    E = np.array([machine.energy(w, xi, sigma, activation, K) for w in W]) / len(sigma)
    np.testing.assert_array_equal(err[:, 0], E)
    assert err[0, 0] == 0.0  # machine 0 is a solution
    np.testing.assert_array_equal(R.weight_flip_error(W, xi, sigma, activation, K, [0.0], 3, seed=3)[:, 0], E)


def test_sign_half_and_one():
    """p = 1/2: a fresh input, so 1/2 (no ties with K, n odd); p = 1: lambda(-xi) = -lambda(xi), so 1."""
    W, xi, sigma = teacher_solutions("sign", 99, 3, 200, seed=4)
    T = 200
    err = R.input_flip_error(W[:1], xi, sigma, "sign", 3, [0.5, 1.0], T, seed=9)[0]
    assert abs(err[0] - 0.5) < 4 * binomial_sigma(0.5, len(sigma) * T) + 0.004  # + one flip's bias at N odd
    assert err[1] == 1.0
    # the same symmetry for the weights: all weights flipped turn every right answer wrong
    assert R.weight_flip_error(W[:1], xi, sigma, "sign", 3, [1.0], 2, seed=9)[0, 0] == 1.0


def test_relu_half_counts_the_ties():
    """ReLU at p = 1/2: 1/2 + 1/2 P(lambda = 0), with P(lambda = 0) measured on random inputs."""
    N, K = 80, 4
    W, xi, sigma = teacher_solutions("relu", N, K, 300, seed=8)
    T = 200
    err = R.input_flip_error(W[:1], xi, sigma, "relu", K, [0.5], T, seed=5)[0, 0]
    rnd = (2 * np.random.default_rng(0).integers(0, 2, (200000, N)) - 1).astype(np.int8)
    p0 = np.mean(machine.integer_output(W[0], rnd, "relu", K) == 0)
    assert p0 > 0.05  # the check has teeth: ties are common at this size
    assert abs(err - (0.5 + 0.5 * p0)) < 4 * binomial_sigma(0.5, len(sigma) * T) + 0.005


@pytest.mark.parametrize("activation,N,K", [("relu", 100, 4), ("sign", 99, 3)])
def test_curve_is_monotone_within_error_bars(activation, N, K):
    W, xi, sigma = teacher_solutions(activation, N, K, 100, seed=6)
    T = 50
    fr = np.linspace(0, 0.5, 26)
    row = R.input_flip_error(W[:1], xi, sigma, activation, K, fr, T, seed=2)[0]  # a solution
    assert row[0] == 0.0 and row[-1] > 0.45
    sig = np.array([binomial_sigma(e, len(sigma) * T) for e in row])
    assert np.all(np.diff(row) >= -3 * np.hypot(sig[1:], sig[:-1]))


@pytest.mark.parametrize("act", ["relu", "erf(scale=2)"])
def test_weight_flips_match_a_plain_loop(act):
    """The weight-noise kernel flips, per trial, the prefix of one Fisher-Yates shuffle of the weights."""
    W, xi, sigma = teacher_solutions(act, 40, 4, 30, seed=3)
    fr, T = [0.0, 0.1, 0.25, 0.5], 4
    fast = R.weight_flip_error(W, xi, sigma, act, 4, fr, T, seed=1, index=0)
    ms = R.flip_counts(fr, 40)
    slow = np.zeros_like(fast)
    states = R.stream_states(1, 0, R.WEIGHT_NOISE, T)
    for t in range(T):
        perm = np.arange(40)
        for j in range(ms.max()):
            r = j + R.below(states[t], 40 - j)
            perm[j], perm[r] = perm[r], perm[j]
        for k, m in enumerate(ms):
            for c in range(len(W)):
                w = W[c].copy()
                w[perm[:m]] *= -1
                slow[c, k] += machine.energy(w, xi, sigma, act, 4) / len(sigma) / T
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_bounded_integers_are_uniform():
    s = R.stream_states(0, 0, R.INPUT_FLIP, 1)[0]
    draws = np.array([R.below(s, 7) for _ in range(14000)])
    counts = np.bincount(draws, minlength=7)
    assert draws.min() == 0 and draws.max() == 6
    assert np.all(np.abs(counts - 2000) < 5 * np.sqrt(2000))


def test_bad_fractions_are_input_errors():
    from relusim.errors import InputError

    W, xi, sigma = teacher_solutions("relu", 40, 4, 10, seed=1)
    with pytest.raises(InputError):
        R.input_flip_error(W, xi, sigma, "relu", 4, [0.1, 1.5], 3, seed=1)
    with pytest.raises(InputError):
        R.input_flip_error(W, xi, sigma, "relu", 4, [0.1], 0, seed=1)


# --- the command line --------------------------------------------------------------------------

TINY = {
    "name": "tiny-re", "seed": 5, "samples": 2,
    "model": {"activation": "relu", "N": 40, "K": 4, "alpha": 0.3},
    "ensemble": {"replicas": 3, "reference": "explicit", "gamma": {"start": 0.5, "stop": 5.0}},
    "anneal": {"beta": {"start": 1.0, "stop": 8.0}, "sweeps": 300, "record_every": 50},
}


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    d = tmp_path_factory.mktemp("rob")
    cfg = {**TINY, "output": str(d / "tiny.h5")}
    code, _, err = relusim_here("anneal", "--config", write_config(d / "tiny.yaml", cfg), "--workers", 1)
    assert code == 0, err
    return d / "tiny.h5"


@pytest.mark.slow
def test_cli_writes_the_group_and_reruns_are_noops(tiny_results, tmp_path):
    path = tmp_path / "r.h5"
    path.write_bytes(tiny_results.read_bytes())
    code, out, err = relusim_here("robustness", path, "--flips", "0:0.5:0.1", "--trials", 10, "--weight-noise", "0,0.1")
    assert code == 0, err
    assert (tmp_path / "r_robustness.png").stat().st_size > 0
    with h5py.File(path) as f:
        g = f["robustness"]
        assert g["input_flip/fractions"].shape == (6,) and g["input_flip"].attrs["trials"] == 10
        assert g["input_flip/error"].shape == (2, 6)
        assert g["input_flip/error_replicas"].shape == (2, 3, 6)
        assert g["weight_noise/error"].shape == (2, 2) and g["weight_noise/error_replicas"].shape == (2, 3, 2)
        # p = 0 is the stored training error of the reference and of each replica
        for s, name in enumerate(sorted(f["samples"])):
            smp = f["samples"][name]
            assert g["input_flip/error"][s, 0] == smp.attrs["reference_energy"] / smp["labels"].shape[0]
            np.testing.assert_array_equal(g["input_flip/error_replicas"][s, :, 0],
                                          smp["energy"][()] / smp["labels"].shape[0])
        first = g["input_flip/error_replicas"][()]
    before = path.read_bytes()
    code, out, err = relusim_here("robustness", path, "--flips", "0:0.5:0.1", "--trials", 10, "--weight-noise", "0,0.1")
    assert code == 0 and "up to date" in out and path.read_bytes() == before
    code, out, err = relusim_here("robustness", path, "--flips", "0,0.25", "--trials", 10, "--weight-noise", "none",
                                  "--plot", tmp_path / "x.png")
    assert code == 0, err
    with h5py.File(path) as f:
        assert f["robustness/input_flip/error"].shape == (2, 2) and "weight_noise" not in f["robustness"]
        np.testing.assert_array_equal(f["robustness/input_flip/error_replicas"][:, :, 0], first[:, :, 0])
        assert len(f["samples"]) == 2
    assert (tmp_path / "x.png").exists()
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("args,words", [(["--flips", "0,2"], "--flips"), (["--trials", "0"], "--trials"),
                                        (["--weight-noise", "a:b"], "--weight-noise")])
def test_cli_bad_input_is_one_line_and_exit_2(tiny_results, args, words):
    code, out, err = relusim_here("robustness", tiny_results, *args)
    assert code == 2 and err.count("\n") == 1 and words in err and "Traceback" not in err


def test_cli_missing_file(tmp_path):
    code, _, err = relusim_here("robustness", tmp_path / "nope.h5")
    assert code == 2 and "RESULTS" in err and err.count("\n") == 1


@pytest.mark.parametrize("act,K", [("tanh", 3), ("softplus", 4)])
def test_spherical_input_flips_with_a_smooth_g_equal_the_plain_loop(act, K):
    """Real weights: g(H / sqrt n) evaluated in the kernel; patterns labelled by machine 0 with a
    margin, so that no field rounding (incremental in the kernel, exact sums in the twin) can flip
    an error; the curves must then be equal."""
    N, P = 12 * K, 40
    inst = instance.make(N, 4 * P, 5, 0)
    W = np.random.default_rng(2).standard_normal((3, N))
    W *= np.sqrt(N // K) / np.linalg.norm(W.reshape(3, K, N // K), axis=2).repeat(N // K, axis=1)
    out = machine.integer_output(W[0], inst.xi, act, K)
    keep = np.flatnonzero(np.abs(out) > 1e-6)[:P]
    xi, sigma = inst.xi[keep], np.sign(out[keep]).astype(np.int8)
    fr = [0.0, 0.1, 0.3]
    fast = R.input_flip_error(W, xi, sigma, act, K, fr, 4, seed=3, index=1)
    slow = R.input_flip_error_loop(W, xi, sigma, act, K, fr, 4, seed=3, index=1)
    assert fast[0, 0] == 0.0
    np.testing.assert_allclose(fast, slow, atol=1.5 / (P * 4))
