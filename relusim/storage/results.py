"""HDF5 result files (CONTRACT.md) that survive a kill at any moment.

HDF5 itself is not crash-safe: a process killed while it writes can leave a file that no longer
opens. So nothing here ever writes into the live result file in place:

* a finished sample is first written whole to its own *shard*, ``<output>.parts/NNNNNN.h5``, through
  a temporary file, ``fsync`` and an atomic ``os.replace``;
* shards are merged into the result file copy-on-write: copy, append, ``fsync``, ``os.replace``.

At every instant the result file is a complete, readable file, and every finished sample is either
in it or in a complete shard. Resuming merges the shards left over and runs the samples missing.
The same shards are what a cluster's array tasks write (``relusim merge``).

A result file proves its own integrity (schema 3, CONTRACT.md): each sample's seal is bound to its
index, the file's seed and config hash, and a sealed root manifest lists every finished sample's
digest and a digest of every root attribute. ``audit`` checks all of it; every reader goes through
``open_results`` (or ``ResultsFile``), so a deleted, duplicated, foreign or unsealed sample is named
in one line and never used, and ``repair`` (a resume, a merge) drops it and the run computes it again.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from ..config import Config, parse_yaml
from . import lock, seals
from .seals import (DIGEST_ATTR, MANIFEST, SCHEMA_ATTR, SCHEMA_VERSION, check_digest, check_group, digest_of,
                    load_digest, seal, seal_bound, text_digest)
from ..errors import DataError, InputError, RunError

SAMPLE_FMT = "{:06d}"
_COMPRESS = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
_SHARD = re.compile(r"^(\d{6})\.h5$")
_TEMP = re.compile(r"^\.(?P<name>.+)~(?P<host>[^~]*)~(?P<pid>\d+)(?:~[^~]*)?\.tmp$")
_LEGACY_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(?:\.robustness)?\.tmp$")


def parts_dir(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".parts")


def temp_path(dst: str | os.PathLike, tag: str = "") -> Path:
    """``.<name>~<host>~<pid>[~tag].tmp`` beside ``dst``: a rerun can tell whether its writer still lives."""
    dst = Path(dst)
    host = platform.node().replace("~", "_")
    return dst.with_name(f".{dst.name}~{host}~{os.getpid()}{'~' + tag if tag else ''}.tmp")


def _fsync_replace(tmp: Path, dst: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dst)
    try:
        dfd = os.open(dst.parent, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
    except OSError:
        pass


def note(message: str) -> None:
    """A line for the person running the command (what a rerun cleaned or repaired), on stderr."""
    print(f"relusim: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ disk full --


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC (or EDQUOT) from the OS, or HDF5's write failure that wraps it."""
    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if e is not None and ("No space left" in str(e) or "Disk quota" in str(e)):
            return True
    return False


