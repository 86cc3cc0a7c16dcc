"""HDF5 result files (CONTRACT.md) that survive a kill at any moment.

HDF5 itself is not crash-safe: a process killed while it writes can leave a file that no longer
opens. So nothing here ever writes into the live result file in place:

* a finished sample is first written whole to its own *shard*, ``<output>.parts/NNNNNN.h5``, through
  a temporary file, ``fsync`` and an atomic ``os.replace``;
* shards are merged into the result file copy-on-write: copy, append, ``fsync``, ``os.replace``.

At every instant the result file is a complete, readable file, and every finished sample is either
in it or in a complete shard. Resuming merges the shards left over and runs the samples missing.
The same shards are what a cluster's array tasks write (``relusim merge``).
"""
from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from .config import Config
from . import lock
from .errors import DataError, InputError, RunError

SAMPLE_FMT = "{:06d}"
_COMPRESS = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
DIGEST_ATTR = "sha256"  # JSON {dataset path: sha256, "@attrs": sha256}, on every sample group
UNSEALED_ATTRS = {DIGEST_ATTR, "wall_s"}  # wall_s: a timing, the one attribute two identical runs differ in
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


def _bytes_of(value) -> bytes:
    a = np.asarray(value)
    if a.dtype.kind in "OUS":
        return repr(a.tolist()).encode()
    return a.dtype.str.encode() + repr(a.shape).encode() + np.ascontiguousarray(a).tobytes()


def _attrs_digest(obj) -> str:
    h = hashlib.sha256()
    for key in sorted(obj.attrs):
        if key not in UNSEALED_ATTRS:
            h.update(key.encode() + b"\0" + _bytes_of(obj.attrs[key]) + b"\0")
    return h.hexdigest()


def _datasets(g: h5py.Group) -> list[str]:
    names: list[str] = []
    g.visit(lambda name: names.append(name) if isinstance(g[name], h5py.Dataset) else None)
    return sorted(names)


def _dataset_digest(d: h5py.Dataset) -> str:
    return hashlib.sha256(_bytes_of(d[()])).hexdigest()


def seal(g: h5py.Group) -> None:
    """Store the sha256 of every dataset (and of the attributes) of ``g`` in ``g.attrs["sha256"]``."""
    digest = {name: _dataset_digest(g[name]) for name in _datasets(g)}
    digest["@attrs"] = _attrs_digest(g)
    g.attrs[DIGEST_ATTR] = json.dumps(digest, sort_keys=True)


def check_group(g: h5py.Group) -> str | None:
    """None if every checksum of ``g`` holds; else what is wrong (``checksum mismatch in weights``).

    A group without checksums (written before relusim stored them) passes: nothing to check against.
    """
    try:
        raw = g.attrs.get(DIGEST_ATTR)
        if raw is None:
            return None
        digest = json.loads(raw)
        names = _datasets(g)
    except Exception as exc:  # noqa: BLE001 - damaged metadata of any kind
        return f"unreadable ({type(exc).__name__})"
    missing = sorted(set(digest) - set(names) - {"@attrs"})
    if missing:
        return f"dataset {missing[0]} is missing"
    for name in names:
        if name not in digest:
            return f"dataset {name} carries no checksum"
        try:
            ok = _dataset_digest(g[name]) == digest[name]
        except Exception:  # noqa: BLE001 - a damaged chunk, a failed filter: unreadable data
            return f"unreadable data in {name}"
        if not ok:
            return f"checksum mismatch in {name}"
    try:
        if _attrs_digest(g) != digest.get("@attrs"):
            return "checksum mismatch in its attributes"
    except Exception:  # noqa: BLE001
        return "unreadable attributes"
    return None


def bad_samples(f: h5py.File) -> dict[int | str, str]:
    """{sample index (or group name): what is wrong} over every sample group of an open result file."""
    bad: dict[int | str, str] = {}
    for name in list(f["samples"]):
        try:
            g = f["samples"][name]
            problem = check_group(g)
        except Exception as exc:  # noqa: BLE001
            problem = f"unreadable ({type(exc).__name__})"
        if problem:
            bad[int(name) if name.isdigit() else name] = problem
    return bad


