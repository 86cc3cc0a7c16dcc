"""Capacity files (``relusim capacity``; CONTRACT.md, "Capacity files", and docs/results/capacity.md,
"HDF5 layout"): the answer of every instance over (K, N, P), and the analysis, in one HDF5 file.

Written as every relusim file is (``relusim.storage.results``): never in place. Finished instances are
appended to a journal, ``<out>.parts/instances.jsonl`` (``relusim.storage.journal``), and the whole
file is rewritten from them every few seconds and at the end: temporary file, fsync, rename; then
the journal is dropped. The array tasks of ``relusim capacity --backend slurm`` each append to a journal
of their own, ``<out>.parts/task-<job>-<id>.jsonl`` (one writer per file: the task holds its lock);
``CapacityFile.open`` folds every one of them in, refusing one that holds instances of another plan
(nothing is written), and ``write`` drops those whose task has ended.

Sealed with the seals of result files (``relusim.storage.seals``, schema 3): every group
``/instances/K{K}/N{N}`` bound to the plan's ``capacity_sha256``, its K and its N; ``/analysis`` bound
to the plan and to the digests of the instance groups it was computed from; a sealed ``/manifest``
listing every group and a digest of every root attribute. Every reader goes through ``open_capacity``
(``load_records``, ``verify``, ``summary``) and a resume through ``CapacityFile.open``: an edited,
foreign, moved, deleted or unsealed group is named in one line and never used; a resume drops it and
runs its instances again (the same bits: an instance depends only on the plan and what it is).
A file without ``schema_version`` was written before capacity files were sealed (schema 1): it is
read as it is, with a note, and sealed when a resume rewrites it.

Nothing here knows what a plan is: the caller passes the plan's hash, the root attributes and the
number of weights of a network of (K, N).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import h5py
import numpy as np

from . import lock, results, seals
from .journal import Journal
from .seals import DIGEST_ATTR, MANIFEST, SCHEMA_VERSION
from ..errors import DataError, InputError

KIND = "relusim capacity"
NOT_RUN = -2  # status of a (P, i) slot of the grid that holds no answer
JOURNAL = "instances.jsonl"
_HEADER = ("schema_version", "capacity_sha256")  # the manifest's header, besides root_sha256
_K, _N = re.compile(r"^K(\d+)$"), re.compile(r"^N(\d+)$")
_REPAIR = "`relusim capacity` with the same options"


@dataclass
class Record:
    """The answer for one instance. ``status``: 1 solved, 0 not (exact: proven UNSAT), -1 unknown
    (exact search hit its node budget). ``work``: search nodes (exact) or sweeps (anneal);
    ``energy``: the lowest final energy of the replicas (anneal; exact: 0 if SAT, else -1). ``wall_s`` and
    ``cpu_s``: the instance's wall time and the CPU time of the thread that answered it (nan in files
    written before CPU times were recorded); timings, the only fields two identical runs differ in."""

    K: int
    N: int
    P: int
    i: int
    status: int
    work: int
    energy: int
    wall_s: float
    witness: np.ndarray | None = field(default=None, repr=False)
    cpu_s: float = float("nan")

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.K, self.N, self.P, self.i)

    def to_json(self, sha: str) -> str:
        wit = None if self.witness is None else np.packbits(self.witness < 0).tobytes().hex()
        d = {"sha": sha, "K": self.K, "N": self.N, "P": self.P, "i": self.i, "status": self.status,
             "work": self.work, "energy": self.energy, "wall_s": self.wall_s, "cpu_s": self.cpu_s,
             "witness": wit}
        if self.witness is not None and len(self.witness) != self.N:  # fully connected: K N weights
            d["weights"] = len(self.witness)
        return json.dumps(d, separators=(",", ":"))

    @staticmethod
    def from_json(d: dict) -> "Record":
        w = None
        if d["witness"] is not None:
            bits = np.unpackbits(np.frombuffer(bytes.fromhex(d["witness"]), np.uint8))[:d.get("weights", d["N"])]
            w = np.where(bits, -1, 1).astype(np.int8)
        return Record(d["K"], d["N"], d["P"], d["i"], d["status"], d["work"], d["energy"], d["wall_s"], w,
                      float(d.get("cpu_s", "nan")))


def journal_path(path: str | os.PathLike) -> Path:
    return results.parts_dir(path) / JOURNAL


def task_journal_path(path: str | os.PathLike, job: str, task_id: int) -> Path:
    """The journal of array task ``task_id`` of job directory ``job``: its one writer."""
    return results.parts_dir(path) / f"task-{job}-{task_id:06d}.jsonl"


def task_journals(path: str | os.PathLike) -> list[Path]:
    parts = results.parts_dir(path)
    return sorted(parts.glob("task-*.jsonl")) if parts.is_dir() else []


# -------------------------------------------------------------------------------- layout --


def write_records(g: h5py.Group, records: Iterable[Record], weights: Callable[[int, int], int],
                  sha: str) -> dict[str, str]:
    """One sealed group ``K{K}/N{N}`` under ``g`` per (K, N) of ``records``; returns {its path from the
    root: its digest}. ``weights(K, N)``: the weights of one network (a witness's length; alpha = P / weights)."""
    by_kn: dict[tuple[int, int], list[Record]] = {}
    for r in records:
        by_kn.setdefault((r.K, r.N), []).append(r)
    entries = {}
    for (K, N), rs in sorted(by_kn.items()):
        Ps = sorted({r.P for r in rs})
        S = max(r.i for r in rs) + 1
        row = {P: j for j, P in enumerate(Ps)}
        status = np.full((len(Ps), S), NOT_RUN, np.int8)
        work = np.zeros((len(Ps), S), np.int64)
        energy = np.full((len(Ps), S), -1, np.int64)
        wall = np.zeros((len(Ps), S), np.float64)
        cpu = np.full((len(Ps), S), np.nan)
        witness = np.zeros((len(Ps), S, weights(K, N)), np.int8)
        for r in rs:
            j = row[r.P]
            status[j, r.i], work[j, r.i], energy[j, r.i], wall[j, r.i] = r.status, r.work, r.energy, r.wall_s
            cpu[j, r.i] = r.cpu_s
            if r.witness is not None:
                witness[j, r.i] = r.witness
        h = g.create_group(f"K{K}/N{N}")
        h.attrs.update({"K": K, "N": N, "n_weights": weights(K, N)})
        h.create_dataset("P", data=np.array(Ps, np.int64))
        h.create_dataset("alpha", data=np.array(Ps, float) / weights(K, N))
        h.create_dataset("status", data=status)
        h.create_dataset("work", data=work)
        h.create_dataset("energy", data=energy)
        h.create_dataset("wall_s", data=wall)
        h.create_dataset("cpu_s", data=cpu)
        h.create_dataset("witness", data=witness, compression="gzip", compression_opts=4, shuffle=True)
        entries[h.name.lstrip("/")] = seals.seal_bound(h, {"capacity_sha256": sha, "K": K, "N": N})
    return entries


def read_records(groups: Iterable[h5py.Group]) -> Iterator[Record]:
    """The records of instance groups ``K{K}/N{N}`` (every (P, i) slot that holds an answer)."""
    for h in groups:
        K, N = int(h.attrs["K"]), int(h.attrs["N"])
        Ps, status, work, energy, wall, wit = (h[k][()] for k in ("P", "status", "work", "energy",
                                                                   "wall_s", "witness"))
        cpu = h["cpu_s"][()] if "cpu_s" in h else np.full(status.shape, np.nan)
        for j, P in enumerate(Ps):
            for i in np.nonzero(status[j] != NOT_RUN)[0]:
                s = int(status[j, i])
                yield Record(K, N, int(P), int(i), s, int(work[j, i]), int(energy[j, i]),
                             float(wall[j, i]), wit[j, i].copy() if s == 1 else None, float(cpu[j, i]))


def _basis(entries: dict[str, str]) -> str:
    """What ``/analysis`` was computed from: the digests of the instance groups."""
    h = hashlib.sha256()
    for name in sorted(entries):
        h.update(f"{name} {entries[name]}\n".encode())
    return h.hexdigest()


def write_analysis(g: h5py.Group, analysis: dict, sha: str, instances: dict[str, str]) -> str:
    """``/analysis`` from ``relusim.capacity.analysis.analyse``'s dict, sealed to the plan and to the
    instance groups ``instances`` {path: digest} it was computed from; returns its digest."""
    g.attrs["answer"] = analysis["answer"]
    for K, a in analysis["by_K"].items():
        h = g.create_group(f"K{K}")
        for key in ("N", "P", "alpha", "done", "solved", "unknown", "fraction", "wilson_lo", "wilson_hi",
                    "cpu_s", "cpu_s_solved"):
            h.create_dataset(key, data=np.array([row[key] for row in a["points"]]))
        m = h.create_group("midpoints")
        for key in ("N", "alpha50", "err", "grid_edge"):
            m.create_dataset(key, data=np.array([row[key] for row in a["midpoints"]], float))
        m.create_dataset("beyond_grid", data=np.array([row["beyond_grid"] for row in a["midpoints"]], np.int8))
        m["beyond_grid"].attrs["meaning"] = ("-1: alpha50 below the grid's smallest alpha (grid_edge), "
                                             "+1: above its largest, 0: neither")
        if a["fit"] is not None:
            h.create_group("fit").attrs.update({k: v for k, v in a["fit"].items()})
        ex = a["midpoint_extrapolation"]
        x = h.create_group("midpoint_extrapolation")
        x.attrs.update({k: v for k, v in ex.items() if k != "variants"})
        v = x.create_group("variants")  # one row per fit of the systematics scan (relusim.capacity.fss.Variant)
        rows = ex.get("variants", [])
        for key in ("form", "window"):
            v.create_dataset(key, data=np.array([r[key] for r in rows], dtype=object), dtype=h5py.string_dtype())
        for key, dt in (("N_min", np.int64), ("N_max", np.int64), ("sizes", np.int64), ("alpha_inf", float),
                        ("err", float), ("chi2", float), ("dof", np.int64), ("z", float)):
            v.create_dataset(key, data=np.array([r[key] for r in rows], dt))
        if a["theory"] is not None:
            h.attrs.update({"theory_alpha": a["theory"]["alpha"], "theory_label": a["theory"]["label"]})
        h.attrs["wall_s"] = a["wall_s"]
        h.attrs["cpu_s"] = a["cpu_s"]
    return seals.seal_bound(g, {"capacity_sha256": sha, "instances": _basis(instances)})


# --------------------------------------------------------------------------------- audit --


def schema_of(f: h5py.File) -> tuple[int, list[str]]:
    """(the schema a capacity file follows, [what is wrong with its schema_version]): 3 sealed, 1 written
    before capacity files were sealed (no seal anywhere). A sealed file whose ``schema_version`` was
    removed is read as schema 3 and reported."""
    declared = seals.declared_schema(f)
    if declared is not None:
        return declared
    sealed = MANIFEST in f or ("analysis" in f and DIGEST_ATTR in f["analysis"].attrs)
    if not sealed and "instances" in f:
        sealed = any(DIGEST_ATTR in h.attrs for kg in f["instances"].values() if isinstance(kg, h5py.Group)
                     for h in kg.values())
    if sealed:
        return SCHEMA_VERSION, ["schema_version is missing, but the file carries seals (removed?)"]
    return 1, []


@dataclass
class Audit:
    """What ``audit`` found in an open capacity file: groups by their path from the root."""

    schema: int = SCHEMA_VERSION
    fatal: str | None = None  # the file cannot be read as a capacity file at all
    root: list[tuple[str, str]] = field(default_factory=list)  # schema, manifest, root attributes
    bad: dict[str, str] = field(default_factory=dict)  # groups that must not be used
    deleted: dict[str, str] = field(default_factory=dict)  # listed in the manifest, absent
    good: dict[str, str | None] = field(default_factory=dict)  # path -> digest of every group that verifies

    def problems(self) -> list[tuple[str, str]]:
        out = [] if self.fatal is None else [("file", self.fatal)]
        groups = sorted({**self.bad, **self.deleted}.items(), key=lambda kv: (kv[0] == "analysis", kv[0]))
        return out + self.root + groups  # the instances before the analysis derived from them

    def instance_groups(self) -> list[str]:
        return [p for p in self.good if p.startswith("instances/")]


def _check_bound(g, binding: dict, schema: int) -> str | None:
    """None if ``g`` is sealed to ``binding`` and its checksums hold (schema 1: nothing to check)."""
    try:
        if not isinstance(g, h5py.Group):
            return "is not a group"
        digest = seals.load_digest(g)
        if digest is None:
            return None if schema < SCHEMA_VERSION else "carries no checksum (its sha256 is missing: removed, or never sealed)"
        key = seals.binding_mismatch(digest, binding)
        if key == "capacity_sha256":
            return (f"comes from a capacity run of another plan (capacity_sha256 {str(digest.get('@capacity_sha256'))[:12]}, "
                    f"not this file's {str(binding['capacity_sha256'])[:12]}; copied from another file)")
        if key in ("K", "N"):
            return (f"is K = {digest.get('@K')}, N = {digest.get('@N')} of its run, stored as "
                    f"K{binding['K']}/N{binding['N']} (moved or copied)")
        if key == "instances":
            return "was computed from other instances than those the file holds (stale or copied)"
        return seals.check_digest(g, digest)
    except Exception as exc:  # noqa: BLE001 - damaged metadata of any kind
        return f"unreadable ({type(exc).__name__})"


def audit(f: h5py.File, sha: str | None = None) -> Audit:
    """Check an open capacity file against its own seals; never raises on damage (DataError only for a
    file of a newer schema). ``sha``: the plan its groups must belong to (a resume knows it); by
    default the root's ``capacity_sha256``."""
    a = Audit()
    try:
        sha = str(f.attrs["capacity_sha256"]) if sha is None else sha
        a.schema, why = schema_of(f)
        a.root += [("file", w) for w in why]
        top = f["instances"] if "instances" in f else {}
        groups: dict[str, tuple] = {}
        for kname, kg in top.items():
            if not (_K.match(kname) and isinstance(kg, h5py.Group)):
                a.bad[f"instances/{kname}"] = "is not a group of instances (a stray object)"
                continue
            for nname, h in kg.items():
                if not _N.match(nname):
                    a.bad[f"instances/{kname}/{nname}"] = "is not a group of instances (a stray object)"
                    continue
                groups[f"instances/{kname}/{nname}"] = (h, {"capacity_sha256": sha, "K": int(kname[1:]),
                                                            "N": int(nname[1:])})
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged metadata
        a.fatal = f"its root or its index of instances is unreadable ({type(exc).__name__})"
        return a
    manifest = None
    if a.schema >= SCHEMA_VERSION:
        manifest, why = seals.read_manifest(f, _HEADER, keys="group")
        a.root += [("manifest", w) for w in why]
        if manifest is not None:
            try:
                theirs = str(f[MANIFEST].attrs["capacity_sha256"])
                if theirs != sha:
                    a.root.append(("manifest", f"records capacity_sha256 {theirs[:12]}, the file says {sha[:12]}"))
            except Exception as exc:  # noqa: BLE001
                a.root.append(("manifest", f"is unreadable ({type(exc).__name__})"))

    def check(path: str, g, binding: dict) -> None:
        why = _check_bound(g, binding, a.schema)
        d = seals.digest_of(g) if why is None else None
        if why is None:
            why = seals.against_manifest(manifest, path, d)
        if why is None:
            a.good[path] = d
        else:
            a.bad[path] = why

    for path, (h, binding) in groups.items():
        check(path, h, binding)
    if "analysis" in f:
        check("analysis", f["analysis"], {"capacity_sha256": sha,
                                          "instances": _basis({p: a.good[p] for p in a.instance_groups()})})
    if manifest is not None:
        for path in sorted(set(manifest) - set(groups) - {"analysis" if "analysis" in f else None}):
            a.deleted[path] = "is listed in the manifest but absent (deleted)"
    return a


# ------------------------------------------------------------------------------- readers --


def is_capacity(path: str | os.PathLike) -> bool:
    """Whether ``path`` opens as HDF5 and says it is a capacity file (its root attribute ``kind``)."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("kind") == KIND
    except Exception:  # noqa: BLE001 - not HDF5, or damaged: the reader that opens it says so
        return False


def _problem_line(path, problems: list[tuple[str, str]]) -> str:
    where, why = problems[0]
    more = f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)})" if len(problems) > 1 else ""
    return (f"{path}: {where}: {why}{more}; never used; rerun {_REPAIR} on {path} to repair it: what fails is "
            f"dropped and run again (`relusim info --verify {path}` lists every problem)")


def open_capacity(path: str | os.PathLike, verify: bool = True) -> tuple[h5py.File, Audit]:
    """Open a capacity file read-only and audit it; InputError if it is not one, DataError (one line,
    the first problem) if ``verify`` and anything fails its seals or its HDF5 structure is damaged."""
    try:
        is_h5 = Path(path).is_file() and h5py.is_hdf5(path)
    except Exception:  # noqa: BLE001
        is_h5 = False
    if not is_h5:
        raise InputError("RESULTS", str(path), "is not a readable HDF5 file")
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - an HDF5 signature, but a damaged superblock or root (truncated)
        raise DataError(f"{path}: does not open as HDF5 ({type(exc).__name__}: its superblock or root is damaged, "
                        f"or it is truncated); never used; rerun {_REPAIR} and --overwrite to recompute it") from None
    try:
        with results.reading(path, repair=_REPAIR):
            if f.attrs.get("kind") != KIND:
                raise InputError("RESULTS", str(path), "is not a relusim capacity file")
            a = audit(f)
            if verify and a.problems():
                raise DataError(_problem_line(path, a.problems()))
    except BaseException:
        f.close()
        raise
    return f, a


_OLD = "written before capacity files were sealed (schema 1): read as it is, nothing to check it against"


def load_records(path: str | os.PathLike) -> tuple[dict, list[Record]]:
    """The root attributes and the records of a capacity file, after checking every seal (DataError
    names the first problem in one line). A file of schema 1 is read with a note on stderr."""
    f, a = open_capacity(path)
    with f, results.reading(path, repair=_REPAIR):
        if a.schema < SCHEMA_VERSION:
            results.note(f"{path}: {_OLD}")
        return dict(f.attrs), list(read_records(f[p] for p in a.instance_groups()))


def _journal_lines(path, sha) -> int:
    return sum(1 for d in Journal(journal_path(path)).read() if d.get("sha") == sha)


def verify(path: str | os.PathLike) -> list[str]:
    """``relusim info --verify`` on a capacity file: the lines of the report; raises DataError (one
    line, the report as its ``report`` attribute) if anything fails."""
    f, a = open_capacity(path, verify=False)
    with f, results.reading(path, repair=_REPAIR):
        sha = str(f.attrs.get("capacity_sha256"))
    problems = a.problems()
    n = len(a.instance_groups()) + sum(p.startswith("instances/") for p in {**a.bad, **a.deleted})
    what = "sealed by the manifest" if a.schema >= SCHEMA_VERSION else _OLD
    lines = [f"verified  {len(a.instance_groups())}/{n} instance groups"
             + (" and the analysis" if "analysis" in a.good else "") + f", {what}"]
    pending = _journal_lines(path, sha)
    if pending:
        lines.append(f"pending   {pending} finished instances in {journal_path(path)} (folded in on the next run)")
    lines += [f"damaged   {where}: {why}" for where, why in problems]
    if problems:
        err = DataError(_problem_line(path, problems))
        err.report = lines
        raise err
    return lines


def summary(path: str | os.PathLike) -> str:
    """``relusim info`` on a capacity file: method, model, grid, instances done, the 50% points."""
    f, a = open_capacity(path)
    with f, results.reading(path, repair=_REPAIR):
        at = f.attrs
        alphas = np.asarray(at["alpha"], float)
        grid = (f"{alphas[0]:g}" if len(alphas) == 1 else
                f"{alphas[0]:g} .. {alphas[-1]:g} ({len(alphas)} values)")
        total = at.get("instances_total")
        lines = [
            f"file      {path}",
            f"capacity  {at['method']}: {at['answer']}",
            f"model     {at['activation']} / {at['weights']}   {at['architecture']}   seed {at['seed']}   "
            f"relusim {at['relusim_version']}   git {str(at['git_commit'])[:10]}{' (dirty)' if at['git_dirty'] else ''}",
            f"grid      K {', '.join(map(str, at['K']))}   N {', '.join(map(str, at['N']))}   alpha {grid}   "
            f"{at['samples']} instances per point",
            f"created   {at['created_utc']} on {at['host']}",
            f"progress  {int(at['instances_done'])}" + (f"/{int(total)}" if total is not None else "")
            + " instances done" + ("  (finished)" if at.get("finished") else ""),
        ]
        pending = _journal_lines(path, str(at["capacity_sha256"]))
        if pending:
            lines.append(f"pending   {pending} finished instances in {journal_path(path)} (folded in on the next run)")
        if "analysis" in f:
            for kname in sorted(f["analysis"], key=lambda k: int(k[1:])):
                m = f["analysis"][kname]["midpoints"]
                mids = [f"N = {int(n)} {x:.3f} +- {e:.3f}" if np.isfinite(x) else f"N = {int(n)} -"
                        for n, x, e in zip(m["N"][()], m["alpha50"][()], m["err"][()])]
                lines.append(f"50% point {kname[0]} = {kname[1:]}: " + ", ".join(mids))
        else:
            lines.append("50% point not analysed yet (the run has not finished)")
        if a.schema < SCHEMA_VERSION:
            lines.append(f"seals     none: {_OLD}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------- writer --


class CapacityFile:
    """A capacity file and its journal of finished instances, owned by one process (the caller holds
    the file's lock, ``relusim.storage.lock``)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.journal = Journal(journal_path(path))
        self.records: dict[tuple[int, int, int, int], Record] = {}
        self.created = None
        self.sha: str | None = None
        self.from_file = 0  # records read from the sealed file; the rest came from journals
        self._ended: list[Path] = []  # task journals folded whose task has ended: dropped by ``write``

    def open(self, sha: str, overwrite: bool = False, key: str = "--out") -> None:
        """Load what is done for the plan of hash ``sha``: the instances of the file that pass its
        seals, then the journal. A file of another plan is refused (InputError); groups that fail
        their seals are dropped (said on stderr) and their instances run again; the next ``write``
        seals the file anew."""
        if overwrite:
            self.path.unlink(missing_ok=True)
            for j in task_journals(self.path):
                lock.acquire(j, lock.FILE, key=key)  # refused while its task runs
                j.unlink()
                lock.release(j, lock.FILE)
            self.journal.remove()
        if self.path.exists():
            try:
                f = h5py.File(self.path, "r")
            except OSError:
                raise InputError("--out", str(self.path), "exists but is not a readable HDF5 file (damaged, "
                                 "truncated, or another file); use --overwrite or another --out") from None
            with f, results.reading(self.path, repair=f"{_REPAIR} and --overwrite"):
                theirs = f.attrs.get("capacity_sha256")
                if theirs != sha:
                    what = ("holds a capacity run of another config or method" if f.attrs.get("kind") == KIND
                            else "is not a capacity file (another relusim file, or not relusim's)")
                    raise InputError("--out", str(self.path), f"{what}; use --overwrite to replace it, or another --out")
                self.created = f.attrs.get("created_utc")
                a = audit(f, sha)
                if a.fatal:
                    raise DataError(f"{self.path}: {a.fatal}; rerun with --overwrite to recompute every instance")
                self.records.update({r.key: r for r in read_records(f[p] for p in a.instance_groups())})
            self._say_repaired(a)
        self.from_file = len(self.records)
        for d in self.journal.read():
            if d.get("sha") == sha:
                r = Record.from_json(d)
                self.records[r.key] = r
        self._fold_tasks(sha, key)
        self.sha = sha

    def _fold_tasks(self, sha: str, key: str) -> None:
        """Every array task's journal: all checked before any is used (one of another plan is refused
        with one line), then folded in; those whose task has ended (their lock is free) are kept
        locked until ``write`` drops them."""
        lines = {}
        for j in task_journals(self.path):
            lines[j] = list(Journal(j).read())
            foreign = [d.get("sha") for d in lines[j] if d.get("sha") != sha]
            if foreign:
                theirs = foreign[0]
                raise InputError(key, str(self.path), f"{j.name} in {j.parent} holds instances of another "
                                 f"capacity run (capacity_sha256 {str(theirs)[:12]}, not this file's {sha[:12]}; "
                                 "copied from another run?): move it away, or use --overwrite to start afresh")
        for j, ds in lines.items():
            for d in ds:
                r = Record.from_json(d)
                self.records[r.key] = r
            try:
                lock.acquire(j, lock.FILE, key=key)
                self._ended.append(j)
            except InputError:
                pass  # its task still runs: read again by the next merge

    def _say_repaired(self, a: Audit) -> None:
        for where, why in a.root:
            results.note(f"{self.path}: {where}: {why}; rewritten from this run's plan and sealed again")
        if a.schema < SCHEMA_VERSION:
            results.note(f"{self.path}: written before capacity files were sealed (schema {a.schema}); its "
                         f"{len(a.instance_groups())} groups of instances are read as they are and sealed now")
        for where, why in a.problems()[len(a.root):]:
            then = "computed again at the end" if where == "analysis" else "its instances are run again"
            results.note(f"{self.path}: {where}: {why}; dropped, {then}")

    def add(self, r: Record) -> None:
        self.journal.append(r.to_json(self.sha))
        self.records[r.key] = r

    def write(self, attrs: dict, weights: Callable[[int, int], int], analysis: dict | None = None,
              finished: bool = False) -> None:
        """Rewrite the whole file from the records (temporary file, fsync, rename), sealed, then drop the
        journal. ``attrs``: the root attributes of the plan (provenance, grid, method);
        ``weights(K, N)``: the weights of one network."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = results.temp_path(self.path)  # .<name>~<host>~<pid>.tmp (CONTRACT.md): a rerun removes a killed run's
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs.update(attrs)
                if self.created is not None:
                    f.attrs["created_utc"] = self.created
                f.attrs.update({"kind": KIND, "capacity_sha256": self.sha, "instances_done": len(self.records),
                                "finished": bool(finished), seals.SCHEMA_ATTR: SCHEMA_VERSION})
                entries = write_records(f.create_group("instances"), self.records.values(), weights, self.sha)
                if analysis is not None:
                    entries["analysis"] = write_analysis(f.create_group("analysis"), analysis, self.sha, entries)
                seals.write_manifest(f, entries, {"schema_version": SCHEMA_VERSION, "capacity_sha256": self.sha},
                                     keys="group")
            results._fsync_replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        for j in self._ended:
            j.unlink(missing_ok=True)
            lock.release(j, lock.FILE)
        self._ended = []
        self.journal.remove()

    def close(self) -> None:
        self.journal.close()
        for j in self._ended:
            lock.release(j, lock.FILE)
        self._ended = []
