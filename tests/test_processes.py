"""No process outlives its run: whatever ends a run (SIGKILL, SIGTERM, SIGINT), its worker processes
and multiprocessing's resource tracker are gone within seconds, a SIGTERM or SIGINT ends it with one
line, and a rerun resumes to the bits of an uninterrupted run (anneal, sweep and capacity pools)."""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import h5py
import psutil
import pytest

from cli_helpers import relusim
from test_resume_and_workers import assert_same_bits, config

# one sample ~0.3 s: a run of --workers 2 lasts seconds, long enough to be killed mid-way
MODEL = {"N": 400, "K": 4, "alpha": 0.45}
ANNEAL = {"sweeps": 4000, "stop_when_solved": False, "record_every": 20}
SETTLE_S = 6.0


def marked(mark: str) -> list[psutil.Process]:
    """Every live process whose environment carries ``mark`` (a run's descendants, even re-parented)."""
    out = []
    for p in psutil.process_iter():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and p.environ().get("RELUSIM_TEST_MARK") == mark:
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return out


def workers_of(mark: str) -> list[psutil.Process]:
    found = []
    for p in marked(mark):
        try:
            if "spawn_main" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            pass
    return found


def start(args, mark: str, errfile, extra_env=None) -> subprocess.Popen:
    env = dict(os.environ, CI="true", RELUSIM_TEST_MARK=mark, **(extra_env or {}))
    return subprocess.Popen([sys.executable, *map(str, args)], env=env, stdout=subprocess.DEVNULL,
                            stderr=errfile)


def wait_for_workers(proc, mark: str, n: int = 2, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if len(workers_of(mark)) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the run's workers never started (or it ended first)")


def left_after(mark: str, settle: float = SETTLE_S) -> list[str]:
    """What of a run is still alive ``settle`` seconds after its parent ended (killed if any, for the
    next test's sake)."""
    deadline = time.time() + settle
    left = marked(mark)
    while left and time.time() < deadline:
        time.sleep(0.1)
        left = marked(mark)
    names = []
    for p in left:
        try:
            names.append(f"{p.pid}: {' '.join(p.cmdline())[:90]}")
            p.kill()
        except psutil.Error:
            pass
    return names


def stop(args, tmp_path, sig, rng, extra_env=None, n_workers=2) -> tuple[int, list[str], list[str]]:
    """Start ``args``, send ``sig`` to the parent at a random moment once its workers run; returns
    (exit status, stderr lines, processes left)."""
    mark = uuid.uuid4().hex
    errpath = tmp_path / f"err-{mark}.txt"
    with open(errpath, "w") as err:
        proc = start(args, mark, err, extra_env)
        try:
            wait_for_workers(proc, mark, n_workers)
            time.sleep(rng.uniform(0.0, 0.6))
            assert proc.poll() is None, "the run ended before it could be stopped; make it longer"
            proc.send_signal(sig)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return proc.returncode, errpath.read_text().strip().splitlines(), left_after(mark)


def temporary_files(folder) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if f.endswith(".tmp")]


@pytest.mark.slow
def test_anneal_workers_die_with_their_parent_whatever_kills_it_and_a_rerun_gives_the_same_bits(tmp_path):
    rng = random.Random(27)
    ck, ok = config(tmp_path, "killed", ANNEAL, **MODEL)
    cr, orf = config(tmp_path, "reference", ANNEAL, **MODEL)
    args = ["-m", "relusim", "anneal", "--config", ck, "--workers", 2, "--samples", 40]
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGKILL):
        code, err, left = stop(args, tmp_path, sig, rng)
        assert left == [], f"{sig.name}: processes outlived their run: {left}"
        if sig == signal.SIGKILL:
            assert code == -signal.SIGKILL
        else:  # one line, no traceback, the conventional status; what it ran is merged, nothing half-written
            assert code == 128 + sig, err
            assert len(err) == 1 and err[0].startswith(f"relusim: stopped by {sig.name}; the finished samples "
                                                       f"are kept in {ok}"), err
            assert temporary_files(tmp_path) == []
        with h5py.File(ok, "r") as f:  # whole at every instant
            assert not f.attrs["finished"]
    code, _, err = relusim("anneal", "--config", ck, "--workers", 2, "--samples", 40)
    assert code == 0, err
    assert relusim("anneal", "--config", cr, "--workers", 1, "--samples", 40)[0] == 0
    assert_same_bits(ok, orf)
    assert temporary_files(tmp_path) == []


@pytest.mark.slow
def test_sweep_and_capacity_pools_die_with_their_parent(tmp_path):
    rng = random.Random(5)
    c, _ = config(tmp_path, "sw", ANNEAL, **MODEL)
    sweep = ["-m", "relusim", "sweep", "--config", c, "--grid", "model.alpha=0.4,0.45", "--samples", 20,
             "--workers", 2, "--out-dir", tmp_path / "sweep"]
    code, _, left = stop(sweep, tmp_path, signal.SIGKILL, rng)
    assert code == -signal.SIGKILL and left == []
    assert relusim(*sweep[2:])[0] == 0  # resumes

    cap = ["capacity", "--config", c, "--method", "anneal", "--N", "100", "--K", "4", "--alpha", "0.3:0.6:0.1",
           "--samples", 6, "--bootstrap", 2]
    killed, reference = tmp_path / "cap.h5", tmp_path / "cap-ref.h5"
    code, _, left = stop(["-m", "relusim", *cap, "--workers", 2, "--out", killed], tmp_path, signal.SIGKILL, rng)
    assert code == -signal.SIGKILL and left == []
    code, _, left = stop(["-m", "relusim", *cap, "--workers", 2, "--out", killed], tmp_path, signal.SIGTERM, rng)
    assert code == 128 + signal.SIGTERM and left == []
    assert relusim(*cap, "--workers", 2, "--out", killed)[0] == 0
    assert relusim(*cap, "--workers", 1, "--out", reference)[0] == 0
    from relusim.capacity import grid

    assert grid.check_bits(grid.load_records(killed)[1], grid.load_records(reference)[1])
    assert temporary_files(tmp_path) == []


POOL_SCRIPT = textwrap.dedent("""
    import sys, time
    from relusim.execution import processes
    pool = processes.Pool(2)
    futures = [pool.submit(time.sleep, 120) for _ in range(2)]
    time.sleep(120)
""")


def test_the_watchdog_alone_ends_orphaned_workers(tmp_path):
    """Without the kernel's death signal (other systems), a worker whose parent died ends itself."""
    code, _, left = stop(["-c", POOL_SCRIPT], tmp_path, signal.SIGKILL, random.Random(1),
                         extra_env={"RELUSIM_PDEATHSIG": "0"})
    assert code == -signal.SIGKILL and left == []


def test_a_run_with_a_progress_bar_starts_no_manager_process(tmp_path):
    """Progress updates travel on a queue given to the workers: no Manager server to outlive the run."""
    c, _ = config(tmp_path, "bar", ANNEAL, **MODEL)
    script = ("import sys\nfrom relusim import config\nfrom relusim.execution import runner\n"
              f"runner.run(config.load({c!r}, samples=40), workers=2, progress=True)\n")
    mark = uuid.uuid4().hex
    with open(tmp_path / "err.txt", "w") as err:
        proc = start(["-c", script], mark, err)
        wait_for_workers(proc, mark)
        time.sleep(0.5)
        names = [" ".join(p.cmdline()) for p in marked(mark)]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not any("manager" in n.lower() for n in names) and len(names) <= 4, names  # parent, tracker, 2 workers
    assert left_after(mark) == []
