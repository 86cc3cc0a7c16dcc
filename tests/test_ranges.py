"""One range syntax with one meaning for every command (issue 28 item 4): ``start:stop:step`` is the
points start + i step up to stop (included when a step lands on it), ``a,b,c`` those values
(``relusim.ranges``, docs/CONTRACT.md "Command line"). Properties of the parser over random grids,
its refusals, and the same list from every command that takes a grid."""
import copy
import math
import re
import tracemalloc
from decimal import Decimal

import numpy as np
import pytest

from cli_helpers import BASE, relusim_here, write_config
from relusim.capacity import grid
from relusim import config, ranges
from relusim.execution import sweep
from relusim.cli.analysis import parse_spec
from relusim.errors import InputError
from relusim.cli import theory as theory_cli

RNG = np.random.default_rng(28)


def decimal_grids(n):
    """(text, the decimal points it means): start, step with 1 to 3 decimals, stop on a step or off it."""
    for _ in range(n):
        places = int(RNG.integers(1, 4))
        unit = Decimal(1).scaleb(-places)
        start = int(RNG.integers(-300, 300)) * unit
        step = int(RNG.integers(1, 60)) * unit
        k = int(RNG.integers(1, 80))
        stop = start + k * step + (int(RNG.integers(1, 10)) * unit / 10 if RNG.random() < 0.3 else 0)
        yield f"{start}:{stop}:{step}", [start + i * step for i in range(k + 1)]


@pytest.mark.parametrize("text, points", list(decimal_grids(400)))
def test_a_range_is_the_decimal_points_the_user_means_stop_included_when_landed_on(text, points):
    got = ranges.parse("--x", text, 100_000)
    start, stop, step = (float(p) for p in text.split(":"))
    assert len(got) == len(points) == math.floor((stop - start) / step + 1e-9) + 1
    assert list(got) == [float(p) for p in points]  # 0.1 + 2 * 0.1 is 0.3, not 0.30000000000000004
    assert got[-1] <= stop and (got[-1] == stop or got[-1] + step > stop)


def test_random_float_ranges_count_as_arange_and_never_pass_stop():
    rng = np.random.default_rng(4)
    for _ in range(2000):
        start = float(rng.normal() * 10.0 ** rng.integers(-6, 6))
        step = float(rng.random() * 10.0 ** rng.integers(-6, 3)) or 1.0
        stop = start + step * float(rng.random() * 500) + step
        got = ranges.parse("--x", f"{start!r}:{stop!r}:{step!r}", 100_000)
        assert len(got) == math.floor((stop - start) / step + 1e-9) + 1
        scale = max(abs(start), abs(stop))  # points are rounded to 13 significant digits of it
        exact = start + step * np.arange(len(got))
        np.testing.assert_allclose(got, exact, rtol=0, atol=max(1e-13 * scale, 4 * np.spacing(scale)))
        assert got[-1] <= stop + 1e-9 * step


def test_stop_is_included_within_rounding_and_snapped_to_itself():
    assert ranges.parse("k", "0.1:0.3:0.2", 10) == (0.1, 0.3)  # 0.3 - 0.1 < 0.2 in floats
    assert ranges.parse("k", "0:1:0.1", 100)[-1] == 1.0 and len(ranges.parse("k", "0:1:0.1", 100)) == 11
    assert ranges.parse("k", "-0.3:0:0.1", 10) == (-0.3, -0.2, -0.1, 0.0)
    third = ranges.parse("k", "0:1:0.3333333333", 10)
    assert len(third) == 4 and third[-1] == 1.0
    assert ranges.parse("k", "0:0.5:0.2", 10) == (0.0, 0.2, 0.4)  # stop not on a step: left out
    assert ranges.parse("k", "0.3,0.1,0.2", 10) == (0.3, 0.1, 0.2)  # a list keeps its order


def test_integer_ranges_are_exact_integers():
    assert ranges.parse("k", "100:400:100", 10) == (100, 200, 300, 400)
    assert all(type(v) is int for v in ranges.parse("k", "1:9:2", 10))
    seeds = ranges.parse("k", f"{2**64 - 7}:{2**64 - 1}:3", 10)  # past 2^53: floats would merge them
    assert seeds == (2**64 - 7, 2**64 - 4, 2**64 - 1)


