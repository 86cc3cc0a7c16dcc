"""relusim from Python (a notebook, a script): ``run`` an experiment, ``load`` a result file.

``run`` takes a config as a dict, a YAML path or a ``Config``, validates it exactly as the command
line does (``relusim.config``) and writes the same file through the same runner; ``relusim anneal``
is these two calls plus printing. ``load`` opens a result file lazily: the root attributes and the
list of samples are read at once, every dataset only when it is asked for, so a file of any size
opens in milliseconds.

    >>> import relusim
    >>> res = relusim.run({"model": {"N": 40, "K": 4, "alpha": 0.3}, "samples": 2,
    ...                    "output": "results/tiny.h5"}, quiet=True)        # doctest: +SKIP
    >>> res.summary()["solved"]                                              # doctest: +SKIP
    array([ True,  True])
    >>> res.sample(0).stabilities.shape                                      # (y, P)  doctest: +SKIP
    (1, 12)

The per-sample table is a dict of equal-length numpy columns: ``pandas.DataFrame(res.summary())``
makes it a data frame where pandas is installed (relusim does not need pandas for anything else, so
it does not depend on it; ``res.summary(frame=True)`` does the conversion for you).
"""
from __future__ import annotations

import numbers
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Mapping

import h5py
import numpy as np

from . import config as _config
from .storage import results as io
from .config import Config
from .errors import InputError

__all__ = ["run", "load", "run_sweep", "Results", "Sample", "SweepResults"]


def _plain(value: Any) -> Any:
    """A deep copy of a config dict in plain Python: NumPy scalars become the numbers they are
    (``np.int64(40)`` -> 40), ``pathlib.Path`` a string, tuples lists. Anything else is left for the
    config's validation to refuse with one line naming its key."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _as_config(cfg: Config | Mapping | str | os.PathLike, overrides: dict) -> Config:
    if isinstance(cfg, Config):
        return cfg.replace(**{k: _plain(v) for k, v in overrides.items()}) if overrides else cfg
    if isinstance(cfg, Mapping):
        raw = _plain(cfg)
        for key, value in overrides.items():
            node = raw
            *parents, last = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
                if not isinstance(node, dict):
                    raise InputError(p, node, "expected a mapping of keys")
            node[last] = _plain(value)
        return _config.from_dict(raw)
    if isinstance(cfg, (str, os.PathLike)):
        return _config.load(cfg, **{k: _plain(v) for k, v in overrides.items()})
    raise InputError("config", type(cfg).__name__, "a dict, a path to a YAML file or a relusim Config")


def _flag(key: str, value) -> bool:
    """``overwrite``, ``quiet``: True or False (``overwrite="no"`` would be true, and overwrite)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(key, value, "expected True or False")
    return bool(value)


def _count(key: str, value, none_ok: bool = True) -> int | None:
    """``workers``, ``samples``: an integer >= 1 (NumPy integers too), or None where that means the default."""
    if value is None and none_ok:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InputError(key, value, "expected an integer >= 1" + (" or None" if none_ok else ""))
    if value < 1:
        raise InputError(key, value, "must be >= 1")
    return int(value)


def run(config: Config | Mapping | str | os.PathLike, *, samples: int | None = None, output: str | None = None,
        workers: int | None = 1, overwrite: bool = False, quiet: bool = False) -> "Results":
    """Run (or resume) an experiment and return its :class:`Results`.

    ``config``: a dict with the keys of a YAML config (defaults filled in as by the CLI), a path to a
    YAML file, or a ``Config``. ``samples`` and ``output`` override those keys, as ``--samples`` and
    ``--out`` do. ``workers``: local processes (1 by default here: a notebook rarely wants a pool;
    None uses every core, as the CLI does). The progress bar is ``tqdm.auto``'s: a widget in a
    notebook, text at a terminal; ``quiet`` hides it. Bad input raises
    :class:`relusim.errors.InputError` naming the key, the value and what is allowed, before anything
    is written. NumPy numbers and ``pathlib.Path`` are accepted wherever a number or a path is.
    """
    from .execution import runner

    workers = _count("workers", workers)  # every argument checked before anything is created
    overwrite, quiet = _flag("overwrite", overwrite), _flag("quiet", quiet)
    overrides = {k: v for k, v in (("samples", samples), ("output", output)) if v is not None}
    cfg = _as_config(config, overrides)
    from .execution.resources import check_memory

    check_memory([cfg], workers or runner.default_workers(), workers_key="workers")  # named as given here
    summary = runner.run(cfg, workers=workers or runner.default_workers(), overwrite=overwrite,
                         command=f"relusim.run() in {' '.join(sys.argv) or 'python'}", quiet=quiet,
                         progress=not quiet)
    res = load(cfg.output)
    res.last_run = summary
    return res


