"""``relusim theory`` through click's runner."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from relusim.errors import InputError
from relusim.cli.theory import theory_group


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def test_capacity_prints_table_and_writes_csv_json_png(runner, tmp_path):
    out = {k: tmp_path / f"cap.{k}" for k in ("csv", "json", "png")}
    res = runner.invoke(theory_group, ["capacity", "--activation", "relu,perceptron", "--weights",
                                       "spherical", "--csv", str(out["csv"]), "--json",
                                       str(out["json"]), "--plot", str(out["png"])])
    assert res.exit_code == 0, res.output
    assert "alpha_c_rs" in res.output.splitlines()[0] and "2.93388" in res.output
    rows = list(csv.DictReader(out["csv"].open()))
    assert float(rows[0]["alpha_c_1rsb"]) == pytest.approx(2.6643, abs=2e-3)
    assert json.loads(out["json"].read_text())[1]["activation"] == "perceptron"
    assert out["png"].read_bytes()[:4] == b"\x89PNG"


def test_stabilities_and_local_entropy_commands(runner, tmp_path):
    res = runner.invoke(theory_group, ["stabilities", "--activation", "sign", "--x", "0.5,1",
                                       "--y", "1", "--K", "9", "--plot", str(tmp_path / "s.png")])
    assert res.exit_code == 0, res.output
    assert "prob" in res.output and (tmp_path / "s.png").exists()
    res = runner.invoke(theory_group, ["local-entropy", "--activation", "relu", "--y", "3",
                                       "--d", "0.01"])
    assert res.exit_code == 0 and "-0.1138" in res.output


def test_franz_parisi_command(runner):
    res = runner.invoke(theory_group, ["franz-parisi", "--activation", "relu", "--d", "0.1"])
    assert res.exit_code == 0 and "0.1587" in res.output


@pytest.mark.parametrize("args", [["capacity", "--activation", "swish"],
                                  ["franz-parisi", "--alpha", "0"],
                                  ["local-entropy", "--d", "0.6"],
                                  ["stabilities", "--weights", "ternary"]])
def test_bad_input_raises_input_error(runner, args):
    res = runner.invoke(theory_group, args)
    assert isinstance(res.exception, InputError)


@pytest.mark.parametrize("cmd", ["capacity", "franz-parisi", "local-entropy", "stabilities"])
def test_help_ends_with_example(runner, cmd):
    res = runner.invoke(theory_group, [cmd, "--help"])
    helptext = res.output.split("Options:")[0].strip()
    assert "Example:" in helptext.splitlines()[-2] and helptext.splitlines()[-1].strip().startswith(
        "relusim theory " + cmd)


def test_capacity_answers_for_every_activation_and_prior_with_a_note_for_each_gap(runner, tmp_path):
    from relusim.theory.activations import REGISTRY
    acts = ",".join(list(REGISTRY) + ["relu_shift0.5", "relu_shift-0.5"])
    js, cs = tmp_path / "cap.json", tmp_path / "cap.csv"
    res = runner.invoke(theory_group, ["capacity", "--activation", acts, "--weights", "binary,spherical",
                                       "--json", str(js), "--csv", str(cs)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    cut = lines[0].index("note")  # the numbers, without the free-text note column
    assert not {"nan", "inf", "-inf"} & {t for line in lines for t in line[:cut].split()}
    rows = json.loads(js.read_text())
    assert len(rows) == 2 * (len(REGISTRY) + 2)
    for r in rows:
        assert r["alpha_c_rs"] is not None or "RS: diverges" in r["note"]
        assert r["alpha_at"] is not None and r["alpha_at"] > 0
        assert r["alpha_c_1rsb"] is not None or "1RSB:" in r["note"]
    assert "nan" not in cs.read_text().lower() and "inf," not in cs.read_text()
    by = {(r["activation"], r["weights"]): r for r in rows}
    assert by["quadratic", "spherical"]["alpha_at"] == pytest.approx(np.pi / 4)
    assert by["sign", "spherical"]["alpha_c_rs"] is None and "sqrt K" in by["sign", "spherical"]["note"]
    assert by["relu", "binary"]["note"] == "1RSB: not computed for binary weights"
