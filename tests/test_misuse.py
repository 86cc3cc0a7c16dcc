"""A result file can be trusted under misuse (issue 13), through the command line.

One owner per result file; damaged data detected, named and never used; a full disk is one line
and keeps every finished sample; debris of dead processes removed (only theirs). The holders, the
killed runs, the full disk and the cleanup of dead processes' debris are real processes; the runs and
refusals that are checked by their output, exit status and files run in this process
(``cli_helpers.relusim_here``).
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
import numpy as np
import pytest

from cli_helpers import BASE, relusim, relusim_here, write_config

QUICK = {"sweeps": 200, "record_every": 20}


def cfg_file(d: Path, name: str = "c.yaml", output: str = "out.h5", **changes) -> str:
    c = copy.deepcopy(BASE)
    c["output"] = str(d / output)
    c["anneal"].update(QUICK)
    for key, value in changes.items():
        node = c
        *parents, last = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return write_config(d / name, c)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def weights(path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: f["samples"][k]["weights"][()] for k in f["samples"]}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished result file (3 samples, y = 3 so it has a reference) and its config."""
    d = tmp_path_factory.mktemp("finished")
    conf = cfg_file(d, ensemble={"replicas": 3, "gamma": {"start": 0.1, "stop": 2.0}})
    code, _, err = relusim_here("anneal", "--config", conf, "--workers", 1, "--quiet")
    assert code == 0, err
    return d / "out.h5", conf


def copy_run(finished, d: Path):
    out, conf = finished
    shutil.copy(out, d / "out.h5")
    text = Path(conf).read_text().replace(str(out), str(d / "out.h5"))
    (d / "c.yaml").write_text(text)
    return d / "out.h5", str(d / "c.yaml")


# ------------------------------------------------------------------------- one owner per file --

LONG = {"anneal__sweeps": 10**6, "anneal__stop_when_solved": False, "anneal__record_every": 10**5,
        "samples": 1, "model__N": 400}


