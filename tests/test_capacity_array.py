"""``relusim capacity --backend slurm``: a SLURM job array (relusim.capacity.array), run here without
SLURM by calling its script for each task id as Slurm would. Its file holds the records of a local
run; a torn journal line, a foreign journal, an edited or mixed task table and a second run while the
tasks hold the file are each handled in one line. A real single-node Slurm run is in test_slurm.py."""
import copy
import hashlib
import json
import os
import subprocess
import sys

import h5py
import pytest

from cli_helpers import relusim_here, write_config
from relusim.capacity import array
from relusim.capacity import grid as cap
from relusim.config import from_dict
from relusim.errors import InputError
from relusim.execution import cluster
from relusim.storage.journal import Journal

BASE = {"name": "c", "seed": 4, "model": {"activation": "sign", "K": 3, "N": 9}, "anneal": {"sweeps": 60}}
GRID = ["--K", "3", "--N", "9,15", "--alpha", "0.6,1.0", "--samples", "3", "--bootstrap", "2"]
N_INSTANCES = 12  # 2 N x 2 alpha (distinct P) x 3 samples


def config(tmp_path, seed=4) -> str:
    d = copy.deepcopy(BASE)
    d["seed"] = seed
    d["output"] = str(tmp_path / "x.h5")
    return write_config(tmp_path / "b.yaml", d)


def plan_of(cfg: str, method: str):
    import yaml

    base = from_dict(yaml.safe_load(open(cfg)))
    return cap.make_plan(base, method, "0.6,1.0", "9,15", "3", 3)


def ok(*args, cwd=None) -> str:
    code, out, err = relusim_here(*args, cwd=cwd)
    assert code == 0, err
    return out


def dry_run(tmp_path, cfg, method, out="arr.h5", chunk=5):
    text = ok("capacity", "--config", cfg, *GRID, "--method", method, "--out", tmp_path / out, "--backend", "slurm",
              "--chunk", chunk, "--dry-run", cwd=tmp_path)
    (job,) = sorted((tmp_path / "slurm").glob("*/"))[-1:]
    return text, job


