"""Numerics vs theory (relusim.analysis.compare): lattice bins, the lattice KS distance, synthetic files, the CLI."""
import json

import h5py
import numpy as np
import pytest
import yaml

from cli_helpers import relusim_here
from relusim.analysis import compare
from relusim.models import machine
from relusim.theory.stabilities import sign_lattice_edges, stability_bin_probs


def write_synthetic(path, activation, N, K, alpha, stabilities, weights=None):
    """A minimal result file: the config attr and complete samples holding the given stabilities (S, y, P)."""
    S, y, P = stabilities.shape
    cfg = {"name": path.stem, "seed": 1, "samples": S,
           "model": {"activation": activation, "weights": "binary", "N": N, "K": K, "alpha": alpha},
           "ensemble": {"replicas": y}}
    if weights is None:
        weights = np.ones((S, y, N), np.int8)
    with h5py.File(path, "w") as f:
        f.attrs["config"] = yaml.safe_dump(cfg)
        for s in range(S):
            g = f.create_group(f"samples/{s:06d}")
            g.attrs.update({"index": s, "status": "complete", "solved": True})
            g["stabilities"] = stabilities[s]
            g["weights"] = weights[s]
    return path


def draw_from_theory(activation, N, K, alpha, shape, seed, shift_bins=0):
    """Lattice stabilities with the theory's mass per lattice bin (RS typical, y = 1), optionally shifted."""
    edges = compare.lattice_edges(activation, N, K, 6.0)
    mass = stability_bin_probs(activation, "binary", alpha, edges=edges)
    n = N // K
    d = 2 / np.sqrt(K) if activation == "sign" else (2 if n % 2 == 0 else 1) / np.sqrt(K * n)
    values = (np.arange(len(mass)) + 0.5) * d if activation == "sign" else np.arange(1, len(mass) + 1) * d
    j = np.random.default_rng(seed).choice(len(mass), size=shape, p=mass / mass.sum())
    return values[j + shift_bins]


@pytest.mark.parametrize("activation,N,K,shift", [("sign", 999, 9, 1), ("relu", 1000, 10, 6)])
def test_distance_small_from_theory_large_when_shifted(tmp_path, activation, N, K, shift):
    shape = (10, 1, 500)
    good = write_synthetic(tmp_path / "good.h5", activation, N, K, 0.4,
                           draw_from_theory(activation, N, K, 0.4, shape, seed=1))
    bad = write_synthetic(tmp_path / "bad.h5", activation, N, K, 0.4,
                          draw_from_theory(activation, N, K, 0.4, shape, seed=1, shift_bins=shift))
    hg, = compare.histograms(compare.load_run(good))
    hb, = compare.histograms(compare.load_run(bad))
    assert hg.which == "machine" and hg.n == 5000
    assert hg.ks < hg.ks_scale  # 1.36/sqrt(5000): the 95 % scale
    assert hb.ks > 5 * hg.ks_scale
    assert abs(hg.mean - hg.theory_mean) < 0.03


def test_lattice_bins_hold_one_value_each():
    np.testing.assert_allclose(compare.lattice_edges("sign", 999, 9, 3.0), sign_lattice_edges(9, 3.0))
    for N, K in ((1000, 10), (990, 10)):  # n even (out even) and n odd
        rng = np.random.default_rng(0)
        W = (2 * rng.integers(0, 2, N) - 1).astype(np.int8)
        xi = (2 * rng.integers(0, 2, (3000, N)) - 1).astype(np.int8)
        delta = np.abs(machine.stabilities(W, xi, np.ones(3000, np.int8), "relu", K))
        delta = delta[delta > 0]
        edges = compare.lattice_edges("relu", N, K, delta.max())
        bins = np.searchsorted(edges, delta)
        for b in np.unique(bins):  # every bin holds a single lattice value, away from the edges
            assert np.ptp(delta[bins == b]) < 1e-9
        gap = np.min(np.abs(delta[:, None] - edges[None, 1:]))
        assert gap > 0.2 * (edges[2] - edges[1])


def test_lattice_ks_of_the_theory_itself_is_zero():
    edges = compare.lattice_edges("sign", 999, 9, 5.0)
    mass = stability_bin_probs("sign", "binary", 0.4, edges=edges)
    centres = edges[:-1] + 1 / 3
    counts = np.round(mass / mass.sum() * 1e6).astype(int)
    assert compare.lattice_ks(np.repeat(centres, counts), edges, mass) < 1e-5


def test_replicated_run_uses_the_measured_overlap(tmp_path):
    rng = np.random.default_rng(3)
    centre = (2 * rng.integers(0, 2, 1000) - 1).astype(np.int8)
    W = np.stack([np.where(rng.random((3, 1000)) < 0.03, -centre, centre) for _ in range(2)]).astype(np.int8)
    stab = draw_from_theory("relu", 1000, 10, 0.4, (2, 3, 100), seed=2)
    run = compare.load_run(write_synthetic(tmp_path / "ld.h5", "relu", 1000, 10, 0.4, stab, weights=W))
    assert run.q1 == pytest.approx(np.mean([machine.mean_mutual_overlap(w) for w in W]))
    assert compare.theory_params(run) == {"y": 3, "q1": run.q1}


def test_cli_compare_table_json_plot(tmp_path):
    a = write_synthetic(tmp_path / "a.h5", "sign", 999, 9, 0.4, draw_from_theory("sign", 999, 9, 0.4, (3, 1, 200), 1))
    b = write_synthetic(tmp_path / "b.h5", "relu", 1000, 10, 0.4,
                        draw_from_theory("relu", 1000, 10, 0.4, (3, 1, 200), 2))
    code, out, err = relusim_here("compare", a, b, "--json", tmp_path / "t.json", "--plot", tmp_path / "c.png")
    assert code == 0, err
    assert "ks" in out.splitlines()[0] and "sign" in out and "relu" in out
    rows = json.loads((tmp_path / "t.json").read_text())
    assert [r["activation"] for r in rows] == ["sign", "relu"] and all(r["ks"] < 0.1 for r in rows)
    assert (tmp_path / "c.png").stat().st_size > 0
    code, _, err = relusim_here("compare", a, tmp_path / "missing.h5")
    assert code == 2 and err.count("\n") == 1 and "missing.h5" in err
