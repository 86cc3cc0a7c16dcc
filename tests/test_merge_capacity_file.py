"""``relusim merge`` on a capacity file. Issue 27 item 7: it failed with exit 1 and "its index of samples
is unreadable (KeyError)", then was refused; since issue 28 it folds the journals of a capacity job
array (``relusim capacity --backend slurm``, tests/test_capacity_array.py) into the file, named alone
or found in a folder, and a file with nothing to fold is left as it is. The files are made without
computing anything (a capacity store with no instance, a result file with no sample).
"""
import copy
import hashlib
import os
from pathlib import Path

import pytest

from cli_helpers import BASE, relusim_here
from relusim.capacity import grid
from relusim import config
from relusim.storage import results
from relusim.storage.capacity_file import CapacityFile


def capacity_file(path: Path) -> Path:
    base = config.from_dict(dict(copy.deepcopy(BASE), output=str(path.with_name("base.h5"))))
    plan = grid.make_plan(base, "exact", "0.5:1.0:0.5", "8", "4", 2)
    store = CapacityFile(path)
    store.open(plan.sha256())
    store.write(grid.file_attrs(plan, "test"), plan.weights)
    return path


def result_file(path: Path) -> Path:
    cfg = config.from_dict(dict(copy.deepcopy(BASE), samples=1, output=str(path)))
    rf = results.ResultsFile(path)
    rf.prepare(cfg, "test")
    rf.release()
    return path


def tree(d: Path) -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in d.rglob("*") if p.is_file()}


def test_merge_on_a_capacity_file_with_nothing_to_fold_names_the_missing_instances_and_writes_nothing(tmp_path):
    cap = capacity_file(tmp_path / "cap.h5")
    before = tree(tmp_path)
    code, out, err = relusim_here("merge", cap)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "cap.h5: 0/4 instances, 0 merged now (4 missing)" in out
    assert "4 instances of" in err and "K=4 N=8 P=4 i=0" in err and "relusim capacity" in err
    assert tree(tmp_path) == before and not os.path.exists(str(cap) + ".lock")
    code, out, err = relusim_here("merge", "--allow-missing", cap)
    assert code == 0 and tree(tmp_path) == before, err


def test_a_folder_with_both_merges_the_result_file_and_the_capacity_file(tmp_path):
    cap = capacity_file(tmp_path / "t_capacity.h5")
    result_file(tmp_path / "t.h5")
    before = cap.read_bytes()
    code, out, err = relusim_here("merge", "--allow-missing", tmp_path)
    assert code == 0, err
    assert "t.h5: 0/1 samples" in out and "t_capacity.h5: 0/4 instances" in out
    assert cap.read_bytes() == before


def test_a_capacity_file_named_to_the_sweeps_reader_is_refused(tmp_path):
    from relusim.errors import InputError
    from relusim.execution import cluster

    cap = capacity_file(tmp_path / "cap.h5")
    with pytest.raises(InputError, match="is a capacity file"):
        cluster.file_config(cap)


@pytest.mark.parametrize("command", [["robustness", "--quiet"], ["compare", "--no-plot"]])
def test_other_readers_refuse_a_capacity_file_in_one_line(tmp_path, command):
    # `relusim info` reads capacity files since they are sealed: tests/test_capacity_file_integrity.py
    cap = capacity_file(tmp_path / "cap.h5")
    code, _, err = relusim_here(command[0], cap, *command[1:])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a relusim result file" in err, err
