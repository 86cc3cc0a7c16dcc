"""A result file proves its own integrity (issue 27, item 3): schema 3, samples bound to their file.

Each sample's seal covers its index, the file's seed and config hash; a sealed root manifest lists
every finished sample and the root attributes. Every tampering below is named in one line by
``info --verify``, ``compare``, ``robustness`` and ``relusim.load`` (exit 1, no traceback), and a
resume drops what fails, runs it again and ends with the bits of an untampered run. Random byte flips
anywhere in the file (its HDF5 metadata included) end in one line or change nothing that is read.
Files written before schema 3 (``tests/data/legacy_v2.h5``, written by relusim at 0eaffa1) stay
readable, and a resume upgrades them.

The commands run in this process (``relusim.cli.main.main``: an exception other than SystemExit is a
traceback and fails the test); one test runs the real command line in a subprocess.
"""
import copy
import random
import shutil
import time
from pathlib import Path

import h5py
import pytest
import yaml

import relusim
from relusim.storage import results
from relusim.errors import DataError, InputError

from cli_helpers import BASE, relusim as relusim_subprocess, relusim_here

LEGACY = Path(__file__).parent / "data" / "legacy_v2.h5"  # 3 samples and /robustness, schema 2
LEGACY_CONFIG = {"name": "legacy-v2", "seed": 3, "samples": 3,
                 "model": {"activation": "relu", "weights": "binary", "N": 40, "K": 4, "alpha": 0.3},
                 "anneal": {"sampler": "metropolis", "beta": {"start": 1.0, "stop": 8.0, "schedule": "geometric"},
                            "sweeps": 400, "record_every": 20}}
ROBUSTNESS = ("--flips", "0:0.5:0.25", "--trials", "2", "--weight-noise", "none", "--over", "all", "--quiet")


def config(d: Path, output: str, **changes) -> dict:
    c = copy.deepcopy(BASE)
    c["output"] = str(d / output)
    for key, value in changes.items():
        node = c
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return c


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def sample_bits(path) -> dict:
    """Every dataset and attribute (but wall_s) of every sample, and the manifest's entries."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.str, obj.shape, obj[()].tobytes())
            out[name + "@"] = {k: repr(v) for k, v in obj.attrs.items() if k != "wall_s"}
        f["samples"].visititems(visit)
        if "manifest" in f:
            out["manifest"] = (f["manifest/index"][()].tolist(), f["manifest/sha256"][()].tolist())
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A (seed 3, alpha 0.3), B (seed 4) and C (alpha 0.35): 3 samples each, finished."""
    d = tmp_path_factory.mktemp("runs")
    out = {}
    for key, changes in (("A", {}), ("B", {"seed": 4}), ("C", {"model__alpha": 0.35})):
        c = config(d, f"{key}.h5", **changes)
        relusim.run(c, quiet=True)
        out[key] = c
    return out


def readers_refuse(path: Path, tmp: Path, expect: str) -> None:
    """info --verify, compare, robustness (on a copy) and load: one line naming ``expect``, exit 1."""
    copy_ = tmp / f"copy_of_{path.name}"
    shutil.copy(path, copy_)
    for argv in (("info", path, "--verify"), ("compare", path, "--no-plot"),
                 ("robustness", copy_, *ROBUSTNESS, "--plot", tmp / "r.png")):
        code, _, err = relusim_here(*argv)
        assert code == 1, (argv, err)
        assert expect in one_line(err), (argv, err)
    assert not (tmp / "r.png").exists()
    with pytest.raises(DataError) as exc:
        relusim.load(path)
    assert expect in str(exc.value) and "\n" not in str(exc.value)


def resume(c: dict, path: Path, tmp: Path) -> str:
    c = dict(c, output=str(path))
    conf = tmp / "resume.yaml"
    conf.write_text(yaml.safe_dump(c))
    code, _, err = relusim_here("anneal", "--config", conf, "--quiet", "--workers", 1)
    assert code == 0, err
    assert "Traceback" not in err
    return err


# --------------------------------------------------------------------------- a sound file --

