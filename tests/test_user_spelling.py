"""Messages name what the user typed (issue 26 item 5): the theory's errors say ``linear`` to a user who
typed ``linear`` (not the theory's ``perceptron``), keep the user's case, and name the option given
(``--alpha``, not the library's ``alpha``); a value given as ``--samples``/``--out`` is named so; from
Python, ``workers=`` is named ``workers``. Nothing here anneals.
"""
import copy

import pytest

import relusim
from cli_helpers import BASE, relusim_here as cli, write_config
from relusim.errors import InputError


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("typed", ["linear", "LINEAR", "Linear ", "perceptron"])
def test_the_fully_connected_theory_names_the_activation_as_typed(typed):
    code, _, err = cli("theory", "capacity", "--architecture", "fully_connected", "--activation", f"relu,{typed}")
    line = one_line(err)
    assert code == 2 and line.startswith(f"relusim: error: --activation: got {typed.strip()!r}; a non-linear"), err
    if typed != "perceptron":
        assert "perceptron" not in err


def test_an_unknown_activation_keeps_the_users_case():
    code, _, err = cli("theory", "capacity", "--activation", "GELU")
    assert code == 2 and "--activation: got 'GELU'" in one_line(err)


@pytest.mark.parametrize("argv, start", [
    (["theory", "stabilities", "--alpha", "0.5,0.6"], "--alpha: got '0.5,0.6'"),
    (["theory", "stabilities", "--q1", "2"], "--q1: got 2.0"),
    (["theory", "local-entropy", "--y", "0.5"], "--y: got '0.5'"),
    (["theory", "stabilities", "--K", "0"], "--K: got 0"),
    (["theory", "franz-parisi", "--d", "0.7"], "--d: got '0.7'"),
    (["theory", "capacity", "--weights", "Binary2"], "--weights: got 'Binary2'"),
])
def test_the_theory_names_the_option_given(argv, start):
    code, _, err = cli(*argv)
    assert code == 2 and one_line(err).startswith("relusim: error: " + start), err


def test_no_solution_names_the_activation_as_typed():
    code, _, err = cli("theory", "franz-parisi", "--activation", "ReLU", "--alpha", "5", "--d", "0.005")
    assert code == 2 and "activation=ReLU" in one_line(err) and "--alpha" in err, err


@pytest.mark.parametrize("flag, value, key", [("--samples", "0", "--samples"), ("--samples", "2000000", "--samples"),
                                              ("--out", "x.txt", "--out"), ("--out", "/proc/x.h5", "--out")])
def test_anneal_names_its_options_as_typed(tmp_path, flag, value, key):
    path = write_config(tmp_path / "c.yaml", dict(copy.deepcopy(BASE), output=str(tmp_path / "o.h5")))
    code, _, err = cli("anneal", "--config", path, flag, value, "--quiet", cwd=tmp_path)
    assert code == 2 and one_line(err).startswith(f"relusim: error: {key}: "), err


def test_the_python_api_names_workers_as_python_does(tmp_path):
    with pytest.raises(InputError) as info:
        relusim.run(dict(copy.deepcopy(BASE), output=str(tmp_path / "o.h5"), samples=100_000), workers=100_000)
    assert info.value.key == "workers" and "use workers=" in str(info.value)
