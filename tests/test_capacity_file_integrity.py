"""A capacity file proves its own integrity as a result file does (issue 28, item 4: one result storage).

Every group ``/instances/K{K}/N{N}`` is sealed to the plan's ``capacity_sha256``, its K and its N,
``/analysis`` to the groups it was computed from, and a sealed ``/manifest`` lists them all with a
digest of the root attributes (``relusim.storage.capacity_file``, with the seals of
``relusim.storage.seals``). Every tampering below is named in one line by ``relusim info``,
``relusim info --verify`` and ``load_records`` (exit 1, no traceback), never used, and a resume drops
what fails, runs its instances again and ends with the bits of an untampered run. A file of another
plan is refused, a truncated one named in one line, a torn journal line ignored, and a file written
before capacity files were sealed (``tests/data/capacity_v1.h5``, written by relusim at 4fe2469) is
read, says so, and is sealed by a resume.
"""
import random
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from cli_helpers import relusim_here, write_config
from relusim.capacity import grid as cap
from relusim.errors import DataError, InputError
from relusim.storage import capacity_file, seals
from relusim.storage.journal import Journal

LEGACY = Path(__file__).parent / "data" / "capacity_v1.h5"  # 12 instances, K = 2, N = 8, 12, no seals
GRID = ("--method", "exact", "--K", "2", "--N", "8,12", "--alpha", "0.5,1.0", "--workers", 1, "--bootstrap", 2,
        "--quiet")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def base(d: Path, seed: int = 5) -> str:
    return write_config(d / f"base{seed}.yaml", {"name": "legacy-capacity", "seed": seed,
                                                 "model": {"activation": "relu", "K": 2, "N": 8},
                                                 "output": "legacy.h5"})


def run(d: Path, out: Path, seed: int = 5, samples: int = 3, *more) -> tuple[int, str, str]:
    return relusim_here("capacity", "--config", base(d, seed), *GRID, "--samples", samples, "--out", out, *more)