def disk_full_error(where: str | os.PathLike, kept: str) -> RunError:
    """The one line for a full disk: where, how much is free, what is kept, how much to free."""
    where = Path(where)
    probe = where if where.is_dir() else where.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        free = 0
    need = merge_space(where) if where.suffix in (".h5", ".hdf5") else 0
    hint = f"; a merge needs about {_mb(need)} free" if need else ""
    return RunError(f"no space left on the device of {probe} ({_mb(free)} free); {kept}{hint}: "
                    "free space, then rerun the same command")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def merge_space(path: str | os.PathLike) -> int:
    """Bytes a copy-on-write merge of ``path`` needs free: a copy of the file plus its shards."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    d = parts_dir(path)
    shards = sum(p.stat().st_size for p in d.glob("*.h5")) if d.is_dir() else 0
    return size + shards + (64 << 10)


def check_space(path: str | os.PathLike, need: int) -> None:
    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        return
    if free < need:
        raise RunError(f"not enough space to merge into {path}: {_mb(need)} needed (a copy of the file "
                       f"plus its shards), {_mb(free)} free; free space, then rerun the same command "
                       "(every finished sample is kept)")


# ------------------------------------------------------------------------------ checksums --
#
# Schema 3 (``schema_version`` on the root; the seals themselves: ``relusim.storage.seals``): every
# sample's digest is bound to its index, the file's seed and config hash; a sealed root manifest
# lists the index and digest of every finished sample and a digest of every root attribute. Files without ``schema_version`` were written before
# it: schema 2 when they carry checksums (``config_text_sha256``, a sample's ``sha256``), else 1.

# /manifest (``seals.write_manifest``): datasets index (n,) int64, sha256 (n,) S64; attrs below, sealed by sha256
_MANIFEST_HEADER = ("schema_version", "seed", "config_sha256", "config_text_sha256")  # and root_sha256
_SAMPLE_NAME = re.compile(r"^\d{6}$")


def seal_sample(g: h5py.Group, index: int, seed: int, config_sha256: str) -> str:
    """Seal a sample group to its index, the seed and the config hash of its run; returns its digest."""
    return seal_bound(g, {"index": int(index), "seed": int(seed), "config_sha256": str(config_sha256)})


def _short(sha) -> str:
    return str(sha)[:12]


def check_sample(g: h5py.Group, index: int, seed, config_sha256, schema: int = SCHEMA_VERSION,
                 deep: bool = True) -> str | None:
    """None if ``g`` is a good sample ``index`` of a run of ``seed`` and ``config_sha256``; else what is wrong.

    Schema 3: the seal must exist and be bound to exactly this index, seed and config. Schema 2: the
    seal must exist; its ``index`` and ``seed_entropy`` attributes must agree. Schema 1: those
    attributes only (nothing else to check against).
    """
    try:
        digest = load_digest(g)
        if digest is None and schema >= 2:
            return "carries no checksum (its sha256 is missing: removed, or never sealed)"
        if schema >= 3 and "@index" not in digest:
            return "is sealed without its index, seed and config (a sample of a file written before schema 3)"
        if digest is not None and "@index" in digest:
            if digest["@index"] != index:
                return f"is sample {digest['@index']} of its run, stored as sample {index} (moved or duplicated)"
            if seed is not None and digest.get("@seed") != int(seed):
                return (f"comes from a run of seed {digest.get('@seed')}, not this file's seed {int(seed)} "
                        "(copied from another file)")
            if config_sha256 is not None and digest.get("@config_sha256") != str(config_sha256):
                return (f"comes from a run of another config (config_sha256 {_short(digest.get('@config_sha256'))}, "
                        f"not this file's {_short(config_sha256)}; copied from another file)")
        else:
            own = g.attrs.get("index")
            if own is not None and int(own) != index:
                return f"is sample {int(own)} of its run, stored as sample {index} (moved or duplicated)"
            ent = g.attrs.get("seed_entropy")
            if seed is not None and ent is not None and int(ent) != int(seed):
                return f"comes from a run of seed {int(ent)}, not this file's seed {int(seed)} (copied from another file)"
        # not deep: the binding above, and the manifest's digest of the seal (the caller's), only
        return None if digest is None or not deep else check_digest(g, digest)
    except Exception as exc:  # noqa: BLE001 - damaged metadata of any kind
        return f"unreadable ({type(exc).__name__})"


def write_manifest(f: h5py.File, entries: dict[int, str]) -> None:
    """(Re)write ``/manifest`` of an open result file from ``entries`` {index: digest}, sealed over the
    current root attributes (``seals.write_manifest``): call it last, after every other change."""
    f.attrs[SCHEMA_ATTR] = SCHEMA_VERSION
    f.attrs["samples_done"] = len(entries)
    seals.write_manifest(f, entries, {"schema_version": SCHEMA_VERSION, "seed": int(f.attrs["seed"]),
                                      "config_sha256": str(f.attrs["config_sha256"]),
                                      "config_text_sha256": str(f.attrs["config_text_sha256"])})


def read_manifest(f: h5py.File) -> tuple[dict[int, str] | None, list[str]]:
    """({index: digest} of a manifest whose seal holds, else None; [what is wrong with it or with the
    root attributes it seals])."""
    return seals.read_manifest(f, _MANIFEST_HEADER)


def _basis(seed, config_sha256, digests: dict[int, str]) -> str:
    """What a derived group (``/robustness``) was computed from: the file's seed, config and the
    digests of the samples it measured."""
    h = hashlib.sha256(f"{int(seed)} {config_sha256}\n".encode())
    for i in sorted(digests):
        h.update(f"{int(i)} {digests[i]}\n".encode())
    return h.hexdigest()


def seal_derived(f: h5py.File, g: h5py.Group) -> None:
    """Seal ``/robustness`` (``g``, with its ``samples`` dataset): schema 3 binds it to the digests of
    the samples it measured (it stays outside the manifest); older files get the schema-2 seal."""
    if schema_of(f)[0] < SCHEMA_VERSION:
        seal(g)
        return
    idx = [int(i) for i in g["samples"][()]]
    digests = {i: digest_of(f["samples"][SAMPLE_FMT.format(i)]) for i in idx}
    seal_bound(g, {"basis": _basis(f.attrs["seed"], f.attrs["config_sha256"], digests)})


def schema_of(f: h5py.File, names: list[str] | None = None) -> tuple[int, list[str]]:
    """(the schema a file follows, [what is wrong with its schema_version]). A file of schema 3 whose
    ``schema_version`` was removed or lowered is still read as schema 3 (and reported)."""
    declared = seals.declared_schema(f)
    if declared is not None:
        return declared
    samples = f["samples"]
    names = list(samples) if names is None else names
    sealed = [samples[n].attrs.get(DIGEST_ATTR) for n in names]
    if MANIFEST in f or any(s is not None and '"@index"' in str(s) for s in sealed):
        return SCHEMA_VERSION, ["schema_version is missing, but the file carries schema-3 seals (removed?)"]
    if "config_text_sha256" in f.attrs or any(s is not None for s in sealed):
        return 2, []
    return 1, []


class Audit:
    """What ``audit`` found in an open result file."""

    def __init__(self):
        self.schema = SCHEMA_VERSION
        self.fatal: str | None = None  # the file cannot be read as a result file at all
        self.root: list[tuple[str, str]] = []  # schema, config, manifest, root attributes
        self.bad: dict[int | str, str] = {}  # sample groups that must not be used
        self.deleted: dict[int, str] = {}  # listed in the manifest, absent
        self.good: dict[int, str | None] = {}  # index -> digest of every sample that verifies
        self.robustness: tuple[str, bool] | None = None  # (problem, its own seal holds: only stale)
        self.notes: list[str] = []
        self.seed = None
        self.config_sha256 = None

    def problems(self, robustness: bool = True) -> list[tuple[str, str]]:
        out = [] if self.fatal is None else [("file", self.fatal)]
        out += self.root
        samples = {**self.bad, **self.deleted}
        for i in sorted(samples, key=lambda k: (isinstance(k, str), k)):
            out.append((f"sample {i}", samples[i]))
        if robustness and self.robustness:
            out.append(("/robustness", self.robustness[0]))
        return out


def audit(f: h5py.File, deep: bool = True, seed=None, config_sha256=None) -> Audit:
    """Check an open result file against its own seals; never raises on damage (DataError only for a
    file of a newer schema). ``seed``/``config_sha256``: what the samples must belong to (a resume
    knows them from its config); by default the root's. ``deep``: hash every dataset (else the seals,
    bindings and manifest only)."""
    a = Audit()
    try:
        samples = f["samples"]
        if not isinstance(samples, h5py.Group):
            raise TypeError("/samples is not a group")
        names = list(samples)
        a.seed = f.attrs.get("seed") if seed is None else seed
        a.config_sha256 = f.attrs.get("config_sha256") if config_sha256 is None else config_sha256
        a.schema, why = schema_of(f, names)
        a.root += [("file", w) for w in why]
        text, digest = f.attrs.get("config"), f.attrs.get("config_text_sha256")
        if text is None:
            a.root.append(("config", "is missing"))
        elif digest is None:
            if a.schema >= 2:
                a.root.append(("config", "carries no checksum (config_text_sha256 is missing: removed?)"))
        elif text_digest(text) != digest:
            a.root.append(("config", "checksum mismatch in the stored config"))
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged metadata
        a.fatal = f"its root or its index of samples is unreadable ({type(exc).__name__})"
        return a
    manifest = None
    if a.schema >= SCHEMA_VERSION:
        manifest, why = read_manifest(f)
        a.root += [("manifest", w) for w in why]
        if manifest is not None:
            try:
                header = f[MANIFEST].attrs
                for key, now in (("seed", a.seed), ("config_sha256", a.config_sha256)):
                    if now is not None and str(header[key]) != str(now):
                        a.root.append(("manifest", f"records {key} {_short(header[key])}, the file says "
                                                   f"{_short(now)}"))
            except Exception as exc:  # noqa: BLE001
                a.root.append(("manifest", f"is unreadable ({type(exc).__name__})"))
    for name in names:
        if not _SAMPLE_NAME.match(name):
            a.bad[name] = "is not a sample (a stray group)"
            continue
        index = int(name)
        try:
            g = samples[name]
            why = (check_sample(g, index, a.seed, a.config_sha256, a.schema, deep)
                   if isinstance(g, h5py.Group) else "is not a group")
            d = digest_of(g) if why is None else None
        except Exception as exc:  # noqa: BLE001
            why, d = f"unreadable ({type(exc).__name__})", None
        if why is None:
            why = seals.against_manifest(manifest, index, d)
        if why is None:
            a.good[index] = d
        else:
            a.bad[index] = why
    if manifest is not None:
        for i in sorted(set(manifest) - {int(n) for n in names if _SAMPLE_NAME.match(n)}):
            a.deleted[i] = "is listed in the manifest but absent (deleted)"
    elif a.schema == 2:
        try:
            done = int(f.attrs.get("samples_done", 0))
        except Exception:  # noqa: BLE001
            done = 0
        if done > len(names):
            a.root.append(("samples", f"{done - len(names)} of the {done} samples recorded as done are missing "
                                      "(deleted?); a file written before schema 3 cannot tell which"))
    if "robustness" in f:
        a.robustness = _check_robustness(f, a)
    return a


def _check_robustness(f: h5py.File, a: Audit) -> tuple[str, bool] | None:
    rerun = "; rerun `relusim robustness` to recompute it"
    try:
        g = f["robustness"]
        if not isinstance(g, h5py.Group):
            return "is not a group" + rerun, False
        digest = load_digest(g)
        if digest is None:
            return (None if a.schema < 2 else ("carries no checksum" + rerun, False))
        why = check_digest(g, digest)
        if why:
            return why + rerun, False
        if "@basis" not in digest:
            return (None if a.schema < SCHEMA_VERSION else
                    ("is not bound to the samples it measured (written before schema 3)" + rerun, False))
        measured = [int(i) for i in g["samples"][()]]
        absent = [i for i in measured if a.good.get(i) is None]
        if absent:
            return (f"measured sample {absent[0]}, which the file does not hold (or not intact); rerun "
                    "`relusim anneal` to recompute the sample, or `relusim robustness` to measure again", True)
        if _basis(a.seed, a.config_sha256, {i: a.good[i] for i in measured}) != digest["@basis"]:
            return "measured other samples than those the file holds (stale)" + rerun, True
    except Exception as exc:  # noqa: BLE001
        return f"unreadable ({type(exc).__name__})" + rerun, False
    return None


def bad_samples(f: h5py.File) -> dict[int | str, str]:
    """{sample index (or group name): what is wrong} over the samples of an open result file: damaged,
    unsealed, foreign, moved, duplicated, or (schema 3) listed in the manifest but deleted."""
    a = audit(f)
    return {**a.bad, **a.deleted}


def _recover_hint(path) -> str:
    return (f"never used; rerun `relusim anneal` with its config on {path} to repair it: what fails is dropped "
            f"and run again (`relusim info --verify {path}` lists every problem)")


def _git_commit() -> tuple[str, bool]:
    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
        return rev or "unknown", dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def provenance(cfg: Config, command: str) -> dict:
    """Root attributes of a result file: the resolved config, versions, git commit, host."""
    import numba

    from .. import __version__

    rev, dirty = _git_commit()
    return {
        "relusim_version": __version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "config": cfg.to_yaml(),
        "config_sha256": cfg.physics_sha256(),
        "seed": cfg.seed,
        "samples": cfg.samples,
        "git_commit": rev,
        "git_dirty": dirty,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "h5py": h5py.__version__,
        "host": platform.node(),
        "finished": False,
    }


def write_sample_group(parent: h5py.Group, res, physics_sha256: str) -> str:
    """Write one SampleResult as ``parent/NNNNNN`` with the datasets of CONTRACT.md, sealed to its
    index, seed and config (``seal_sample``); returns its digest."""
    g = parent.create_group(SAMPLE_FMT.format(res.index))
    g.attrs.update({"index": res.index, "seed_entropy": res.seed_entropy, "status": "complete",
                    "solved": bool(res.solved), "sweeps_done": int(res.sweeps_done), "wall_s": float(res.wall_s)})
    g.attrs.update(res.extra_attrs)
    g.create_dataset("patterns", data=res.patterns.astype(np.int8), **_COMPRESS)
    g.create_dataset("labels", data=res.labels.astype(np.int8))
    g.create_dataset("weights", data=res.weights)
    g.create_dataset("energy", data=res.energy.astype(np.int64))
    g.create_dataset("stabilities", data=res.stabilities.astype(np.float64))
    if res.reference is not None:
        g.create_dataset("reference", data=res.reference)
        g.create_dataset("reference_stabilities", data=res.reference_stabilities.astype(np.float64))
    for key, value in getattr(res, "extra_datasets", {}).items():  # e.g. equilibrium_stabilities
        g.create_dataset(key, data=value, **_COMPRESS)
    t = g.create_group("trace")
    for key, value in res.trace.items():
        t.create_dataset(key, data=value)
    return seal_sample(g, res.index, res.seed_entropy, physics_sha256)


def write_shard(output: str | os.PathLike, res, physics_sha256: str) -> Path:
    """Write one finished sample to ``<output>.parts/NNNNNN.h5`` atomically and return its path.

    The closed file is read back and compared with the sample in memory before it takes its name
    (``_check_written``): on a full disk HDF5 can end a write without an error and leave zeroed
    datasets whose checksums, computed by reading them back, hold.
    """
    d = parts_dir(output)
    d.mkdir(parents=True, exist_ok=True)
    dst = d / (SAMPLE_FMT.format(res.index) + ".h5")
    tmp = temp_path(dst)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["config_sha256"] = physics_sha256
            f.attrs["seed"] = res.seed_entropy
            write_sample_group(f.require_group("samples"), res, physics_sha256)
        _check_written(tmp, res)
        _fsync_replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst


def _check_written(path: Path, res) -> None:
    """Raise OSError unless the sample group in ``path`` holds exactly ``res``'s arrays and its checksums hold."""
    expected = {"patterns": res.patterns.astype(np.int8), "labels": res.labels.astype(np.int8),
                "weights": np.asarray(res.weights), "energy": res.energy.astype(np.int64),
                "stabilities": res.stabilities.astype(np.float64)}
    if res.reference is not None:
        expected["reference"] = np.asarray(res.reference)
        expected["reference_stabilities"] = res.reference_stabilities.astype(np.float64)
    expected.update({k: np.asarray(v) for k, v in getattr(res, "extra_datasets", {}).items()})
    expected.update({f"trace/{k}": np.asarray(v) for k, v in res.trace.items()})
    try:
        with h5py.File(path, "r") as f:
            g = f["samples"][SAMPLE_FMT.format(res.index)]
            problem = check_group(g)
            for name, want in expected.items():
                if problem:
                    break
                got = np.asarray(g[name][()])
                if got.shape != want.shape or (np.ascontiguousarray(got).tobytes()  # bitwise: NaN == NaN
                                               != np.ascontiguousarray(want.astype(got.dtype)).tobytes()):
                    problem = f"{name} differs from the sample computed"
    except Exception as exc:  # noqa: BLE001 - unreadable: the write failed
        problem = f"unreadable ({type(exc).__name__})"
    if problem:
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            free = 0
        code = errno.ENOSPC if free < (1 << 20) else errno.EIO
        raise OSError(code, f"{'No space left' if code == errno.ENOSPC else 'Write failed'}: {path} did not read "
                      f"back as written ({problem})", str(path))


