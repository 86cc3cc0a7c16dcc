"""Which sampler modes a user can configure, and the exact-law test that checks each (issue 28, item 6).

A *cell* is one combination of the axes a config chooses (docs/CONTRACT.md, ``relusim.config``):
weight prior x architecture x sampler x ensemble form (y = 1, an explicit reference, a traced one)
x annealed energy x field precision x activation family x tempering (off, or ``pt``: parallel tempering
over a ladder of rungs, ``anneal.tempering``; its cells' ids end in ``-pt``). ``cells()`` lists every combination that
``config.from_dict`` ACCEPTS, found by validating a small config per combination (the rules of
``config.validate`` and ``config.PRIORS``, not a hand list). Activations enter by kernel family,
one representative per compiled loop (``FAMILY``): binary weights have the integer sign and ReLU
kernels and one table kernel for every other g, whose readout differs between odd and even g;
spherical weights have one sweep loop per ``spherical_mc.loop_key``.

``LAW_TESTS`` maps the pytest node id of each exact-law test to the cells it checks (a G-test
against an enumerated or gridded law at a stated false-alarm rate, with a power check);
``FILLED`` are the cells checked by ``test_exact_law_matrix.py``, one parametrised test over
cells no other file covered; ``TEMPERED`` are the tempering cells, every one checked at every rung by
``test_tempering.py``. A new model or mode adds its cell to one of them.
"""
from __future__ import annotations

import itertools
import os
import tempfile
from typing import NamedTuple

from relusim.models import activations
from relusim import config
from relusim.errors import InputError
from relusim.kernels import spherical, spherical_mc
from relusim.priors import spherical as spherical_prior
from relusim.priors import binary

FORMS = ("y1", "explicit", "traced")  # ensemble form: one machine, or y = 2 replicas with a reference
# The activation chosen for a kernel family: the first of this list that falls in the family.
PREFERRED = ("sign", "relu", "tanh", "quadratic", "linear", "relu_shift(shift=0.5)", "erf", "logistic",
             "softplus")
SIZES = [(K, n) for K in (1, 2, 3) for n in (2, 3)]  # (K, fan-in) tried until one validates
MATRIX_FILE = "tests/test_exact_law_matrix.py"
MATRIX_TEST = "test_every_gap_cell_samples_its_exact_law"
TEMPERING = ("off", "pt")
TEMPERING_FILE = "tests/test_tempering.py"
TEMPERING_TEST = "test_every_rung_of_every_tempering_cell_samples_its_exact_law"


class Cell(NamedTuple):
    weights: str
    architecture: str
    sampler: str
    form: str
    energy: str
    precision: str
    activation: str
    tempering: str = "off"

    @property
    def id(self) -> str:
        return "-".join(self[:-1]) + ("" if self.tempering == "off" else "-" + self.tempering)


def family(weights: str, activation: str):
    """The compiled loop an activation runs on: binary (integer or table kernel, odd or even readout);
    spherical ``spherical_mc.loop_key`` of the error count."""
    spec = activations.parse(activation)
    if weights == "binary":
        return binary.act_code(spec.label, 3), spec.odd
    return spherical_mc.loop_key(spherical_prior.act_code(spec.label), False)


def family_members(weights: str) -> tuple[str, ...]:
    """One activation per kernel family of ``weights`` (the first in ``PREFERRED``)."""
    seen, out = set(), []
    for act in PREFERRED:
        key = family(weights, act)
        if key not in seen:
            seen.add(key)
            out.append(act)
    return tuple(out)


def every_family(weights: str) -> set:
    """The kernel families of every activation name (a parameter where one is required)."""
    return {family(weights, "relu_shift(shift=0.5)" if name == "relu_shift" else name)
            for name in activations.NAMES}


def small_config(weights, architecture, sampler, form, energy, precision, activation, tempering, K, n) -> dict:
    N = n if architecture == "fully_connected" else K * n
    pt = {"tempering": {"rungs": 2}, "rrr_below": 2.0} if tempering == "pt" else {}  # RRR: every sweep
    return {"seed": 1, "samples": 1, "output": os.path.join(tempfile.gettempdir(), "law-matrix.h5"),
            "model": {"weights": weights, "architecture": architecture, "activation": activation, "N": N, "K": K,
                      "alpha": 1.0},
            "ensemble": {"replicas": 1} if form == "y1" else {"replicas": 2, "reference": form},
            "anneal": {"sampler": sampler, "energy": energy, "precision": precision, **pt}}


def accepted(*axes) -> bool:
    """Does ``config.from_dict`` accept this combination at some small size (K, fan-in in ``SIZES``)?"""
    for K, n in SIZES:
        try:
            config.from_dict(small_config(*axes, K, n))
            return True
        except InputError:
            continue
    return False