def load(path: str | os.PathLike) -> "Results":
    """Open a result file (read-only, lazily). Raises InputError if it is not a relusim result file,
    :class:`relusim.errors.DataError` (one line) if it fails its seals: a damaged, deleted, duplicated,
    foreign or unsealed sample, a damaged config or manifest."""
    return Results(Path(path))


@dataclass
class Sample:
    """One finished sample; every dataset is read from the file when it is first asked for.

    ``weights`` (y, N) int8, ``energy`` (y,), ``stabilities`` (y, P), ``patterns`` (P, N) int8,
    ``labels`` (P,), ``trace`` (a dict of arrays: sweep, beta, energy, accepted, ...), and for
    replicated runs ``reference`` (N,) and ``reference_stabilities`` (P,). ``attrs``: solved,
    sweeps_done, wall_s, and for replicated runs final_overlap, reference_energy, ...
    """

    path: Path
    name: str

    def _read(self, key: str) -> np.ndarray:
        with io.reading(self.path), h5py.File(self.path, "r") as f:
            g = f["samples"][self.name]
            if key not in g:
                holds = ", ".join(g)
            else:
                return g[key][()]
        raise AttributeError(f"sample {self.name} of {self.path} has no '{key}' (it holds {holds})")

    @cached_property
    def attrs(self) -> dict:
        with io.reading(self.path), h5py.File(self.path, "r") as f:
            return {k: _plain(v) for k, v in f["samples"][self.name].attrs.items()}

    @property
    def index(self) -> int:
        return int(self.name)

    @property
    def solved(self) -> bool:
        return bool(self.attrs["solved"])

    weights = property(lambda self: self._read("weights"))
    energy = property(lambda self: self._read("energy"))
    stabilities = property(lambda self: self._read("stabilities"))
    patterns = property(lambda self: self._read("patterns"))
    labels = property(lambda self: self._read("labels"))
    reference = property(lambda self: self._read("reference"))
    reference_stabilities = property(lambda self: self._read("reference_stabilities"))

    @property
    def trace(self) -> dict[str, np.ndarray]:
        with io.reading(self.path), h5py.File(self.path, "r") as f:
            return {k: v[()] for k, v in f["samples"][self.name]["trace"].items()}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return v.decode()
    return v


