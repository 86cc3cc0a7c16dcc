"""Sweeps: a grid of configs, one file per point, the same bits on every backend, no loss on a kill.

The Dask backend runs through the real command line (``python -m relusim``) on a real LocalCluster
of 2 workers; SLURM array tasks as plain processes running the generated script, then merged; the
kills kill real processes. The local backend, merges and reruns run the same entry point in this
process (``cli_helpers.relusim_here``; a local pool still starts real workers). A real Slurm is in
test_slurm.py.
"""
import copy
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import psutil
import pytest
import yaml

from cli_helpers import BASE, relusim, relusim_here, write_config
from relusim.execution import sweep
from relusim.execution.cluster import parse_memory, parse_walltime
from relusim.config import from_dict
from relusim.errors import InputError
from test_resume_and_workers import assert_same_bits

GRID = ["--grid", "model.alpha=0.25,0.5", "--grid", "model.K=2,4"]
NAMES = [f"t__model.alpha={a}__model.K={k}.h5" for a in (0.25, 0.5) for k in (2, 4)]


def base_config(tmp_path, name="t", anneal=None, **top) -> str:
    cfg = copy.deepcopy(BASE)
    cfg["anneal"].update(anneal or {})
    cfg.update(name=name, output=str(tmp_path / f"{name}.h5"), **top)
    return write_config(tmp_path / f"{name}.yaml", cfg)


def ok(*args) -> str:
    code, out, err = relusim_here(*args)
    assert code == 0, err
    return out


def ok_process(*args) -> str:
    code, out, err = relusim(*args)
    assert code == 0, err
    return out


def shards(folder) -> list[Path]:
    return [p for p in Path(folder).glob("*.parts/[0-9]*.h5")]