def cells() -> list[Cell]:
    """Every combination of the axes that the config validation accepts."""
    out = []
    for weights in config.PRIORS:
        for axes in itertools.product(config.ARCHITECTURES, config.SAMPLERS, FORMS, config.ENERGIES,
                                      config.PRECISIONS, family_members(weights), TEMPERING):
            if accepted(weights, *axes):
                out.append(Cell(weights, *axes))
    return out


def _cell(weights, architecture, sampler, form, energy, activation, precision="float64") -> str:
    return Cell(weights, architecture, sampler, form, energy, precision, activation).id


def _b(architecture, sampler, form, activation, energy="errors") -> str:
    return _cell("binary", architecture, sampler, form, energy, activation)


def _s(architecture, form, activation, energy="errors", precision="float64") -> str:
    return _cell("spherical", architecture, "metropolis", form, energy, activation, precision)


_SE = "tests/test_sampler_exact.py::test_metropolis_energy_histogram_matches_exact_enumeration"
_RE = "tests/test_replicated_exact.py::"
_REX = _RE + "test_explicit_ensemble_matches_exact_joint_law_of_energy_reference_overlap_and_mutual_overlap"
_HY = "tests/test_hybrid_exact.py::"
_HY1 = _HY + "test_single_machine_energy_law_is_exact_in_every_sampler_mode"
_HYX = _HY + "test_explicit_ensemble_laws_of_energy_reference_overlap_and_mutual_overlap_are_exact"
_FC = "tests/test_fc_kernels.py::"
_FC1 = _FC + "test_fc_energy_law_matches_exact_enumeration"
_FCX = _FC + "test_fc_explicit_ensemble_joint_law_of_energy_and_reference_overlap"
_SP = "tests/test_spherical_exact.py::"
_SP1 = _SP + "test_single_machine_on_the_torus_samples_the_boltzmann_law"
_SPC = _SP + "test_perceptron_cost_on_the_torus_samples_exp_minus_beta_L"
_LA = "tests/test_least_action.py::"
_AC = "tests/test_activations.py::"
_PI = "3.141592653589793"