def _writer_gone(tmp: Path, covered: bool) -> tuple[bool, str]:
    """(is the process that wrote ``tmp`` gone?, who it was). ``covered``: we hold the lock its writer held."""
    m = _TEMP.match(tmp.name) or _LEGACY_TEMP.match(tmp.name)
    here = platform.node().replace("~", "_")
    host = m.groupdict().get("host") or here
    pid = int(m.group("pid"))
    who = f"PID {pid} on {host}"
    if host != here:
        return covered, who
    if pid == os.getpid():
        return False, who
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True, who
    except PermissionError:
        return False, who
    return False, who


class ResultsFile:
    """A result file, its shard directory and its locks (``relusim.storage.lock``)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.parts = parts_dir(path)

    # -- ownership -----------------------------------------------------------------------------
    def claim(self, command: str = "", *, tasks: bool = True, shared_tasks: bool = False,
              key: str = "output") -> None:
        """Lock the file for this process: refused (InputError naming the holder) if another holds it."""
        if not shared_tasks:
            lock.acquire(self.path, lock.FILE, key=key, command=command or None)
        if tasks:
            lock.acquire(self.path, lock.TASKS, shared=shared_tasks, key=key, command=command or None)

    def release(self) -> None:
        lock.release(self.path, lock.TASKS)
        lock.release(self.path, lock.FILE)

    # -- creation and checks -------------------------------------------------------------------
    def prepare(self, cfg: Config, command: str, overwrite: bool = False) -> None:
        """Lock the file, create it (or check that an existing one belongs to ``cfg``), clean what dead
        processes left, drop damaged samples (they are run again) and merge leftover shards."""
        self.claim(command)
        if overwrite:
            self.path.unlink(missing_ok=True)
            shutil.rmtree(self.parts, ignore_errors=True)
        self.clean_debris(shards_too=True)
        if self.path.exists():
            try:
                with h5py.File(self.path, "r") as f:
                    sha = f.attrs.get("config_sha256")
            except Exception:  # noqa: BLE001 - not HDF5, or its superblock or root is damaged
                raise InputError("output", str(self.path), "exists but is not a readable relusim HDF5 file "
                                 "(damaged, or another file); use --overwrite or another output") from None
            if sha != cfg.physics_sha256():
                raise InputError("output", str(self.path), "holds a run of a different config; "
                                 "use --overwrite to replace it, or another output path")
            self.repair(cfg)
            if cfg.samples > self.attr("samples", 0):
                self._update_attrs({"samples": cfg.samples})
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_path(self.path)
            try:
                with h5py.File(tmp, "w") as f:
                    f.attrs.update(provenance(cfg, command))
                    f.attrs["config_text_sha256"] = text_digest(f.attrs["config"])
                    f.create_group("samples")
                    write_manifest(f, {})
                _fsync_replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        self.merge_shards(cfg.physics_sha256())

    def attr(self, key, default=None):
        with reading(self.path):
            with h5py.File(self.path, "r") as f:
                return f.attrs.get(key, default)

    def clean_debris(self, shards_too: bool, quiet: bool = False) -> list[Path]:
        """Remove the temporary files of dead writers of this file (and, with ``shards_too``, of its
        shards): a writer on this host is gone when its PID is; one elsewhere when we hold the lock it
        held. Reports each file removed (not with ``quiet``: the workers this process just killed)."""
        removed = []
        places = [(self.path.parent, f".{self.path.name}", lock.held(self.path, lock.FILE))]
        if shards_too and self.parts.is_dir():
            places.append((self.parts, ".", lock.held(self.path, lock.TASKS)))
        for folder, prefix, covered in places:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in sorted(names):
                if not (name.startswith(prefix) and name.endswith(".tmp")):
                    continue
                if folder == self.path.parent and not (name.startswith(f".{self.path.name}~")
                                                       or _LEGACY_TEMP.match(name) and
                                                       _LEGACY_TEMP.match(name).group("name") == self.path.name):
                    continue
                tmp = folder / name
                if not (_TEMP.match(name) or _LEGACY_TEMP.match(name)):
                    continue
                gone, who = _writer_gone(tmp, covered)
                if not gone:
                    continue
                try:
                    size = tmp.stat().st_size
                    tmp.unlink()
                except OSError:
                    continue
                removed.append(tmp)
                if not quiet:
                    note(f"removed {tmp} ({_mb(size)}), left by {who}, which is no longer running")
        return removed

    def _audit(self, deep: bool = True, cfg: Config | None = None) -> Audit:
        try:
            with h5py.File(self.path, "r") as f:
                return audit(f, deep, *((cfg.seed, cfg.physics_sha256()) if cfg is not None else ()))
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - the file no longer opens
            raise DataError(f"{self.path}: does not open as HDF5 ({type(exc).__name__}: damaged); rerun with "
                            "--overwrite to recompute every sample") from None

    def repair(self, cfg: Config | None = None) -> list[int]:
        """Bring the file to a sound schema-3 state before samples are added; returns the samples dropped.

        Samples that fail their checks (damaged, unsealed, foreign, moved, duplicated, not in the
        manifest) are dropped and a resume runs them again, as it runs the samples the manifest lists
        but the file lacks (deleted). A file of an older schema is upgraded: its samples that pass the
        checks of their schema are sealed to their index, seed and config, and a manifest is written.
        With ``cfg`` (a resume) a damaged stored config or a changed seed is restored from it; without
        (``merge``) damage of the root is refused. The file is rebuilt, copy-on-write, from what holds.
        """
        a = self._audit(True, cfg)
        if a.fatal:
            raise DataError(f"{self.path}: {a.fatal}; rerun with --overwrite to recompute every sample")
        if not (a.bad or a.deleted or a.root or a.schema < SCHEMA_VERSION or (a.robustness and not a.robustness[1])):
            return []
        if cfg is None and a.root:
            where, why = a.root[0]
            raise DataError(f"{self.path}: {where}: {why}; not merged: rerun `relusim anneal` with its config on "
                            f"{self.path} to restore it (`relusim info --verify {self.path}` lists every problem)")
        self._rebuild(a, cfg)
        for where, why in a.root:
            note(f"{self.path}: {where}: {why}; "
                 + ("restored from the config of this run and sealed again" if where in ("config", "file")
                    else "sealed again over what verifies"))
        if a.schema < SCHEMA_VERSION:
            note(f"{self.path}: written before schema {SCHEMA_VERSION} (schema {a.schema}); its {len(a.good)} intact "
                 "samples are now sealed to their index, seed and config, under a manifest")
        for i, why in sorted({**a.bad, **a.deleted}.items(), key=lambda kv: str(kv[0])):
            note(f"{self.path}: sample {i}: {why}; dropped, it is run again")
        if a.robustness and not a.robustness[1]:
            note(f"{self.path}: /robustness: {a.robustness[0]}; dropped")
        return [i for i in {**a.bad, **a.deleted} if isinstance(i, int)]

    def _rebuild(self, a: Audit, cfg: Config | None) -> None:
        """Write a new file from the root attributes (restored from ``cfg`` where they are its own), the
        intact samples and an intact ``/robustness`` of the old one, seal the manifest and replace."""
        check_space(self.path, self.path.stat().st_size + (64 << 10))
        tmp = temp_path(self.path)
        try:
            with h5py.File(self.path, "r") as src, h5py.File(tmp, "w") as dst:
                for key in src.attrs:
                    try:
                        dst.attrs[key] = src.attrs[key]
                    except Exception:  # noqa: BLE001 - an unreadable attribute: left out
                        note(f"{self.path}: root attribute {key} is unreadable; left out")
                if cfg is not None:
                    dst.attrs["seed"] = cfg.seed
                    dst.attrs["config_sha256"] = cfg.physics_sha256()
                    if any(w == "config" for w, _ in a.root):
                        dst.attrs["config"] = cfg.to_yaml()
                dst.attrs["config_text_sha256"] = text_digest(dst.attrs["config"])
                dst.attrs["finished"] = False
                seed, sha = dst.attrs["seed"], dst.attrs["config_sha256"]
                out = dst.create_group("samples")
                entries = {}
                for i in sorted(a.good):
                    name = SAMPLE_FMT.format(i)
                    src.copy(src["samples"][name], out, name=name)
                    g = out[name]
                    digest = load_digest(g)
                    entries[i] = (digest_of(g) if digest is not None and "@index" in digest
                                  else seal_sample(g, i, seed, sha))
                if "robustness" in src and (a.robustness is None or a.robustness[1]):
                    src.copy(src["robustness"], dst, name="robustness")
                    digest = load_digest(dst["robustness"])
                    if digest is None or "@basis" not in digest:
                        seal_bound(dst["robustness"], {"basis": _basis(
                            seed, sha, {int(i): entries.get(int(i)) for i in dst["robustness"]["samples"][()]})})
                write_manifest(dst, entries)
            _fsync_replace(tmp, self.path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, Exception) and not isinstance(exc, (DataError, InputError, RunError)) \
                    and not is_disk_full(exc):
                raise DataError(f"{self.path}: cannot be rebuilt from its intact samples ({type(exc).__name__}); "
                                "rerun with --overwrite to recompute every sample") from exc
            raise

    # -- what is done --------------------------------------------------------------------------
    def stored_indices(self) -> set[int]:
        """The samples the file holds that pass the checks of its seals and manifest (their datasets
        are hashed by ``repair`` and the readers, not here)."""
        a = self._audit(deep=False)
        return set() if a.fatal else set(a.good)

    def solved_flags(self) -> list[bool]:
        """The ``solved`` attribute of every complete sample stored, in index order."""
        good = self.stored_indices()
        with reading(self.path):
            with h5py.File(self.path, "r") as f:
                return [bool(g.attrs["solved"]) for name, g in sorted(f["samples"].items())
                        if _SAMPLE_NAME.match(name) and int(name) in good and g.attrs.get("status") == "complete"]

    def shard_paths(self) -> dict[int, Path]:
        if not self.parts.is_dir():
            return {}
        out = {}
        for p in self.parts.iterdir():
            m = _SHARD.match(p.name)
            if m:
                out[int(m.group(1))] = p
        return out

    def done_indices(self) -> set[int]:
        return self.stored_indices() | set(self.shard_paths())

    def check_shard(self, i: int, p: Path, file_sha: str, seed=None) -> str | None:
        """None for a good shard of this file's config; raises InputError for another config's;
        else what is wrong with it (unreadable, checksum mismatch, another seed or index).

        ``seed``: the file's (read from it when not given)."""
        if seed is None and self.path.exists():
            try:
                seed = self.attr("seed")
            except DataError:
                seed = None
        try:
            with h5py.File(p, "r") as s:
                shard_sha = s.attrs.get("config_sha256")
                name = SAMPLE_FMT.format(i)
                if shard_sha is not None and shard_sha == file_sha:
                    problem = (check_sample(s["samples"][name], i, seed, file_sha, schema=2)
                               if "samples" in s and name in s["samples"] else f"holds no sample {i}")
        except Exception as exc:  # noqa: BLE001 - truncated, garbage, a damaged superblock
            return f"not a readable HDF5 file ({type(exc).__name__})"
        if shard_sha is None:
            return "carries no config_sha256"
        if shard_sha != file_sha:
            raise InputError("shard", str(p), f"comes from a different config than the file it belongs to, "
                             f"{self.path} (config_sha256 {str(shard_sha)[:12]} != {str(file_sha)[:12]}); "
                             "remove it")
        return problem

    def good_shards(self, file_sha: str, seed=None) -> dict[int, Path]:
        """The shards that pass ``check_shard``; broken ones are removed (their samples run again)."""
        good = {}
        for i, p in sorted(self.shard_paths().items()):
            problem = self.check_shard(i, p, file_sha, seed)
            if problem is None:
                good[i] = p
                continue
            p.unlink(missing_ok=True)
            note(f"removed the shard {p}: {problem}; sample {i} is run again")
        return good

    # -- merging -------------------------------------------------------------------------------
    def merge_shards(self, physics_sha256: str | None = None, final_samples: int | None = None) -> int:
        """Move every complete shard into the result file (copy-on-write); returns how many.

        Shards are checked against the config of the file itself (its ``config_sha256``), never
        against the caller's; ``physics_sha256``, if given, must be the file's. Each sample merged
        is added to the manifest, which is sealed again in the same copy.
        """
        file_sha, seed = self.attr("config_sha256"), self.attr("seed")
        if physics_sha256 is not None and physics_sha256 != file_sha:
            raise RunError(f"{self.path} now holds another config's run (config_sha256 {str(file_sha)[:12]}); "
                           "its samples are not merged")
        shards = self.good_shards(file_sha, seed)
        stored = self.stored_indices()
        todo = {i: p for i, p in sorted(shards.items()) if i not in stored}
        if not todo and final_samples is None:
            for p in shards.values():
                p.unlink(missing_ok=True)
            return 0

        def append(f, entries):
            for i, p in todo.items():
                name = SAMPLE_FMT.format(i)
                if name in f["samples"]:  # a group that failed its checks: the shard replaces it
                    del f["samples"][name]
                with h5py.File(p, "r") as s:
                    s.copy(s["samples"][name], f["samples"], name=name)
                if entries is not None:
                    g = f["samples"][name]
                    digest = load_digest(g)
                    entries[i] = (digest_of(g) if digest is not None and "@index" in digest
                                  else seal_sample(g, i, seed, file_sha))  # a shard written before schema 3
            n_done = len(entries) if entries is not None else len(f["samples"])
            f.attrs["samples_done"] = n_done
            if final_samples is not None:
                f.attrs["finished"] = n_done >= final_samples

        def verify(path: Path) -> str | None:  # a full disk can leave zeroed copies without an error
            with h5py.File(path, "r") as f:
                for i in todo:
                    problem = check_group(f["samples"][SAMPLE_FMT.format(i)])
                    if problem:
                        return f"sample {i}: {problem}"
            return None

        self._copy_on_write(append, extra=sum(p.stat().st_size for p in todo.values()), verify=verify)
        for p in shards.values():
            p.unlink(missing_ok=True)
        if final_samples is not None:
            try:
                self.parts.rmdir()  # only when empty: a concurrent writer's shard stays
            except OSError:
                pass
        return len(todo)

    def _copy_on_write(self, change, extra: int = 0, verify=None) -> None:
        """Copy the file, ``change(h5py file, manifest entries)`` the copy, seal the manifest again,
        fsync, replace: the file is whole at every instant. The manifest must hold on entry (the
        writer checked the file with ``repair``; a file changed behind its lock is refused).
        ``verify(copy path)``: what is wrong with the closed copy (None: nothing); it is then not used."""
        check_space(self.path, self.path.stat().st_size + extra + (64 << 10))
        tmp = temp_path(self.path)
        try:
            shutil.copyfile(self.path, tmp)
            with h5py.File(tmp, "a") as f:
                entries = None
                if schema_of(f)[0] >= SCHEMA_VERSION:
                    entries, why = read_manifest(f)
                    if entries is None or why:
                        raise DataError(f"{self.path}: manifest: {(why or ['damaged'])[0]} (changed while this "
                                        "process held the file?); nothing written: rerun the same command")
                change(f, entries)
                if entries is not None:
                    write_manifest(f, entries)
            problem = verify(tmp) if verify is not None else None
            if problem:
                free = shutil.disk_usage(tmp.parent).free
                code = errno.ENOSPC if free < (1 << 20) else errno.EIO
                raise OSError(code, f"{'No space left' if code == errno.ENOSPC else 'Write failed'}: the merged "
                              f"copy of {self.path} did not read back as written ({problem})", str(tmp))
            _fsync_replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _update_attrs(self, attrs: dict) -> None:
        self._copy_on_write(lambda f, _entries: f.attrs.update(attrs))