def run_script(script, task: int) -> str:
    p = subprocess.run(["bash", str(script)], env=dict(os.environ, SLURM_ARRAY_TASK_ID=str(task), CI="true"),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout


def tree(d) -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in d.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The reference: each method's grid run locally, in one process."""
    tmp = tmp_path_factory.mktemp("local")
    cfg = config(tmp)
    for method in ("exact", "anneal"):
        cap.run(plan_of(cfg, method), str(tmp / f"{method}.h5"), workers=1, quiet=True, bootstrap=2)
    return tmp


def test_dry_run_writes_the_table_and_the_script_and_a_sealed_file_of_the_plan(tmp_path):
    cfg = config(tmp_path)
    text, job = dry_run(tmp_path, cfg, "exact", chunk=5)
    script, table = job / "array.sbatch", job / "tasks.json"
    assert f"wrote {script} (3 array tasks, {N_INSTANCES} instances)" in text
    assert f"sbatch --parsable {script}" in text and f"relusim merge {tmp_path / 'arr.h5'}" in text
    t = json.loads(table.read_text())
    plan = plan_of(cfg, "exact")
    assert t["kind"] == "capacity" and t["capacity_sha256"] == plan.sha256() and t["job"] == job.name
    assert t["out"] == str(tmp_path / "arr.h5") and t["plan"]["method"] == "exact"
    assert [len(c) for c in t["tasks"]] == [5, 5, 2]
    assert [tuple(x) for c in t["tasks"] for x in c] == plan.instances()
    s = script.read_text()
    assert "#SBATCH --array=0-2" in s and "#SBATCH --cpus-per-task=1" in s and "NUMBA_CACHE_DIR" in s
    assert f"-m relusim run-task --tasks {table} --task-id \"$SLURM_ARRAY_TASK_ID\" --workers 1" in s
    assert "relusim capacity --backend slurm" in s and "#SBATCH --job-name=relusim-capacity-c" in s
    attrs, records = cap.load_records(tmp_path / "arr.h5")  # sealed: merge reads the plan from it
    assert records == [] and not attrs["finished"] and attrs["capacity_sha256"] == plan.sha256()
    assert not (tmp_path / "arr.h5.lock").exists() and not (tmp_path / "arr.h5.tasks.lock").exists()


@pytest.mark.parametrize("method", ["exact", "anneal"])
def test_tasks_run_one_by_one_then_merged_hold_the_records_of_a_local_run(tmp_path, local, method):
    cfg = config(tmp_path)
    _, job = dry_run(tmp_path, cfg, method, chunk=5)
    counts = [run_script(job / "array.sbatch", task).count(" instance ") for task in range(3)]
    assert counts == [5, 5, 2]
    journals = sorted(p.name for p in (tmp_path / "arr.h5.parts").iterdir())
    assert journals == [f"task-{job.name}-{i:06d}.jsonl" for i in range(3)]  # one writer per file, no lock left
    out = ok("merge", tmp_path / "arr.h5")
    assert f"arr.h5: {N_INSTANCES}/{N_INSTANCES} instances, {N_INSTANCES} merged now (complete)" in out
    assert not (tmp_path / "arr.h5.parts").exists()
    ref = cap.load_records(local / f"{method}.h5")[1]
    attrs, got = cap.load_records(tmp_path / "arr.h5")
    assert len(got) == N_INSTANCES and cap.check_bits(ref, got) and attrs["finished"]
    with h5py.File(tmp_path / "arr.h5") as f, h5py.File(local / f"{method}.h5") as g:
        assert (f["analysis/K3/fraction"][()] == g["analysis/K3/fraction"][()]).all()
    rerun = ok("capacity", "--config", cfg, *GRID, "--method", method, "--out", tmp_path / "arr.h5", "--backend",
               "slurm", "--dry-run", cwd=tmp_path)
    assert "(0 run now)" in rerun and "0 merged now (complete)" in rerun and "theory" in rerun
    assert len(list((tmp_path / "slurm").glob("*/"))) == 1  # nothing left: no new array


def test_rerunning_the_capacity_command_folds_the_journals_and_submits_only_the_rest(tmp_path, local):
    cfg = config(tmp_path)
    _, job = dry_run(tmp_path, cfg, "exact", chunk=5)
    run_script(job / "array.sbatch", 1)
    text, job2 = dry_run(tmp_path, cfg, "exact", chunk=5)
    assert job2 != job and f"(2 array tasks, {N_INSTANCES - 5} instances)" in text
    assert cap.load_records(tmp_path / "arr.h5")[1].__len__() == 5 and not (tmp_path / "arr.h5.parts").exists()
    for task in range(2):
        run_script(job2 / "array.sbatch", task)
    local_run = ok("capacity", "--config", cfg, *GRID, "--method", "exact", "--out", tmp_path / "arr.h5",
                   "--workers", 1, "--quiet")  # a local rerun folds them too
    assert "(0 run now)" in local_run
    assert cap.check_bits(cap.load_records(local / "exact.h5")[1], cap.load_records(tmp_path / "arr.h5")[1])


def test_a_task_killed_mid_line_reruns_that_instance_and_the_merge_has_the_local_records(tmp_path, local):
    cfg = config(tmp_path)
    _, job = dry_run(tmp_path, cfg, "exact", chunk=5)
    run_script(job / "array.sbatch", 0)
    journal = tmp_path / "arr.h5.parts" / f"task-{job.name}-000000.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:len(lines[-1]) // 2])  # as a kill leaves it
    rerun = run_script(job / "array.sbatch", 0)  # the torn line is skipped: that instance runs again
    assert rerun.count(" instance ") == 1
    text = journal.read_text()
    assert text.endswith("}\n") and len(text.splitlines()) == 6  # the rerun's line did not join the torn one
    assert sum(1 for d in Journal(journal).read()) == 5
    for task in (1, 2):
        run_script(job / "array.sbatch", task)
    assert f"{N_INSTANCES}/{N_INSTANCES} instances" in ok("merge", tmp_path / "arr.h5")
    assert cap.check_bits(cap.load_records(local / "exact.h5")[1], cap.load_records(tmp_path / "arr.h5")[1])


def test_a_journal_of_another_plan_is_refused_and_nothing_is_written(tmp_path):
    cfg = config(tmp_path)
    _, job = dry_run(tmp_path, cfg, "exact", chunk=12)
    other = tmp_path / "other"
    other.mkdir()
    _, job_b = dry_run(other, config(other, seed=5), "exact", chunk=12)
    run_script(job_b / "array.sbatch", 0)
    (foreign,) = (other / "arr.h5.parts").glob("task-*.jsonl")
    (tmp_path / "arr.h5.parts").mkdir()
    os.replace(foreign, tmp_path / "arr.h5.parts" / foreign.name)
    before = tree(tmp_path)
    code, _, err = relusim_here("merge", tmp_path / "arr.h5")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "another capacity run" in err, err
    assert foreign.name in err and tree(tmp_path) == before
    code, _, err = relusim_here("capacity", "--config", cfg, *GRID, "--method", "exact", "--out",
                                tmp_path / "arr.h5", "--workers", 1, "--quiet")
    assert code == 2 and "another capacity run" in err and tree(tmp_path) == before, err


def test_edited_and_mixed_task_tables_are_refused_in_one_line(tmp_path):
    cfg = config(tmp_path)
    _, job = dry_run(tmp_path, cfg, "exact", chunk=12)
    table = job / "tasks.json"
    t = json.loads(table.read_text())

    def refused(edit: dict, words: str, path=None):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**t, **edit}))
        code, _, err = relusim_here("run-task", "--tasks", path or bad, "--task-id", 0)
        assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err

    plan = copy.deepcopy(t["plan"])
    plan["config"]["seed"] = 5  # other bits than when written
    refused({"plan": plan}, "hashes differently")
    refused({"tasks": [[[3, 9, 99, 0]]]}, "not of its plan")
    refused({"kind": "robustness"}, "unknown kind")
    refused({"tasks": "x"}, "not a readable relusim task table")
    code, _, err = relusim_here("run-task", "--tasks", table, "--task-id", 1)
    assert code == 2 and "--task-id" in err and "0..0" in err
    with pytest.raises(InputError, match="is a task table of `relusim capacity`, not of `relusim sweep`"):
        cluster.load_table(table)
    sweep_table = tmp_path / "sweep.json"
    sweep_table.write_text(json.dumps({"points": [], "tasks": [[]]}))  # no kind: a sweep's (before kinds)
    with pytest.raises(InputError, match="is a task table of `relusim sweep`, not of `relusim capacity`"):
        array.load_table(sweep_table)
    assert not (tmp_path / "arr.h5.parts").exists()


