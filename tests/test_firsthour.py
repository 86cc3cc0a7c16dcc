"""The first hour of a user: what the commands say at the end, and relusim from Python.

Tiny runs (N = 40) through the real command line and through ``relusim.run`` / ``relusim.load``.
"""
import copy
import csv
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import relusim
from cli_helpers import BASE, relusim as cli, write_config
from relusim.analysis import compare
from relusim import config
from relusim.execution import runner
from relusim.kernels import fields, metropolis
from relusim.errors import InputError
from relusim.analysis.robustness import measure_file, read_curves
from test_resume_and_workers import assert_same_bits


def cfg_dict(tmp_path, name="t", **top):
    cfg = copy.deepcopy(BASE)
    cfg.update(name=name, output=str(tmp_path / f"{name}.h5"), **top)
    return cfg


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """3 solved samples of the tiny ReLU machine, written by the command line, with /robustness."""
    tmp = tmp_path_factory.mktemp("tiny")
    path = write_config(tmp / "t.yaml", cfg_dict(tmp))
    code, out, err = cli("anneal", "--config", path, "--workers", 1)
    assert code == 0, err
    measure_file(tmp / "t.h5", np.array([0.0, 0.1, 0.5]), 4, ())
    return tmp, path


def test_resuming_a_finished_run_says_what_the_file_holds(tiny, tmp_path):
    _, path = tiny
    code, out, err = cli("anneal", "--config", path, "--samples", 2)
    assert code == 0, err
    assert "2 samples asked for (0 run now: all were done before); the file holds 3 samples, 3 solved" in out


def test_load_gives_the_files_arrays_and_a_summary_table(tiny):
    tmp, _ = tiny
    res = relusim.load(tmp / "t.h5")
    assert len(res) == 3 and res.config["model"]["N"] == 40 and res.provenance["finished"]
    with h5py.File(tmp / "t.h5") as f:
        g = f["samples/000001"]
        assert np.array_equal(res.sample(1).weights, g["weights"][()])
        assert np.array_equal(res.sample(1).stabilities, g["stabilities"][()])
        assert np.array_equal(res.sample(1).trace["energy"], g["trace/energy"][()])
        sweeps = [f["samples"][k].attrs["sweeps_done"] for k in sorted(f["samples"])]
    table = res.summary()
    assert {len(v) for v in table.values()} == {3}
    assert list(table["sweeps_done"]) == sweeps and table["solved"].all() and not table["energy"].any()
    assert res.stabilities().shape == (3, 1, 12)
    c = res.robustness()["input_flip"]["machine"]
    assert c.n_samples == 3 and c.mean[0] == 0.0


def test_run_from_a_dict_is_validated_and_writes_the_bits_of_the_command_line(tiny, tmp_path):
    tmp, _ = tiny
    res = relusim.run(cfg_dict(tmp_path, name="t"), quiet=True)
    assert res.last_run.ran == 3
    assert_same_bits(tmp / "t.h5", tmp_path / "t.h5")
    bad = cfg_dict(tmp_path, name="bad")
    bad["model"]["K"] = 5
    with pytest.raises(InputError, match="model.K"):
        relusim.run(bad)
    assert not (tmp_path / "bad.h5").exists()


def test_robustness_averages_over_solved_samples_and_reports_the_unsolved_apart(tiny, tmp_path):
    tmp, _ = tiny
    path = tmp_path / "t.h5"
    path.write_bytes((tmp / "t.h5").read_bytes())
    with h5py.File(path, "r+") as f:  # pretend sample 0 ended unsolved
        f["robustness/solved"][0] = False
        err = f["robustness/input_flip/error"][()]  # (S, F) of the single machine
    solved, unsolved = read_curves(path)["input_flip"]["machine"], read_curves(path, "unsolved")["input_flip"]["machine"]
    assert solved.n_samples == 2 and np.allclose(solved.mean, err[1:].mean(axis=0))
    assert unsolved.n_samples == 1 and np.allclose(unsolved.mean, err[0])
    assert read_curves(path, "all")["input_flip"]["machine"].n_samples == 3


def test_robustness_command_says_what_it_averages_over(tiny):
    tmp, _ = tiny
    code, out, err = cli("robustness", tmp / "t.h5", "--flips", "0,0.1,0.5", "--trials", 4, "--weight-noise", "none")
    assert code == 0, err
    assert "3 samples measured: 3 solved, 0 unsolved; the curves average over the 3 solved ones" in out


