"""Experiment configuration: YAML -> frozen, typed dataclasses, validated once at the edge.

Every rule lives here, so that the rest of the package can trust a ``Config`` blindly. A bad value
raises ``InputError(key, value, allowed)``, which the CLI prints as one line with exit status 2.
The keys are those of docs/CONTRACT.md; the parity rules are docs/model.md §5.
"""
from __future__ import annotations

import dataclasses
import difflib
import errno
import hashlib
import math
import numbers
import os
import re
import stat
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .models import activations
from .errors import InputError

ACTIVATIONS = activations.NAMES
ENERGIES = ("errors", "perceptron", "least_action")
ENERGY_NAMES = {"errors": "the error count", "perceptron": "the perceptron cost", "least_action": "the least-action cost"}
PRECISIONS = ("float64", "float32")
SAMPLERS = ("metropolis", "rrr")
SCHEDULES = ("constant", "linear", "geometric")
REFERENCES = ("explicit", "traced")
SOLVED_WHEN = ("all", "any")  # ensemble.solved_when: a sample is solved when every replica, or some, has E = 0


@dataclass(frozen=True)
class PriorRules:
    """What a weight prior (``model.weights``, whose code is the module ``relusim.priors.<name>``) accepts:
    one row of ``PRIORS``, read by ``validate`` and the physics hash without loading the kernels."""

    real: bool  # real-valued weights: a unit's field is never exactly 0 (no sign ties); g evaluated, not tabled
    samplers: tuple[str, ...]
    energies: tuple[str, ...]  # what the sampler may anneal
    precisions: tuple[str, ...]  # of the cached fields
    fields: str  # the cached fields, as a refusal of another precision says it
    references: tuple[str, ...]  # the forms of a robust ensemble (replicas > 1)
    equilibrium: bool  # anneal.equilibrium: sampling over the solutions after the anneal
    step: bool  # reads anneal.step; else the section is left out of the physics hash
    min_fan_in: int = 1
    move: str = "a flip changes one weight"


PRIORS = {
    "binary": PriorRules(real=False, samplers=("metropolis", "rrr"), energies=("errors", "least_action"),
                         precisions=("float64",), fields="exact integer fields", references=("explicit", "traced"),
                         equilibrium=True, step=False),
    "spherical": PriorRules(real=True, samplers=("metropolis",), energies=("errors", "perceptron"),
                            precisions=("float64", "float32"), fields="float64 or float32 fields",
                            references=("explicit",), equilibrium=False, step=True, min_fan_in=2,
                            move="a rotation moves two coordinates of one unit"),
}
WEIGHTS = tuple(PRIORS)
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
    # solved (and, with stop_when_solved, the run stops) when every replica has E = 0 (all) or some
    # replica has (any: replicated simulated annealing's rule, docs/algorithms.md §12)
    solved_when: str = "all"


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
class EquilibriumConfig:
    """Equilibrium sampling over solutions after the anneal (docs/configs.md, relusim.priors.binary.equilibrate).

    ``sweeps`` > 0: once a sample is solved, ``sweeps`` more sweeps at the final gamma (the q1
    feedback frozen) with errors forbidden (beta = infinity on the error term), the stabilities of
    the replicas and the reference recorded every ``every`` sweeps; ``steer`` sweeps before them
    steer gamma to q1 first. ``sweeps`` 0 (the default): off, today's bits.
    """

    sweeps: int = 0
    every: int = 1
    steer: int = 0  # sweeps before the recorded ones that steer gamma to q1 (the anneal's feedback), then frozen


