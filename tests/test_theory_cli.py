"""``relusim theory`` through click's runner."""

import csv
import json

import pytest
from click.testing import CliRunner

from relusim.errors import InputError
from relusim.theory.cli import theory_group


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