def test_compare_draws_its_figure_by_default_and_prints_its_explanation(tiny, tmp_path):
    tmp, _ = tiny
    png = tmp / "t_compare.png"
    png.unlink(missing_ok=True)
    code, out, err = cli("compare", tmp / "t.h5")
    assert code == 0, err
    assert png.stat().st_size > 5000 and f"plot: {png}" in out
    for line in compare.explain(compare.table_rows([compare.load_run(tmp / "t.h5")])):
        assert line in out
    png.unlink()
    code, out, _ = cli("compare", tmp / "t.h5", "--no-plot")
    assert code == 0 and not png.exists() and "plot:" not in out


def test_explain_is_quiet_below_the_scale_and_names_unsolved_samples_above():
    row = {"name": "r", "which": "machine", "K": 10, "N": 1000, "y": 1, "ks": 0.01, "ks_scale": 0.02, "errors": 0.0}
    assert "agree" in compare.explain([row])[0]
    lines = "\n".join(compare.explain([dict(row, ks=0.1, errors=0.05)]))
    assert "5.0% of the stabilities are <= 0" in lines and "5.0 x scale" in lines
    assert "finite K = 10" in lines and "what to do" in lines and "dense" in lines


def test_sweep_prints_a_table_over_the_grid_and_writes_it_as_csv(tmp_path):
    path = write_config(tmp_path / "s.yaml", cfg_dict(tmp_path, name="s", samples=2))
    code, out, err = cli("sweep", "--config", path, "--grid", "model.alpha=0.2,0.3", "--workers", 1,
                         "--out-dir", tmp_path / "out")
    assert code == 0, err
    table = tmp_path / "out" / "s__sweep.csv"
    assert f"table in {table}" in out
    header = out.splitlines()[0].split()
    assert header[:3] == ["model.alpha", "samples", "solved"]
    with open(table) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model.alpha"] for r in rows] == ["0.2", "0.3"]
    for r in rows:
        with h5py.File(tmp_path / "out" / f"s__model.alpha={r['model.alpha']}.h5") as f:
            groups = list(f["samples"].values())
            assert int(r["samples"]) == len(groups) == 2
            assert float(r["solved_fraction"]) == np.mean([g.attrs["solved"] for g in groups])
            assert float(r["median_sweeps"]) == np.median([g.attrs["sweeps_done"] for g in groups])


def test_a_cold_cache_is_detected_without_compiling(tiny, tmp_path):
    _, path = tiny
    code = f"from relusim import config; from relusim.execution import runner; print(runner.kernels_cached(config.load({str(path)!r})))"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cold"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.stdout.strip() == "False", p.stderr
    assert not list((tmp_path / "cold").rglob("*driver*.nbc"))  # it did not compile the driver to find out
    assert runner.kernels_cached(config.load(path)) is True  # the tiny run compiled (or loaded) its driver


def test_kernels_are_compiled_before_the_samples_and_only_when_cold(tiny, monkeypatch):
    from relusim import anneal

    _, path = tiny
    cfg = config.load(path)
    said, compiled = [], []
    monkeypatch.setattr(anneal, "compile_run", compiled.append)
    monkeypatch.setattr(runner, "kernels_cached", lambda cfg=None: False)
    assert runner.compile_kernels([cfg], False, said.append, show=False)
    assert runner.compile_kernels([cfg], True, said.append, show=False)  # --quiet: compiled, not said
    monkeypatch.setattr(runner, "kernels_cached", lambda cfg=None: True)
    assert not runner.compile_kernels([cfg], False, said.append, show=False)
    assert said == [runner.COMPILE_NOTICE] and compiled == [cfg, cfg]


@pytest.mark.slow
def test_a_config_compiles_only_its_own_driver(tmp_path):
    """The default experiment (ReLU, Metropolis, one machine) compiles neither RRR nor another activation
    (from a cold cache: a driver loaded from the cache brings its sweeps along, compiling nothing)."""
    code = ("import numpy as np; from relusim import anneal, config; from relusim.kernels import rrr, metropolis;"
            "cfg = config.load('configs/default.yaml', samples=1);"
            "anneal.compile_run(cfg);"
            "print(len(rrr.sweep.signatures), *(len(k.signatures) for k in metropolis.KERNELS.values()))")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cold"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env, timeout=300)
    compiled = dict(zip(["rrr", *metropolis.KERNELS], p.stdout.split()))
    assert {k for k, v in compiled.items() if v != "0"} == {(fields.RELU, 0), (fields.RELU, 1)}, p.stderr