def stored_config(f: h5py.File, path) -> dict:
    """The config a result file stores (its root attribute ``config``) as a dict, read with the loader
    of config files (``config.parse_yaml``: alias bombs, deep nesting and list keys refused), so a
    crafted file cannot exhaust memory where a config file could not; anything else is a DataError
    naming the file."""
    try:
        cfg = parse_yaml(str(f.attrs["config"]), key="config", source=str(path))
    except InputError as exc:
        raise DataError(f"{path}: its stored config is unreadable ({exc.allowed}); damaged, or not written "
                        "by relusim") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise DataError(f"{path}: its stored config is not a relusim config; damaged, or not written by relusim")
    return cfg


@contextlib.contextmanager
def reading(path, what: str = "its structure", repair: str = "`relusim anneal` with its config"):
    """Reads of a result file whose damage (a flipped byte in HDF5's metadata, a truncated file) ends
    in one line: any error of h5py becomes a DataError naming the file. ``repair``: the command whose
    rerun repairs it."""
    try:
        yield
    except (DataError, InputError, RunError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError, ValueError, ...
        if is_disk_full(exc):
            raise
        raise DataError(f"{path}: {what} is unreadable ({type(exc).__name__}: damaged); never used; "
                        f"rerun {repair} on {path} to repair it "
                        f"(`relusim info --verify {path}` lists every problem)") from exc


def _problem_line(path, problems: list[tuple[str, str]]) -> str:
    where, why = problems[0]
    more = f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)})" if len(problems) > 1 else ""
    return f"{path}: {where}: {why}{more}; {_recover_hint(path)}"