def test_while_array_tasks_hold_the_file_a_second_run_is_refused_and_merge_folds_what_they_finished(tmp_path):
    cfg = config(tmp_path)
    _, job = dry_run(tmp_path, cfg, "exact", chunk=5)
    run_script(job / "array.sbatch", 0)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from relusim.storage import lock; "
                               f"lock.acquire({str(tmp_path / 'arr.h5')!r}, lock.TASKS, shared=True); "
                               "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for backend in (["--backend", "slurm", "--dry-run"], ["--workers", "1"]):
            code, _, err = relusim_here("capacity", "--config", cfg, *GRID, "--method", "exact", "--out",
                                        tmp_path / "arr.h5", *backend, cwd=tmp_path)
            assert code == 2 and "its array tasks are running" in err and len(err.strip().splitlines()) == 1, err
        code, out, _ = relusim_here("merge", tmp_path / "arr.h5")
        assert code == 1 and "5 merged now" in out
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("args,words", [
    (["--backend", "slurm", "--scheduler", "tcp://h:8786"],
     ["--scheduler", "tcp://h:8786", "not used by --backend slurm; only with --backend dask"]),
    (["--backend", "slurm", "--workers", "4"],
     ["--workers", "not used by --backend slurm", "Dask workers as SLURM jobs are --backend dask --slurm"]),
    (["--backend", "dask", "--chunk", "3"], ["--chunk", "only with --backend slurm"]),
    (["--backend", "dask", "--queue", "q"], ["--queue", "only with --backend dask --slurm or slurm"]),
    (["--backend", "local", "--wait"], ["--wait", "only with --backend slurm"]),
    (["--backend", "slurm", "--cores", "0"], ["--cores", "must be >= 1"]),
    (["--backend", "slurm", "--walltime", "soon"], ["--walltime", "Slurm time"]),
])
def test_backend_options_that_do_not_apply_are_one_line_and_nothing_is_written(tmp_path, args, words):
    cfg = config(tmp_path)
    code, _, err = relusim_here("capacity", "--config", cfg, *GRID, "--out", tmp_path / "c.h5", *args, cwd=tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.yaml"]


def test_capacity_help_says_what_each_backend_is():
    out = ok("capacity", "--help")
    for w in ("--slurm", "--chunk", "--dry-run", "--wait", "SLURM job array", "relusim merge OUT"):
        assert w in out, w
