"""Experiment configuration: YAML -> frozen, typed dataclasses, validated once at the edge.

Every rule lives here, so that the rest of the package can trust a ``Config`` blindly. A bad value
raises ``InputError(key, value, allowed)``, which the CLI prints as one line with exit status 2.
The keys are those of ../shared/design/CONTRACT.md; the parity rules are MODEL.md §5.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

ACTIVATIONS = ("sign", "relu")
WEIGHTS = ("binary",)  # spherical weights: a later issue
SAMPLERS = ("metropolis", "rrr")
SCHEDULES = ("constant", "linear", "geometric")
REFERENCES = ("explicit", "traced")
ARCHITECTURES = ("tree", "fully_connected")


@dataclass(frozen=True)
class Schedule:
    """A parameter annealed over the run: ``start`` -> ``stop`` (constant when they are equal)."""

    start: float
    stop: float
    schedule: str = "geometric"

    def values(self, steps: int):
        """The value at each of ``steps`` equally spaced stages (float64 array)."""
        import numpy as np

        if steps == 1 or self.schedule == "constant" or self.start == self.stop:
            return np.full(steps, float(self.start))
        if self.schedule == "linear":  # +, *, / only: the same bits on every CPU
            return self.start + (self.stop - self.start) * (np.arange(steps) / (steps - 1))
        from .kernels.detmath import geometric  # NumPy's power differs in its last bits by CPU

        return geometric(float(self.start), float(self.stop), steps)


@dataclass(frozen=True)
class ModelConfig:
    activation: str = "relu"
    weights: str = "binary"
    N: int = 400
    K: int = 4
    alpha: float = 0.4
    allow_ties: bool = False  # sign with even N/K: sgn(0) = 0 (MODEL.md §5); off by default
    architecture: str = "tree"  # tree: unit l sees inputs l n .. (l+1) n - 1; fully_connected: all N

    @property
    def fully_connected(self) -> bool:
        return self.architecture == "fully_connected"

    @property
    def n(self) -> int:
        """Fan-in of a unit: N/K for a tree, N fully connected."""
        return self.N if self.fully_connected else self.N // self.K

    @property
    def weights_count(self) -> int:
        """Weights of one network: N for a tree, K N fully connected."""
        return self.K * self.n

    @property
    def P(self) -> int:
        """Number of patterns, P = round(alpha * weights) (half-up, as the C reference): alpha counts
        patterns per weight in both architectures (Nishiyama & Ohzeki's capacity per parameter)."""
        return int(math.floor(self.alpha * self.weights_count + 0.5))


@dataclass(frozen=True)
class EnsembleConfig:
    replicas: int = 1
    reference: str = "explicit"
    gamma: Schedule = field(default_factory=lambda: Schedule(0.05, 5.0, "geometric"))
    target_overlap: float | None = None
    overlap_tolerance: float = 0.01
    gamma_gain: float = 2.0  # kappa: log gamma += kappa (q1 - q-bar) after each record (MODEL.md §8)


@dataclass(frozen=True)
class AnnealConfig:
    sampler: str = "metropolis"
    beta: Schedule = field(default_factory=lambda: Schedule(0.5, 20.0, "geometric"))
    sweeps: int = 500
    stop_when_solved: bool = True
    record_every: int = 1
    extra_sweeps: int = 0  # after the schedule: sweeps at the final beta until solved (MODEL.md §8.4)
    rrr_below: float = 0.01  # rrr sampler: Metropolis sweeps while their acceptance is above this


@dataclass(frozen=True)
class Config:
    name: str = "relusim-run"
    seed: int = 1
    samples: int = 8
    model: ModelConfig = field(default_factory=ModelConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    anneal: AnnealConfig = field(default_factory=AnnealConfig)
    output: str = "results/relusim-run.h5"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The resolved config, every default written out."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def physics_sha256(self) -> str:
        """Hash of everything that determines a sample's bits (not ``samples``, ``output``, ``name``)."""
        d = self.to_dict()
        for k in ("samples", "output", "name"):
            d.pop(k)
        if d["model"]["architecture"] == "tree":  # files made before the key existed keep their hash
            d["model"].pop("architecture")
        return hashlib.sha256(yaml.safe_dump(d, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes) -> "Config":
        """A copy with top-level or dotted keys changed (``{"model.alpha": 0.3}``), validated again."""
        d = self.to_dict()
        for key, value in changes.items():
            node = d
            *parents, last = key.split(".")
            for p in parents:
                node = node[p]
            node[last] = value
        return from_dict(d)


# ---------------------------------------------------------------- parsing and validation --


def _check_keys(raw: dict, cls, where: str) -> None:
    known = [f.name for f in fields(cls)]
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(known)}"
            raise InputError(f"{where}{key}", raw[key], f"unknown key; {hint}")


def _typed(value, kind, key: str):
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(key, value, "expected true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(key, value, "expected an integer")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(key, value, "expected a finite number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise InputError(key, value, "expected a string")
        return value
    raise AssertionError(kind)


def _section(raw, cls, where: str, kinds: dict) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(where.rstrip("."), raw, "expected a mapping of keys")
    _check_keys(raw, cls, where)
    return {k: _typed(v, kinds[k], where + k) if kinds.get(k) else v for k, v in raw.items()}


def _schedule(raw, key: str, default: Schedule) -> Schedule:
    if raw is None:
        return default
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return Schedule(float(raw), float(raw), "constant")
    d = _section(raw, Schedule, key + ".", {"start": float, "stop": float, "schedule": str})
    s = dataclasses.replace(default, **d)
    if s.schedule not in SCHEDULES:
        raise InputError(key + ".schedule", s.schedule, f"allowed: {', '.join(SCHEDULES)}")
    if s.start <= 0 or s.stop <= 0:
        raise InputError(key, f"{s.start} -> {s.stop}", "start and stop must be > 0")
    if "stop" not in d and "start" in d:
        s = dataclasses.replace(s, stop=s.start)
    return s


def _one_of(value, key: str, allowed) -> None:
    if value not in allowed:
        raise InputError(key, value, f"allowed: {', '.join(allowed)}")


def from_dict(raw: dict) -> Config:
    """Build and validate a Config from a parsed YAML mapping."""
    top = _section(raw, Config, "", {"name": str, "seed": int, "samples": int, "output": str})
    m = _section(top.pop("model", None), ModelConfig, "model.",
                 {"activation": str, "weights": str, "N": int, "K": int, "alpha": float,
                  "allow_ties": bool, "architecture": str})
    e_raw = top.pop("ensemble", None) or {}
    e = _section(e_raw, EnsembleConfig, "ensemble.",
                 {"replicas": int, "reference": str, "overlap_tolerance": float, "gamma_gain": float})
    e["gamma"] = _schedule(e.get("gamma"), "ensemble.gamma", EnsembleConfig().gamma)
    if e.get("target_overlap") is not None:
        e["target_overlap"] = _typed(e["target_overlap"], float, "ensemble.target_overlap")
    a = _section(top.pop("anneal", None), AnnealConfig, "anneal.",
                 {"sampler": str, "sweeps": int, "stop_when_solved": bool, "record_every": int,
                  "extra_sweeps": int, "rrr_below": float})
    a["beta"] = _schedule(a.get("beta"), "anneal.beta", AnnealConfig().beta)
    cfg = Config(**top, model=ModelConfig(**m), ensemble=EnsembleConfig(**e), anneal=AnnealConfig(**a))
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """The rules of MODEL.md §5 and CONTRACT.md; raises InputError on the first violation."""
    m, e, a = cfg.model, cfg.ensemble, cfg.anneal
    if cfg.seed < 0:
        raise InputError("seed", cfg.seed, "must be >= 0")
    if cfg.samples < 1:
        raise InputError("samples", cfg.samples, "must be >= 1")
    _one_of(m.activation, "model.activation", ACTIVATIONS)
    if m.weights == "spherical":
        raise InputError("model.weights", m.weights, "allowed: binary (spherical weights are not implemented yet)")
    _one_of(m.weights, "model.weights", WEIGHTS)
    _one_of(m.architecture, "model.architecture", ARCHITECTURES)
    if m.K < 1:
        raise InputError("model.K", m.K, "must be >= 1")
    if m.N < 1 or (m.N % m.K and not m.fully_connected):
        raise InputError("model.N", m.N, f"must be a positive multiple of K = {m.K} (a tree splits the inputs "
                         "among the units)")
    if m.N < 1:
        raise InputError("model.N", m.N, "must be >= 1")
    if m.activation == "sign":
        if m.K % 2 == 0:
            raise InputError("model.K", m.K, "sign units need K odd (else the output can be 0)")
        if m.n % 2 == 0 and not m.allow_ties:
            raise InputError("model.N", m.N, f"sign units need an odd fan-in, N/K for a tree or N fully "
                             f"connected (got {m.n}); set model.allow_ties: true to accept sgn(0) = 0")
    if m.activation == "relu" and m.K % 2:
        raise InputError("model.K", m.K, "ReLU needs K even (balanced output weights c_l = +-1)")
    if m.weights_count > 32000:
        key, val = ("model.N", m.N) if not m.fully_connected else ("model.K", m.K)
        raise InputError(key, val, f"gives {m.weights_count} weights; must be <= 32000 (the kernels keep "
                         "fields and margins in int16)")
    if m.alpha <= 0:
        raise InputError("model.alpha", m.alpha, "must be > 0")
    if m.P < 1:
        raise InputError("model.alpha", m.alpha, f"gives P = round(alpha * weights) = {m.P}; need P >= 1")
    if e.replicas < 1:
        raise InputError("ensemble.replicas", e.replicas, "must be >= 1")
    if e.replicas > 127:
        raise InputError("ensemble.replicas", e.replicas, "must be <= 127")
    _one_of(e.reference, "ensemble.reference", REFERENCES)
    if e.target_overlap is not None and not -1 < e.target_overlap < 1:
        raise InputError("ensemble.target_overlap", e.target_overlap, "must be in (-1, 1) or null")
    if e.overlap_tolerance <= 0:
        raise InputError("ensemble.overlap_tolerance", e.overlap_tolerance, "must be > 0")
    if e.target_overlap is not None and e.replicas < 2:
        raise InputError("ensemble.target_overlap", e.target_overlap, "needs ensemble.replicas >= 2")
    if e.gamma_gain < 0:
        raise InputError("ensemble.gamma_gain", e.gamma_gain, "must be >= 0")
    _one_of(a.sampler, "anneal.sampler", SAMPLERS)
    if a.beta.stop < a.beta.start:
        raise InputError("anneal.beta", f"{a.beta.start} -> {a.beta.stop}",
                         "stop must be >= start (annealing cools)")
    if a.sweeps < 1:
        raise InputError("anneal.sweeps", a.sweeps, "must be >= 1")
    if a.record_every < 1:
        raise InputError("anneal.record_every", a.record_every, "must be >= 1")
    if a.extra_sweeps < 0:
        raise InputError("anneal.extra_sweeps", a.extra_sweeps, "must be >= 0")
    if a.rrr_below < 0:
        raise InputError("anneal.rrr_below", a.rrr_below, "must be >= 0 (0: never RRR, > 1: always)")
    if a.sampler == "rrr" and e.replicas > 1 and e.reference == "traced":
        raise InputError("anneal.sampler", a.sampler, "rrr needs ensemble.reference: explicit "
                         "(the traced ensemble is sampled with metropolis)")
    if not cfg.output.endswith((".h5", ".hdf5")):
        raise InputError("output", cfg.output, "must end in .h5 or .hdf5")
    _check_writable(cfg.output)


def _check_writable(path: str) -> None:
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    probe = parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if p.exists() and (p.is_dir() or not os.access(p, os.W_OK)):
        raise InputError("output", path, "must be a writable file path")
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise InputError("output", path, f"directory {probe} is not writable")


def load(path: str | os.PathLike, **overrides: Any) -> Config:
    """Read a YAML config file, apply dotted-key ``overrides`` (e.g. ``samples=4``) and validate."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError("--config", str(path), f"cannot be read ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError("--config", str(path), f"is not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise InputError("--config", str(path), "must hold a YAML mapping of keys")
    for key, value in overrides.items():
        node = raw
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return from_dict(raw)