def _recover_hint(path) -> str:
    return (f"never used; rerun `relusim anneal` with its config on {path} to drop and recompute it "
            f"(`relusim info --verify {path}` lists every damaged sample)")


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

    from . import __version__

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


def write_sample_group(parent: h5py.Group, res) -> None:
    """Write one SampleResult as ``parent/NNNNNN`` with the datasets of CONTRACT.md, sealed (``seal``)."""
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
    t = g.create_group("trace")
    for key, value in res.trace.items():
        t.create_dataset(key, data=value)
    seal(g)


def write_shard(output: str | os.PathLike, res, physics_sha256: str) -> Path:
    """Write one finished sample to ``<output>.parts/NNNNNN.h5`` atomically and return its path."""
    d = parts_dir(output)
    d.mkdir(parents=True, exist_ok=True)
    dst = d / (SAMPLE_FMT.format(res.index) + ".h5")
    tmp = temp_path(dst)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["config_sha256"] = physics_sha256
            write_sample_group(f.require_group("samples"), res)
        _fsync_replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst


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
    """A result file, its shard directory and its locks (``relusim.lock``)."""

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
            except OSError:
                raise InputError("output", str(self.path), "exists but is not a relusim HDF5 file; "
                                 "use --overwrite or another output") from None
            if sha != cfg.physics_sha256():
                raise InputError("output", str(self.path), "holds a run of a different config; "
                                 "use --overwrite to replace it, or another output path")
            self.repair()
            if cfg.samples > self.attr("samples", 0):
                self._update_attrs({"samples": cfg.samples})
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_path(self.path)
            try:
                with h5py.File(tmp, "w") as f:
                    f.attrs.update(provenance(cfg, command))
                    f.attrs["config_text_sha256"] = hashlib.sha256(f.attrs["config"].encode()).hexdigest()
                    f.create_group("samples")
                _fsync_replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        self.merge_shards(cfg.physics_sha256())

    def attr(self, key, default=None):
        with h5py.File(self.path, "r") as f:
            return f.attrs.get(key, default)

    def clean_debris(self, shards_too: bool) -> list[Path]:
        """Remove the temporary files of dead writers of this file (and, with ``shards_too``, of its
        shards): a writer on this host is gone when its PID is; one elsewhere when we hold the lock it
        held. Reports each file removed."""
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
                note(f"removed {tmp} ({_mb(size)}), left by {who}, which is no longer running")
        return removed

    def repair(self) -> list[int]:
        """Drop the samples of the file whose checksums fail (a resume runs them again); returns them."""
        try:
            with h5py.File(self.path, "r") as f:
                bad = bad_samples(f)
        except (OSError, KeyError) as exc:
            raise DataError(f"{self.path}: its index of samples is unreadable ({type(exc).__name__}); "
                            "rerun with --overwrite to recompute every sample") from None
        if not bad:
            return []

        def drop(f):
            for i in bad:
                del f["samples"][SAMPLE_FMT.format(i) if isinstance(i, int) else i]
            f.attrs["samples_done"] = len(f["samples"])
            f.attrs["finished"] = False

        self._copy_on_write(drop)
        for i, why in sorted(bad.items(), key=lambda kv: str(kv[0])):
            note(f"{self.path}: sample {i}: {why}; dropped, it is run again")
        return [i for i in bad if isinstance(i, int)]

    # -- what is done --------------------------------------------------------------------------
    def stored_indices(self) -> set[int]:
        with h5py.File(self.path, "r") as f:
            return {int(k) for k, g in f["samples"].items() if k.isdigit() and g.attrs.get("status") == "complete"}

    def solved_flags(self) -> list[bool]:
        """The ``solved`` attribute of every complete sample stored, in index order."""
        with h5py.File(self.path, "r") as f:
            return [bool(g.attrs["solved"]) for _, g in sorted(f["samples"].items())
                    if g.attrs.get("status") == "complete"]

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

    def check_shard(self, i: int, p: Path, file_sha: str) -> str | None:
        """None for a good shard of this file's config; raises InputError for another config's;
        else what is wrong with it (unreadable, checksum mismatch)."""
        try:
            with h5py.File(p, "r") as s:
                shard_sha = s.attrs.get("config_sha256")
                name = SAMPLE_FMT.format(i)
                problem = (check_group(s["samples"][name]) if "samples" in s and name in s["samples"]
                           else f"holds no sample {i}")
        except Exception as exc:  # noqa: BLE001 - truncated, garbage, a damaged superblock
            return f"not a readable HDF5 file ({type(exc).__name__})"
        if shard_sha is None:
            return "carries no config_sha256"
        if shard_sha != file_sha:
            raise InputError("shard", str(p), f"comes from a different config than the file it belongs to, "
                             f"{self.path} (config_sha256 {str(shard_sha)[:12]} != {str(file_sha)[:12]}); "
                             "remove it")
        return problem

    def good_shards(self, file_sha: str) -> dict[int, Path]:
        """The shards that pass ``check_shard``; broken ones are removed (their samples run again)."""
        good = {}
        for i, p in sorted(self.shard_paths().items()):
            problem = self.check_shard(i, p, file_sha)
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
        against the caller's; ``physics_sha256``, if given, must be the file's.
        """
        file_sha = self.attr("config_sha256")
        if physics_sha256 is not None and physics_sha256 != file_sha:
            raise RunError(f"{self.path} now holds another config's run (config_sha256 {str(file_sha)[:12]}); "
                           "its samples are not merged")
        shards = self.good_shards(file_sha)
        stored = self.stored_indices()
        todo = {i: p for i, p in sorted(shards.items()) if i not in stored}
        if not todo and final_samples is None:
            for p in shards.values():
                p.unlink(missing_ok=True)
            return 0

        def append(f):
            for i, p in todo.items():
                with h5py.File(p, "r") as s:
                    s.copy(s["samples"][SAMPLE_FMT.format(i)], f["samples"], name=SAMPLE_FMT.format(i))
            n_done = len(f["samples"])
            f.attrs["samples_done"] = n_done
            if final_samples is not None:
                f.attrs["finished"] = n_done >= final_samples

        self._copy_on_write(append, extra=sum(p.stat().st_size for p in todo.values()))
        for p in shards.values():
            p.unlink(missing_ok=True)
        if final_samples is not None:
            try:
                self.parts.rmdir()  # only when empty: a concurrent writer's shard stays
            except OSError:
                pass
        return len(todo)

    def _copy_on_write(self, change, extra: int = 0) -> None:
        """Copy the file, ``change(h5py file)`` the copy, fsync, replace: the file is whole at every instant."""
        check_space(self.path, self.path.stat().st_size + extra + (64 << 10))
        tmp = temp_path(self.path)
        try:
            shutil.copyfile(self.path, tmp)
            with h5py.File(tmp, "a") as f:
                change(f)
            _fsync_replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _update_attrs(self, attrs: dict) -> None:
        self._copy_on_write(lambda f: f.attrs.update(attrs))


def open_results(path: str | os.PathLike, verify: bool = True) -> h5py.File:
    """Open a result file read-only, or raise InputError if it is not a readable relusim result file.

    With ``verify`` (the default) every sample's checksums (and the stored robustness's) are checked
    first: DataError names the first damaged sample, which is never used.
    """
    try:
        f = h5py.File(path, "r")
    except (OSError, FileNotFoundError):
        raise InputError("RESULTS", str(path), "is not a readable HDF5 file") from None
    try:
        if "config" not in f.attrs or "samples" not in f:
            raise InputError("RESULTS", str(path), "is not a relusim result file")
        if verify:
            problems = verify_open(f)
            if problems:
                where, why = problems[0]
                more = f" (and {len(problems) - 1} more damaged)" if len(problems) > 1 else ""
                raise DataError(f"{path}: {where}: {why}{more}; {_recover_hint(path)}")
    except BaseException:
        f.close()
        raise
    return f


def verify_open(f: h5py.File) -> list[tuple[str, str]]:
    """[(what, problem)] for an open result file: the config text, every sample, /robustness."""
    problems = []
    try:
        text, digest = f.attrs.get("config"), f.attrs.get("config_text_sha256")
        if digest is not None and hashlib.sha256(str(text).encode()).hexdigest() != digest:
            problems.append(("config", "checksum mismatch in the stored config"))
        for i, why in sorted(bad_samples(f).items(), key=lambda kv: (isinstance(kv[0], str), kv[0])):
            problems.append((f"sample {i}", why))
        if "robustness" in f and isinstance(f["robustness"], h5py.Group):
            why = check_group(f["robustness"])
            if why:
                problems.append(("/robustness", why + "; rerun `relusim robustness` to recompute it"))
    except Exception as exc:  # noqa: BLE001 - damaged metadata
        problems.append(("file", f"unreadable structure ({type(exc).__name__})"))
    return problems


def verify(path: str | os.PathLike) -> list[str]:
    """``relusim info --verify``: check every checksum of a file and of its pending shards.

    Returns the lines of the report; raises DataError (after nothing is changed) if anything fails.
    """
    with open_results(path, verify=False) as f:
        problems = verify_open(f)
        n = len(f["samples"])
        unsealed = sum(DIGEST_ATTR not in f["samples"][k].attrs for k in f["samples"]
                       if not any(w == f"sample {int(k) if k.isdigit() else k}" for w, _ in problems))
        file_sha = f.attrs.get("config_sha256")
    rf = ResultsFile(path)
    shards = rf.shard_paths()
    for i, p in sorted(shards.items()):
        try:
            why = rf.check_shard(i, p, file_sha)
        except InputError as exc:
            why = exc.allowed
        if why:
            problems.append((f"shard {p.name}", why))
    lines = [f"verified  {n - sum(w.startswith('sample') for w, _ in problems)}/{n} samples"
             + (f" ({unsealed} written before checksums: nothing to check)" if unsealed else "")
             + (f", {len(shards)} pending shards" if shards else "")]
    for where, why in problems:
        lines.append(f"damaged   {where}: {why}")
    if problems:
        where, why = problems[0]
        more = f" (and {len(problems) - 1} more damaged)" if len(problems) > 1 else ""
        raise DataError(f"{path}: {where}: {why}{more}; {_recover_hint(path)}")
    return lines


def summary(path: str | os.PathLike) -> str:
    """A human-readable account of a result file: what it holds and how far it got (``relusim info``)."""
    import yaml

    p = Path(path)
    with open_results(p) as f:
        try:
            return _summary(p, f, yaml.safe_load(f.attrs["config"]))
        except (yaml.YAMLError, KeyError, TypeError, ValueError, OSError) as exc:
            raise DataError(f"{p}: its provenance is unreadable ({type(exc).__name__}: {exc}); "
                            "damaged, or not written by relusim") from None


def _summary(p: Path, f: h5py.File, cfg: dict) -> str:
    from . import model

    m, e, a = cfg["model"], cfg["ensemble"], cfg["anneal"]
    arch = m.get("architecture", "tree")
    n_w = model.n_weights(int(m["N"]), int(m["K"]), arch)
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
        from . import units

        s = units.summarise(((g["weights"][()], g["reference"][()] if "reference" in g else None) for g in done),
                            m["activation"], int(m["K"]), arch)
        lines += ["units     " + line if j == 0 else "          " + line for j, line in enumerate(s.lines())]
    return "\n".join(lines)