def open_results(path: str | os.PathLike, verify: bool = True, robustness: bool = True) -> h5py.File:
    """Open a result file read-only, or raise InputError if it is not a readable relusim result file.

    With ``verify`` (the default) the file is checked against its seals first (``audit``: the config,
    the manifest and the root attributes it seals, every sample, and with ``robustness`` the stored
    ``/robustness``): DataError names the first problem in one line; nothing of a failing file is used.
    HDF5 damage that keeps the file from opening is a DataError too.
    """
    try:
        is_h5 = Path(path).is_file() and h5py.is_hdf5(path)
    except Exception:  # noqa: BLE001
        is_h5 = False
    if not is_h5:
        raise InputError("RESULTS", str(path), "is not a readable HDF5 file")
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - an HDF5 signature, but a damaged superblock or root
        raise DataError(f"{path}: does not open as HDF5 ({type(exc).__name__}: its superblock or root is damaged, "
                        "or it is truncated); never used; rerun the command that wrote it (`relusim anneal` with its "
                        "config, or `relusim capacity` with its options) with --overwrite to recompute it") from None
    try:
        with reading(path):
            if "config" not in f.attrs or "samples" not in f:
                raise InputError("RESULTS", str(path), "is not a relusim result file")
            if verify:
                problems = audit(f).problems(robustness)
                if problems:
                    raise DataError(_problem_line(path, problems))
    except BaseException:
        f.close()
        raise
    return f


