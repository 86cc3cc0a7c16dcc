"""A full disk ends a command with one line about the output's device (its free space), from the
parent only (no worker's traceback, no HDF5 finaliser noise), leaves no temporary file, keeps what
finished, and a rerun once there is space gives the bits of an uninterrupted run.

The disk is a small tmpfs mounted for the test (skipped where mounting is not allowed: needs root).
"""
import os
import subprocess

import h5py
import pytest

from cli_helpers import relusim
from test_resume_and_workers import assert_same_bits, config

MODEL = {"N": 400, "K": 4, "alpha": 0.45}
ANNEAL = {"sweeps": 300, "stop_when_solved": False, "record_every": 20}  # a shard is ~30 kB


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def grow(mnt) -> None:
    subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)


def temporary_files(folder) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if f.endswith(".tmp")]


def one_line_about(err: str, mnt) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{len(lines)} lines:\n" + "\n".join(lines[:20])
    assert lines[0].startswith("relusim: run failed:") and str(mnt) in lines[0] and "MB free" in lines[0], lines
    return lines[0]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.slow
def test_anneal_on_a_full_disk_says_one_line_and_a_rerun_gives_the_same_bits(tmp_path, small_disk, workers):
    c, _ = config(tmp_path, "full", ANNEAL, **MODEL)
    cr, reference = config(tmp_path, "reference", ANNEAL, **MODEL)
    out = small_disk / "full.h5"
    args = ("anneal", "--config", c, "--out", out, "--samples", 30, "--workers", workers)
    code, _, err = relusim(*args)
    assert code == 1
    line = one_line_about(err, small_disk)
    assert f"device of {small_disk} " in line, line  # the output's device, not the working directory's
    assert temporary_files(small_disk) == []
    with h5py.File(out, "r") as f:  # whole, and what finished is kept (in the file or as shards)
        stored = len(f["samples"])
    shards = [p for p in os.listdir(str(out) + ".parts") if p.endswith(".h5")] if os.path.isdir(str(out) + ".parts") else []
    assert stored + len(shards) >= 1
    grow(small_disk)
    code, _, err = relusim(*args)
    assert code == 0, err
    assert relusim("anneal", "--config", cr, "--samples", 30, "--workers", 1)[0] == 0
    assert_same_bits(out, reference)
    assert temporary_files(small_disk) == []


@pytest.mark.slow
def test_sweep_on_a_full_disk_says_one_line(tmp_path, small_disk):
    c, _ = config(tmp_path, "sw", ANNEAL, **MODEL)
    args = ("sweep", "--config", c, "--grid", "model.alpha=0.4,0.45", "--samples", 15, "--workers", 2,
            "--out-dir", small_disk / "sweep")
    code, _, err = relusim(*args)
    assert code == 1
    one_line_about(err, small_disk)
    assert temporary_files(small_disk) == []
    grow(small_disk)
    code, _, err = relusim(*args)
    assert code == 0, err


@pytest.mark.slow
def test_capacity_on_a_full_disk_says_one_line_and_leaves_no_temporary_file(tmp_path, small_disk):
    c, _ = config(tmp_path, "cap", ANNEAL, **MODEL)
    (small_disk / "filler").write_bytes(bytes(285_000))
    args = ("capacity", "--config", c, "--method", "exact", "--K", "2", "--N", "8", "--alpha", "0.3:0.8:0.1",
            "--samples", 16, "--workers", 2, "--bootstrap", 2, "--out", small_disk / "cap.h5")
    code, _, err = relusim(*args)
    assert code == 1
    line = one_line_about(err, small_disk)
    assert f"device of {small_disk} " in line, line
    assert temporary_files(small_disk) == []
    grow(small_disk)
    code, _, err = relusim(*args)
    assert code == 0, err
    assert temporary_files(small_disk) == []