@dataclass(frozen=True)
class TemperingConfig:
    """Parallel tempering (docs/algorithms.md §11, relusim.tempering): ``rungs`` copies of the one
    machine at the fixed geometric ladder beta_r = start (stop/start)^(r/(rungs - 1)) of ``anneal.beta``,
    each swept at its own beta, adjacent rungs offered a swap after every ``swap_every`` sweeps.
    ``rungs`` 1 (the default): off, today's bits and files.
    """

    rungs: int = 1
    swap_every: int = 10


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
    # what the sampler anneals (docs/algorithms.md §4.1, §10): the error count, or (spherical weights, sign
    # and ReLU) the perceptron cost, or (binary weights, sign and ReLU) the least-action cost; "solved"
    # means zero errors either way
    energy: str = "errors"
    # spherical weights, sign and ReLU: the dtype of the cached fields (docs/algorithms.md §4.2); float32
    # is 1.7-2.0x faster, the weights stay float64 and every rebuild restores float64-exact caches
    precision: str = "float64"
    # binary weights: equilibrium sampling over the solutions after the anneal (off with sweeps: 0)
    equilibrium: EquilibriumConfig = field(default_factory=EquilibriumConfig)
    # parallel tempering over a ladder of beta instead of the schedule (off with rungs: 1)
    tempering: TemperingConfig = field(default_factory=TemperingConfig)


