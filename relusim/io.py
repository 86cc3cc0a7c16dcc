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
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from .config import Config
from .errors import InputError

SAMPLE_FMT = "{:06d}"
_COMPRESS = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def parts_dir(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".parts")


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
    """Write one SampleResult as ``parent/NNNNNN`` with the datasets of CONTRACT.md."""
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


def write_shard(output: str | os.PathLike, res, physics_sha256: str) -> Path:
    """Write one finished sample to ``<output>.parts/NNNNNN.h5`` atomically and return its path."""
    d = parts_dir(output)
    d.mkdir(parents=True, exist_ok=True)
    dst = d / (SAMPLE_FMT.format(res.index) + ".h5")
    tmp = d / f".{dst.name}.{os.getpid()}.tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["config_sha256"] = physics_sha256
        write_sample_group(f.require_group("samples"), res)
    _fsync_replace(tmp, dst)
    return dst


class ResultsFile:
    """A result file and its shard directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.parts = parts_dir(path)

    # -- creation and checks -------------------------------------------------------------------
    def prepare(self, cfg: Config, command: str, overwrite: bool = False) -> None:
        """Create the file (or check that an existing one belongs to ``cfg``) and merge leftover shards."""
        if overwrite:
            self.path.unlink(missing_ok=True)
            shutil.rmtree(self.parts, ignore_errors=True)
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
            self._update_attrs({"samples": max(cfg.samples, self.attr("samples", 0))})
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with h5py.File(tmp, "w") as f:
                f.attrs.update(provenance(cfg, command))
                f.create_group("samples")
            _fsync_replace(tmp, self.path)
        self.merge_shards(cfg.physics_sha256())

    def attr(self, key, default=None):
        with h5py.File(self.path, "r") as f:
            return f.attrs.get(key, default)

    # -- what is done --------------------------------------------------------------------------
    def stored_indices(self) -> set[int]:
        with h5py.File(self.path, "r") as f:
            return {int(k) for k, g in f["samples"].items() if g.attrs.get("status") == "complete"}

    def solved_flags(self) -> list[bool]:
        """The ``solved`` attribute of every complete sample stored, in index order."""
        with h5py.File(self.path, "r") as f:
            return [bool(g.attrs["solved"]) for _, g in sorted(f["samples"].items())
                    if g.attrs.get("status") == "complete"]

    def shard_paths(self) -> dict[int, Path]:
        if not self.parts.is_dir():
            return {}
        return {int(p.stem): p for p in self.parts.glob("[0-9]*.h5")}

    def done_indices(self) -> set[int]:
        return self.stored_indices() | set(self.shard_paths())

    # -- merging -------------------------------------------------------------------------------
    def merge_shards(self, physics_sha256: str, final_samples: int | None = None) -> int:
        """Move every complete shard into the result file (copy-on-write); returns how many."""
        shards = self.shard_paths()
        stored = self.stored_indices()
        todo = {i: p for i, p in sorted(shards.items()) if i not in stored}
        if not todo and final_samples is None:
            for p in shards.values():
                p.unlink(missing_ok=True)
            return 0
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        shutil.copyfile(self.path, tmp)
        with h5py.File(tmp, "a") as f:
            for i, p in todo.items():
                with h5py.File(p, "r") as s:
                    if s.attrs.get("config_sha256") != physics_sha256:
                        raise InputError("shard", str(p), "comes from a different config; remove it")
                    s.copy(s["samples"][SAMPLE_FMT.format(i)], f["samples"], name=SAMPLE_FMT.format(i))
            n_done = len(f["samples"])
            f.attrs["samples_done"] = n_done
            if final_samples is not None:
                f.attrs["finished"] = n_done >= final_samples
        _fsync_replace(tmp, self.path)
        for p in shards.values():
            p.unlink(missing_ok=True)
        if final_samples is not None:
            try:
                self.parts.rmdir()  # only when empty: a concurrent writer's shard stays
            except OSError:
                pass
        return len(todo)

    def _update_attrs(self, attrs: dict) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        shutil.copyfile(self.path, tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs.update(attrs)
        _fsync_replace(tmp, self.path)


def open_results(path: str | os.PathLike) -> h5py.File:
    """Open a result file read-only, or raise InputError if it is not a readable relusim result file."""
    try:
        f = h5py.File(path, "r")
    except (OSError, FileNotFoundError):
        raise InputError("RESULTS", str(path), "is not a readable HDF5 file") from None
    if "config" not in f.attrs or "samples" not in f:
        f.close()
        raise InputError("RESULTS", str(path), "is not a relusim result file")
    return f


def summary(path: str | os.PathLike) -> str:
    """A human-readable account of a result file: what it holds and how far it got (``relusim info``)."""
    import yaml

    p = Path(path)
    with open_results(p) as f:
        cfg = yaml.safe_load(f.attrs["config"])
        m, e, a = cfg["model"], cfg["ensemble"], cfg["anneal"]
        total = int(f.attrs.get("samples", cfg["samples"]))
        groups = [f["samples"][k] for k in sorted(f["samples"])]
        lines = [
            f"file      {p}",
            f"name      {cfg['name']}   seed {cfg['seed']}   relusim {f.attrs['relusim_version']}"
            f"   git {str(f.attrs['git_commit'])[:10]}{' (dirty)' if f.attrs['git_dirty'] else ''}",
            f"model     {m['activation']} / {m['weights']}   N={m['N']} K={m['K']} alpha={m['alpha']}"
            f"   P={int(np.floor(m['alpha'] * m['N'] + 0.5))}",
            f"ensemble  y={e['replicas']}" + (f" ({e['reference']} reference)" if e["replicas"] > 1 else ""),
            f"anneal    {a['sampler']}  beta {a['beta']['start']}->{a['beta']['stop']} ({a['beta']['schedule']})"
            f"  sweeps {a['sweeps']}",
            f"created   {f.attrs['created_utc']} on {f.attrs['host']}",
            f"progress  {len(groups)}/{total} samples done"
            + ("  (finished)" if f.attrs.get("finished") else ""),
        ]
        pending = len(list(parts_dir(p).glob("[0-9]*.h5"))) if parts_dir(p).is_dir() else 0
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
    return "\n".join(lines)
