"""Sweeps: the Cartesian product of a config over ``--grid KEY=V1,V2,...``, one result file per point.

A point is a validated ``Config``; its output is named from the point,
``<dir>/<name>/<name>__model.alpha=0.3__model.activation=sign.h5``, so rerunning the same sweep finds
its files again and resumes them (``relusim.storage.results``: finished samples are kept, the rest run). The
samples of all points are one pool of tasks (``relusim.execution.cluster`` runs them) under one progress bar;
a sample's bits depend only on (point config, seed, sample index), whatever runs it.
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import itertools
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

import yaml
from tqdm.auto import tqdm

from ..storage import results
from .. import ranges
from ..config import Config
from ..errors import InputError

MERGE_EVERY_S = 10.0  # copy-on-write merges are O(file size): batch them
NOT_SWEPT = {"name": "it is set from the point", "output": "each point's output is named from the point",
             "samples": "use --samples"}
SCHEDULE_KEYS = {"anneal.beta", "ensemble.gamma"}  # sections that also accept a scalar (a constant)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")
MAX_NAME = 200  # file names are limited to 255 bytes on most file systems
MAX_POINTS = 10_000  # one result file per point

GridAxis = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class Point:
    """One point of a sweep: the grid values that define it and its validated config."""

    values: tuple[tuple[str, Any], ...]
    cfg: Config


@dataclass(frozen=True)
class Task:
    """One sample of one point: the unit of work, of failure and of resume."""

    cfg: Config
    index: int


class Backend(Protocol):
    """Runs samples; yields ``(output, index, solved, energy)`` once a sample's shard is on disk.

    ``runs_here``: its workers are processes of this machine, which load the kernels compiled here
    before they start (elsewhere each worker compiles or loads its own)."""

    runs_here: bool

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[str, int, bool, int]]: ...


@dataclass(frozen=True)
class SweepSummary:
    outputs: tuple[str, ...]
    samples: int
    ran: int
    solved: int
    wall_s: float


# ------------------------------------------------------------------------------- the grid --


def scalar(token: str) -> Any:
    """A grid value typed as a YAML scalar: ``0.3`` float, ``4`` int, ``true`` bool, ``sign`` str.

    ``1e-3`` is a float too (YAML 1.1, which PyYAML reads, wants ``1.0e-3``).
    """
    from ..config import _Loader  # no alias bomb, no nesting deep enough to exhaust the stack

    try:
        value = yaml.load(token, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError, RecursionError):
        return token
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    if isinstance(value, (dict, list)):
        raise InputError("--grid", token, "values must be scalars (numbers, true/false or words)")
    return value


def parse_grid(specs: Sequence[str], base: Config) -> list[GridAxis]:
    """Parse ``KEY=V1,V2,...`` or ``KEY=start:stop:step`` (``relusim.ranges``: integers when start, stop
    and step are) options into axes; keys are checked against ``base``."""
    axes: list[GridAxis] = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise InputError("--grid", spec, "expected KEY=V1,V2,... (e.g. model.alpha=0.3,0.4)")
        _check_key(key, base)
        if key in (k for k, _ in axes):
            raise InputError("--grid", spec, f"{key} is given twice; list all its values in one --grid")
        if ranges.is_range(values):  # YAML 1.1 read 1:2:3 as the base-60 integer 3723
            axes.append((key, ranges.parse(f"--grid {key}", values, MAX_POINTS)))
            continue
        tokens = [t.strip() for t in values.split(",")]
        if any(not t for t in tokens):
            raise InputError("--grid", spec, "has an empty value")
        axes.append((key, tuple(scalar(t) for t in tokens)))
    return axes


def _check_key(key: str, base: Config) -> None:
    top = key.split(".")[0]
    if top in NOT_SWEPT:
        raise InputError("--grid", key, f"cannot be swept: {NOT_SWEPT[top]}")
    node: Any = base.to_dict()
    where = ""
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            known = list(node) if isinstance(node, dict) else []
            close = difflib.get_close_matches(part, known, n=1)
            hint = f"did you mean '{where}{close[0]}'?" if close else (
                f"allowed keys: {', '.join(where + k for k in known)}" if known else f"{where.rstrip('.')} has no keys")
            raise InputError("--grid", key, f"unknown key; {hint}")
        node, where = node[part], where + part + "."
    if isinstance(node, dict) and key not in SCHEDULE_KEYS:
        raise InputError("--grid", key, f"is a section; sweep one of its keys: "
                         f"{', '.join(key + '.' + k for k in node)}")


# ------------------------------------------------------------------------------ the points --


def default_dir(base: Config) -> Path:
    """``results/default.h5`` -> ``results/default``: where the points of a sweep of ``base`` go."""
    return Path(base.output).parent / _safe(base.name)


def expand(base: Config, axes: Sequence[GridAxis], out_dir: str | os.PathLike | None = None,
           samples: int | None = None) -> list[Point]:
    """The Cartesian product of ``axes`` applied to ``base``: one validated config per point."""
    out = Path(out_dir) if out_dir is not None else default_dir(base)
    count = math.prod(len(values) for _, values in axes)
    if count > MAX_POINTS:  # checked before any point is built (4 axes of 100 values ran for hours)
        raise InputError("--grid", " x ".join(f"{k} ({len(v)})" for k, v in axes),
                         f"gives {count} points; at most {MAX_POINTS} (one result file each)")
    points: list[Point] = []
    seen: dict[str, str] = {}
    for combo in itertools.product(*(values for _, values in axes)):
        values = tuple(zip((k for k, _ in axes), combo))
        changes: dict[str, Any] = dict(values)
        if samples is not None:
            changes["samples"] = samples
        cfg = base.replace(**changes)  # validates every value; InputError names the key
        resolved = tuple((k, _resolved(cfg, k, v)) for k, v in values)
        stem = point_name(base.name, resolved)
        cfg = cfg.replace(name=stem, output=str(out / f"{stem}.h5"))
        sha = cfg.physics_sha256()
        label = ", ".join(f"{k}={_text(v)}" for k, v in resolved)
        if sha in seen:
            raise InputError("--grid", label, f"is the same point as {seen[sha]}; remove the repeated value")
        seen[sha] = label
        points.append(Point(resolved, cfg))
    if len({p.cfg.output for p in points}) < len(points):
        raise InputError("--grid", ", ".join(f"{k}={v}" for k, v in axes),
                         "two points would share a file name; use values that differ in [A-Za-z0-9._+-]")
    return points


def point_name(name: str, values: Iterable[tuple[str, Any]]) -> str:
    """A file-system-safe name for a point: ``<name>__key=value__key=value``."""
    stem = "__".join([_safe(name), *(_safe(f"{k}={_text(v)}") for k, v in values)])
    if len(stem) > MAX_NAME:
        stem = stem[:MAX_NAME - 14] + "__" + hashlib.sha256(stem.encode()).hexdigest()[:12]
    return stem


def _resolved(cfg: Config, key: str, given: Any) -> Any:
    """The value as the config holds it (``alpha=1`` -> ``1.0``), so equal points get equal names."""
    node: Any = cfg.to_dict()
    for part in key.split("."):
        node = node[part]
    return given if isinstance(node, dict) else node


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return yaml.safe_dump(value).splitlines()[0]
    return str(value)


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)


# ---------------------------------------------------------------------------- the driver --


def prepare(points: Sequence[Point], command: str, overwrite: bool = False) -> list[Task]:
    """Create (or check and resume) every point's result file; return the samples still to run."""
    tasks: list[Task] = []
    for p in points:  # every point's file locked before any is touched (refused: nothing written)
        results.ResultsFile(p.cfg.output).claim(command)
    for p in points:
        rf = results.ResultsFile(p.cfg.output)
        rf.prepare(p.cfg, command, overwrite)
        done = rf.done_indices()
        tasks += [Task(p.cfg, i) for i in range(p.cfg.samples) if i not in done]
    return tasks


