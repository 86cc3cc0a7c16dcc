"""Result files can be trusted: a kill loses no finished sample, a rerun resumes to the same bits,
and the number of workers changes no bit of any dataset."""
import copy
import os

import h5py
import numpy as np
import pytest

from cli_helpers import BASE, kill_after_first_shard, relusim_here, write_config


def datasets(path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            elif name.startswith("samples/") and name.count("/") == 1:
                out[name + "@attrs"] = {k: v for k, v in obj.attrs.items() if k != "wall_s"}
        f["samples"].visititems(lambda n, o: visit("samples/" + n, o))
    return out


def assert_same_bits(a, b):
    da, db = datasets(a), datasets(b)
    assert sorted(da) == sorted(db)
    for k in da:
        if k.endswith("@attrs"):
            assert da[k].keys() == db[k].keys()
            for key in da[k]:
                assert np.array_equal(da[k][key], db[k][key]), (k, key)
        else:
            assert da[k].dtype == db[k].dtype and np.array_equal(da[k], db[k]), k


def config(tmp_path, name, anneal=None, **model):
    cfg = copy.deepcopy(BASE)
    cfg["model"].update(model)
    cfg["anneal"].update(anneal or {})
    cfg["output"] = str(tmp_path / f"{name}.h5")
    return write_config(tmp_path / f"{name}.yaml", cfg), cfg["output"]


@pytest.mark.parametrize("architecture", ["tree", "fully_connected"])
@pytest.mark.slow
def test_one_and_two_workers_give_identical_datasets(tmp_path, architecture):
    model = {"architecture": architecture} | ({"N": 20, "alpha": 0.15} if architecture != "tree" else {})
    c1, o1 = config(tmp_path, "w1", **model)
    c2, o2 = config(tmp_path, "w2", **model)
    assert relusim_here("anneal", "--config", c1, "--workers", 1, "--samples", 4)[0] == 0
    assert relusim_here("anneal", "--config", c2, "--workers", 2, "--samples", 4)[0] == 0
    assert_same_bits(o1, o2)
    with h5py.File(o1) as f:
        assert len(f["samples"]) == 4 and f.attrs["finished"]


@pytest.mark.parametrize("architecture", ["tree", "fully_connected"])
@pytest.mark.slow
def test_kill_mid_run_leaves_a_readable_file_and_rerun_gives_the_same_bits(tmp_path, architecture):
    # Big enough that one sample takes a noticeable time, so the kill lands mid-run; 400 weights both ways
    model = ({"N": 400, "K": 4, "alpha": 0.45} if architecture == "tree" else
             {"N": 100, "K": 4, "alpha": 0.45, "architecture": architecture})
    anneal = {"sweeps": 8000, "stop_when_solved": False}
    ck, ok = config(tmp_path, "killed", anneal, **model)
    cr, orf = config(tmp_path, "reference", anneal, **model)
    args = ["anneal", "--config", ck, "--workers", 1, "--samples", 8, "--quiet"]
    parts = ok + ".parts"
    kill_after_first_shard(args, parts, settle=0.3)
    with h5py.File(ok, "r") as f:  # opens: never half-written
        stored = len(f["samples"])
        assert not f.attrs["finished"]
        for g in f["samples"].values():
            assert g.attrs["status"] == "complete" and g["weights"].shape == (1, 400)
    shards = [p for p in os.listdir(parts) if p.endswith(".h5") and not p.startswith(".")]
    assert stored + len(shards) >= 1, "a finished sample was lost"
    assert stored + len(shards) < 8
    code, out, err = relusim_here(*args)
    assert code == 0, err
    assert relusim_here("anneal", "--config", cr, "--workers", 1, "--samples", 8, "--quiet")[0] == 0
    assert_same_bits(ok, orf)
    with h5py.File(ok) as f:
        assert f.attrs["finished"] and len(f["samples"]) == 8


@pytest.mark.slow
def test_rerun_of_a_finished_file_runs_nothing_and_overwrite_starts_afresh(tmp_path):
    c, o = config(tmp_path, "again")
    assert relusim_here("anneal", "--config", c, "--samples", 2, "--workers", 1)[0] == 0
    code, out, _ = relusim_here("anneal", "--config", c, "--samples", 2, "--workers", 1)
    assert code == 0 and "0 run now" in out
    code, out, _ = relusim_here("anneal", "--config", c, "--samples", 3, "--workers", 1)
    assert code == 0 and "1 run now" in out
    code, out, _ = relusim_here("anneal", "--config", c, "--samples", 2, "--overwrite", "--workers", 1)
    assert code == 0 and "2 run now" in out


def test_resume_refuses_a_file_of_another_config(tmp_path):
    c, o = config(tmp_path, "one")
    assert relusim_here("anneal", "--config", c, "--samples", 1)[0] == 0
    c2, _ = config(tmp_path, "one", alpha=0.2)
    code, _, err = relusim_here("anneal", "--config", c2, "--samples", 1)
    assert code == 2 and "different config" in err and len(err.strip().splitlines()) == 1


def test_info_reports_progress(tmp_path):
    c, o = config(tmp_path, "info")
    relusim_here("anneal", "--config", c, "--samples", 2, "--workers", 1)
    code, out, _ = relusim_here("info", o)
    assert code == 0 and "2/2 samples done" in out and "relu / binary" in out
