"""Experiment configuration: YAML -> frozen, typed dataclasses, validated once at the edge.

Every rule lives here, so that the rest of the package can trust a ``Config`` blindly. A bad value
raises ``InputError(key, value, allowed)``, which the CLI prints as one line with exit status 2.
The keys are those of docs/CONTRACT.md; the parity rules are docs/model.md §5.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
import os
import re
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from . import activations
from .errors import InputError

ACTIVATIONS = activations.NAMES
WEIGHTS = ("binary", "spherical")
ENERGIES = ("errors", "perceptron")
PRECISIONS = ("float64", "float32")
SAMPLERS = ("metropolis", "rrr")
SCHEDULES = ("constant", "linear", "geometric")
REFERENCES = ("explicit", "traced")
ARCHITECTURES = ("tree", "fully_connected")
MAX_SAMPLES = 1_000_000  # /samples/NNNNNN: six digits, so that names sort as numbers


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
    allow_ties: bool = False  # sign with even N/K: sgn(0) = 0 (docs/model.md §5); off by default
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
    gamma_gain: float = 2.0  # kappa: log gamma += kappa (q1 - q-bar) after each record (docs/model.md §8)


@dataclass(frozen=True)
class StepConfig:
    """The rotation angle of spherical moves (docs/algorithms.md §4): theta ~ U(-theta_max, theta_max).

    ``theta_max`` null: min(pi, 15 / sqrt(n)) (a rotation moves h_l by ~theta while h_l ~ sqrt(n), so
    the class changes per move, and the acceptance, stay roughly independent of the fan-in n).
    With ``adapt``, after every sweep whose (beta, gamma) differs from the next sweep's (the schedule
    is still moving) theta_max *= exp(acceptance - target_acceptance), within [1e-4, pi]; it is
    frozen whenever the run samples at constant (beta, gamma), so the chain stays exact there.
    Binary weights ignore the section.
    """

    theta_max: float | None = None
    adapt: bool = True
    target_acceptance: float = 0.4


@dataclass(frozen=True)
class AnnealConfig:
    sampler: str = "metropolis"
    beta: Schedule = field(default_factory=lambda: Schedule(0.5, 20.0, "geometric"))
    sweeps: int = 500
    stop_when_solved: bool = True
    record_every: int = 1
    extra_sweeps: int = 0  # after the schedule: sweeps at the final beta until solved (docs/model.md §8.4)
    rrr_below: float = 0.01  # rrr sampler: Metropolis sweeps while their acceptance is above this
    step: StepConfig = field(default_factory=StepConfig)  # spherical weights only
    # what the sampler anneals (docs/algorithms.md §4.1): the error count, or (spherical weights, sign
    # and ReLU) the perceptron cost; "solved" means zero errors either way
    energy: str = "errors"
    # spherical weights, sign and ReLU: the dtype of the cached fields (docs/algorithms.md §4.2); float32
    # is 1.7-2.0x faster, the weights stay float64 and every rebuild restores float64-exact caches
    precision: str = "float64"


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
        if d["model"]["weights"] == "binary":  # binary runs never read anneal.step
            d["anneal"].pop("step")
        for key, default in (("energy", "errors"), ("precision", "float64")):
            if d["anneal"][key] == default:  # files made before the key existed keep their hash
                d["anneal"].pop(key)
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


# The type of every key, one table for every form a value can be written in (YAML, --grid, CLI
# overrides all end in ``from_dict``). A new config key needs a row here (checked at import).
OPTIONAL_FLOAT = "a finite number or null"
ACTIVATION = "an activation: a name, name(param=v) or {name: ..., param: v}"
SECTION = "a section"
KINDS: dict[type, dict[str, Any]] = {
    Config: {"name": str, "seed": int, "samples": int, "output": str,
             "model": SECTION, "ensemble": SECTION, "anneal": SECTION},
    ModelConfig: {"activation": ACTIVATION, "weights": str, "N": int, "K": int, "alpha": float, "allow_ties": bool,
                  "architecture": str},
    EnsembleConfig: {"replicas": int, "reference": str, "gamma": Schedule, "target_overlap": OPTIONAL_FLOAT,
                     "overlap_tolerance": float, "gamma_gain": float},
    AnnealConfig: {"sampler": str, "beta": Schedule, "sweeps": int, "stop_when_solved": bool,
                   "record_every": int, "extra_sweeps": int, "rrr_below": float, "step": StepConfig,
                   "energy": str, "precision": str},
    StepConfig: {"theta_max": OPTIONAL_FLOAT, "adapt": bool, "target_acceptance": float},
    Schedule: {"start": float, "stop": float, "schedule": str},
}
for _cls, _kinds in KINDS.items():
    if set(_kinds) != {f.name for f in fields(_cls)}:
        raise AssertionError(f"config.KINDS[{_cls.__name__}] does not list exactly the fields of {_cls.__name__}")


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
            raise InputError(key, value, "expected an integer" + (
                f" (write {int(value)}, not {value!r})" if isinstance(value, float) and value.is_integer()
                and abs(value) < 1e18 else ""))
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(key, value, "expected a finite number")
        return float(value)
    if kind is OPTIONAL_FLOAT:
        return None if value is None else _typed(value, float, key)
    if kind is ACTIVATION:  # held as its canonical label, the form a result file records
        return activations.parse(value, key).label
    if kind is str:
        if not isinstance(value, str):
            raise InputError(key, value, "expected a string")
        return value
    raise AssertionError(kind)


def _section(raw, cls, where: str) -> dict:
    """The keys of one section, each checked against its kind in ``KINDS`` (schedules parsed)."""
    if raw is None:  # an empty section (``model:``) means its defaults
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(where.rstrip(".") or "--config", raw, "expected a mapping of keys")
    _check_keys(raw, cls, where)
    kinds = KINDS[cls]
    defaults = {f.name: f for f in fields(cls)}
    out = {}
    for k, v in raw.items():
        if kinds[k] is SECTION:
            out[k] = v  # parsed by from_dict
        elif kinds[k] is Schedule:
            out[k] = _schedule(v, where + k, defaults[k].default_factory())
        elif kinds[k] is StepConfig:
            out[k] = StepConfig(**_section(v, StepConfig, where + k + "."))
        else:
            out[k] = _typed(v, kinds[k], where + k)
    return out


def _schedule(raw, key: str, default: Schedule) -> Schedule:
    if raw is None:
        return default
    if not isinstance(raw, dict):  # a bare number is a constant: checked exactly as {start: x, stop: x}
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise InputError(key, raw, "expected a number (a constant) or a mapping {start, stop, schedule}")
        raw = {"start": raw, "stop": raw, "schedule": "constant"}
    d = _section(raw, Schedule, key + ".")
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
    top = _section(raw, Config, "")
    m = _section(top.pop("model", None), ModelConfig, "model.")
    e = _section(top.pop("ensemble", None), EnsembleConfig, "ensemble.")
    a = _section(top.pop("anneal", None), AnnealConfig, "anneal.")
    cfg = Config(**top, model=ModelConfig(**m), ensemble=EnsembleConfig(**e), anneal=AnnealConfig(**a))
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """The rules of docs/model.md §5 and CONTRACT.md; raises InputError on the first violation."""
    m, e, a = cfg.model, cfg.ensemble, cfg.anneal
    if not 0 <= cfg.seed < 2**64:
        raise InputError("seed", cfg.seed, "must be an integer in 0 .. 2^64 - 1")
    if not 1 <= cfg.samples <= MAX_SAMPLES:
        raise InputError("samples", cfg.samples, f"must be >= 1 and <= {MAX_SAMPLES} (samples are named with 6 digits)")
    spec = activations.parse(m.activation)
    _one_of(m.weights, "model.weights", WEIGHTS)
    spherical = m.weights == "spherical"
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
        if m.n % 2 == 0 and not m.allow_ties and not spherical:  # real fields are never 0
            raise InputError("model.N", m.N, f"sign units need N/K odd (the fan-in: N/K for a tree, N fully "
                             f"connected; got {m.n}); set model.allow_ties: true to accept sgn(0) = 0")
    if m.activation == "relu" and m.K % 2:
        raise InputError("model.K", m.K, "ReLU needs K even (balanced output weights c_l = +-1)")
    if not spec.odd and m.K % 2:
        raise InputError("model.K", m.K, f"{spec.label} is not odd, so the readout is balanced (c_l = +-1 "
                         "for half the units each) and needs K even")

    if spherical and m.n < 2:
        raise InputError("model.N", m.N, f"spherical weights need a fan-in n >= 2 (got {m.n}): a rotation "
                         "moves two coordinates of one unit")
    if m.weights_count > 32000:
        key, val = ("model.N", m.N) if not m.fully_connected else ("model.K", m.K)
        raise InputError(key, val, f"gives {m.weights_count} weights; must be <= 32000 (the kernels keep "
                         "fields and margins in int16)")
    if m.alpha <= 0:
        raise InputError("model.alpha", m.alpha, "must be > 0")
    if m.alpha * m.N >= 2**53:
        raise InputError("model.alpha", m.alpha, f"gives P = alpha*N = {m.alpha * m.N:.3g} patterns; far beyond any memory")
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
    if a.step.theta_max is not None and not 0 < a.step.theta_max <= math.pi:
        raise InputError("anneal.step.theta_max", a.step.theta_max, "must be in (0, pi] or null (min(pi, 15/sqrt(n)))")
    if not 0 < a.step.target_acceptance < 1:
        raise InputError("anneal.step.target_acceptance", a.step.target_acceptance, "must be in (0, 1)")
    if spherical and a.sampler != "metropolis":
        raise InputError("anneal.sampler", a.sampler, "spherical weights are sampled with metropolis")
    _one_of(a.energy, "anneal.energy", ENERGIES)
    if a.energy == "perceptron" and not spherical:
        raise InputError("anneal.energy", a.energy, "the perceptron cost needs model.weights: spherical (binary "
                         "weights anneal the error count: errors)")
    if a.energy == "perceptron" and spec.code not in (activations.parse("sign").code, activations.parse("relu").code):
        raise InputError("anneal.energy", a.energy, f"the perceptron cost is defined for sign and relu units, not "
                         f"{spec.label} (use errors)")
    _one_of(a.precision, "anneal.precision", PRECISIONS)
    if a.precision == "float32" and not spherical:
        raise InputError("anneal.precision", a.precision, "float32 fields need model.weights: spherical (binary "
                         "weights have exact integer fields)")
    if a.precision == "float32" and spec.code not in (activations.parse("sign").code, activations.parse("relu").code):
        raise InputError("anneal.precision", a.precision, f"float32 fields are for sign and relu units, not "
                         f"{spec.label} (use float64)")
    if spherical and e.replicas > 1 and e.reference != "explicit":
        raise InputError("ensemble.reference", e.reference, "spherical weights need reference: explicit "
                         "(the traced form is not implemented for them)")
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
    from .paths import check_writable

    check_writable("output", path)


MAX_CONFIG_BYTES = 1 << 20  # a config is a page of YAML; anything larger is not one (e.g. /dev/zero)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class _Loader(yaml.SafeLoader):
    """YAML as a user means it: a repeated key is an error, and ``3e-1`` / ``1e9`` are numbers.

    PyYAML reads YAML 1.1, where a float needs a dot (``3.0e-1``) and ``3e-1`` is the string
    "3e-1"; YAML 1.2 (and every other tool a physicist uses) reads it as 0.3.
    """


def _no_duplicates(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise InputError(str(key), "twice", f"a key may appear once per mapping (lines "
                             f"{seen[key] + 1} and {key_node.start_mark.line + 1})")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_yaml(text: str):
    """YAML text -> Python objects with relusim's loader (duplicate keys refused, ``1e-3`` a float)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def read_config_text(path: str | os.PathLike) -> str:
    """The text of a config file, or one InputError: missing, not a file, too large, binary, not UTF-8."""
    p = Path(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise InputError("--config", str(path), "is a directory, not a YAML file")
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            raise InputError("--config", str(path), "is a device, not a YAML file")
        with open(p, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise InputError("--config", str(path), f"cannot be read ({exc.strerror})") from None
    if data.startswith(_HDF5_SIGNATURE):
        raise InputError("--config", str(path), "is an HDF5 file, not a YAML config "
                         "(`relusim info` shows the config stored in a result file)")
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError("--config", str(path), f"is larger than {MAX_CONFIG_BYTES >> 20} MiB: not a config")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("--config", str(path), f"is not UTF-8 text (byte {data[exc.start]:#04x} at offset "
                         f"{exc.start}); a binary file, or save it as UTF-8") from None
    if "\x00" in text:
        raise InputError("--config", str(path), "holds NUL bytes: a binary file, not YAML")
    return text


def load(path: str | os.PathLike, **overrides: Any) -> Config:
    """Read a YAML config file, apply dotted-key ``overrides`` (e.g. ``samples=4``) and validate."""
    text = read_config_text(path)
    try:
        raw = parse_yaml(text)
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
            if not isinstance(node, dict):
                raise InputError(p, node, "expected a mapping of keys")
        node[last] = value
    return from_dict(raw)
