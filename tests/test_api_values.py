"""The Python API takes what Python code naturally passes (issue 27 item 7): NumPy scalars wherever a
number is, ``pathlib.Path`` wherever a path is; and refuses, in one line and before anything is
created, arguments of the wrong type: ``workers=2.5`` or ``"2"`` (they ran, or crashed after the
output existed), ``overwrite="no"`` (truthy: it overwrote), a ``run_sweep`` grid that is a string, an
empty list or a string instead of a list. Nothing here anneals: every run is refused or only configured.
"""
import copy
import os
from pathlib import Path

import numpy as np
import pytest

import relusim
from cli_helpers import BASE, write_config
from relusim import api, config
from relusim.errors import InputError


def base(tmp_path) -> dict:
    return dict(copy.deepcopy(BASE), output=str(tmp_path / "o.h5"), samples=1)


# --------------------------------------------------------------------- NumPy scalars and Path --

def test_numpy_scalars_are_the_numbers_they_are(tmp_path):
    c = api._as_config({"name": "t", "model": {"N": np.int64(40), "K": np.int32(4), "alpha": np.float64(0.3),
                                  "allow_ties": np.bool_(False), "activation": np.str_("relu")},
                        "seed": np.uint64(7), "samples": np.int16(2),
                        "anneal": {"beta": np.float32(2.0), "sweeps": np.int64(50),
                                   "stop_when_solved": np.bool_(True)},
                        "ensemble": {"replicas": np.int8(1), "gamma": {"start": np.float64(0.1), "stop": 2}},
                        "output": tmp_path / "o.h5"}, {})
    plain = api._as_config(dict(base(tmp_path), model={"N": 40, "K": 4, "alpha": 0.3}, seed=7, samples=2,
                                anneal={"beta": 2.0, "sweeps": 50},
                                ensemble={"gamma": {"start": 0.1, "stop": 2}}), {})
    assert c == plain
    assert type(c.model.N) is int and type(c.model.alpha) is float and type(c.anneal.stop_when_solved) is bool
    assert c.physics_sha256() == plain.physics_sha256() and c.to_yaml() == plain.to_yaml()


def test_from_dict_and_replace_take_numpy_scalars_too(tmp_path):
    c = config.from_dict(dict(base(tmp_path), seed=np.int64(5)))
    assert c.seed == 5 and type(c.seed) is int
    d = c.replace(**{"model.alpha": np.float64(0.25), "samples": np.int32(3), "output": tmp_path / "p.h5"})
    assert (d.model.alpha, d.samples, d.output) == (0.25, 3, str(tmp_path / "p.h5"))


@pytest.mark.parametrize("how", ["in the dict", "as output=", "config as a Path"])
def test_paths_are_paths(tmp_path, how):
    if how == "in the dict":
        c = api._as_config(dict(base(tmp_path), output=tmp_path / "x.h5"), {})
    elif how == "as output=":
        c = api._as_config(base(tmp_path), {"output": tmp_path / "x.h5"})
    else:
        path = Path(write_config(tmp_path / "c.yaml", base(tmp_path)))
        c = api._as_config(path, {"output": tmp_path / "x.h5"})
    assert c.output == str(tmp_path / "x.h5")


@pytest.mark.parametrize("value", [np.float64(0.3), 0.3 + 0j, "0.3", b"0.3", [0.3], np.array([0.3])])
def test_what_is_not_a_number_is_still_refused_naming_the_key(tmp_path, value):
    if isinstance(value, float):  # np.float64 is a number: the control case
        assert api._as_config(dict(base(tmp_path), model={"alpha": value}), {}).model.alpha == 0.3
        return
    with pytest.raises(InputError) as info:
        api._as_config(dict(base(tmp_path), model={"alpha": value}), {})
    assert info.value.key == "model.alpha"


def test_a_bytes_output_or_an_object_is_refused(tmp_path):
    with pytest.raises(InputError, match="output: got b"):
        api._as_config(dict(base(tmp_path), output=os.fsencode(str(tmp_path / "o.h5"))), {})
    with pytest.raises(InputError, match="expected a string"):
        api._as_config(dict(base(tmp_path), name=object()), {})


# ------------------------------------------------------------ run(): arguments, before anything --

@pytest.mark.parametrize("kw, key", [
    ({"workers": 2.5}, "workers"), ({"workers": "2"}, "workers"), ({"workers": True}, "workers"),
    ({"workers": 0}, "workers"), ({"workers": np.float64(2)}, "workers"),
    ({"overwrite": "no"}, "overwrite"), ({"overwrite": 1}, "overwrite"), ({"quiet": "yes"}, "quiet"),
    ({"samples": "2"}, "samples"), ({"samples": 0}, "samples"), ({"samples": 2.0}, "samples"),
    ({"output": 3}, "output"),
])
def test_run_refuses_bad_arguments_before_anything_is_created(tmp_path, kw, key):
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InputError) as info:
        relusim.run(base(tmp_path), **kw)
    assert info.value.key == key and "\n" not in str(info.value)
    assert sorted(os.listdir(tmp_path)) == before


# --------------------------------------------------------------------------------- run_sweep() --

@pytest.mark.parametrize("grid, words", [
    ("model.alpha=0.3,0.4", "grid: got 'model.alpha=0.3,0.4'; a mapping"),
    ({"model.alpha": []}, "a non-empty list"),
    ({"model.alpha": np.array([])}, "a non-empty list"),
    ({"model.alpha": "0.3,0.4"}, "a list of values, not a string"),
    ({"model.activation": "sign"}, "a list of values, not a string"),
    ({"model.alpha": 0.3}, "not a float"),
    ({"model.alpha": {0.3, 0.4}}, "not a set"),
    ({"model.alpha": [[0.3]]}, "not a list or a mapping"),
    ({3: [0.3]}, "keys are dotted config keys"),
    ({"model.alfa": [0.3]}, "did you mean"),
    ({"output": ["a.h5"]}, "cannot be swept"),
])
def test_run_sweep_refuses_a_bad_grid_in_one_line(tmp_path, grid, words):
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InputError) as info:
        relusim.run_sweep(base(tmp_path), grid, quiet=True)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("kw, key", [({"workers": 2.5}, "workers"), ({"samples": "2"}, "samples"),
                                     ({"overwrite": "yes"}, "overwrite"), ({"out_dir": 5}, "out_dir")])
def test_run_sweep_refuses_bad_arguments_before_anything_is_created(tmp_path, kw, key):
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InputError) as info:
        relusim.run_sweep(base(tmp_path), {"model.alpha": [0.3]}, quiet=True, **kw)
    assert sorted(os.listdir(tmp_path)) == before and info.value.key == key


def test_numpy_arrays_and_scalars_make_a_grid(tmp_path):
    axes = api._grid_axes({"model.alpha": np.array([0.2, 0.3]), "seed": [np.int64(1), np.int64(2)],
                           "model.K": range(2, 6, 2)}, config.from_dict(base(tmp_path)))
    assert axes == [("model.alpha", (0.2, 0.3)), ("seed", (1, 2)), ("model.K", (2, 4))]
    assert all(type(v) in (int, float) for _, vs in axes for v in vs)