def stored(path) -> int:
    with h5py.File(path, "r") as f:
        return len(f["samples"])


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The reference: 4 points x 3 samples on 2 local processes."""
    tmp = tmp_path_factory.mktemp("local")
    cfg = base_config(tmp)
    out = ok("sweep", "--config", cfg, *GRID, "--workers", 2, "--out-dir", tmp / "out")
    assert "4 points, 12 samples (12 run now" in out
    return cfg, tmp / "out"


# ------------------------------------------------------------------------------ the grid --


def base():
    return from_dict(copy.deepcopy(BASE))


def test_grid_values_are_typed_like_yaml_scalars():
    axes = sweep.parse_grid(["model.alpha=0.3,1e-1,1", "model.activation=sign,relu",
                             "anneal.stop_when_solved=true,false", "ensemble.target_overlap=null,0.5"], base())
    assert axes == [("model.alpha", (0.3, 0.1, 1)), ("model.activation", ("sign", "relu")),
                    ("anneal.stop_when_solved", (True, False)), ("ensemble.target_overlap", (None, 0.5))]


@pytest.mark.parametrize("spec,words", [
    ("model.alpah=0.3", ["model.alpah", "did you mean 'model.alpha'"]),
    ("modle.alpha=0.3", ["modle.alpha", "did you mean 'model'"]),
    ("model=0.3", ["is a section", "model.alpha"]),
    ("output=a.h5", ["cannot be swept"]),
    ("samples=3,4", ["--samples"]),
    ("model.alpha", ["KEY=V1,V2"]),
    ("model.alpha=0.3,,0.4", ["empty value"]),
])
def test_bad_grid_specs_name_what_is_wrong(spec, words):
    with pytest.raises(InputError) as e:
        sweep.parse_grid([spec], base())
    for w in words:
        assert w in str(e.value), str(e.value)


def test_bad_values_are_refused_by_config_validation(tmp_path):
    b = base().replace(output=str(tmp_path / "t.h5"))
    with pytest.raises(InputError, match=r"model\.activation.*swish.*sign, relu"):
        sweep.expand(b, sweep.parse_grid(["model.activation=relu,swish"], b))
    with pytest.raises(InputError, match=r"model\.K.*even"):
        sweep.expand(b, sweep.parse_grid(["model.K=4,5"], b))
    with pytest.raises(InputError, match="same point"):
        sweep.expand(b, sweep.parse_grid(["model.alpha=0.3,0.30"], b))


def test_points_are_the_cartesian_product_with_safe_names(tmp_path):
    b = base().replace(output=str(tmp_path / "t.h5"))
    points = sweep.expand(b, sweep.parse_grid(["model.alpha=0.3,1", "anneal.beta=2,3"], b), samples=5)
    assert len(points) == 4 and {p.cfg.samples for p in points} == {5}
    assert [Path(p.cfg.output).name for p in points[:2]] == [
        "t__model.alpha=0.3__anneal.beta=2.h5", "t__model.alpha=0.3__anneal.beta=3.h5"]
    assert Path(points[2].cfg.output) == tmp_path / "t" / "t__model.alpha=1.0__anneal.beta=2.h5"
    assert points[3].cfg.model.alpha == 1.0 and points[3].cfg.anneal.beta.start == 3.0
    assert len({p.cfg.physics_sha256() for p in points}) == 4
    odd = b.replace(name="a b;c")  # a path separator in a name is refused (tests/test_job_script_injection.py)
    (p,) = sweep.expand(odd, sweep.parse_grid(["model.activation=relu"], odd))
    assert Path(p.cfg.output).name == "a_b_c__model.activation=relu.h5"
    assert len(sweep.point_name("x" * 300, [])) <= sweep.MAX_NAME


def test_slurm_sizes_are_checked():
    assert parse_memory("4G") == parse_memory("4GiB") == parse_memory("4gb") == 4 * 2**30
    assert parse_walltime("1-12:00:00") == "1-12:00:00" and parse_walltime("30") == "30"
    with pytest.raises(InputError, match="--memory"):
        parse_memory("lots")
    with pytest.raises(InputError, match="--walltime"):
        parse_walltime("2h")


@pytest.mark.parametrize("args,words", [
    (["--grid", "model.alpah=0.3"], ["--grid", "did you mean 'model.alpha'"]),
    (["--grid", "model.K=4,5"], ["model.K", "5", "even"]),
    (["--scheduler", "tcp://x:1"], ["--scheduler", "--backend dask"]),
    (["--dry-run"], ["--dry-run", "--backend slurm"]),
    (["--backend", "dask", "--chunk", "2"], ["--chunk", "--backend slurm"]),
    (["--backend", "slurm", "--workers", "2"], ["--workers", "not used by --backend slurm"]),
    (["--backend", "slurm", "--walltime", "2h"], ["--walltime", "02:00:00"]),
    (["--backend", "dask", "--slurm", "--memory", "x"], ["--memory", "4G"]),
    (["--workers", "0"], ["--workers", ">= 1"]),
    (["--slurm"], ["--slurm", "--backend dask --slurm"]),
    (["--backend", "dask", "--slurm", "--scheduler", "tcp://x:1"], ["--scheduler", "not used by"]),
])
def test_sweep_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    code, out, err = relusim_here("sweep", "--config", base_config(tmp_path), *args)
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "t").exists()


# ---------------------------------------------------------------------- same bits, any way --


@pytest.mark.slow
def test_local_dask_and_slurm_array_tasks_give_identical_bits(local_sweep, tmp_path):
    cfg, ref = local_sweep
    ok_process("sweep", "--config", cfg, *GRID, "--backend", "dask", "--workers", 2, "--out-dir", tmp_path / "dask")
    out = ok("sweep", "--config", cfg, *GRID, "--backend", "slurm", "--chunk", 5, "--dry-run",
             "--out-dir", tmp_path / "slurm")
    (script,) = (tmp_path / "slurm" / "slurm").glob("*/array.sbatch")
    assert f"sbatch --parsable {script}" in out and "#SBATCH --array=0-2" in script.read_text()
    assert "NUMBA_CACHE_DIR" in script.read_text()
    for task in range(3):  # as Slurm would, one by one, each a process of its own
        p = subprocess.run(["bash", str(script)], env=dict(os.environ, SLURM_ARRAY_TASK_ID=str(task), CI="true"),
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        assert p.stdout.count(" sample ") == (5 if task < 2 else 2)
    assert len(shards(tmp_path / "slurm")) == 12
    merged = ok("merge", tmp_path / "slurm")
    assert merged.count("3/3 samples, 3 merged now (complete)") == 4
    for name in NAMES:
        assert_same_bits(ref / name, tmp_path / "dask" / name)
        assert_same_bits(ref / name, tmp_path / "slurm" / name)
        with h5py.File(tmp_path / "slurm" / name) as f:
            assert f.attrs["finished"] and f.attrs["samples_done"] == 3


def test_a_point_of_a_sweep_has_the_bits_of_relusim_anneal(local_sweep, tmp_path):
    _, ref = local_sweep
    with h5py.File(ref / NAMES[3]) as f:
        point = yaml.safe_load(f.attrs["config"])
    point["output"] = str(tmp_path / "anneal.h5")
    ok("anneal", "--config", write_config(tmp_path / "p.yaml", point), "--workers", 1, "--quiet")
    assert_same_bits(ref / NAMES[3], tmp_path / "anneal.h5")


def test_rerun_resumes_and_more_samples_run_only_the_new_ones(local_sweep, tmp_path):
    cfg, ref = local_sweep
    shutil.copytree(ref, tmp_path / "out")
    assert "(0 run now" in ok("sweep", "--config", cfg, *GRID, "--out-dir", tmp_path / "out")
    assert "(4 run now" in ok("sweep", "--config", cfg, *GRID, "--samples", 4, "--out-dir", tmp_path / "out",
                              "--workers", 1)
    with h5py.File(tmp_path / "out" / NAMES[0]) as f:
        assert len(f["samples"]) == 4 and f.attrs["finished"]
    code, _, err = relusim_here("sweep", "--config", cfg, "--grid", "model.alpha=0.25", "--grid", "model.K=2",
                           "--backend", "slurm", "--dry-run", "--out-dir", tmp_path / "out")
    assert code == 0 and not (tmp_path / "out" / "slurm").exists()


# --------------------------------------------------------------------------------- merge --


@pytest.mark.slow
def test_merge_refuses_a_shard_of_another_config_and_writes_nothing(tmp_path):
    cfg = base_config(tmp_path, samples=1)
    ok("sweep", "--config", cfg, "--grid", "model.alpha=0.25,0.5", "--backend", "slurm", "--chunk", 1,
       "--dry-run", "--out-dir", tmp_path / "out")
    (table,) = (tmp_path / "out" / "slurm").glob("*/tasks.json")
    for task in (0, 1):
        ok("run-task", "--tasks", table, "--task-id", task)
    a, b = (tmp_path / "out" / f"t__model.alpha={x}.h5" for x in (0.25, 0.5))
    shutil.move(str(b) + ".parts/000000.h5", str(a) + ".parts/000001.h5")
    code, _, err = relusim_here("merge", tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "different config" in err, err
    assert stored(a) == stored(b) == 0 and len(shards(tmp_path / "out")) == 2
    os.remove(str(a) + ".parts/000001.h5")
    out = ok("merge", "--allow-missing", a, b)
    assert "1/1 samples, 1 merged now (complete)" in out and "0/1 samples, 0 merged now (missing 0)" in out
    code, _, err = relusim_here("merge", cfg)
    assert code == 2 and "not a readable HDF5 file" in err
    code, _, err = relusim_here("run-task", "--tasks", table, "--task-id", 7)
    assert code == 2 and "--task-id" in err


@pytest.mark.slow
def test_merge_with_samples_missing_merges_the_rest_and_exits_1_naming_them(tmp_path):
    cfg = base_config(tmp_path, samples=4)
    ok("sweep", "--config", cfg, "--grid", "model.alpha=0.25", "--backend", "slurm", "--chunk", 1,
       "--dry-run", "--out-dir", tmp_path / "out")
    (table,) = (tmp_path / "out" / "slurm").glob("*/tasks.json")
    for task in (0, 3):  # tasks 1 and 2 (samples 1 and 2) "failed"
        ok("run-task", "--tasks", table, "--task-id", task)
    point = tmp_path / "out" / "t__model.alpha=0.25.h5"
    code, out, err = relusim_here("merge", tmp_path / "out")
    assert code == 1, err
    assert "2/4 samples, 2 merged now (missing 1, 2)" in out
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("relusim: run failed: 2 samples missing after the merge (t__model.alpha=0.25.h5: 1-2)")
    assert "rerun the `relusim sweep` command" in err and "--allow-missing" in err
    assert stored(point) == 2 and not shards(tmp_path / "out")  # the partial merge is written
    code, out, err = relusim_here("merge", "--allow-missing", tmp_path / "out")
    assert code == 0 and "2/4 samples, 0 merged now (missing 1, 2)" in out and not err, err
    for task in (1, 2):
        ok("run-task", "--tasks", table, "--task-id", task)
    assert "4/4 samples, 2 merged now (complete)" in ok("merge", tmp_path / "out")


def test_merge_names_missing_samples_as_ranges():
    from relusim.execution.cluster import ranges
    assert ranges([9, 0, 2, 3, 4, 5]) == "0, 2-5, 9" and ranges([7]) == "7" and ranges([]) == ""


# --------------------------------------------------------------------------------- kills --

SLOW = {"anneal": {"sweeps": 8000, "record_every": 100, "stop_when_solved": False}}
SLOW_GRID = ["--grid", "model.alpha=0.3,0.4", "--samples", 3, "--quiet"]


def slow_config(tmp_path) -> str:
    cfg = copy.deepcopy(BASE)
    cfg["model"]["N"] = 200
    cfg["anneal"].update(SLOW["anneal"])
    cfg.update(name="k", output=str(tmp_path / "k.h5"))
    return write_config(tmp_path / "k.yaml", cfg)


def start_and_wait_for_a_shard(args, folder) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "relusim", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, CI="true"))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not shards(folder):
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep ended before a worker could be killed; make it longer"
    return proc


def workers_of(proc) -> list[psutil.Process]:
    return [c for c in psutil.Process(proc.pid).children()
            if any("spawn_main" in part for part in c.cmdline())]


@pytest.mark.slow
def test_killing_a_local_worker_loses_no_finished_sample_and_a_rerun_completes(tmp_path):
    cfg = slow_config(tmp_path)
    args = ["sweep", "--config", cfg, *SLOW_GRID, "--workers", 2, "--out-dir", tmp_path / "killed"]
    proc = start_and_wait_for_a_shard(args, tmp_path / "killed")
    finished = len(shards(tmp_path / "killed"))
    workers_of(proc)[0].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "worker process died" in err and "rerun" in err, err
    files = sorted((tmp_path / "killed").glob("*.h5"))
    kept = sum(stored(f) for f in files) + len(shards(tmp_path / "killed"))
    assert finished <= kept < 6
    out = ok(*args)
    assert f"({6 - kept} run now" in out
    ok("sweep", "--config", cfg, *SLOW_GRID, "--workers", 1, "--out-dir", tmp_path / "reference")
    for f in files:
        assert_same_bits(f, tmp_path / "reference" / f.name)


@pytest.mark.slow
def test_killing_a_dask_worker_mid_sweep_reruns_its_task_elsewhere(tmp_path):
    cfg = slow_config(tmp_path)
    args = ["sweep", "--config", cfg, *SLOW_GRID, "--backend", "dask", "--workers", 2, "--out-dir", tmp_path / "d"]
    proc = start_and_wait_for_a_shard(args, tmp_path / "d")
    workers_of(proc)[0].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "(6 run now" in out
    ok("sweep", "--config", cfg, *SLOW_GRID, "--workers", 1, "--out-dir", tmp_path / "reference")
    for f in sorted((tmp_path / "d").glob("*.h5")):
        assert_same_bits(f, tmp_path / "reference" / f.name)


def test_dask_on_a_running_scheduler_given_by_its_address(local_sweep, tmp_path):
    from dask.distributed import LocalCluster

    cfg, ref = local_sweep
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        ok_process("sweep", "--config", cfg, "--grid", "model.alpha=0.25", "--grid", "model.K=2", "--backend", "dask",
           "--scheduler", cluster.scheduler_address, "--out-dir", tmp_path)
    assert_same_bits(ref / NAMES[0], tmp_path / NAMES[0])


def test_the_csv_table_is_written_whole_or_not_at_all_and_leaves_no_temporary_file(tmp_path):
    from relusim.execution import sweep as sw

    path = sw.write_csv([{"alpha": 0.3, "solved": 4}, {"alpha": 0.4, "solved": 1}], tmp_path / "t__sweep.csv")
    assert path.read_text().splitlines() == ["alpha,solved", "0.3,4", "0.4,1"]
    with pytest.raises(ValueError):  # a row with a column the header lacks fails mid-write
        sw.write_csv([{"alpha": 0.3}, {"alpha": 0.4, "extra": 1}], path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t__sweep.csv"]
    assert path.read_text().splitlines()[1] == "0.3,4"
