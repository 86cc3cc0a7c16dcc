"""`relusim info` and `relusim compare` on fully connected result files: the hidden-unit lines, the
unit correlation against a direct numpy computation, the fan-in of the stability lattice."""
import re

import h5py
import numpy as np
import pytest

from relusim.analysis import compare
from relusim.models import machine, units
from tests.cli_helpers import BASE, relusim_here, write_config

FC = "fully_connected"


def fc_config(activation, N, K, replicas=1):
    cfg = {**BASE, "name": f"fc-{activation}", "samples": 3,
           "model": {"activation": activation, "weights": "binary", "architecture": FC, "N": N, "K": K,
                     "alpha": 0.15},
           "anneal": {**BASE["anneal"], "sweeps": 300, "stop_when_solved": True}}
    if replicas > 1:
        cfg["ensemble"] = {"replicas": replicas, "reference": "explicit",
                           "gamma": {"start": 0.5, "stop": 4.0, "schedule": "geometric"}}
    return cfg


@pytest.fixture(scope="module")
def fc_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("fc")
    out = {}
    for activation, N, K, y in (("relu", 12, 4, 1), ("sign", 11, 3, 3)):
        path = d / f"{activation}.h5"
        cfg = write_config(d / f"{activation}.yaml", fc_config(activation, N, K, y))
        rc, _, err = relusim_here("anneal", "--config", cfg, "--out", path, "--quiet", "--workers", 1)
        assert rc == 0, err
        out[activation] = path
    return out


def direct_absorbed_mean(weights, activation, K):
    """mean over k != l of c_k c_l W_k.W_l / N, by explicit loops (no units.py code)."""
    c = machine.output_weights(activation, K)
    W = np.asarray(weights, dtype=np.int64).reshape(K, -1)
    vals = [c[k] * c[l] * int(np.dot(W[k], W[l])) / W.shape[1] for k in range(K) for l in range(K) if k != l]
    return float(np.mean(vals))


def direct_file_correlation(path, activation, K):
    """Mean over samples of the mean over replicas of the direct computation, and its error over samples."""
    per_sample = []
    with h5py.File(path, "r") as f:
        for _, g in sorted(f["samples"].items()):
            W = np.atleast_2d(g["weights"][()])
            per_sample.append(np.mean([direct_absorbed_mean(w, activation, K) for w in W]))
    v = np.array(per_sample)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


@pytest.mark.parametrize("activation,K", [("relu", 4), ("sign", 3)])
@pytest.mark.slow
def test_compare_prints_the_measured_correlation_equal_to_a_direct_computation(fc_runs, activation, K):
    rc, out, err = relusim_here("compare", fc_runs[activation], "--no-plot")
    assert rc == 0, err
    mean, sem = direct_file_correlation(fc_runs[activation], activation, K)
    m = re.search(r"measured C ([+-]\d\.\d{4}) ± (\d\.\d{4})", out)
    assert m, out
    assert float(m.group(1)) == pytest.approx(mean, abs=6e-5)
    assert float(m.group(2)) == pytest.approx(sem, abs=6e-5)
    assert "K -> inf" in out and "K -> infinity" in out and f"theory at K={K}" in out
    assert "division of labour" in out
    assert ("aligned by the best unit permutation" in out) == (activation == "sign")  # only the y = 3 run has pairs


def test_sign_absorbed_mean_is_not_the_plain_mean_for_relu():
    """For ReLU the theory's C counts opposite-c pairs with the opposite sign; the plain mean does not."""
    rng = np.random.default_rng(4)
    K, L = 4, 50
    w = (2 * rng.integers(0, 2, K * L) - 1).astype(np.int8)
    uc = units.unit_correlations(w, "relu", K)
    assert uc.absorbed_mean == pytest.approx(direct_absorbed_mean(w, "relu", K), abs=1e-12)
    assert abs(uc.absorbed_mean - uc.offdiag_mean) > 1e-3
    us = units.unit_correlations(w, "sign", K)
    assert us.absorbed_mean == pytest.approx(us.offdiag_mean, abs=1e-12)


def test_compare_puts_the_theory_of_the_run_beside_it(fc_runs):
    from relusim.theory.fully_connected import unit_correlation

    run = compare.load_run(fc_runs["relu"])
    th = compare.correlation_theory(run.activation, run.weights, run.alpha, run.K)
    assert th.scaled_inf == pytest.approx(unit_correlation("relu", "binary", 0.15))
    assert th.C_finite == pytest.approx(unit_correlation("relu", "binary", 0.15, K=4))
    text = "\n".join(compare.unit_lines(run))
    assert f"C = {th.C_finite:+.4f}" in text


def test_info_reports_the_unit_measurements_and_the_fc_pattern_count(fc_runs):
    rc, out, err = relusim_here("info", fc_runs["sign"])
    assert rc == 0, err
    assert "fully_connected" in out and re.search(r"P=5\b", out)  # round(0.15 * 3 * 11) = 5, not round(0.15 * 11)
    assert "replica-replica" in out and "replica-reference" in out
    mean, _ = direct_file_correlation(fc_runs["sign"], "sign", 3)
    m = re.search(r"sign-absorbed unit correlation .*: replicas ([+-]\d\.\d{4})", out)
    assert m, out
    assert float(m.group(1)) == pytest.approx(mean, abs=6e-5)


def test_info_and_compare_say_nothing_about_units_for_a_tree(tmp_path):
    path = tmp_path / "tree.h5"
    cfg = write_config(tmp_path / "t.yaml", {**BASE, "samples": 1, "model": {**BASE["model"], "N": 20}})
    rc, _, err = relusim_here("anneal", "--config", cfg, "--out", path, "--quiet")
    assert rc == 0, err
    assert "unit overlaps" not in relusim_here("info", path)[1]
    assert "unit correlation" not in relusim_here("compare", path, "--no-plot")[1]


@pytest.mark.parametrize("N,K", [(12, 4), (13, 4)])
def test_lattice_edges_use_the_fully_connected_fan_in(N, K):
    """Fully connected, a unit sees all N inputs: the ReLU lattice step is (2 or 1)/sqrt(K N), not /sqrt(K N/K)."""
    e = compare.lattice_edges("relu", N, K, 1.0, FC)
    d = (2.0 if N % 2 == 0 else 1.0) / np.sqrt(K * machine.fan_in(N, K, FC))
    assert e[2] - e[1] == pytest.approx(d)
    rng = np.random.default_rng(0)
    W = (2 * rng.integers(0, 2, (1, K * N)) - 1).astype(np.int8)
    xi = (2 * rng.integers(0, 2, (400, N)) - 1).astype(np.int8)
    delta = np.abs(machine.stabilities(W[0], xi, np.ones(400), "relu", K, FC))
    steps = np.round(delta[delta > 0] / d, 9)
    assert np.all(steps == np.round(steps))  # every stability is on the lattice the edges assume
