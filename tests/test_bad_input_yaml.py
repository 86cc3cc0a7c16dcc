"""YAML and config files a hostile or careless user can give: one line naming --config (or the key),
exit 2, quickly, never a traceback, a hang or the whole value; the valid merge key ``<<`` works.

Most cases run in-process (``config.load``); the ones about processes (a FIFO that must not block,
the exit status) run the real command line. Nothing here anneals.
"""
import os
import time

import pytest

from cli_helpers import relusim
from relusim import config
from relusim.errors import InputError

GOOD = "name: t\nseed: 3\nsamples: 2\nmodel: {activation: relu, N: 40, K: 4, alpha: 0.3}\nanneal: {sweeps: 50}\n"


def load_text(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text + f"\noutput: {tmp_path}/o.h5\n" if "output:" not in text else text)
    return config.load(path)


def refused(tmp_path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_text(tmp_path, text)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg
    return info.value


def laughs(levels: int = 9, width: int = 9, used: bool = True) -> str:
    """The billion laughs: 9 levels of 9 aliases each, 9^9 strings once expanded."""
    lines = ["anchors:", "  - &a0 lol"]
    for i in range(1, levels + 1):
        lines.append(f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + (f"\nname: *a{levels}\n" if used else "\n")


# ----------------------------------------------------------------------------------------- keys --

@pytest.mark.parametrize("text, kind, line", [
    ("? [a, b]\n: 1\n", "list", 1),
    ("? {a: 1}\n: 2\n", "mapping", 1),
    ("seed: 1\nmodel: {[1, 2]: 3}\n", "list", 2),
    ("model:\n  N: 40\n  ? [K]\n  : 4\n", "list", 3),
    ("? !!set {a}\n: 1\n", "mapping", 1),
])
def test_a_key_that_is_a_list_or_a_mapping_is_one_line(tmp_path, text, kind, line):
    err = refused(tmp_path, text)
    assert err.key == "--config" and f"line {line}: a key is a {kind}" in str(err)


def test_a_repeated_key_with_a_newline_in_it_stays_one_line(tmp_path):
    err = refused(tmp_path, '"a\\nb": 1\n"a\\nb": 2\n')
    assert str(err).startswith("a\\nb: got 'twice'")


def test_a_key_that_is_a_number_or_null_is_an_unknown_key(tmp_path):
    assert "unknown key" in str(refused(tmp_path, GOOD + "1: 2\n"))
    assert "unknown key" in str(refused(tmp_path, GOOD + "null: 2\n"))


# ---------------------------------------------------------------------------- aliases and bombs --

@pytest.mark.parametrize("used", [True, False])
def test_a_billion_laughs_is_refused_at_once_without_printing_it(tmp_path, used):
    t0 = time.perf_counter()
    err = refused(tmp_path, laughs(used=used))
    assert time.perf_counter() - t0 < 2.0
    assert "alias" in str(err) and "10000" in str(err) and "lol" not in str(err)


def test_a_bomb_through_merge_keys_is_refused(tmp_path):
    lines = ["x0: &x0 {a: 1}"] + [f"x{i}: &x{i} {{<<: [*x{i - 1}, *x{i - 1}]}}" for i in range(1, 40)]
    t0 = time.perf_counter()
    err = refused(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - t0 < 2.0 and "alias" in str(err)


def test_an_alias_that_contains_itself_is_refused(tmp_path):
    assert "refers to a list or mapping that contains it" in str(refused(tmp_path, "name: &a [*a]\n"))
    assert "contains it" in str(refused(tmp_path, "model: &m {N: 40, K: *m}\n"))


def test_aliases_within_the_limit_still_work(tmp_path):
    cfg = load_text(tmp_path, GOOD.replace("anneal: {sweeps: 50}", "anneal: {sweeps: 50, beta: *g}")
                    .replace("name: t", "ensemble: {replicas: 3, gamma: &g {start: 0.5, stop: 4.0}}\nname: t"))
    assert cfg.anneal.beta == cfg.ensemble.gamma and cfg.anneal.beta.stop == 4.0


def test_nesting_deeper_than_the_stack_is_one_line(tmp_path):
    err = refused(tmp_path, "name: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "nest deeper than" in str(err)


# ------------------------------------------------------------------------------- merge keys `<<` --

def test_the_merge_key_is_yaml_and_works(tmp_path):
    merged = load_text(tmp_path, GOOD + "ensemble:\n  replicas: 3\n  gamma:\n    <<: &g {start: 0.1, stop: 2.0}\n"
                                        "    schedule: linear\n")
    written = load_text(tmp_path, GOOD + "ensemble: {replicas: 3, gamma: {start: 0.1, stop: 2.0, schedule: linear}}\n")
    assert merged == written


def test_own_keys_override_merged_ones_and_lists_of_merges_work(tmp_path):
    cfg = load_text(tmp_path, "anneal: {sweeps: 50}\nmodel:\n  <<: [{N: 40, K: 4}, {alpha: 0.3, K: 8}]\n"
                              "  alpha: 0.25\n")
    assert (cfg.model.N, cfg.model.K, cfg.model.alpha) == (40, 4, 0.25)  # the first merged mapping wins


def test_a_repeated_own_key_beside_a_merge_is_still_refused(tmp_path):
    err = refused(tmp_path, "model:\n  <<: {N: 40}\n  K: 4\n  K: 4\n")
    assert "once per mapping" in str(err)


def test_a_merge_of_a_scalar_says_what_is_wrong_not_invalid_yaml(tmp_path):
    err = refused(tmp_path, "model:\n  <<: 3\n")
    assert "line 2: expected a mapping or list of mappings for merging" in str(err)
    assert "not valid YAML" not in str(err)


# ------------------------------------------------------------------------------- other YAML forms --

def test_an_integer_of_a_hundred_thousand_digits(tmp_path):
    err = refused(tmp_path, "seed: " + "9" * 100_000 + "\n")
    assert "integer of more than" in str(err)


def test_a_hundred_kilobyte_value_is_cut_in_the_message(tmp_path):
    err = refused(tmp_path, "seed: " + "9" * 100_000 + "x\n")
    assert err.key == "seed" and len(str(err)) < 200 and " ... " in str(err)


def test_two_documents_and_python_tags(tmp_path):
    assert "more than one YAML document" in str(refused(tmp_path, GOOD + "---\nseed: 2\n"))
    err = refused(tmp_path, "name: !!python/object:os.system ls\n")
    assert "line 1" in str(err) and "python/object" in str(err)


def test_an_impossible_date(tmp_path):
    assert "day is out of range" in str(refused(tmp_path, "seed: 2001-02-30\n"))


# --------------------------------------------------------------------------- files that are not configs --

def test_an_oversized_config(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "#" * (2 << 20) + "\n")
    with pytest.raises(InputError, match="larger than 1 MiB"):
        config.load(path)


@pytest.mark.parametrize("make", ["fifo", "link-to-fifo", "directory", "device"])
def test_a_fifo_directory_or_device_as_config_is_refused_without_blocking(tmp_path, make):
    path = tmp_path / "c.yaml"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "link-to-fifo":
        os.mkfifo(tmp_path / "f")
        path.symlink_to(tmp_path / "f")
    elif make == "directory":
        path.mkdir()
    else:
        path = "/dev/null"
    what = {"fifo": "a pipe (FIFO)", "link-to-fifo": "a pipe (FIFO)", "directory": "a directory",
            "device": "a device"}[make]
    code, out, err = relusim("validate", "--config", path, timeout=30)  # a hang is a TimeoutExpired
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"is {what}" in err, err


def test_anneal_with_a_fifo_config_does_not_block_and_writes_nothing(tmp_path):
    os.mkfifo(tmp_path / "c.yaml")
    code, _, err = relusim("anneal", "--config", tmp_path / "c.yaml", timeout=30, cwd=tmp_path)
    assert code == 2 and "pipe (FIFO)" in err and sorted(os.listdir(tmp_path)) == ["c.yaml"]


def test_the_command_line_prints_a_bomb_as_one_short_line(tmp_path):
    (tmp_path / "c.yaml").write_text(laughs())
    t0 = time.perf_counter()
    code, _, err = relusim("validate", "--config", tmp_path / "c.yaml", timeout=30)
    assert code == 2 and len(err.strip().splitlines()) == 1 and len(err) < 400 and time.perf_counter() - t0 < 20