def bits(path) -> list:
    return cap.load_records(path)[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A (seed 5) and B (seed 6, another plan): the same grid, finished and analysed."""
    d = tmp_path_factory.mktemp("capruns")
    out = {}
    for key, seed in (("A", 5), ("B", 6)):
        code, _, err = run(d, d / f"{key}.h5", seed)
        assert code == 0, err
        out[key] = d / f"{key}.h5"
    return out


def readers_refuse(path: Path, expect: str) -> None:
    """info, info --verify and load_records: one line naming ``expect``, exit 1; nothing is used."""
    for argv in (("info", path), ("info", path, "--verify")):
        code, out, err = relusim_here(*argv)
        assert code == 1, (argv, err)
        assert expect in one_line(err), (argv, err)
        assert "progress" not in out  # the summary of a failing file is never printed
    with pytest.raises(DataError) as exc:
        cap.load_records(path)
    assert expect in str(exc.value) and "\n" not in str(exc.value)


# --------------------------------------------------------------------------- a sound file --

def test_a_new_capacity_file_is_schema_3_with_every_group_in_a_sealed_manifest(runs):
    with h5py.File(runs["A"], "r") as f:
        assert f.attrs["schema_version"] == seals.SCHEMA_VERSION == 3 and f.attrs["kind"] == "relusim capacity"
        m = f["manifest"]
        names = [n.decode() for n in m["group"][()]]
        assert names == ["analysis", "instances/K2/N12", "instances/K2/N8"]
        assert m.attrs["capacity_sha256"] == f.attrs["capacity_sha256"]
        for name, d in zip(names, m["sha256"][()]):
            assert seals.digest_of(f[name]) == d.decode()
        assert '"@K": 2' in f["instances/K2/N8"].attrs["sha256"] and '"@N": 8' in f["instances/K2/N8"].attrs["sha256"]
    assert len(bits(runs["A"])) == 12


def test_info_and_verify_describe_a_capacity_file(runs):
    code, out, err = relusim_here("info", runs["A"], "--verify")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "capacity  exact: exact SAT probability (complete search)"
    assert lines[2].startswith("model     relu / binary   tree   seed 5")
    assert lines[3] == "grid      K 2   N 8, 12   alpha 0.5 .. 1 (2 values)   3 instances per point"
    assert lines[5] == "progress  12/12 instances done  (finished)"
    assert lines[6].startswith("50% point K = 2: N = 8 ") and ", N = 12 " in lines[6]
    assert lines[-1] == "verified  2/2 instance groups and the analysis, sealed by the manifest"


# ------------------------------------------------------------------------------ tampering --

def _edit_status(f, runs):
    d = f["instances/K2/N8/status"]
    a = d[()]
    a[1, 2] = 1 - a[1, 2]
    d[...] = a


def _from_another_plan(f, runs):
    del f["instances/K2/N12"]
    with h5py.File(runs["B"], "r") as g:
        g.copy(g["instances/K2/N12"], f["instances/K2"], name="N12")


def _moved(f, runs):
    del f["instances/K2/N12"]
    f.copy(f["instances/K2/N8"], f["instances/K2"], name="N12")


def _deleted(f, runs):
    del f["instances/K2/N12"]


def _unsealed(f, runs):
    del f["instances/K2/N8"].attrs["sha256"]


def _analysis_edited(f, runs):
    f["analysis/K2/midpoints/alpha50"][0] = 0.5


def _root_edited(f, runs):
    f.attrs["samples"] = 64


def _manifest_edited(f, runs):
    f["manifest"].attrs["capacity_sha256"] = "0" * 64


def _schema_removed(f, runs):
    del f.attrs["schema_version"]


def _stray_group(f, runs):
    f.create_group("instances/K2/extra").create_dataset("status", data=np.ones((2, 3), np.int8))


TAMPERING = {
    "a value edited in the instances": (_edit_status, "instances/K2/N8: checksum mismatch in status"),
    "a group copied from another plan's file": (_from_another_plan,
                                                "instances/K2/N12: comes from a capacity run of another plan"),
    "a group copied over another": (_moved, "instances/K2/N12: is K = 2, N = 8 of its run, stored as K2/N12"),
    "a group deleted": (_deleted, "instances/K2/N12: is listed in the manifest but absent (deleted)"),
    "a group's seal removed": (_unsealed, "instances/K2/N8: carries no checksum"),
    "a value edited in the analysis": (_analysis_edited, "analysis: checksum mismatch in K2/midpoints/alpha50"),
    "a root attribute edited": (_root_edited, "manifest: does not match the root attributes: samples changed"),
    "the manifest edited": (_manifest_edited, "manifest: fails its seal"),
    "schema_version removed": (_schema_removed, "file: schema_version is missing, but the file carries seals"),
    "a stray group among the instances": (_stray_group, "instances/K2/extra: is not a group of instances"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_named_in_one_line_never_used_and_a_resume_restores_the_bits(runs, tmp_path, case):
    tamper, expect = TAMPERING[case]
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"], path)
    with h5py.File(path, "a") as f:
        tamper(f, runs)
    readers_refuse(path, expect)
    code, out, err = run(tmp_path, path)
    assert code == 0, err
    assert expect.split(":")[0] in err and ("dropped" in err or "sealed again" in err), err  # says what it repaired
    assert cap.check_bits(bits(path), bits(runs["A"]))
    code, out, err = relusim_here("info", path, "--verify")
    assert code == 0 and "verified  2/2 instance groups and the analysis" in out, err


def test_only_the_instances_of_a_dropped_group_run_again(runs, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"], path)
    with h5py.File(path, "a") as f:
        _edit_status(f, runs)
    code, out, err = run(tmp_path, path)
    assert code == 0 and "12 instances (6 run now)" in out, err  # K = 2, N = 8: 2 alphas x 3 instances


def test_a_resume_on_the_file_of_another_plan_is_refused_and_changes_nothing(runs, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(runs["B"], path)
    before = path.read_bytes()
    code, out, err = run(tmp_path, path, seed=5)
    assert code == 2 and "--out" in one_line(err) and "holds a capacity run of another config or method" in err
    assert path.read_bytes() == before and out == ""


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.05])
def test_a_truncated_file_is_named_in_one_line_and_a_resume_refuses_it(runs, tmp_path, keep):
    path = tmp_path / "t.h5"
    data = runs["A"].read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    for argv in (("info", path), ("info", path, "--verify")):
        code, _, err = relusim_here(*argv)
        assert code == 1 and "does not open as HDF5" in one_line(err) and "truncated" in err, err
    with pytest.raises(DataError, match="does not open as HDF5"):
        cap.load_records(path)
    code, _, err = run(tmp_path, path)
    assert code == 2 and "exists but is not a readable HDF5 file" in one_line(err) and "--overwrite" in err
    code, out, err = run(tmp_path, path, 5, 3, "--overwrite")
    assert code == 0 and cap.check_bits(bits(path), bits(runs["A"])), err


# ------------------------------------------------------------------------ random byte flips --

def _data_offsets(path) -> list[int]:
    """Bytes inside the storage of some dataset (chunked or contiguous)."""
    out = []
    with h5py.File(path, "r") as f:
        def visit(_, obj):
            if isinstance(obj, h5py.Dataset):
                if obj.chunks:
                    for i in range(obj.id.get_num_chunks()):
                        ci = obj.id.get_chunk_info(i)
                        out.extend(range(ci.byte_offset, ci.byte_offset + ci.size))
                elif obj.id.get_offset() is not None:
                    out.extend(range(obj.id.get_offset(), obj.id.get_offset() + obj.id.get_storage_size()))
        f.visititems(visit)
    return out


@pytest.mark.slow
def test_random_byte_flips_end_in_one_line_or_change_nothing_read(runs, tmp_path, seed=28):
    """12 flips inside datasets' storage and 12 anywhere, one per copy: every reader refuses in one
    line, or none does and nothing read differs; a resume then restores the bits or asks for --overwrite."""
    original = runs["A"]
    truth = bits(original)
    rng = random.Random(seed)
    inside = _data_offsets(original)
    size = original.stat().st_size
    detected = 0
    for offset in [rng.choice(inside) for _ in range(12)] + [rng.randrange(size) for _ in range(12)]:
        path = tmp_path / f"flip_{offset}.h5"
        data = bytearray(original.read_bytes())
        data[offset] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(data))
        codes = []
        for argv in (("info", path), ("info", path, "--verify")):
            code, _, err = relusim_here(*argv)
            assert code in (0, 1, 2), (offset, argv, err)
            if code:
                one_line(err)
            codes.append(code)
        try:
            loaded = bits(path)
            codes.append(0)
        except (DataError, InputError) as exc:
            assert "\n" not in str(exc)
            codes.append(1)
        if all(codes):
            detected += 1
        else:  # an undetected flip (free space, padding): nothing read may differ
            assert codes == [0, 0, 0] and cap.check_bits(loaded, truth), (offset, codes)
        code, _, err = run(tmp_path, path)
        if code == 0:
            assert cap.check_bits(bits(path), truth), (offset, err)
        else:  # the HDF5 structure itself is lost: one line pointing to --overwrite
            assert code in (1, 2) and "--overwrite" in one_line(err), (offset, err)
    assert detected >= 12  # every flip inside a dataset is found


# ------------------------------------------------------------------------------ the journal --

def test_the_journal_skips_a_torn_last_line_and_lines_that_are_not_json_objects(tmp_path):
    j = Journal(tmp_path / "x.parts" / "instances.jsonl")
    j.append('{"sha": "a", "i": 0}')
    j.append('{"sha": "a", "i": 1}')
    j.close()
    with open(j.path, "ab") as fh:
        fh.write(b'[1, 2]\n\xff\xfe not text\n{"sha": "a", "i"')  # a foreign line, bytes, a torn last line
    assert [d["i"] for d in j.read()] == [0, 1]
    j.remove()
    assert not j.path.exists() and not j.path.parent.exists()


def test_a_resume_folds_the_journal_in_and_runs_a_torn_lines_instance_again(runs, tmp_path):
    path = tmp_path / "t.h5"
    code, _, err = run(tmp_path, path, samples=2)
    assert code == 0, err
    sha = str(h5py.File(path, "r").attrs["capacity_sha256"])
    extra = [r for r in bits(runs["A"]) if r.i == 2 and r.N == 8]
    assert len(extra) == 2
    journal = capacity_file.journal_path(path)
    journal.parent.mkdir()
    journal.write_text(extra[0].to_json(sha) + "\n" + extra[1].to_json(sha)[:40])  # killed while writing it
    code, out, err = run(tmp_path, path)
    assert code == 0 and "12 instances (3 run now)" in out, err  # 8 done, 1 journalled; the torn one runs again
    assert cap.check_bits(bits(path), bits(runs["A"])) and not journal.exists()


# ---------------------------------------------------------------------------- older files --

def test_a_capacity_file_written_before_seals_is_read_and_says_so(tmp_path):
    path = tmp_path / "old.h5"
    shutil.copy(LEGACY, path)
    with h5py.File(path, "r") as f:
        assert "schema_version" not in f.attrs and "manifest" not in f and "sha256" not in f["instances/K2/N8"].attrs
    code, out, err = relusim_here("info", path, "--verify")
    assert code == 0, err
    assert "seals     none: written before capacity files were sealed (schema 1)" in out
    assert "verified  2/2 instance groups and the analysis, written before capacity files were sealed" in out
    assert "progress  12 instances done  (finished)" in out
    attrs, records = cap.load_records(path)
    assert len(records) == 12 and attrs["method"] == "exact"


def test_a_resume_seals_an_older_capacity_file_with_the_same_bits(runs, tmp_path):
    path = tmp_path / "old.h5"
    shutil.copy(LEGACY, path)
    before = bits(path)
    code, out, err = run(tmp_path, path)
    assert code == 0 and "12 instances (0 run now)" in out, err
    assert "written before capacity files were sealed (schema 1)" in one_line(err)
    assert cap.check_bits(bits(path), before) and cap.check_bits(before, bits(runs["A"]))
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == 3 and "manifest" in f
    code, out, err = relusim_here("info", path, "--verify")
    assert code == 0 and "sealed by the manifest" in out, err


def test_tampering_with_an_older_file_that_leaves_a_seal_is_caught(tmp_path):
    path = tmp_path / "old.h5"
    shutil.copy(LEGACY, path)
    with h5py.File(path, "a") as f:  # a sealed group copied into an unsealed file
        seals.seal_bound(f["instances/K2/N8"], {"capacity_sha256": "0" * 64, "K": 2, "N": 8})
    code, _, err = relusim_here("info", path, "--verify")
    assert code == 1 and "schema_version is missing, but the file carries seals" in one_line(err)