def test_a_new_file_is_schema_3_with_a_sealed_manifest(runs, tmp_path):
    path = Path(runs["A"]["output"])
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == results.SCHEMA_VERSION == 3
        assert f["manifest/index"][()].tolist() == [0, 1, 2]
        m = f["manifest"].attrs
        assert (m["seed"], m["config_sha256"]) == (3, f.attrs["config_sha256"])
        for i, d in zip(f["manifest/index"][()], f["manifest/sha256"][()]):
            assert results.digest_of(f["samples"][f"{i:06d}"]) == d.decode()
    code, out, err = relusim_here("info", path, "--verify")
    assert code == 0, err
    assert "verified  3/3 samples, sealed by the manifest" in out
    assert len(relusim.load(path).samples) == 3


# ------------------------------------------------------------------------------ tampering --

def _copy_sample_from(src_key):
    def tamper(f, runs):
        del f["samples/000001"]
        with h5py.File(runs[src_key]["output"], "r") as s:
            s.copy(s["samples/000001"], f["samples"], name="000001")
    return tamper


def _duplicate(f, runs):
    del f["samples/000002"]
    f.copy(f["samples/000001"], f["samples"], name="000002")


def _delete(f, runs):
    del f["samples/000001"]


def _unseal_and_edit(f, runs):
    g = f["samples/000001"]
    del g.attrs["sha256"]
    w = g["weights"][()]
    w[0, :3] *= -1
    g["weights"][...] = w


def _config_unsealed_and_edited(f, runs):
    del f.attrs["config_text_sha256"]
    f.attrs["config"] = f.attrs["config"].replace("alpha: 0.3", "alpha: 0.35")


def _manifest_edited(f, runs):
    d = f["manifest/sha256"][()]
    d[1] = d[0]
    f["manifest/sha256"][...] = d


def _manifest_resealed_without_a_sample(f, runs):
    """A manifest rewritten and sealed consistently, but without sample 2: the group is unlisted."""
    entries = dict(zip(f["manifest/index"][()].tolist(), (d.decode() for d in f["manifest/sha256"][()])))
    del entries[2]
    results.write_manifest(f, entries)


def _root_seed_edited(f, runs):
    f.attrs["seed"] = 4


def _schema_removed(f, runs):
    del f.attrs["schema_version"]
    del f["manifest"]