@pytest.mark.parametrize("text", ["0.5:1.0:0", "0.5:1.0:-0.1", "1.0:0.5:0.1", "0.5:0.5:0.1", "0.3:0.5:0.5",
                                  "0:inf:0.1", "nan:1:0.1", "0:1", "0:1:0.1:2", "a:b:c", "1,,2", "0,inf", ""])
def test_bad_ranges_are_one_line_naming_the_option(text):
    with pytest.raises(InputError) as e:
        ranges.parse("--flips", text, 10_000)
    msg = str(e.value)
    assert msg.startswith("--flips: got ") and "\n" not in msg


@pytest.mark.parametrize("text, hint", [
    ("0:0.5:6", "for 6 points from 0 to 0.5 write 0:0.5:0.1"),
    ("0:0.5:51", "write 0:0.5:0.01"), ("0:0.2:21", "write 0:0.2:0.01"),
    ("0.02:3:30", "for 30 points from 0.02 to 3 write 0.02:3:0.10275862069"),
    ("0:0.2:10000", "for 10000 points from 0 to 0.2 write 0:0.2:"), ("1:2:99999", "write 1:2:"),
    ("0.005:0.4:10", "for 10 points from 0.005 to 0.4 write 0.005:0.4:0.0438888888889"),
    ("0.3:0.5:1", "for the single point 0.3 write 0.3"),
])
def test_a_count_style_range_is_refused_with_the_range_that_means_it(text, hint):
    with pytest.raises(InputError) as e:
        ranges.parse("--flips", text, 100_000)
    msg = str(e.value)
    assert msg.startswith(f"--flips: got '{text}'; start:stop:step needs 0 < step <= stop - start"), msg
    assert hint in msg, msg
    if "write " in hint and ":" in hint.split("write ")[1]:  # the suggested range gives those n points
        n = int(text.split(":")[2])
        suggested = msg.split("write ")[1].rstrip(")")
        got = ranges.parse("k", suggested, 100_000)
        assert len(got) == n and got[-1] == float(text.split(":")[1])
        np.testing.assert_allclose(got, np.linspace(*map(float, text.split(":")[:2]), n), rtol=0, atol=1e-11)


@pytest.mark.parametrize("text", ["0:0.5:1e-12", "0:1:1e-300", "-1e308:1e308:1e300", "0:3:1e-10",
                                  "0:1000000000000:1", "1e-300:1:5e-324"])
