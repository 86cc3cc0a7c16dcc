"""Activation parameters (issue 27 item 7): a boolean or a string is not a number, a parameter keeps its
digits, and a parameter for which the model's g degenerates is refused at config time, saying the
allowed range.

Binary weights sample g through a fixed-point int64 table (``activations.binary_table``):
``erf(scale=1e-300)`` made every entry 0 (every sample ends E = P), ``relu_shift(shift=-1e300)``
overflowed int64, ``relu_shift(shift=100)`` at fan-in 10 is 0 on every field. Nothing here anneals.
"""
import copy
import math
import re

import numpy as np
import pytest

from cli_helpers import BASE, relusim_here, write_config
from relusim.models import activations
from relusim import config
from relusim.errors import InputError


def cfg(tmp_path, activation, **model):
    c = copy.deepcopy(BASE)
    c["model"].update(activation=activation, **model)
    c["output"] = str(tmp_path / "o.h5")
    return c


# ------------------------------------------------------------------------------- types --

@pytest.mark.parametrize("value, words", [
    ({"name": "erf", "scale": True}, "not a boolean"),
    ({"name": "erf", "scale": np.bool_(True)}, "not a boolean"),
    ({"name": "relu_shift", "shift": False}, "not a boolean"),
    ({"name": "erf", "scale": "2"}, "not a str"),
    ({"name": "relu_shift", "shift": "0.5"}, "not a str"),
    ({"name": "erf", "scale": [2]}, "not a list"),
    ({"name": "erf", "scale": {"a": 1}}, "not a dict"),
])
def test_a_parameter_that_is_not_a_number_is_refused(value, words):
    with pytest.raises(InputError) as info:
        activations.parse(value)
    assert info.value.key == "model.activation" and words in str(info.value)


def test_numpy_numbers_are_numbers():
    assert activations.parse({"name": "erf", "scale": np.float64(2.0)}).label == "erf(scale=2)"
    assert activations.parse({"name": "relu_shift", "shift": np.int64(1)}).label == "relu_shift(shift=1)"


def test_the_string_forms_still_parse_their_number():
    assert activations.parse("erf(scale=2)").param == 2.0
    assert activations.parse("relu_shift(shift=-0.25)").param == -0.25
    with pytest.raises(InputError, match="must be a number"):
        activations.parse("erf(scale=true)")


# ------------------------------------------------------------------------------ labels --

@pytest.mark.parametrize("p", [1.23456789, 0.1 + 0.2, 2.0 / 3.0, 1e-7 * 3.3333333, 12345678.9])
def test_a_label_keeps_every_digit_of_its_parameter(p):
    spec = activations.parse({"name": "erf", "scale": p})
    assert activations.parse(spec.label).param == p  # %g made 1.23456789 into 1.23457, silently


@pytest.mark.parametrize("label", ["erf(scale=2)", "erf(scale=0.5)", "relu_shift(shift=-0.25)",
                                   "relu_shift(shift=1e-06)", "erf(scale=1e+10)"])
def test_labels_that_round_trip_keep_their_old_text(label):
    """The %g form files have always held is kept wherever it reads back exactly (same config hashes)."""
    assert activations.parse(label).label == label


# ----------------------------------------------------------------- degenerate tables of g --

@pytest.mark.parametrize("activation, model, words", [
    ("erf(scale=1e-300)", {"N": 45, "K": 5}, "g rounds to 0 on every field"),
    ("erf(scale=1e-12)", {"N": 45, "K": 5}, "only 7.81e+06 steps"),
    ("relu_shift(shift=-1e300)", {}, "overflow the int64 table"),
    ("relu_shift(shift=-1e18)", {}, "overflow the int64 table"),
    ("relu_shift(shift=-1e10)", {}, "steps of 2^-"),
    ("relu_shift(shift=100)", {}, "g is 0 on every field"),
    ("relu_shift(shift=3.2)", {}, "g is 0 on every field"),  # N/K = 10: sqrt(10) = 3.162
    ("relu_shift(shift=5)", {"architecture": "fully_connected", "N": 10, "K": 4}, "g is 0 on every field"),
])
def test_a_degenerate_table_is_refused_saying_the_range(tmp_path, activation, model, words):
    with pytest.raises(InputError) as info:
        config.from_dict(cfg(tmp_path, activation, **model))
    msg = str(info.value)
    assert info.value.key == "model.activation" and words in msg and "allowed here" in msg, msg
    assert ("scale >=" if activation.startswith("erf") else "<= shift < sqrt(n)") in msg


@pytest.mark.parametrize("activation, model", [
    ("relu_shift(shift=100)", {}), ("relu_shift(shift=-1e300)", {}), ("relu_shift(shift=3.2)", {})])
def test_spherical_weights_refuse_a_shift_that_silences_or_swamps_g(tmp_path, activation, model):
    with pytest.raises(InputError, match=r"spherical weights.*shift < sqrt\(n\) = 3\.16228"):
        config.from_dict(cfg(tmp_path, activation, weights="spherical", **model))


@pytest.mark.parametrize("activation, model", [
    ("erf(scale=2)", {"N": 45, "K": 5}), ("erf(scale=1e-6)", {"N": 45, "K": 5}),
    ("erf(scale=1e300)", {"N": 45, "K": 5}),
    ("relu_shift(shift=0.5)", {}), ("relu_shift(shift=-1000)", {}), ("relu_shift(shift=3.16)", {}),
])
def test_reasonable_parameters_still_pass(tmp_path, activation, model):
    config.from_dict(cfg(tmp_path, activation, **model))
    config.from_dict(cfg(tmp_path, activation, weights="spherical", **model))


@pytest.mark.parametrize("n, K", [(10, 4), (9, 5), (1, 2), (100, 2), (8000, 4), (32000, 1), (3, 10666)])
@pytest.mark.parametrize("name", ["erf", "relu_shift"])
def test_the_stated_range_is_what_the_real_table_represents(n, K, name):
    """At the bounds the message states, relusim's own table (``binary_table``, g from the kernels'
    deterministic functions) resolves g into >= 2^32 steps and fits int64 with room for K entries; a few
    percent beyond, the check refuses."""
    text = activations.table_range(name, n, K)
    bounds = [float(x) for x in re.findall(r"[-+]?\d[\d.]*(?:e[-+]?\d+)?", text.split("(")[0])][:1]
    if name == "relu_shift":
        bounds.append(math.sqrt(n) - 2.0**-27)  # "to within 4e-09" of sqrt(n)
    for p in bounds:
        assert activations.table_ok(name, p, n, K), (text, p)
        gq, S = activations.binary_table(activations.parse({"name": name, ("scale" if name == "erf" else "shift"): p}),
                                         n, K)
        assert int(gq.max()) - int(gq.min()) >= 2**32 and K * int(np.abs(gq).max()) < 2**62
    beyond = bounds[0] * (0.95 if name == "erf" else 1.05)
    assert not activations.table_ok(name, beyond, n, K)
    if name == "relu_shift":
        assert not activations.table_ok(name, math.sqrt(n), n, K)


def test_validate_says_it_in_one_line(tmp_path):
    path = write_config(tmp_path / "c.yaml", cfg(tmp_path, "relu_shift(shift=-1e300)"))
    code, _, err = relusim_here("validate", "--config", path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "overflow the int64 table" in err, err