def run_sweep(points: Sequence[Point], backend: Backend, *, overwrite: bool = False, quiet: bool = False,
              command: str = "", progress: bool | None = None) -> SweepSummary:
    """Run (or resume) every sample of every point on ``backend``; merge each point's file at the end.

    A backend (``relusim.execution.cluster``) reports a sample only once its shard is on disk, so a crash of
    any kind loses no finished sample. ``progress``: None shows the bar at a terminal only, True
    always (a notebook).
    """
    from .runner import compile_kernels, compile_notice  # loads numba: not for `relusim sweep --help`

    t0 = time.perf_counter()
    tasks = prepare(points, command or " ".join(sys.argv), overwrite)
    total = sum(p.cfg.samples for p in points)
    show = show_progress(quiet) if progress is None else bool(progress) and not quiet
    if tasks and backend.runs_here:  # compiled here, loaded by the local workers
        compile_kernels([p.cfg for p in points if any(t.cfg is p.cfg for t in tasks)], quiet, show=show)
    elif tasks:
        compile_notice(quiet, weights=[p.cfg.model.weights for p in points])
    bar = tqdm(total=total, initial=total - len(tasks), desc=f"sweep of {len(points)} points",
               unit="sample", disable=not show, dynamic_ncols=True)
    shas = {p.cfg.output: p.cfg.physics_sha256() for p in points}
    unmerged: set[str] = set()
    last_merge = time.monotonic()
    solved = 0
    try:
        for output, index, ok, energy in backend.run(tasks):
            solved += ok
            unmerged.add(output)
            bar.update(1)
            bar.set_postfix_str(f"{Path(output).stem} #{index}: E={energy}{' solved' if ok else ''}")
            if time.monotonic() - last_merge > MERGE_EVERY_S:
                for out in sorted(unmerged):
                    results.ResultsFile(out).merge_shards(shas[out])
                unmerged.clear()
                last_merge = time.monotonic()
    finally:
        bar.close()
        for p in points:
            results.ResultsFile(p.cfg.output).merge_shards(shas[p.cfg.output], final_samples=p.cfg.samples)
    return SweepSummary(tuple(p.cfg.output for p in points), total, len(tasks), solved,
                        time.perf_counter() - t0)


