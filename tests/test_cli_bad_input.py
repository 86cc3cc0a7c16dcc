"""Every validation rule gives one line naming the key, the value and what is allowed; exit 2; no traceback."""
import copy
import os

import pytest

from cli_helpers import BASE, relusim_here, write_config


def variant(path, **changes):
    cfg = copy.deepcopy(BASE)
    cfg["output"] = str(path.parent / "out.h5")
    for key, value in changes.items():
        node = cfg
        *parents, last = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        if value is _DELETE:
            node.pop(last)
        else:
            node[last] = value
    return write_config(path, cfg)


_DELETE = object()

RULES = [  # (changes, words the message must contain)
    ({"model__betta": 1}, ["model.betta", "unknown key"]),
    ({"anneal__betta": 1}, ["anneal.betta", "did you mean 'beta'"]),
    ({"model__N": "many"}, ["model.N", "'many'", "integer"]),
    ({"model__N": 42}, ["model.N", "42", "multiple of K"]),
    ({"model__activation": "sign", "model__N": 44, "model__K": 4}, ["model.K", "odd"]),
    ({"model__activation": "sign", "model__N": 48, "model__K": 3}, ["model.N", "N/K odd"]),
    ({"model__K": 5, "model__N": 40}, ["model.K", "5", "even"]),
    ({"model__alpha": 0}, ["model.alpha", "0", "> 0"]),
    ({"model__alpha": -0.5}, ["model.alpha", "-0.5", "> 0"]),
    ({"samples": 0}, ["samples", "0", ">= 1"]),
    ({"model__activation": "swish"}, ["model.activation", "swish", "sign, relu"]),
    ({"model__activation": "relu_shift"}, ["model.activation", "needs its shift"]),
    ({"model__activation": "softplus", "model__K": 3, "model__N": 45}, ["model.K", "K even"]),
    ({"anneal__sampler": "gibbs"}, ["anneal.sampler", "gibbs", "metropolis, rrr"]),
    ({"anneal__beta": {"start": 5.0, "stop": 1.0}}, ["anneal.beta", "5.0 -> 1.0", "stop must be >= start"]),
    ({"anneal__beta": {"start": 1.0, "stop": 2.0, "schedule": "cosine"}}, ["anneal.beta.schedule", "cosine"]),
]


@pytest.mark.parametrize("changes,words", RULES, ids=[next(iter(c)) + str(i) for i, (c, _) in enumerate(RULES)])
def test_bad_config_gives_one_line_and_exit_2(tmp_path, changes, words):
    code, out, err = relusim_here("validate", "--config", variant(tmp_path / "c.yaml", **changes))
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_anneal_rejects_bad_input_like_validate(tmp_path):
    code, out, err = relusim_here("anneal", "--config", variant(tmp_path / "c.yaml", model__K=3, model__N=42),
                                  "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "model.K" in err
    assert not os.path.exists(tmp_path / "out.h5")


def test_missing_config_file_and_invalid_yaml(tmp_path):
    code, _, err = relusim_here("validate", "--config", tmp_path / "absent.yaml")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "absent.yaml" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    code, _, err = relusim_here("validate", "--config", bad)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not valid YAML" in err


def test_missing_option_is_one_line(tmp_path):
    code, _, err = relusim_here("anneal")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--config" in err


def test_valid_config_passes_validation(tmp_path):
    code, out, err = relusim_here("validate", "--config", variant(tmp_path / "c.yaml"))
    assert code == 0, err
    assert "activation: relu" in out


def test_unwritable_output_path(tmp_path):
    (tmp_path / "afile").write_text("")
    target = str(tmp_path / "afile" / "out.h5")
    code, _, err = relusim_here("validate", "--config", variant(tmp_path / "c.yaml", output=target))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "output" in err and target in err and "not writable" in err
