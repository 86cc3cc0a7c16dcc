"""``relusim capacity`` stores like every command that writes: one owner per --out (the lock anneal
takes), every output path checked before any work, temporary files named as the contract says and
removed when their writer is gone, and a figure even for a grid of one point."""
import os
import platform
import subprocess
import sys
import time

import h5py
import pytest

from cli_helpers import relusim_here, write_config
from relusim.capacity import grid as cap
from relusim.storage import results
from relusim.config import from_dict
from relusim.errors import InputError

GRID = ("--K", "2", "--N", "8", "--alpha", "0.5,0.75", "--samples", 4, "--method", "exact", "--workers", 1,
        "--bootstrap", 2)


@pytest.fixture
def base(tmp_path):
    return write_config(tmp_path / "base.yaml", {"seed": 5, "model": {"activation": "relu", "K": 2, "N": 8},
                                                 "anneal": {"sweeps": 4000},
                                                 "output": str(tmp_path / "x.h5")})


def test_a_second_run_on_the_same_out_is_refused_while_the_first_runs(tmp_path, base):
    out = tmp_path / "shared.h5"
    slow = ("--K", "4", "--N", "100", "--alpha", "0.3:0.6:0.1", "--samples", 6, "--method", "anneal",
            "--workers", 1, "--bootstrap", 2)
    first = subprocess.Popen([sys.executable, "-m", "relusim", "capacity", "--config", base, *map(str, slow),
                              "--out", str(out)], env=dict(os.environ, CI="true"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not os.path.exists(str(out) + ".lock") and time.time() < deadline and first.poll() is None:
        time.sleep(0.02)
    assert first.poll() is None, "the first run ended before the second could start"
    code, so, err = relusim_here("capacity", "--config", base, *GRID, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--out" in err and "held by PID" in err and str(first.pid) in err and not so
    with pytest.raises(InputError, match="in use"):  # the Python API too
        base_cfg = from_dict({"seed": 5, "model": {"activation": "relu", "K": 2, "N": 8}, "output": str(out)})
        cap.run(cap.make_plan(base_cfg, "exact", "0.5", "8", "2", 2), str(out), quiet=True, bootstrap=1)
    so, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    attrs, records = cap.load_records(out)  # the first run's grid, whole
    assert attrs["method"] == "anneal" and len(records) == 4 * 6 and attrs["finished"]
    assert not os.path.exists(str(out) + ".lock")


@pytest.mark.parametrize("args,key", [
    (("--out", "/proc/x.h5"), "--out"),
    (("--json", "/proc/x.json"), "--json"),
    (("--plot", "/proc/x.png"), "--plot"),
    (("--plot", "{d}/x.xyz"), "--plot"),
    (("--json", "{d}/adir"), "--json"),
    (("--plot", "{d}/afile/x.png"), "--plot"),
    (("--out", "{d}/afile/x.h5"), "--out"),
    (("--json", "{d}/c.h5"), "--json"),
    (("--out", "{d}/readonly.h5"), "--out"),
])
def test_every_output_path_is_checked_before_any_work(tmp_path, base, args, key):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "readonly.h5").write_bytes(b"")
    os.chmod(tmp_path / "readonly.h5", 0o444)
    opts = {"--out": str(tmp_path / "c.h5"), **{k: v.format(d=tmp_path) for k, v in zip(args[::2], args[1::2])}}
    before = sorted(os.listdir(tmp_path))
    code, so, err = relusim_here("capacity", "--config", base, *GRID, *[a for kv in opts.items() for a in kv])
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"relusim: error: {key}: got "), err
    assert so == "" and sorted(os.listdir(tmp_path)) == before  # nothing run, nothing written


@pytest.mark.slow
def test_missing_folders_of_json_and_plot_are_created_and_a_one_point_grid_has_a_figure(tmp_path, base):
    for i, grid in enumerate([("--N", "8", "--alpha", "0.5"), ("--N", "8,12", "--alpha", "0.5"),
                              ("--N", "8", "--alpha", "0.5,0.75")]):
        out, fig, js = tmp_path / f"o{i}.h5", tmp_path / f"new{i}/dir/c.png", tmp_path / f"new{i}/other/c.json"
        code, so, err = relusim_here("capacity", "--config", base, "--K", "2", *grid, "--samples", 3,
                                     "--method", "exact", "--workers", 1, "--bootstrap", 2, "--out", out,
                                     "--plot", fig, "--json", js)
        assert code == 0, err
        assert os.path.getsize(fig) > 5000 and js.read_text().startswith("{")


def test_temporary_files_follow_the_contract_and_a_dead_writers_are_removed(tmp_path, base, monkeypatch):
    out = tmp_path / "t.h5"
    host = platform.node().replace("~", "_")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a PID that no longer runs
    debris = [tmp_path / f".t.h5~{host}~{dead}.tmp", tmp_path / f".t.h5.{dead}.tmp"]  # and the old name
    for p in debris:
        p.write_bytes(b"half a file")
    names = []
    real = results._fsync_replace
    monkeypatch.setattr(results, "_fsync_replace", lambda tmp, dst: (names.append(tmp.name), real(tmp, dst)))
    base_cfg = from_dict({"seed": 5, "model": {"activation": "relu", "K": 2, "N": 8}, "output": str(out)})
    cap.run(cap.make_plan(base_cfg, "exact", "0.5", "8", "2", 2), str(out), quiet=True, bootstrap=1)
    assert names and all(results._TEMP.match(n) and n.startswith(".t.h5~") for n in names), names
    assert not any(p.exists() for p in debris)
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []
    with h5py.File(out, "r") as f:
        assert f.attrs["finished"]
