"""A sample that fails ends the run with one line naming it, exit 1 and no traceback; finished samples stay.

The failure is injected without any hook in relusim: the real command line runs in a subprocess
that first replaces ``relusim.execution.runner.run_one`` (and ``relusim.execution.cluster._run_and_store``, ``_sample``)
with the wrappers below. The pool (or Dask) pickles the function it submits by reference, so the
worker processes import this module and run the same wrappers; they raise (or die) for sample 3 only,
and say in which process they did, so a test cannot pass by failing in the wrong place.
"""
import copy
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import h5py

from cli_helpers import BASE, relusim_here, write_config
from relusim.execution import cluster, runner

FAILING = 3
TESTS = str(Path(__file__).resolve().parent)
_run_one = runner.run_one
_run_and_store = cluster._run_and_store
_sample = cluster._sample


def _fault(index: int, die: bool = False) -> None:
    if index != FAILING:
        return
    where = "a worker" if mp.parent_process() is not None else "the main"
    if die:
        os._exit(9)  # as the kernel's OOM killer would
    raise MemoryError(f"injected into sample {index} in {where} process")


def failing_run_one(cfg, index, updates=None):
    _fault(index)
    return _run_one(cfg, index, updates)


def dying_run_one(cfg, index, updates=None):
    _fault(index, die=True)
    return _run_one(cfg, index, updates)


def failing_run_and_store(cfg, index):
    _fault(index)
    return _run_and_store(cfg, index)


def failing_sample(cfg, index):
    _fault(index)
    return _sample(cfg, index)


def inject(kind: str) -> None:
    runner.run_one = dying_run_one if kind == "die" else failing_run_one
    cluster._run_and_store = failing_run_and_store
    cluster._sample = failing_sample


def relusim_with_fault(*args, kind="raise", debug=False):
    """The real command line with sample 3 made to fail: (returncode, stdout, stderr)."""
    code = (f"import sys; sys.path.insert(0, {TESTS!r}); import test_runner_errors as t; t.inject({kind!r}); "
            "from relusim.cli.main import main; main(sys.argv[1:])")
    env = {k: v for k, v in os.environ.items() if k != "RELUSIM_DEBUG"}
    env.update(CI="true", **({"RELUSIM_DEBUG": "1"} if debug else {}))
    p = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                       timeout=300, env=env)
    return p.returncode, p.stdout, p.stderr


def config(tmp_path, samples=6) -> str:
    cfg = copy.deepcopy(BASE)
    cfg.update(name="t", samples=samples, output=str(tmp_path / "t.h5"))
    return write_config(tmp_path / "t.yaml", cfg)


def stored(path) -> set[int]:
    with h5py.File(path, "r") as f:
        return {int(k) for k in f["samples"]}


def assert_one_line_run_failure(code, err, *words):
    assert code == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("relusim: run failed: "), err
    for w in words:
        assert w in err, err


# ----------------------------------------------------------------------------- anneal --


def test_a_sample_raising_in_a_worker_process_is_one_line_exit_1_and_the_finished_samples_stay(tmp_path):
    cfg = config(tmp_path)
    code, _, err = relusim_with_fault("anneal", "--config", cfg, "--workers", 2, "--quiet")
    assert_one_line_run_failure(code, err, "sample 3 failed: MemoryError: injected into sample 3 in a worker "
                                "process", str(tmp_path / "t.h5"), "rerun the same command")
    done = stored(tmp_path / "t.h5")  # the file opens, with every sample that started before 3
    assert {0, 1, 2} <= done and FAILING not in done, done
    assert not list((tmp_path / "t.h5.parts").glob("*.h5"))  # every finished shard was merged
    code, out, err = relusim_here("anneal", "--config", cfg, "--workers", 2, "--quiet")
    assert code == 0 and f"({6 - len(done)} run now" in out, err
    assert stored(tmp_path / "t.h5") == set(range(6))


def test_a_sample_raising_with_one_worker_is_one_line_and_exit_1(tmp_path):
    code, _, err = relusim_with_fault("anneal", "--config", config(tmp_path, samples=4), "--workers", 1, "--quiet")
    assert_one_line_run_failure(code, err, "sample 3 failed: MemoryError: injected into sample 3 in the main process")
    assert stored(tmp_path / "t.h5") == {0, 1, 2}


def test_relusim_debug_prints_the_workers_traceback_before_the_one_line(tmp_path):
    cfg = config(tmp_path, samples=4)
    code, _, err = relusim_with_fault("anneal", "--config", cfg, "--workers", 2, "--quiet", debug=True)
    assert code == 1, err
    assert "Traceback" in err and "in failing_run_one" in err and "in _fault" in err, err  # the worker's frames
    assert err.strip().splitlines()[-1].startswith("relusim: run failed: sample 3 failed: MemoryError"), err


def test_a_worker_process_that_dies_is_one_line_exit_1_and_the_finished_samples_stay(tmp_path):
    code, _, err = relusim_with_fault("anneal", "--config", config(tmp_path), "--workers", 2, "--quiet",
                                      kind="die")
    assert_one_line_run_failure(code, err, "a worker process died", "rerun the same command")
    # A process takes sample 3 only once it has finished its last one: with 2 processes, at least two
    # of samples 0-2 had finished (the one still running, if any, dies with the pool).
    done = stored(tmp_path / "t.h5")
    assert len(done & {0, 1, 2}) >= 2 and FAILING not in done, done


# ------------------------------------------------------------------------------ sweep --


def test_a_sample_raising_in_a_sweep_worker_is_one_line_exit_1_and_the_finished_samples_stay(tmp_path):
    cfg = config(tmp_path, samples=4)
    code, _, err = relusim_with_fault("sweep", "--config", cfg, "--grid", "model.alpha=0.25,0.5", "--workers", 2,
                                      "--quiet", "--out-dir", tmp_path / "out")
    assert_one_line_run_failure(code, err, "failed: MemoryError: injected into sample 3 in a worker process")
    assert "sample 3 of t__model.alpha=0.25.h5 failed" in err or "sample 3 of t__model.alpha=0.5.h5 failed" in err
    first = stored(tmp_path / "out" / "t__model.alpha=0.25.h5")  # its samples 0-2 started before any 3
    assert {0, 1, 2} <= first and FAILING not in first, first


def test_a_sample_raising_in_a_one_process_sweep_is_one_line_and_exit_1(tmp_path):
    cfg = config(tmp_path, samples=4)
    code, _, err = relusim_with_fault("sweep", "--config", cfg, "--grid", "model.alpha=0.25", "--workers", 1,
                                      "--quiet", "--out-dir", tmp_path / "out")
    assert_one_line_run_failure(code, err, "sample 3 of t__model.alpha=0.25.h5 failed: MemoryError: injected "
                                "into sample 3 in the main process")
    assert stored(tmp_path / "out" / "t__model.alpha=0.25.h5") == {0, 1, 2}


def test_a_sample_raising_in_a_dask_worker_is_one_line_exit_1_naming_it(tmp_path):
    cfg = config(tmp_path, samples=4)
    code, _, err = relusim_with_fault("sweep", "--config", cfg, "--grid", "model.alpha=0.25", "--backend", "dask",
                                      "--workers", 2, "--quiet", "--out-dir", tmp_path / "out")
    assert_one_line_run_failure(code, err, "sample 3 of t__model.alpha=0.25.h5 (a Dask task) failed: MemoryError: "
                                "injected into sample 3 in a worker process")