def test_a_huge_count_is_refused_before_a_point_exists(text):
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="points; at most 10000"):
            ranges.parse("--flips", text, 10_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000, peak


def test_a_long_list_is_counted_before_its_values_are_made():
    with pytest.raises(InputError, match="gives 10001 points; at most 10000"):
        ranges.parse("--flips", ",".join(["0.5"] * 10_001), 10_000)


# -------------------------------------------------------------- the same list from every command --


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("ranges")
    return config.from_dict(dict(copy.deepcopy(BASE), output=str(d / "t.h5")))


def every_parser(text, base):
    """The list each command makes of ``text`` (each in its own order and type, made float)."""
    (_, swept), = sweep.parse_grid([f"model.alpha={text}"], base)
    return {
        "capacity --alpha": list(grid.parse_alpha(text)),
        "robustness --flips": list(parse_spec("--flips", text)),
        "robustness --weight-noise": list(parse_spec("--weight-noise", text, allow_none=True)),
        "theory --d": list(theory_cli.parse_grid("d", text, 0.0, 0.5)),
        "theory --x": list(theory_cli.parse_grid("x", text)),
        "theory --alpha": theory_cli.parse_alphas(text),
        "theory fc-correlation --alpha": list(theory_cli.parse_alpha_grid(text)),
        "sweep --grid": [float(v) for v in swept],
    }


@pytest.mark.parametrize("text, expected", [
    ("0.05:0.45:0.05", [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45]),
    ("0.1:0.4:0.1", [0.1, 0.2, 0.3, 0.4]),
    ("0.02:0.3:0.04", [0.02, 0.06, 0.1, 0.14, 0.18, 0.22, 0.26, 0.3]),
    ("0.1:0.35:0.1", [0.1, 0.2, 0.3]),
    ("0.1,0.25,0.4", [0.1, 0.25, 0.4]),
])
def test_every_command_reads_the_same_text_as_the_same_list(base, text, expected):
    lists = every_parser(text, base)
    for command, got in lists.items():
        assert [v.hex() for v in map(float, got)] == [v.hex() for v in expected], command


@pytest.mark.parametrize("text", ["0.01:0.4:8", "0.1:0.4:2", "0.4:0.01:8", "0.1:0.4:0"])
def test_every_command_refuses_a_count_style_range(base, text):
    for parse in (lambda: grid.parse_alpha(text), lambda: parse_spec("--flips", text),
                  lambda: theory_cli.parse_grid("d", text, 0.0, 0.5), lambda: theory_cli.parse_alphas(text),
                  lambda: theory_cli.parse_alpha_grid(text),
                  lambda: sweep.parse_grid([f"model.alpha={text}"], base)):
        with pytest.raises(InputError, match="start:stop:step needs 0 < step <= stop - start"):
            parse()


def test_the_command_lines_refuse_a_count_style_range_in_one_line_exit_2(tmp_path):
    c = write_config(tmp_path / "c.yaml", dict(copy.deepcopy(BASE), output=str(tmp_path / "t.h5")))
    (tmp_path / "r.h5").write_bytes(b"")
    cases = [
        (["robustness", tmp_path / "r.h5", "--flips", "0:0.5:6"], "--flips",
         "--flips: got '0:0.5:6'; start:stop:step needs 0 < step <= stop - start (for 6 points from 0 to 0.5 "
         "write 0:0.5:0.1)"),
        (["robustness", tmp_path / "r.h5", "--weight-noise", "0:0.2:21"], "--weight-noise", "write 0:0.2:0.01"),
        (["theory", "franz-parisi", "--d", "0.005:0.4:10"], "--d", "write 0.005:0.4:0.0438888888889"),
        (["theory", "local-entropy", "--d", "0.01:0.4:8"], "--d", "for 8 points"),
        (["theory", "stabilities", "--x", "0.02:3:30"], "--x", "for 30 points"),
        (["theory", "fc-correlation", "--alpha", "0.1:2:20"], "--alpha", "for 20 points"),
        (["theory", "franz-parisi", "--alpha", "0.3:0.5:3"], "--alpha", "write 0.3:0.5:0.1"),
        (["capacity", "--config", c, "--N", "8", "--alpha", "0.5:1.0:6"], "--alpha", "write 0.5:1.0:0.1"),
        (["sweep", "--config", c, "--grid", "model.alpha=0.3:0.5:3", "--backend", "slurm", "--dry-run"],
         "--grid model.alpha", "write 0.3:0.5:0.1"),
    ]
    for argv, key, words in cases:
        code, out, err = relusim_here(*argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"relusim: error: {key}: got "), (argv, err)
        assert words in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "r.h5"]


def test_every_grid_option_states_the_one_meaning_in_its_help():
    for argv, option in [(["robustness", "--help"], "--flips"), (["robustness", "--help"], "--weight-noise"),
                         (["capacity", "--help"], "--alpha"), (["sweep", "--help"], "--grid"),
                         (["theory", "franz-parisi", "--help"], "--d"), (["theory", "local-entropy", "--help"], "--d"),
                         (["theory", "stabilities", "--help"], "--x"),
                         (["theory", "fc-correlation", "--help"], "--alpha")]:
        code, out, _ = relusim_here(*argv)
        options = out.split("Options:")[1]
        own = re.split(r"\n  -", options.split(f"\n  {option} ")[1])[0]  # this option's own help
        assert code == 0 and ranges.RANGE_HELP in " ".join(own.split()), (argv, option, own)


def test_a_sweep_range_of_integers_stays_integers(base):
    axes = sweep.parse_grid(["model.N=40:120:40", "anneal.sweeps=100:300:100", "model.alpha=0.3:0.5:0.1"], base)
    assert axes == [("model.N", (40, 80, 120)), ("anneal.sweeps", (100, 200, 300)), ("model.alpha", (0.3, 0.4, 0.5))]
    assert type(axes[0][1][0]) is int