# node id -> the cells it checks against an exact law (with its own false-alarm rate and power check)
LAW_TESTS: dict[str, tuple[str, ...]] = {
    f"{_SE}[sign-9-3-6-1.0-10]": (_b("tree", "metropolis", "y1", "sign"),),
    f"{_SE}[relu-8-2-6-1.0-10]": (_b("tree", "metropolis", "y1", "relu"),),
    f"{_SE}[relu-8-2-6-2.0-40]": (_b("tree", "metropolis", "y1", "relu"),),
    **{f"{_REX}[{s}-{act}-{size}]": (_b("tree", s, "explicit", act),)
       for s in ("metropolis", "rrr") for act, size in (("relu", "8-2-6"), ("sign", "9-3-6"), ("tanh", "9-3-6"))},
    **{f"{_RE}test_traced_ensemble_has_the_exact_replica_marginals[{act}-{size}]": (_b("tree", "metropolis", "traced", act),)
       for act, size in (("relu", "8-2-6"), ("sign", "9-3-6"), ("tanh", "9-3-6"))},
    f"{_RE}test_rrr_single_machine_energy_histogram_matches_exact_enumeration[sign-9-3-6-1.0-5]":
        (_b("tree", "rrr", "y1", "sign"),),
    f"{_RE}test_rrr_single_machine_energy_histogram_matches_exact_enumeration[relu-8-2-6-2.0-15]":
        (_b("tree", "rrr", "y1", "relu"),),
    f"{_HY1}[metropolis-0.0-1]": (_b("tree", "metropolis", "y1", "relu"),),
    **{f"{_HY1}[rrr-{mode}]": (_b("tree", "rrr", "y1", "relu"),)
       for mode in ("2.0-1", "2.0-10", "0.05-10", "0.12-10", "0.3-10", "0.12-1", "0.3-1")},
    f"{_HYX}[metropolis-0.0-5]": (_b("tree", "metropolis", "explicit", "relu"),),
    **{f"{_HYX}[rrr-{mode}]": (_b("tree", "rrr", "explicit", "relu"),) for mode in ("2.0-5", "0.3-2", "0.3-10")},
    f"{_FC1}[relu-5-2-8-metropolis-0.0-1]": (_b("fully_connected", "metropolis", "y1", "relu"),),
    f"{_FC1}[relu-5-2-8-rrr-2.0-10]": (_b("fully_connected", "rrr", "y1", "relu"),),
    f"{_FC1}[relu-5-2-8-rrr-0.2-10]": (_b("fully_connected", "rrr", "y1", "relu"),),
    f"{_FC1}[sign-3-3-7-metropolis-0.0-1]": (_b("fully_connected", "metropolis", "y1", "sign"),),
    f"{_FC1}[sign-3-3-7-rrr-2.0-5]": (_b("fully_connected", "rrr", "y1", "sign"),),
    f"{_FCX}[metropolis-0.0]": (_b("fully_connected", "metropolis", "explicit", "sign"),),
    f"{_FCX}[rrr-2.0]": (_b("fully_connected", "rrr", "explicit", "sign"),),
    f"{_AC}test_metropolis_with_a_smooth_activation_samples_the_exact_boltzmann_law[tanh-9-3-6-1.0-10]":
        (_b("tree", "metropolis", "y1", "tanh"),),
    f"{_AC}test_metropolis_with_a_smooth_activation_samples_the_exact_boltzmann_law[quadratic-8-2-6-1.0-25]":
        (_b("tree", "metropolis", "y1", "quadratic"),),
    f"{_AC}test_rrr_with_a_smooth_activation_samples_the_exact_boltzmann_law": (_b("tree", "rrr", "y1", "tanh"),),
    **{f"{_LA}test_metropolis_on_least_action_samples_exp_minus_beta_L[{act}-{size}-{fc}]":
       (_b("fully_connected" if fc == "True" else "tree", "metropolis", "y1", act, "least_action"),)
       for act, size, fc in (("sign", "9-1", "False"), ("sign", "9-3", "False"), ("relu", "8-2", "False"),
                             ("sign", "3-3", "True"), ("relu", "4-2", "True"))},
    **{f"{_LA}test_{form}_ensemble_on_least_action_{name}[{act}-{size}-{fc}]":
       (_b("fully_connected" if fc == "True" else "tree", "metropolis", form, act, "least_action"),)
       for form, name in (("explicit", "matches_exact_joint_law"), ("traced", "has_the_exact_replica_marginals"))
       for act, size, fc in (("relu", "8-2", "False"), ("sign", "3-3", "True"))},
    f"{_SP1}[relu-2-8-1.0-{_PI}-float64]": (_s("tree", "y1", "relu"),),
    f"{_SP1}[relu-2-8-1.0-0.6-float64]": (_s("tree", "y1", "relu"),),
    f"{_SP1}[sign-3-9-1.0-{_PI}-float64]": (_s("tree", "y1", "sign"),),
    f"{_SP1}[tanh-3-9-1.0-{_PI}-float64]": (_s("tree", "y1", "tanh"),),
    f"{_SP1}[relu-2-8-1.0-0.6-float32]": (_s("tree", "y1", "relu", precision="float32"),),
    f"{_SP1}[sign-3-9-1.0-{_PI}-float32]": (_s("tree", "y1", "sign", precision="float32"),),
    **{f"{_SP}test_explicit_ensemble_on_the_torus_samples_its_joint_law[{p}]": (_s("tree", "explicit", "relu", precision=p),)
       for p in config.PRECISIONS},
    f"{_SPC}[relu-2-6-9-1.5-{_PI}-float64]": (_s("tree", "y1", "relu", "perceptron"),),
    f"{_SPC}[relu-2-6-9-1.5-0.6-float64]": (_s("tree", "y1", "relu", "perceptron"),),
    f"{_SPC}[sign-3-7-11-1.5-{_PI}-float64]": (_s("tree", "y1", "sign", "perceptron"),),
    f"{_SPC}[relu-2-6-9-1.5-0.6-float32]": (_s("tree", "y1", "relu", "perceptron", "float32"),),
    f"{_SPC}[sign-3-7-11-1.5-{_PI}-float32]": (_s("tree", "y1", "sign", "perceptron", "float32"),),
    **{f"{_SP}test_explicit_ensemble_with_the_perceptron_cost_samples_its_joint_law[{p}]":
       (_s("tree", "explicit", "relu", "perceptron", p),) for p in config.PRECISIONS},
}