TAMPERING = {
    "a sample copied from a run of another seed": (_copy_sample_from("B"), "sample 1: comes from a run of seed 4"),
    "a sample copied from a run of another alpha": (_copy_sample_from("C"),
                                                    "sample 1: comes from a run of another config"),
    "a sample duplicated over another": (_duplicate, "sample 2: is sample 1 of its run, stored as sample 2"),
    "a sample group deleted": (_delete, "sample 1: is listed in the manifest but absent (deleted)"),
    "a sample's sha256 removed, then edited": (_unseal_and_edit, "sample 1: carries no checksum"),
    "config_text_sha256 removed, config edited": (_config_unsealed_and_edited,
                                                  "config: carries no checksum (config_text_sha256 is missing"),
    "the manifest edited": (_manifest_edited, "manifest: fails its seal"),
    "the manifest resealed without a sample": (_manifest_resealed_without_a_sample,
                                               "sample 2: is not in the manifest"),
    "the root seed edited": (_root_seed_edited, "manifest: does not match the root attributes: seed changed"),
    "schema_version and manifest removed": (_schema_removed, "file: schema_version is missing"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_named_in_one_line_never_used_and_a_resume_restores_the_bits(runs, tmp_path, case):
    tamper, expect = TAMPERING[case]
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"]["output"], path)
    with h5py.File(path, "a") as f:
        tamper(f, runs)
    readers_refuse(path, tmp_path, expect)
    err = resume(runs["A"], path, tmp_path)
    assert err.strip(), "a resume says what it dropped or restored"
    assert sample_bits(path) == sample_bits(runs["A"]["output"])
    assert relusim_here("info", path, "--verify")[0] == 0
    with h5py.File(path, "r") as f:  # the provenance restored from the run's config where it was changed
        assert yaml.safe_load(f.attrs["config"])["model"]["alpha"] == 0.3
        assert f.attrs["seed"] == 3 and f.attrs["finished"] and f.attrs["samples_done"] == 3


def test_the_real_command_line_names_a_deleted_sample_in_one_line(runs, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"]["output"], path)
    with h5py.File(path, "a") as f:
        del f["samples/000002"]
    for argv in (("info", path, "--verify"), ("compare", path, "--no-plot"), ("robustness", path, *ROBUSTNESS)):
        code, _, err = relusim_subprocess(*argv)
        assert code == 1 and "sample 2: is listed in the manifest but absent (deleted)" in one_line(err), err


def test_a_shard_of_another_seed_is_removed_and_its_sample_run_again(runs, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"]["output"], path)
    with h5py.File(path, "a") as f:
        _delete(f, runs)
    parts = Path(str(path) + ".parts")
    parts.mkdir()
    with h5py.File(runs["B"]["output"], "r") as src, h5py.File(parts / "000001.h5", "w") as dst, \
            h5py.File(path, "r") as own:
        dst.attrs["config_sha256"] = own.attrs["config_sha256"]  # passed off as a shard of this run
        src.copy(src["samples/000001"], dst.require_group("samples"), name="000001")
    err = resume(runs["A"], path, tmp_path)
    assert "000001.h5" in err and "comes from a run of seed 4" in err
    assert sample_bits(path) == sample_bits(runs["A"]["output"])


def test_a_shard_written_before_schema_3_is_checked_then_sealed_when_merged(runs, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"]["output"], path)
    with h5py.File(path, "a") as f:
        _delete(f, runs)
    parts = Path(str(path) + ".parts")
    parts.mkdir()
    with h5py.File(runs["A"]["output"], "r") as src, h5py.File(parts / "000001.h5", "w") as dst:
        dst.attrs["config_sha256"] = src.attrs["config_sha256"]
        src.copy(src["samples/000001"], dst.require_group("samples"), name="000001")
        results.seal(dst["samples/000001"])  # the seal of a shard left by relusim before schema 3
    err = resume(runs["A"], path, tmp_path)
    assert "000001.h5" not in err  # kept, not run again
    assert sample_bits(path) == sample_bits(runs["A"]["output"])


def test_merge_drops_a_deleted_sample_and_refuses_a_damaged_root(runs, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"]["output"], path)
    with h5py.File(path, "a") as f:
        _delete(f, runs)
    code, _, err = relusim_here("merge", path)
    assert code == 1 and "sample 1" in err and "Traceback" not in err
    assert relusim_here("info", path, "--verify")[0] == 0  # consistent again: 2 samples, 1 missing
    with h5py.File(path, "a") as f:
        f.attrs["host"] = "elsewhere"
    code, _, err = relusim_here("merge", path)
    assert code == 1 and "host changed after it was sealed" in one_line(err)


def test_a_file_of_a_newer_schema_is_refused_in_one_line(runs, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"]["output"], path)
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 4
    code, _, err = relusim_here("info", path, "--verify")
    assert code == 1 and "written by a newer relusim" in one_line(err)


# ------------------------------------------------------------------------------ robustness --

def test_robustness_is_bound_to_the_samples_it_measured_and_survives_their_rerun(runs, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(runs["A"]["output"], path)
    code, _, err = relusim_here("robustness", path, *ROBUSTNESS, "--plot", tmp_path / "r.png")
    assert code == 0, err
    with h5py.File(path, "r") as f:
        assert "@basis" in f["robustness"].attrs["sha256"] and "robustness" not in set(
            f["manifest"].attrs["root_sha256"])  # outside the manifest, bound by its own seal
    assert relusim_here("info", path, "--verify")[0] == 0
    with h5py.File(path, "a") as f:
        _delete(f, runs)
    code, out, err = relusim_here("info", path, "--verify")
    assert code == 1 and "sample 1: is listed in the manifest but absent" in one_line(err)
    assert "/robustness: measured sample 1, which the file does not hold" in out
    resume(runs["A"], path, tmp_path)  # the same bits again: /robustness holds again, nothing remeasured
    assert relusim_here("info", path, "--verify")[0] == 0
    code, out, _ = relusim_here("robustness", path, *ROBUSTNESS, "--plot", tmp_path / "r.png")
    assert code == 0 and "up to date" in out
    with h5py.File(path, "a") as f:  # a curve edited: its own seal fails
        e = f["robustness/input_flip/error"][()]
        f["robustness/input_flip/error"][...] = e + 0.25
    code, _, err = relusim_here("compare", path, "--no-plot")
    assert code == 1 and "/robustness: checksum mismatch in input_flip/error" in one_line(err)
    code, out, err = relusim_here("robustness", path, *ROBUSTNESS, "--plot", tmp_path / "r.png")
    assert code == 0 and "written in" in out, err  # measured again, not taken from the damaged group
    assert relusim_here("info", path, "--verify")[0] == 0


# ------------------------------------------------------------------------ random byte flips --

def _data_extents(path) -> list[tuple[int, int]]:
    ext = []
    with h5py.File(path, "r") as f:
        def visit(_, obj):
            if isinstance(obj, h5py.Dataset):
                if obj.chunks:
                    for i in range(obj.id.get_num_chunks()):
                        ci = obj.id.get_chunk_info(i)
                        ext.append((ci.byte_offset, ci.byte_offset + ci.size))
                elif obj.id.get_offset() is not None:
                    ext.append((obj.id.get_offset(), obj.id.get_offset() + obj.id.get_storage_size()))
        f.visititems(visit)
    return ext


def _flips(path, n: int, seed: int) -> list[tuple[str, int, int]]:
    size = Path(path).stat().st_size
    ext = _data_extents(path)
    rng = random.Random(seed)
    meta = [o for o in range(size) if not any(a <= o < b for a, b in ext)]
    return ([("metadata", rng.choice(meta), rng.randrange(1, 256)) for _ in range(n)]
            + [("anywhere", rng.randrange(size), rng.randrange(1, 256)) for _ in range(n)])


def _loaded(path) -> dict:
    r = relusim.load(path)
    r.summary()
    return {(s.name, k): getattr(s, k).tobytes() for s in r.samples
            for k in ("patterns", "labels", "weights", "energy", "stabilities")}


@pytest.mark.slow
def test_random_byte_flips_end_in_one_line_or_change_nothing_read(runs, tmp_path, seed=27):
    """12 flips in HDF5 metadata (outside every dataset's storage) and 12 anywhere, one per copy."""
    original = Path(runs["A"]["output"])
    truth = _loaded(original)
    detected = 0
    for kind, offset, mask in _flips(original, 12, seed):
        path = tmp_path / f"flip_{offset}.h5"
        data = bytearray(original.read_bytes())
        data[offset] ^= mask
        path.write_bytes(bytes(data))
        copy_ = tmp_path / "copy.h5"
        shutil.copy(path, copy_)
        codes = []
        for argv in (("info", path, "--verify"), ("compare", path, "--no-plot"),
                     ("robustness", copy_, *ROBUSTNESS, "--plot", tmp_path / "r.png")):
            code, _, err = relusim_here(*argv)
            assert code in (0, 1, 2), (kind, offset, argv, err)
            if code:
                one_line(err)
            codes.append(code)
        try:
            loaded = _loaded(path)
            codes.append(0)
        except (DataError, InputError) as exc:
            assert "\n" not in str(exc)
            codes.append(1)
        if all(codes):
            detected += 1
        else:  # an undetected flip (free space, padding): nothing read may differ, and no reader refuses
            assert codes == [0, 0, 0, 0] and loaded == truth, (kind, offset, codes)
        c = dict(runs["A"], output=str(path))
        conf = tmp_path / "resume.yaml"
        conf.write_text(yaml.safe_dump(c))
        code, _, err = relusim_here("anneal", "--config", conf, "--quiet", "--workers", 1)
        if code == 0:
            assert sample_bits(path) == sample_bits(original), (kind, offset, err)
        else:  # the HDF5 structure itself is lost: one line pointing to --overwrite
            assert code in (1, 2) and "--overwrite" in one_line(err), (kind, offset, err)
        shutil.rmtree(str(path) + ".parts", ignore_errors=True)
    assert detected >= 4  # the flips that hit something read are found


# ------------------------------------------------------------------------ older files --

def test_a_file_written_before_schema_3_stays_readable(tmp_path):
    path = tmp_path / "legacy.h5"
    shutil.copy(LEGACY, path)
    with h5py.File(path, "r") as f:
        assert "schema_version" not in f.attrs and "manifest" not in f
    code, out, err = relusim_here("info", path, "--verify")
    assert code == 0, err
    assert "verified  3/3 samples (schema 2: written before manifests" in out
    res = relusim.load(path)
    assert len(res.samples) == 3 and res.summary()["solved"].all()
    assert res.sample(1).weights.shape == (1, 40) and "machine" in res.robustness()["input_flip"]
    code, out, err = relusim_here("compare", path, "--no-plot")
    assert code == 0 and "legacy-v2" in out, err


def test_a_resume_upgrades_an_older_file_to_schema_3_with_the_same_bits(tmp_path):
    path = tmp_path / "legacy.h5"
    shutil.copy(LEGACY, path)
    before = sample_bits(path)
    err = resume(dict(LEGACY_CONFIG), path, tmp_path)
    assert "written before schema 3 (schema 2)" in err
    after = sample_bits(path)
    for key, value in before.items():  # the datasets and attributes, but the seals now bound
        if key.endswith("@"):
            value = {k: v for k, v in value.items() if k != "sha256"}
            assert {k: v for k, v in after[key].items() if k != "sha256"} == value, key
        else:
            assert after[key] == value, key
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == 3 and f["manifest/index"][()].tolist() == [0, 1, 2]
        assert "@basis" in f["robustness"].attrs["sha256"]  # kept, now bound to the samples it measured
    code, out, err = relusim_here("info", path, "--verify")
    assert code == 0 and "sealed by the manifest" in out, err


@pytest.mark.parametrize("case", ["unsealed and edited", "another seed", "moved", "config unsealed"])
def test_tampering_with_an_older_file_is_still_caught(tmp_path, case):
    path = tmp_path / "legacy.h5"
    shutil.copy(LEGACY, path)
    with h5py.File(path, "a") as f:
        if case == "unsealed and edited":
            _unseal_and_edit(f, None)
            expect = "sample 1: carries no checksum"
        elif case == "another seed":
            g = f["samples/000001"]
            g.attrs["seed_entropy"] = 4
            results.seal(g)  # resealed by hand in the old way: the seed still does not match the file's
            expect = "sample 1: comes from a run of seed 4"
        elif case == "moved":
            del f["samples/000002"]
            f.copy(f["samples/000001"], f["samples"], name="000002")
            expect = "sample 2: is sample 1 of its run"
        else:
            _config_unsealed_and_edited(f, None)
            expect = "config: carries no checksum"
    code, _, err = relusim_here("info", path, "--verify")
    assert code == 1 and expect in one_line(err)
    with pytest.raises(DataError, match=expect.split(":")[0]):
        relusim.load(path)


def test_a_file_written_before_checksums_is_read_and_says_so(tmp_path):
    path = tmp_path / "schema1.h5"
    shutil.copy(LEGACY, path)
    with h5py.File(path, "a") as f:  # the layout of the first releases: no checksum anywhere
        del f.attrs["config_text_sha256"], f["robustness"]
        for g in f["samples"].values():
            del g.attrs["sha256"]
    code, out, err = relusim_here("info", path, "--verify")
    assert code == 0, err
    assert "schema 1: written before checksums" in out
    assert len(relusim.load(path).samples) == 3


def test_a_resealed_alias_bomb_in_the_stored_config_is_refused_in_one_line_at_once(runs, tmp_path):
    """A file whose stored config is a YAML alias bomb (10^9 nodes), with its checksum and manifest
    resealed (SHA-256 is unkeyed: anyone can reseal): every reader parses the stored config with the
    config files' loader and refuses it in one line, instead of exhausting memory."""
    path = tmp_path / "bomb.h5"
    shutil.copy(runs["A"]["output"], path)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)) + "model: {activation: *i, K: 4}\n"
    with h5py.File(path, "a") as f:
        entries = dict(zip(f["manifest/index"][()].tolist(), (d.decode() for d in f["manifest/sha256"][()])))
        f.attrs["config"] = bomb
        f.attrs["config_text_sha256"] = results.text_digest(bomb)
        results.write_manifest(f, entries)
    start = time.monotonic()
    readers_refuse(path, tmp_path, "its stored config is unreadable")
    assert relusim_here("info", path)[0] == 1
    assert time.monotonic() - start < 60