def drop_later_defaults(d: dict) -> dict:
    """Remove from a config dict (in place) the keys added after result files existed while they hold
    their default (``anneal``: ``energy: errors``, ``precision: float64``, ``equilibrium`` and
    ``tempering`` off; ``ensemble.solved_when: all``), so that the hashes of configs written before them
    (a result file's, a capacity plan's) do not change."""
    if d.get("ensemble", {}).get("solved_when") == "all":
        d["ensemble"].pop("solved_when")
    anneal = d["anneal"]
    if anneal.get("equilibrium", {}).get("sweeps", 0) == 0:
        anneal.pop("equilibrium", None)
    if anneal.get("tempering", {}).get("rungs", 1) == 1:
        anneal.pop("tempering", None)
    for key, default in (("energy", "errors"), ("precision", "float64")):
        if anneal.get(key) == default:
            anneal.pop(key)
    return d


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
        """The resolved config, every default written out, except ``anneal.tempering`` when it is off
        (a result file made without tempering keeps the bytes it had before the key existed)."""
        d = self.to_dict()
        if d["anneal"]["tempering"]["rungs"] == 1:
            d["anneal"].pop("tempering")
        return yaml.safe_dump(d, sort_keys=False)

    def physics_sha256(self) -> str:
        """Hash of everything that determines a sample's bits (not ``samples``, ``output``, ``name``)."""
        d = self.to_dict()
        for k in ("samples", "output", "name"):
            d.pop(k)
        if d["model"]["architecture"] == "tree":  # files made before the key existed keep their hash
            d["model"].pop("architecture")
        if not PRIORS[d["model"]["weights"]].step:  # binary runs never read anneal.step
            d["anneal"].pop("step")
        drop_later_defaults(d)
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
PATH = "a path: a string or a pathlib.Path"
ACTIVATION = "an activation: a name, name(param=v) or {name: ..., param: v}"
SECTION = "a section"
KINDS: dict[type, dict[str, Any]] = {
    Config: {"name": str, "seed": int, "samples": int, "output": PATH,
             "model": SECTION, "ensemble": SECTION, "anneal": SECTION},
    ModelConfig: {"activation": ACTIVATION, "weights": str, "N": int, "K": int, "alpha": float, "allow_ties": bool,
                  "architecture": str},
    EnsembleConfig: {"replicas": int, "reference": str, "gamma": Schedule, "target_overlap": OPTIONAL_FLOAT,
                     "overlap_tolerance": float, "gamma_gain": float, "solved_when": str},
    AnnealConfig: {"sampler": str, "beta": Schedule, "sweeps": int, "stop_when_solved": bool,
                   "record_every": int, "extra_sweeps": int, "rrr_below": float, "step": StepConfig,
                   "energy": str, "precision": str, "equilibrium": EquilibriumConfig,
                   "tempering": TemperingConfig},
    EquilibriumConfig: {"sweeps": int, "every": int, "steer": int},
    TemperingConfig: {"rungs": int, "swap_every": int},
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


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _typed(value, kind, key: str):
    """``value`` as the plain Python type of ``kind``: NumPy scalars (``np.int64(40)``) count as the
    numbers they are, ``pathlib.Path`` as a path where one is expected; anything else is refused."""
    if kind is bool:
        if not _is_bool(value):
            raise InputError(key, value, "expected true or false")
        return bool(value)
    if kind is int:
        if _is_bool(value) or not isinstance(value, numbers.Integral):
            raise InputError(key, value, "expected an integer" + (
                f" (write {int(value)}, not {value!r})" if isinstance(value, float) and value.is_integer()
                and abs(value) < 1e18 else ""))
        return int(value)
    if kind is float:
        if _is_bool(value) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise InputError(key, value, "expected a finite number")
        return float(value)
    if kind is OPTIONAL_FLOAT:
        return None if value is None else _typed(value, float, key)
    if kind is ACTIVATION:  # held as its canonical label, the form a result file records
        return activations.parse(value, key).label
    if kind is PATH:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise InputError(key, value, "expected a path (a string)")
        return str(value)
    if kind is str:
        if not isinstance(value, str):
            raise InputError(key, value, "expected a string")
        return str(value)
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
        elif kinds[k] is EquilibriumConfig:
            out[k] = EquilibriumConfig(**_section(v, EquilibriumConfig, where + k + "."))
        elif kinds[k] is TemperingConfig:
            out[k] = TemperingConfig(**_section(v, TemperingConfig, where + k + "."))
        else:
            out[k] = _typed(v, kinds[k], where + k)
    return out


def _schedule(raw, key: str, default: Schedule) -> Schedule:
    if raw is None:
        return default
    if not isinstance(raw, dict):  # a bare number is a constant: checked exactly as {start: x, stop: x}
        if _is_bool(raw) or not isinstance(raw, numbers.Real):
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
    _check_name(cfg.name)
    from .paths import check_plain

    check_plain("output", cfg.output)  # a path reaches job scripts and file names: one printable line
    if not 0 <= cfg.seed < 2**64:
        raise InputError("seed", cfg.seed, "must be an integer in 0 .. 2^64 - 1")
    if not 1 <= cfg.samples <= MAX_SAMPLES:
        raise InputError("samples", cfg.samples, f"must be >= 1 and <= {MAX_SAMPLES} (samples are named with 6 digits)")
    spec = activations.parse(m.activation)
    _one_of(m.weights, "model.weights", WEIGHTS)
    rules = PRIORS[m.weights]
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
        if m.n % 2 == 0 and not m.allow_ties and not rules.real:  # real fields are never 0
            raise InputError("model.N", m.N, f"sign units need N/K odd (the fan-in: N/K for a tree, N fully "
                             f"connected; got {m.n}); set model.allow_ties: true to accept sgn(0) = 0")
    if m.activation == "relu" and m.K % 2:
        raise InputError("model.K", m.K, "ReLU needs K even (balanced output weights c_l = +-1)")
    if not spec.odd and m.K % 2:
        raise InputError("model.K", m.K, f"{spec.label} is not odd, so the readout is balanced (c_l = +-1 "
                         "for half the units each) and needs K even")

    activations.check_table(spec, m.n, m.K, rules.real)
    if m.n < rules.min_fan_in:
        raise InputError("model.N", m.N, f"{m.weights} weights need a fan-in n >= {rules.min_fan_in} (got {m.n}): "
                         f"{rules.move}")
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
    _one_of(e.solved_when, "ensemble.solved_when", SOLVED_WHEN)
    _one_of(a.sampler, "anneal.sampler", SAMPLERS)
    if a.step.theta_max is not None and not 0 < a.step.theta_max <= math.pi:
        raise InputError("anneal.step.theta_max", a.step.theta_max, "must be in (0, pi] or null (min(pi, 15/sqrt(n)))")
    if not 0 < a.step.target_acceptance < 1:
        raise InputError("anneal.step.target_acceptance", a.step.target_acceptance, "must be in (0, 1)")
    if a.sampler not in rules.samplers:
        raise InputError("anneal.sampler", a.sampler, f"{m.weights} weights are sampled with {' or '.join(rules.samplers)}")
    _one_of(a.energy, "anneal.energy", ENERGIES)
    if a.energy not in rules.energies:
        raise InputError("anneal.energy", a.energy, f"{ENERGY_NAMES[a.energy]} needs model.weights: "
                         f"{_priors_with(lambda r: a.energy in r.energies)} ({m.weights} weights anneal "
                         f"{' or '.join(rules.energies)})")
    if a.energy == "least_action":  # docs/algorithms.md §10
        if spec.code not in (activations.parse("sign").code, activations.parse("relu").code):
            raise InputError("anneal.energy", a.energy, f"the least-action cost is implemented for sign and relu "
                             f"units, not {spec.label} (use errors)")
        if a.sampler != "metropolis":
            raise InputError("anneal.energy", a.energy, f"the least-action cost is sampled with anneal.sampler: "
                             f"metropolis, not {a.sampler}")
    if a.energy == "perceptron" and spec.code not in (activations.parse("sign").code, activations.parse("relu").code):
        raise InputError("anneal.energy", a.energy, f"the perceptron cost is defined for sign and relu units, not "
                         f"{spec.label} (use errors)")
    _one_of(a.precision, "anneal.precision", PRECISIONS)
    if a.precision not in rules.precisions:
        raise InputError("anneal.precision", a.precision, f"{a.precision} fields need model.weights: "
                         f"{_priors_with(lambda r: a.precision in r.precisions)} ({m.weights} weights have "
                         f"{rules.fields})")
    if a.precision == "float32" and spec.code not in (activations.parse("sign").code, activations.parse("relu").code):
        raise InputError("anneal.precision", a.precision, f"float32 fields are for sign and relu units, not "
                         f"{spec.label} (use float64)")
    if e.replicas > 1 and e.reference not in rules.references:
        raise InputError("ensemble.reference", e.reference, f"{m.weights} weights need reference: "
                         f"{' or '.join(rules.references)} (the {e.reference} form is not implemented for them)")
    if a.beta.stop < a.beta.start:
        raise InputError("anneal.beta", f"{a.beta.start} -> {a.beta.stop}",
                         "stop must be >= start (annealing cools)")
    if a.sweeps < 1:
        raise InputError("anneal.sweeps", a.sweeps, "must be >= 1")
    if a.record_every < 1:
        raise InputError("anneal.record_every", a.record_every, "must be >= 1")
    if a.extra_sweeps < 0:
        raise InputError("anneal.extra_sweeps", a.extra_sweeps, "must be >= 0")
    q = a.equilibrium
    if q.sweeps < 0:
        raise InputError("anneal.equilibrium.sweeps", q.sweeps, "must be >= 0 (0: off)")
    if q.every < 1:
        raise InputError("anneal.equilibrium.every", q.every, "must be >= 1 (record every this many sweeps)")
    if q.sweeps > 0 and q.every > q.sweeps:
        raise InputError("anneal.equilibrium.every", q.every, f"must be <= anneal.equilibrium.sweeps = {q.sweeps} "
                         "(else nothing is recorded)")
    if q.steer < 0:
        raise InputError("anneal.equilibrium.steer", q.steer, "must be >= 0 (0: gamma frozen where the anneal left it)")
    if q.steer > 0 and e.target_overlap is None:
        raise InputError("anneal.equilibrium.steer", q.steer, "needs ensemble.target_overlap (the q1 to steer to)")
    if q.sweeps > 0 and e.solved_when == "any" and e.replicas > 1:
        raise InputError("ensemble.solved_when", e.solved_when, "equilibrium sampling (anneal.equilibrium.sweeps > 0) "
                         "starts from a state where every replica is a solution: needs solved_when: all")
    if q.sweeps > 0 and not rules.equilibrium:
        raise InputError("anneal.equilibrium.sweeps", q.sweeps, f"needs model.weights: "
                         f"{_priors_with(lambda r: r.equilibrium)} (errors are forbidden by rejecting every move "
                         f"that makes one; {m.weights} runs have no such sampler)")
    _check_tempering(cfg)
    if a.rrr_below < 0:
        raise InputError("anneal.rrr_below", a.rrr_below, "must be >= 0 (0: never RRR, > 1: always)")
    if a.sampler == "rrr" and e.replicas > 1 and e.reference == "traced":
        raise InputError("anneal.sampler", a.sampler, "rrr needs ensemble.reference: explicit "
                         "(the traced ensemble is sampled with metropolis)")
    if not cfg.output.endswith((".h5", ".hdf5")):
        raise InputError("output", cfg.output, "must end in .h5 or .hdf5")
    _check_writable(cfg.output)


MAX_RUNGS = 64


def _check_tempering(cfg: Config) -> None:
    """anneal.tempering (docs/algorithms.md §11): one machine per rung, a ladder of at most MAX_RUNGS."""
    t = cfg.anneal.tempering
    if not 1 <= t.rungs <= MAX_RUNGS:
        raise InputError("anneal.tempering.rungs", t.rungs, f"must be in 1 .. {MAX_RUNGS} (1: off)")
    if t.swap_every < 1:
        raise InputError("anneal.tempering.swap_every", t.swap_every, "must be >= 1 (sweeps between swap rounds)")
    if t.rungs > 1 and cfg.ensemble.replicas > 1:
        raise InputError("anneal.tempering.rungs", t.rungs, f"tempering runs one machine per rung: needs "
                         f"ensemble.replicas: 1 (got {cfg.ensemble.replicas}; a tempered robust ensemble is not implemented)")
    if t.rungs > 1 and cfg.anneal.sampler == "rrr" and cfg.anneal.rrr_below <= 1:
        raise InputError("anneal.rrr_below", cfg.anneal.rrr_below, "tempering with sampler rrr needs RRR in every "
                         "sweep, rrr_below > 1: a swap starts a new stage of the hybrid, whose choice would then follow "
                         "the state's history (docs/algorithms.md §11)")


def _priors_with(rule) -> str:
    """The weight priors whose rules satisfy ``rule``, for a refusal's text."""
    return " or ".join(name for name, r in PRIORS.items() if rule(r))


MAX_NAME = 200  # a sweep names a folder after it; file names are limited to 255 bytes


def _check_name(name: str) -> None:
    """``name`` names a sweep's folder, its points' files and SLURM jobs: one plain file name."""
    from .paths import check_plain

    check_plain("name", name)
    if name in ("", ".", ".."):
        raise InputError("name", name, "must be a word that can name a folder (not empty, '.' or '..')")
    if "/" in name or "\\" in name:
        raise InputError("name", name, "may not contain a path separator (/ or \\): it names a folder; "
                         "set output for where the files go")
    if len(name) > MAX_NAME:
        raise InputError("name", name, f"is {len(name)} characters long; at most {MAX_NAME}")


def _check_writable(path: str) -> None:
    from .paths import check_writable

    check_writable("output", path)


MAX_CONFIG_BYTES = 1 << 20  # a config is a page of YAML; anything larger is not one (e.g. /dev/zero)
MAX_YAML_NODES = 10_000  # values of a document once every alias is expanded (a config holds about 50)
MAX_YAML_DEPTH = 64  # nesting of lists and mappings (a config nests 3 deep)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlRefused(yaml.YAMLError):
    """A YAML document relusim will not read (its line and why); ``parse_yaml`` makes it an InputError."""

    def __init__(self, mark, problem: str):
        self.problem_mark, self.problem = mark, problem
        super().__init__(problem)


class _Loader(yaml.SafeLoader):
    """YAML as a user means it: a repeated key is an error, and ``3e-1`` / ``1e9`` are numbers.

    PyYAML reads YAML 1.1, where a float needs a dot (``3.0e-1``) and ``3e-1`` is the string
    "3e-1"; YAML 1.2 (and every other tool a physicist uses) reads it as 0.3.

    And YAML that cannot hurt: a document is refused before it is built if its aliases would expand
    it past ``MAX_YAML_NODES`` values (a "billion laughs" bomb, plain or through merge keys ``<<``),
    if an alias refers to itself, or if it nests deeper than ``MAX_YAML_DEPTH``; a key must be a
    scalar (a word or a number), not a list or a mapping. Merge keys ``<<`` work as YAML defines
    them: the merged mapping's keys first, the mapping's own keys override them.
    """

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise YamlRefused(self.peek_event().start_mark,
                                  f"lists and mappings nest deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root) -> None:
    """Count the values of the document as if every alias were written out (shared nodes counted at
    each use) without building it: linear in the nodes actually in the text. YamlRefused past the
    limit, or for an alias that refers to a node containing it."""
    size: dict[int, int] = {}
    open_: set[int] = set()  # the nodes on the path from the root
    stack = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            open_.discard(key)
            size[key] = min(1 + sum(size[id(c)] for c in _children(node)), MAX_YAML_NODES + 1)
            if size[key] > MAX_YAML_NODES:
                raise YamlRefused(node.start_mark, f"its aliases expand it to more than {MAX_YAML_NODES} "
                                  "values (a YAML alias bomb?); write the values out")
            continue
        if key in size:
            continue
        if key in open_:
            raise YamlRefused(node.start_mark, "an alias refers to a list or mapping that contains it")
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _no_duplicates(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    """A mapping whose own keys are scalars, each given once; merge keys ``<<`` merged as YAML says."""
    own = [k for k, _ in node.value if k.tag != _MERGE_TAG]
    loader.flatten_mapping(node)  # the merged keys first, then the own ones, which override them
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
            raise YamlRefused(key_node.start_mark, f"a key is a {kind}; a key is a word such as seed or model "
                              "(or a number)")
    seen: dict = {}
    for key_node in own:
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


def parse_yaml(text: str, key: str = "--config", source: str | None = None):
    """YAML text -> Python objects with relusim's loader (duplicate keys refused, ``1e-3`` a float,
    alias bombs, self-referring aliases, deep nesting and list keys refused). Any refusal or syntax
    error: one InputError naming ``key`` and ``source`` (the file; the text itself when None)."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        if isinstance(exc, YamlRefused):
            raise InputError(key, text if source is None else source, f"line {mark.line + 1}: {problem}") from None
        if isinstance(exc, yaml.constructor.ConstructorError) and problem:  # valid YAML that relusim does not read
            raise InputError(key, text if source is None else source,
                             f"line {mark.line + 1 if mark else '?'}: {problem}") from None
        if isinstance(exc, yaml.composer.ComposerError) and "single document" in str(getattr(exc, "context", "")):
            raise InputError(key, text if source is None else source,
                             f"holds more than one YAML document (a second '---'{where}); give one") from None
        raise InputError(key, text if source is None else source,
                         f"is not valid YAML{where}" + (f" ({problem})" if problem else "")) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an integer of 10^5 digits, 2001-02-30
        if isinstance(exc, InputError):
            raise
        why = (f"holds an integer of more than {sys.get_int_max_str_digits()} digits" if "integer string conversion"
               in str(exc) else f"holds a value YAML cannot build ({exc})")
        raise InputError(key, text if source is None else source, why) from None


def read_config_text(path: str | os.PathLike) -> str:
    """The text of a config file, or one InputError: missing, not a regular file (a directory, a
    pipe, a device: refused before it is opened, so a FIFO never blocks), too large, binary, not UTF-8."""
    p = Path(path)
    try:
        st = p.stat()
        _check_regular(st.st_mode, path)
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as fh:
            _check_regular(os.fstat(fh.fileno()).st_mode, path)  # what was opened, if it changed since
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:
            reason = "no such file"
        raise InputError("--config", str(path), f"cannot be read ({reason})") from None
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


def _check_regular(mode: int, path) -> None:
    if stat.S_ISREG(mode):
        return
    what = ("a directory" if stat.S_ISDIR(mode) else "a pipe (FIFO)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else
            "not a regular file")
    raise InputError("--config", str(path), f"is {what}, not a YAML file: save the config as a file and give its path")


def load(path: str | os.PathLike, **overrides: Any) -> Config:
    """Read a YAML config file, apply dotted-key ``overrides`` (e.g. ``samples=4``) and validate."""
    text = read_config_text(path)
    raw = parse_yaml(text, "--config", str(path))
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