def show_progress(quiet: bool) -> bool:
    """A bar only for a person at a terminal: not with --quiet, in CI, or into a file."""
    return not quiet and sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")


# ----------------------------------------------------------------------------- the table --

TABLE_COLUMNS = ("samples", "solved_fraction", "median_sweeps", "median_energy", "wall_s")


def point_rows(points: Sequence[Point]) -> list[dict]:
    """One row per point, read from its result file: the grid values, then ``TABLE_COLUMNS``.

    ``median_energy`` is the median over samples of the final energy summed over replicas (0 when
    solved); ``wall_s`` the sampling time summed over the point's samples (not the sweep's wall clock).
    """
    import h5py
    import numpy as np

    rows = []
    for p in points:
        row: dict[str, Any] = {k: v for k, v in p.values}
        with h5py.File(p.cfg.output, "r") as f:
            groups = [g for g in f["samples"].values() if g.attrs.get("status") == "complete"]
            solved = [bool(g.attrs["solved"]) for g in groups]
            sweeps = [int(g.attrs["sweeps_done"]) for g in groups]
            energy = [int(g["energy"][()].sum()) for g in groups]
            wall = [float(g.attrs["wall_s"]) for g in groups]
        row.update(samples=len(groups), solved_fraction=float(np.mean(solved)) if groups else float("nan"),
                   median_sweeps=float(np.median(sweeps)) if groups else float("nan"),
                   median_energy=float(np.median(energy)) if groups else float("nan"),
                   wall_s=float(np.sum(wall)))
        rows.append(row)
    return rows


def csv_path(points: Sequence[Point]) -> Path:
    """Beside the points' files: ``<dir>/<base name>__sweep.csv``."""
    first = Path(points[0].cfg.output)
    base = first.stem.split("__")[0]
    return first.parent / f"{base}__sweep.csv"


def write_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """The table as CSV (one row per point), written atomically under the contract's temporary name
    (``io.temp_path``: a rerun can tell whether its writer still lives)."""
    path = Path(path)
    tmp = results.temp_path(path)
    try:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def format_rows(rows: list[dict]) -> str:
    """A fixed-width text table of :func:`point_rows`."""
    def fmt(v):
        if isinstance(v, float):
            return "-" if v != v else f"{v:.4g}" if not v.is_integer() else f"{v:.0f}"
        return _text(v)

    head = {"solved_fraction": "solved", "median_sweeps": "med. sweeps", "median_energy": "med. E",
            "wall_s": "wall [s]"}
    cols = list(rows[0])
    cells = [[head.get(c, c) for c in cols]] + [[fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells)