def start_holder(conf: str, output: Path, *extra, command: str = "anneal") -> subprocess.Popen:
    """A real `relusim anneal` (or sweep) that runs long, once it holds the lock on ``output``."""
    env = dict(os.environ, CI="true")
    p = subprocess.Popen([sys.executable, "-m", "relusim", command, "--config", conf, "--quiet",
                          "--workers", "1", *map(str, extra)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lock = Path(str(output) + ".lock")
    t0 = time.monotonic()
    while not (lock.exists() and str(p.pid) in lock.read_text()):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() - t0 < 60, "the holder never took its lock"
        time.sleep(0.05)
    while not output.exists() or list(output.parent.glob(f".{output.name}~*.tmp")):
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)  # its file created: from now on it only runs its long sample
    time.sleep(0.3)
    return p


def snapshot(d: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()
            and not p.name.endswith(".lock")}


@pytest.mark.parametrize("first", ["a", "b"])
@pytest.mark.slow
def test_a_second_run_on_a_held_output_is_refused_naming_the_holder(tmp_path, first):
    conf_a = cfg_file(tmp_path, "a.yaml", **LONG)
    conf_b = cfg_file(tmp_path, "b.yaml", model__alpha=0.25, **LONG)
    confs = {"a": conf_a, "b": conf_b}
    other = "b" if first == "a" else "a"
    out = tmp_path / "out.h5"
    holder = start_holder(confs[first], out)
    try:
        before = snapshot(tmp_path)
        attempts = [
            ("anneal", "--config", confs[first], "--quiet"),  # same config: would double the work
            ("anneal", "--config", confs[other], "--quiet"),  # another config into the same file
            ("anneal", "--config", confs[first], "--quiet", "--overwrite"),
            ("anneal", "--config", confs[other], "--quiet", "--overwrite"),
            ("merge", out),
            ("robustness", out, "--quiet"),
        ]
        for argv in attempts:  # in this process: refusals, each cheaper than an interpreter start
            code, _, err = relusim_here(*argv)
            line = one_line(err)
            assert code == 2, (argv, err)
            assert f"PID {holder.pid}" in line and str(out) in line, (argv, line)
        assert snapshot(tmp_path) == before, "a refused run changed a file"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the lock died with its process: the next run owns the file at once (no stale lock)
    code, _, err = relusim_here("anneal", "--config", cfg_file(tmp_path, "q.yaml"), "--quiet", "--overwrite",
                                "--workers", 1)
    assert code == 0, err
    assert len(weights(out)) == 3


def test_a_sweep_owns_its_points_files(tmp_path):
    conf = cfg_file(tmp_path, **LONG)
    point = tmp_path / "sw" / "t__seed=5.h5"
    holder = start_holder(conf, point, "--grid", "seed=5", "--out-dir", tmp_path / "sw", command="sweep")
    try:
        code, _, err = relusim_here("anneal", "--config", conf, "--quiet", "--out", point)
        assert code == 2 and f"PID {holder.pid}" in one_line(err)
        code, _, err = relusim_here("sweep", "--config", conf, "--grid", "seed=5,6", "--out-dir", tmp_path / "sw",
                                    "--quiet")
        assert code == 2 and f"PID {holder.pid}" in one_line(err)
        assert not (tmp_path / "sw" / "t__seed=6.h5").exists()  # refused before any point was touched
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_array_tasks_share_and_merge_checks_the_files_config(tmp_path):
    conf = cfg_file(tmp_path, samples=2)
    code, out_text, err = relusim_here("sweep", "--config", conf, "--grid", "model.alpha=0.3",
                                       "--backend", "slurm", "--dry-run", "--out-dir", tmp_path / "sw")
    assert code == 0, err
    table = next((tmp_path / "sw" / "slurm").glob("*/tasks.json"))
    for task in (0, 1):
        code, _, err = relusim_here("run-task", "--tasks", table, "--task-id", task)
        assert code == 0, err
    point = next((tmp_path / "sw").glob("*.h5"))
    # a shard of another config slipped into the point's .parts: merge refuses it, whatever this
    # process's config, and writes nothing
    other = cfg_file(tmp_path, "o.yaml", output="o.h5", model__alpha=0.25, samples=1)
    assert relusim_here("anneal", "--config", other, "--quiet")[0] == 0
    parts = Path(str(point) + ".parts")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(tmp_path / "o.h5") as src, h5py.File(foreign, "w") as dst:
        dst.attrs["config_sha256"] = src.attrs["config_sha256"]
        src.copy(src["samples"]["000000"], dst.require_group("samples"), name="000000")
    shutil.copy(foreign, parts / "000000.h5")
    before = snapshot(tmp_path)
    code, _, err = relusim_here("merge", tmp_path / "sw")
    assert code == 2 and "different config" in one_line(err) and "000000.h5" in err
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- corruption --

def flip_bytes(path: Path, dataset: str, n: int = 4) -> None:
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        offset, size = ds.id.get_offset(), ds.id.get_storage_size()
    assert offset is not None, f"{dataset} is not contiguous"
    with open(path, "r+b") as fh:
        fh.seek(offset)
        data = bytearray(fh.read(min(n, size)))
        fh.seek(offset)
        fh.write(bytes(b ^ 0x5A for b in data))


DAMAGED = ["weights", "energy", "stabilities", "labels", "reference", "trace/energy"]


@pytest.mark.parametrize("dataset", DAMAGED)
@pytest.mark.slow
def test_a_damaged_dataset_is_named_never_used_and_rerun_on_resume(tmp_path, finished, dataset):
    out, conf = copy_run(finished, tmp_path)
    good = weights(out)
    flip_bytes(out, f"samples/000001/{dataset}")
    for argv in (("info", out), ("info", out, "--verify"), ("compare", out),
                 ("robustness", out, "--flips", "0,0.1", "--trials", 2, "--weight-noise", "none", "--quiet")):
        code, stdout, err = relusim_here(*argv)  # each refuses before it computes
        assert code == 1, (argv, err)
        assert f"sample 1: checksum mismatch in {dataset}" in one_line(err), (argv, err)
    assert not (tmp_path / "out_robustness.png").exists()
    code, _, err = relusim_here("anneal", "--config", conf, "--quiet", "--samples", 4, "--workers", 1)  # resume, extend
    assert code == 0, err
    assert "sample 1" in err and "run again" in err
    assert relusim_here("info", out, "--verify")[0] == 0
    now = weights(out)
    assert len(now) == 4 and all(np.array_equal(good[k], now[k]) for k in good)


def test_a_damaged_robustness_group_is_detected(tmp_path, finished):
    out, _ = copy_run(finished, tmp_path)
    code, _, err = relusim_here("robustness", out, "--flips", "0,0.1", "--trials", 2, "--weight-noise", "none",
                                "--quiet")
    assert code == 0, err
    flip_bytes(out, "robustness/input_flip/error")
    code, _, err = relusim_here("compare", out)
    assert code == 1 and "/robustness: checksum mismatch in input_flip/error" in one_line(err)


def test_garbage_shards_never_end_a_resume_in_a_traceback(tmp_path, finished):
    out, conf = copy_run(finished, tmp_path)
    good = weights(out)
    with h5py.File(out, "a") as f:  # as if samples 1 and 2 were still shards
        del f["samples"]["000001"], f["samples"]["000002"]
    parts = Path(str(out) + ".parts")
    parts.mkdir()
    (parts / "000001.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(3000))  # truncated garbage
    (parts / "000002.h5").write_text("not a shard")
    (parts / "0abc.h5").write_text("stray")
    code, _, err = relusim_here("anneal", "--config", conf, "--quiet", "--workers", 1)
    assert code == 0 and "Traceback" not in err, err
    assert "000001.h5" in err and "000002.h5" in err
    assert all(np.array_equal(good[k], v) for k, v in weights(out).items()) and len(weights(out)) == 3


# ------------------------------------------------------------------------------ full disk --

def test_a_full_disk_is_one_line_and_keeps_finished_samples(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        conf = cfg_file(tmp_path, output="small/out.h5", samples=40, anneal__record_every=1)
        code, _, err = relusim("anneal", "--config", conf, "--quiet", "--workers", 1)
        line = one_line(err)
        assert code == 1 and "space" in line and "kept" in line, err
        parts = Path(str(mnt / "out.h5") + ".parts")
        kept = set(weights(mnt / "out.h5")) | {p.stem for p in parts.glob("[0-9]*.h5")}
        assert kept, "no finished sample kept"
        first = weights(mnt / "out.h5")
        subprocess.run(["mount", "-o", "remount,size=20m", str(mnt)], check=True)
        code, _, err = relusim("anneal", "--config", conf, "--quiet", "--workers", 1)
        assert code == 0, err
        after = weights(mnt / "out.h5")
        assert len(after) == 40 and all(np.array_equal(first[k], after[k]) for k in first)
        assert not list(mnt.glob(".*.tmp")) and not list(parts.glob(".*.tmp"))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# --------------------------------------------------------------------------------- debris --

def test_a_rerun_removes_the_temp_files_of_a_killed_run_only(tmp_path, finished):
    out, conf = copy_run(finished, tmp_path)
    long = cfg_file(tmp_path, "long.yaml", output="long.h5", **LONG)
    killed = start_holder(long, tmp_path / "long.h5")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    host = os.uname().nodename
    parts = Path(str(out) + ".parts")
    parts.mkdir(exist_ok=True)
    dead = [tmp_path / f".out.h5~{host}~{killed.pid}.tmp", parts / f".000003.h5~{host}~{killed.pid}.tmp"]
    shutil.copy(out, dead[0])  # what a killed merge leaves: a full copy of the result file
    dead[1].write_bytes(b"half a shard")
    alive = tmp_path / f".out.h5~{host}~{os.getpid()}.tmp"  # this test process lives: keep its file
    alive.write_bytes(b"in progress")
    code, _, err = relusim("anneal", "--config", conf, "--quiet")  # a process of its own: not the live PID
    assert code == 0, err
    for p in dead:
        assert not p.exists() and p.name in err, err
    assert alive.exists() and alive.name not in err