class Results:
    """A result file: ``config`` (the resolved config, a dict), ``provenance`` (versions, git commit,
    host, command, ...), ``samples`` (a list of :class:`Sample`, read lazily), ``summary()`` (one row per
    sample), ``stabilities()`` and ``robustness()`` as arrays."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.last_run = None  # the runner's RunSummary when this object comes from run()
        # checked against its seals (manifest, every sample, /robustness) before anything is read
        with io.open_results(self.path) as f, io.reading(self.path):
            attrs = {k: _plain(v) for k, v in f.attrs.items()}
            names = sorted(k for k, g in f["samples"].items() if g.attrs.get("status") == "complete")
            self.config: dict = io.stored_config(f, self.path)
            attrs.pop("config")
        self.provenance: dict = attrs
        self.samples: list[Sample] = [Sample(self.path, n) for n in names]

    def __repr__(self) -> str:
        m = self.config["model"]
        return (f"<relusim.Results {self.path}: {len(self.samples)}/{self.provenance.get('samples', '?')} samples, "
                f"{m['activation']} N={m['N']} K={m['K']} alpha={m['alpha']} y={self.config['ensemble']['replicas']}>")

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def sample(self, index: int) -> Sample:
        """The sample of that index (not position), or KeyError."""
        for s in self.samples:
            if s.index == index:
                return s
        raise KeyError(f"{self.path} holds no finished sample {index}")

    def summary(self, frame: bool = False) -> dict[str, np.ndarray]:
        """One row per sample, as a dict of numpy columns (``frame=True``: a pandas DataFrame).

        Columns: index, solved, sweeps_done, wall_s, energy (final, summed over replicas),
        energy_max (worst replica), errors (fraction of stabilities <= 0), stability_mean,
        stability_min; replicated runs add final_overlap and reference_energy.
        """
        cols: dict[str, list] = {k: [] for k in ("index", "solved", "sweeps_done", "wall_s", "energy",
                                                  "energy_max", "errors", "stability_mean", "stability_min")}
        replicated = self.config["ensemble"]["replicas"] > 1
        if replicated:
            cols.update(final_overlap=[], reference_energy=[])
        with io.reading(self.path), h5py.File(self.path, "r") as f:
            for s in self.samples:
                g = f["samples"][s.name]
                e = g["energy"][()]
                d = g["stabilities"][()]
                cols["index"].append(int(g.attrs["index"]))
                cols["solved"].append(bool(g.attrs["solved"]))
                cols["sweeps_done"].append(int(g.attrs["sweeps_done"]))
                cols["wall_s"].append(float(g.attrs["wall_s"]))
                cols["energy"].append(int(e.sum()))
                cols["energy_max"].append(int(e.max()))
                cols["errors"].append(float(np.mean(d <= 0)))
                cols["stability_mean"].append(float(d.mean()))
                cols["stability_min"].append(float(d.min()))
                if replicated:
                    cols["final_overlap"].append(float(g.attrs.get("final_overlap", np.nan)))
                    cols["reference_energy"].append(int(g.attrs.get("reference_energy", -1)))
        table = {k: np.asarray(v) for k, v in cols.items()}
        if frame:
            try:
                import pandas as pd
            except ImportError:
                raise InputError("frame", True, "needs pandas (pip install pandas); "
                                 "or use the dict of columns as it is") from None
            return pd.DataFrame(table)
        return table

    def stabilities(self, which: str = "replicas", solved_only: bool = False) -> np.ndarray:
        """The stabilities of every sample stacked: (S, y, P) for "replicas", (S, P) for "reference"."""
        key = {"replicas": "stabilities", "reference": "reference_stabilities"}.get(which)
        if key is None:
            raise InputError("which", which, "replicas or reference")
        chosen = [s for s in self.samples if s.solved or not solved_only]
        if not chosen:
            raise InputError("solved_only", solved_only, f"{self.path} holds no such sample")
        with io.reading(self.path), h5py.File(self.path, "r") as f:
            return np.stack([f["samples"][s.name][key][()] for s in chosen])

    def robustness(self, over: str = "solved") -> dict:
        """The robustness curves stored by ``relusim robustness`` (or :func:`relusim.analysis.robustness.measure_file`):
        ``{"input_flip": {"reference"|"machine"|"replicas": Curve(x, mean, sem, n_samples)}, "weight_noise": ...}``,
        averaged over the solved samples by default (``over``: "solved", "unsolved", "all"); empty if
        none were measured."""
        from .analysis.robustness import read_curves

        return read_curves(self.path, over)

    def theory_stabilities(self, x: np.ndarray, q1: float | None = None) -> np.ndarray:
        """The K -> inf theory density of Delta at ``x`` for this run (RS typical for y = 1, the
        large-deviation law at y and q1 for y > 1; q1 defaults to the measured mean overlap)."""
        from .theory.stabilities import stability_density

        m, y = self.config["model"], self.config["ensemble"]["replicas"]
        kw: dict = {}
        if y > 1:
            if q1 is None:
                from .models.machine import mean_mutual_overlap

                q1 = float(np.mean([mean_mutual_overlap(s.weights) for s in self.samples]))
            kw = {"y": y, "q1": q1}
        return stability_density(m["activation"], m["weights"], m["alpha"], x=np.asarray(x, float), **kw)


def _grid_axes(grid, base: Config) -> list:
    """``{"model.alpha": [0.2, 0.3], ...}`` as the sweep's axes; one InputError for anything else: a
    grid that is not a mapping (a string such as ``"model.alpha=0.2,0.3"``), a key that is not a dotted
    config key, values that are not a non-empty list (a string, a number, a set, ``[]``), or a value
    that is not a scalar. NumPy arrays and scalars are lists and numbers."""
    from .execution import sweep as sweep_

    if not isinstance(grid, Mapping):
        raise InputError("grid", grid, "a mapping of dotted keys to lists of values, e.g. "
                         "{'model.alpha': [0.2, 0.3]}")
    axes = []
    for key, values in grid.items():
        if not isinstance(key, str):
            raise InputError("grid", key, "keys are dotted config keys (strings such as 'model.alpha')")
        if isinstance(values, np.ndarray):
            values = values.tolist() if values.ndim == 1 else values
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, range)):
            what = "not a string" if isinstance(values, (str, bytes)) else f"not a {type(values).__name__}"
            raise InputError(f"grid[{key!r}]", values, f"a list of values, {what} (e.g. [0.2, 0.3]; one value is "
                             "a list of one)")
        if not values:
            raise InputError(f"grid[{key!r}]", values, "a non-empty list of values (an empty axis has no points)")
        values = [_plain(v) for v in values]
        for v in values:
            if isinstance(v, (list, dict)):
                raise InputError(f"grid[{key!r}]", v, "each value is a number, true/false or a word, not a list "
                                 "or a mapping")
        sweep_._check_key(key, base)
        axes.append((key, tuple(values)))
    return axes


@dataclass
class SweepResults:
    """A finished sweep: ``points`` (the grid values of each point), ``results`` (a :class:`Results`
    per point), ``table`` (a dict of numpy columns: the grid keys, samples, solved_fraction,
    median_sweeps, median_energy, wall_s; the same as the CSV ``csv``)."""

    points: list[dict]
    results: list[Results]
    table: dict[str, np.ndarray]
    csv: Path


def run_sweep(config: Config | Mapping | str | os.PathLike, grid: Mapping[str, list], *, samples: int | None = None,
              out_dir: str | os.PathLike | None = None, workers: int | None = 1, overwrite: bool = False,
              quiet: bool = False) -> SweepResults:
    """``relusim sweep`` from Python: ``grid`` maps dotted keys to values, e.g.
    ``{"model.alpha": [0.2, 0.3], "model.K": [2, 4]}``; one result file per point of the Cartesian
    product, in ``out_dir`` (default: beside the config's output, in a folder named after it)."""
    from .execution import cluster
    from .execution import sweep as sweep_
    from .execution.runner import default_workers

    samples, workers = _count("samples", samples), _count("workers", workers)
    overwrite, quiet = _flag("overwrite", overwrite), _flag("quiet", quiet)
    base = _as_config(config, {})
    axes = _grid_axes(grid, base)
    out_dir = _plain(out_dir)
    if out_dir is not None:
        from .paths import check_folder

        if not isinstance(out_dir, str):
            raise InputError("out_dir", out_dir, "a folder path (a string or a pathlib.Path), or None")

        check_folder("out_dir", out_dir)
    points = sweep_.expand(base, axes, out_dir, samples)
    from .execution.resources import check_memory

    check_memory([p.cfg for p in points], workers or default_workers(), workers_key="workers")
    backend = cluster.LocalBackend(workers or default_workers())
    sweep_.run_sweep(points, backend, overwrite=overwrite, quiet=quiet, progress=not quiet,
                     command=f"relusim.run_sweep() in {' '.join(sys.argv) or 'python'}")
    rows = sweep_.point_rows(points)
    csv = sweep_.write_csv(rows, sweep_.csv_path(points))
    table = {k: np.asarray([r[k] for r in rows]) for k in rows[0]}
    return SweepResults([dict(p.values) for p in points], [load(p.cfg.output) for p in points], table, csv)