def verify_open(f: h5py.File) -> list[tuple[str, str]]:
    """[(what, problem)] for an open result file: the schema, the config, the manifest and the root
    attributes it seals, every sample, /robustness."""
    return audit(f).problems()


_SCHEMA_NOTE = {1: " (schema 1: written before checksums, nothing to check against)",
                2: " (schema 2: written before manifests; checksums checked, a deleted sample cannot be named)",
                3: ", sealed by the manifest"}


def verify(path: str | os.PathLike) -> list[str]:
    """``relusim info --verify``: check every seal of a file and of its pending shards.

    Returns the lines of the report; raises DataError (after nothing is changed) if anything fails,
    with the report as its ``report`` attribute.
    """
    with open_results(path, verify=False) as f, reading(path):
        a = audit(f)
        problems = a.problems()
        n = len(a.good) + len(a.bad) + len(a.deleted)
        file_sha, seed = f.attrs.get("config_sha256"), f.attrs.get("seed")
    rf = ResultsFile(path)
    shards = rf.shard_paths()
    for i, p in sorted(shards.items()):
        try:
            why = rf.check_shard(i, p, file_sha, seed)
        except InputError as exc:
            why = exc.allowed
        if why:
            problems.append((f"shard {p.name}", why))
    lines = [f"verified  {len(a.good)}/{n} samples{_SCHEMA_NOTE.get(a.schema, '')}"
             + (f", {len(shards)} pending shards" if shards else "")]
    for where, why in problems:
        lines.append(f"damaged   {where}: {why}")
    if problems:
        err = DataError(_problem_line(path, problems))
        err.report = lines
        raise err
    return lines