# Cells no other file checked when the matrix was built (commit of issue 28, item 6): each runs
# through a config and ``anneal.anneal`` in ``test_exact_law_matrix.py``.
FILLED: tuple[str, ...] = (
    "binary-tree-metropolis-explicit-errors-float64-quadratic",
    "binary-tree-metropolis-explicit-least_action-float64-sign",
    "binary-tree-metropolis-traced-errors-float64-quadratic",
    "binary-tree-metropolis-traced-least_action-float64-sign",
    "binary-tree-rrr-y1-errors-float64-quadratic",
    "binary-tree-rrr-explicit-errors-float64-quadratic",
    "binary-fully_connected-metropolis-y1-errors-float64-tanh",
    "binary-fully_connected-metropolis-y1-errors-float64-quadratic",
    "binary-fully_connected-metropolis-explicit-errors-float64-relu",
    "binary-fully_connected-metropolis-explicit-errors-float64-tanh",
    "binary-fully_connected-metropolis-explicit-errors-float64-quadratic",
    "binary-fully_connected-metropolis-explicit-least_action-float64-relu",
    "binary-fully_connected-metropolis-traced-errors-float64-sign",
    "binary-fully_connected-metropolis-traced-errors-float64-relu",
    "binary-fully_connected-metropolis-traced-errors-float64-tanh",
    "binary-fully_connected-metropolis-traced-errors-float64-quadratic",
    "binary-fully_connected-metropolis-traced-least_action-float64-relu",
    "binary-fully_connected-rrr-y1-errors-float64-tanh",
    "binary-fully_connected-rrr-y1-errors-float64-quadratic",
    "binary-fully_connected-rrr-explicit-errors-float64-relu",
    "binary-fully_connected-rrr-explicit-errors-float64-tanh",
    "binary-fully_connected-rrr-explicit-errors-float64-quadratic",
    "spherical-tree-metropolis-y1-errors-float64-quadratic",
    "spherical-tree-metropolis-y1-errors-float64-linear",
    "spherical-tree-metropolis-y1-errors-float64-relu_shift(shift=0.5)",
    "spherical-tree-metropolis-explicit-errors-float64-sign",
    "spherical-tree-metropolis-explicit-errors-float64-tanh",
    "spherical-tree-metropolis-explicit-errors-float64-quadratic",
    "spherical-tree-metropolis-explicit-errors-float64-linear",
    "spherical-tree-metropolis-explicit-errors-float64-relu_shift(shift=0.5)",
    "spherical-tree-metropolis-explicit-errors-float32-sign",
    "spherical-tree-metropolis-explicit-perceptron-float64-sign",
    "spherical-tree-metropolis-explicit-perceptron-float32-sign",
    "spherical-fully_connected-metropolis-y1-errors-float64-sign",
    "spherical-fully_connected-metropolis-y1-errors-float64-relu",
    "spherical-fully_connected-metropolis-y1-errors-float64-tanh",
    "spherical-fully_connected-metropolis-y1-errors-float64-quadratic",
    "spherical-fully_connected-metropolis-y1-errors-float64-linear",
    "spherical-fully_connected-metropolis-y1-errors-float64-relu_shift(shift=0.5)",
    "spherical-fully_connected-metropolis-y1-errors-float32-sign",
    "spherical-fully_connected-metropolis-y1-errors-float32-relu",
    "spherical-fully_connected-metropolis-y1-perceptron-float64-sign",
    "spherical-fully_connected-metropolis-y1-perceptron-float64-relu",
    "spherical-fully_connected-metropolis-y1-perceptron-float32-sign",
    "spherical-fully_connected-metropolis-y1-perceptron-float32-relu",
    "spherical-fully_connected-metropolis-explicit-errors-float64-sign",
    "spherical-fully_connected-metropolis-explicit-errors-float64-relu",
    "spherical-fully_connected-metropolis-explicit-errors-float64-tanh",
    "spherical-fully_connected-metropolis-explicit-errors-float64-quadratic",
    "spherical-fully_connected-metropolis-explicit-errors-float64-linear",
    "spherical-fully_connected-metropolis-explicit-errors-float64-relu_shift(shift=0.5)",
    "spherical-fully_connected-metropolis-explicit-errors-float32-sign",
    "spherical-fully_connected-metropolis-explicit-errors-float32-relu",
    "spherical-fully_connected-metropolis-explicit-perceptron-float64-sign",
    "spherical-fully_connected-metropolis-explicit-perceptron-float64-relu",
    "spherical-fully_connected-metropolis-explicit-perceptron-float32-sign",
    "spherical-fully_connected-metropolis-explicit-perceptron-float32-relu",
)


def tempered() -> tuple[str, ...]:
    """The ids of every tempering cell the validation accepts (each checked by ``TEMPERING_TEST``)."""
    return tuple(c.id for c in cells() if c.tempering != "off")


def coverage() -> dict[str, list[str]]:
    """cell id -> the node ids of the exact-law tests that check it."""
    out: dict[str, list[str]] = {}
    for node, checked in LAW_TESTS.items():
        for c in checked:
            out.setdefault(c, []).append(node)
    for c in FILLED:
        out.setdefault(c, []).append(f"{MATRIX_FILE}::{MATRIX_TEST}[{c}]")
    for c in tempered():
        out.setdefault(c, []).append(f"{TEMPERING_FILE}::{TEMPERING_TEST}[{c}]")
    return out
