"""A real single-node Slurm (slurm-wlm + munge on localhost) runs a sweep and a capacity grid end to
end, as a job array and as dask-jobqueue workers, with the bits of a local run.

The fixture starts the daemons with .ci/slurm-setup.sh when they are installed and this is root;
elsewhere the tests skip, saying why (pytest -ra prints it).
"""
import contextlib
import copy
import os
import shutil
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from cli_helpers import BASE, relusim, write_config
from test_resume_and_workers import assert_same_bits

SETUP = Path(__file__).resolve().parent.parent / ".ci" / "slurm-setup.sh"
GRID = ["--grid", "model.alpha=0.25,0.5", "--samples", 2]
NAMES = ["t__model.alpha=0.25.h5", "t__model.alpha=0.5.h5"]
TIMEOUT = 180  # s; a job that never starts must fail the test, not hang the CI


def slurm_state() -> str:
    running = {p.info["name"] for p in psutil.process_iter(["name"])}
    if not {"slurmctld", "slurmd"} <= running:  # sinfo retries for ~9 s when no controller answers
        return ""
    try:
        p = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return p.stdout.strip().split("\n")[0] if p.returncode == 0 else ""


def is_up() -> bool:
    return slurm_state() in ("idle", "mixed", "allocated")


@pytest.fixture(scope="module")
def slurm():
    if is_up():
        yield
        return
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        pytest.skip("slurm-wlm/munge are not installed (bash .ci/slurm-setup.sh installs them, as root)")
    if os.geteuid() != 0:
        pytest.skip("Slurm is not running, and starting its daemons needs root")
    p = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, RELUSIM_SLURM_NO_INSTALL="1"))
    if not is_up():
        pytest.skip(f"Slurm could not be started: {(p.stdout + p.stderr).strip()} (state {slurm_state()!r})")
    yield
    for pidfile in ("/run/slurmd.pid", "/run/slurmctld.pid", "/run/munge/munged.pid"):  # what we started
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(Path(pidfile).read_text()), signal.SIGTERM)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny base config and the reference: its 2 points x 2 samples on 2 local processes."""
    tmp = tmp_path_factory.mktemp("slurm")
    cfg = copy.deepcopy(BASE)
    cfg.update(name="t", output=str(tmp / "t.h5"))
    path = write_config(tmp / "t.yaml", cfg)
    code, _, err = relusim("sweep", "--config", path, *GRID, "--workers", 2, "--out-dir", tmp / "local")
    assert code == 0, err
    return path, tmp


@pytest.mark.slow
def test_a_two_task_job_array_runs_end_to_end(slurm, setup):
    cfg, tmp = setup
    code, out, err = relusim("sweep", "--config", cfg, *GRID, "--backend", "slurm", "--chunk", 2,
                             "--walltime", "00:05:00", "--wait", "--out-dir", tmp / "array", timeout=TIMEOUT)
    assert code == 0, err
    assert "submitted job" in out and "2 array tasks, 4 samples" in out
    assert out.count("2/2 samples, 2 merged now (complete)") == 2, out
    logs = sorted((tmp / "array" / "slurm").glob("*/logs/*.out"))
    assert len(logs) == 2
    for task, log in enumerate(logs):
        text = log.read_text()
        print(f"--- {log.name}\n{text}")
        assert f"task {task} of job" in text and text.count(" sample ") == 2
    for name in NAMES:
        assert_same_bits(tmp / "local" / name, tmp / "array" / name)


@pytest.mark.slow
def test_dask_jobqueue_workers_run_a_sweep_as_slurm_jobs(slurm, setup):
    cfg, tmp = setup
    code, out, err = relusim("sweep", "--config", cfg, *GRID, "--backend", "dask", "--slurm", "--cores", 2,
                             "--memory", "1G", "--walltime", "00:05:00", "--out-dir", tmp / "jobqueue",
                             timeout=TIMEOUT)
    assert code == 0, err
    assert "(4 run now" in out
    assert list((tmp / "jobqueue" / "slurm" / "dask-logs").glob("*.out")), "no dask-jobqueue job ran"
    for name in NAMES:
        assert_same_bits(tmp / "local" / name, tmp / "jobqueue" / name)


@pytest.mark.slow
def test_capacity_on_slurm_jobqueue_workers_gives_the_local_bits(slurm, tmp_path, monkeypatch):
    """relusim capacity --backend dask --slurm: instances answered by dask-jobqueue workers in Slurm jobs."""
    from relusim.capacity import grid as cap
    from relusim.execution.cluster import SlurmOptions
    from relusim.config import from_dict

    monkeypatch.chdir(tmp_path)  # dask-jobqueue writes the job scripts' logs here
    base = from_dict({"seed": 4, "model": {"activation": "sign", "K": 3, "N": 9}, "output": str(tmp_path / "x.h5")})
    plan = cap.make_plan(base, "exact", "0.6,1.0", "9,15", None, 3)
    cap.run(plan, str(tmp_path / "local.h5"), workers=1, quiet=True, bootstrap=2)
    opts = SlurmOptions(walltime="00:05:00", cores=2, memory_bytes=2**30)
    s = cap.run(plan, str(tmp_path / "slurm.h5"), workers=2, backend="dask", slurm=opts, quiet=True, bootstrap=2)
    assert s.ran == 12
    assert cap.check_bits(cap.load_records(tmp_path / "local.h5")[1], cap.load_records(tmp_path / "slurm.h5")[1])


@pytest.mark.slow
def test_capacity_as_a_two_task_job_array_gives_the_local_records(slurm, tmp_path):
    """relusim capacity --backend slurm --wait: two array tasks, each its own journal, merged at the end."""
    from relusim.capacity import grid as cap

    cfg = write_config(tmp_path / "b.yaml", {"name": "c", "seed": 4, "model": {"activation": "sign", "K": 3, "N": 9},
                                             "output": str(tmp_path / "x.h5")})
    grid = ["--config", cfg, "--method", "exact", "--alpha", "0.6,1.0", "--N", "9,15", "--samples", 2,
            "--bootstrap", 2]
    code, _, err = relusim("capacity", *grid, "--workers", 1, "--quiet", "--out", tmp_path / "local.h5", cwd=tmp_path)
    assert code == 0, err
    code, out, err = relusim("capacity", *grid, "--backend", "slurm", "--chunk", 4, "--walltime", "00:05:00",
                             "--wait", "--out", tmp_path / "array.h5", timeout=TIMEOUT, cwd=tmp_path)
    assert code == 0, err
    assert "submitted job" in out and "2 array tasks, 8 instances" in out, out
    assert "8/8 instances, 8 merged now (complete)" in out and "theory" in out, out
    logs = sorted((tmp_path / "slurm").glob("*/logs/*.out"))
    assert len(logs) == 2 and all(log.read_text().count(" instance ") == 4 for log in logs)
    assert cap.check_bits(cap.load_records(tmp_path / "local.h5")[1], cap.load_records(tmp_path / "array.h5")[1])