def summary(path: str | os.PathLike) -> str:
    """A human-readable account of a result file: what it holds and how far it got (``relusim info``)."""
    import yaml

    p = Path(path)
    with open_results(p) as f, reading(p):
        try:
            return _summary(p, f, stored_config(f, p))
        except (yaml.YAMLError, KeyError, TypeError, ValueError, OSError) as exc:
            raise DataError(f"{p}: its provenance is unreadable ({type(exc).__name__}: {exc}); "
                            "damaged, or not written by relusim") from None


def _summary(p: Path, f: h5py.File, cfg: dict) -> str:
    from ..models import machine

    m, e, a = cfg["model"], cfg["ensemble"], cfg["anneal"]
    arch = m.get("architecture", "tree")
    n_w = machine.n_weights(int(m["N"]), int(m["K"]), arch)
    total = int(f.attrs.get("samples", cfg["samples"]))
    groups = [f["samples"][k] for k in sorted(f["samples"])]
    lines = [
        f"file      {p}",
        f"name      {cfg['name']}   seed {cfg['seed']}   relusim {f.attrs['relusim_version']}"
        f"   git {str(f.attrs['git_commit'])[:10]}{' (dirty)' if f.attrs['git_dirty'] else ''}",
        f"model     {m['activation']} / {m['weights']}   {arch}   N={m['N']} K={m['K']} alpha={m['alpha']}"
        f"   P={int(np.floor(m['alpha'] * n_w + 0.5))}",
        f"ensemble  y={e['replicas']}" + (f" ({e['reference']} reference)" if e["replicas"] > 1 else ""),
        f"anneal    {a['sampler']}  beta {a['beta']['start']}->{a['beta']['stop']} ({a['beta']['schedule']})"
        f"  sweeps {a['sweeps']}"
        + (f"  energy {a['energy']}" if a.get("energy", "errors") != "errors" else "")
        + (f"  {a['precision']} fields" if a.get("precision", "float64") != "float64" else ""),
        f"created   {f.attrs['created_utc']} on {f.attrs['host']}",
        f"progress  {len(groups)}/{total} samples done"
        + ("  (finished)" if f.attrs.get("finished") else ""),
    ]
    pending = len(ResultsFile(p).shard_paths())
    if pending:
        lines.append(f"pending   {pending} finished samples in {parts_dir(p)} (merged on the next run)")
    if groups:
        solved = sum(bool(g.attrs["solved"]) for g in groups)
        sweeps = np.array([g.attrs["sweeps_done"] for g in groups])
        energies = np.concatenate([g["energy"][()] for g in groups])
        wall = np.array([g.attrs["wall_s"] for g in groups])
        lines.append(f"solved    {solved}/{len(groups)}   sweeps done: median {np.median(sweeps):.0f}, "
                     f"max {sweeps.max()}   final energies: mean {energies.mean():.2f}, max {energies.max()}")
        lines.append(f"time      {wall.sum():.1f} s of sampling, {wall.mean():.2f} s per sample")
    if "robustness" in f:
        lines.append(f"robustness {', '.join(sorted(f['robustness']))}")
    done = [g for g in groups if g.attrs.get("status") == "complete"]
    if arch == "fully_connected" and done:
        from ..models import units

        s = units.summarise(((g["weights"][()], g["reference"][()] if "reference" in g else None) for g in done),
                            m["activation"], int(m["K"]), arch)
        lines += ["units     " + line if j == 0 else "          " + line for j, line in enumerate(s.lines())]
    return "\n".join(lines)
