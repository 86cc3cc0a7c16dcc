"""Spherical runs through the real command line: the config rules, float64 results, worker identity,
kill and resume to the same bits, and theta_max frozen wherever beta is constant."""
import copy
import os

import h5py
import numpy as np
import pytest

from cli_helpers import BASE, kill_after_first_shard, relusim_here, write_config
from relusim import config
from relusim.models import machine
from relusim.anneal import run_sample
from relusim.errors import InputError
from test_resume_and_workers import assert_same_bits

SPH = copy.deepcopy(BASE)
SPH["model"].update(weights="spherical", N=40, K=4, alpha=0.5)
SPH["anneal"].update(sweeps=300, record_every=20)


def conf(tmp_path, name, model_=None, anneal=None, **top):
    c = copy.deepcopy(SPH)
    c["model"].update(model_ or {})
    c["anneal"].update(anneal or {})
    c.update(top)
    c["output"] = str(tmp_path / f"{name}.h5")
    return write_config(tmp_path / f"{name}.yaml", c), c["output"]


@pytest.mark.parametrize("model_,anneal,key", [
    ({}, {"step": {"theta_max": 0}}, "anneal.step.theta_max"),
    ({}, {"step": {"theta_max": 3.5}}, "anneal.step.theta_max"),
    ({}, {"step": {"target_acceptance": 1.0}}, "anneal.step.target_acceptance"),
    ({}, {"step": {"adapt": "yes"}}, "anneal.step.adapt"),
    ({}, {"step": {"theta": 1.0}}, "anneal.step.theta"),
    ({}, {"step": 0.5}, "anneal.step"),
    ({"N": 4, "K": 4}, {}, "model.N"),
    ({}, {"sampler": "rrr"}, "anneal.sampler"),
    ({"activation": "sign", "K": 4}, {}, "model.K"),
    ({}, {"energy": "hinge"}, "anneal.energy"),
    ({"activation": "tanh"}, {"energy": "perceptron"}, "anneal.energy"),
    ({"weights": "binary", "N": 44}, {"energy": "perceptron"}, "anneal.energy"),
    ({}, {"precision": "float16"}, "anneal.precision"),
    ({"activation": "tanh"}, {"precision": "float32"}, "anneal.precision"),
    ({"weights": "binary", "N": 44}, {"precision": "float32"}, "anneal.precision"),
])
def test_bad_spherical_settings_raise_input_errors_naming_the_key(tmp_path, model_, anneal, key):
    c = copy.deepcopy(SPH)
    c["model"].update(model_)
    c["anneal"].update(anneal)
    c["output"] = str(tmp_path / "bad.h5")
    with pytest.raises(InputError) as exc:
        config.from_dict(c)
    assert exc.value.key == key


def test_a_bad_step_is_one_line_on_the_command_line(tmp_path):
    c, out = conf(tmp_path, "bad", {}, {"step": {"theta_max": -1}})
    code, _, err = relusim_here("anneal", "--config", c)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "anneal.step.theta_max" in err, err
    assert not os.path.exists(out)


def test_spherical_traced_ensemble_is_refused_and_even_fan_in_is_accepted(tmp_path):
    c, _ = conf(tmp_path, "traced", ensemble={"replicas": 3, "reference": "traced"})
    code, _, err = relusim_here("validate", "--config", c)
    assert code == 2 and "ensemble.reference" in err
    cfg = config.from_dict(copy.deepcopy(SPH) | {"output": str(tmp_path / "x.h5"),
                                                 "model": {"activation": "sign", "weights": "spherical",
                                                           "N": 12, "K": 3, "alpha": 0.5}})
    assert cfg.model.n == 4  # an even fan-in needs no allow_ties with real weights


def test_binary_config_hashes_do_not_see_the_spherical_step_section(tmp_path):
    b = config.from_dict({"output": str(tmp_path / "b.h5")})
    b2 = b.replace(**{"anneal.step": {"theta_max": 0.5, "adapt": False, "target_acceptance": 0.4}})
    assert b.physics_sha256() == b2.physics_sha256()
    s = b.replace(**{"model.weights": "spherical"})
    assert s.physics_sha256() != s.replace(**{"anneal.step": {"theta_max": 0.5, "adapt": True,
                                                              "target_acceptance": 0.4}}).physics_sha256()


@pytest.mark.parametrize("key,value", [("energy", "perceptron"), ("precision", "float32")])
def test_the_energy_and_precision_keys_change_the_hash_only_when_not_the_default(tmp_path, key, value):
    s = config.from_dict({**SPH, "output": str(tmp_path / "s.h5")})
    p = s.replace(**{f"anneal.{key}": value})
    assert s.physics_sha256() != p.physics_sha256()
    d = s.to_dict()
    d["anneal"].pop(key)  # a file written before the key existed
    assert config.from_dict(d).physics_sha256() == s.physics_sha256()


@pytest.mark.parametrize("architecture,energy,precision", [
    ("tree", "errors", "float64"), ("fully_connected", "errors", "float64"), ("tree", "perceptron", "float64"),
    ("tree", "errors", "float32")])
@pytest.mark.slow
def test_spherical_one_and_two_workers_give_identical_float64_datasets(tmp_path, architecture, energy, precision):
    m = {"architecture": architecture} | ({"N": 10, "alpha": 0.5} if architecture != "tree" else {})
    c1, o1 = conf(tmp_path, "w1", m, {"energy": energy, "precision": precision})
    c2, o2 = conf(tmp_path, "w2", m, {"energy": energy, "precision": precision})
    assert relusim_here("anneal", "--config", c1, "--workers", 1, "--samples", 3)[0] == 0
    assert relusim_here("anneal", "--config", c2, "--workers", 2, "--samples", 3)[0] == 0
    assert_same_bits(o1, o2)
    with h5py.File(o1) as f:
        g = f["samples/000000"]
        w = g["weights"][()]
        assert w.dtype == np.float64 and w.shape == (1, 40)
        n = 10 if architecture == "tree" else 10
        assert np.allclose((w.reshape(4, n) ** 2).sum(1), n, rtol=1e-14)
        mm = config.from_dict({**SPH, "model": {**SPH["model"], **m}, "output": o1}).model
        assert g["energy"][0] == machine.energy(w[0], g["patterns"][()], g["labels"][()], "relu", 4, architecture)
        assert "theta_max" in g["trace"] and mm.weights == "spherical"
        assert ("cost" in g["trace"]) == (energy == "perceptron")
        if energy == "perceptron":  # the recorded cost of the final state is that of its weights
            L = machine.perceptron_cost(w[0], g["patterns"][()], g["labels"][()], "relu", 4, architecture)
            assert abs(g["trace/cost"][-1, 0] - L) < 1e-9 * max(1.0, L)
        for k in f["samples"]:  # the cost is exactly 0 wherever the errors are (a solution has no wrong pattern)
            if energy == "perceptron":
                cost, errors = f["samples"][k]["trace/cost"][()], f["samples"][k]["trace/energy"][()]
                assert (cost[errors == 0] == 0).all() and (cost >= 0).all() and (errors == 0).any()


@pytest.mark.slow
def test_spherical_kill_mid_run_and_rerun_give_the_same_bits(tmp_path):
    m = {"N": 200, "K": 4, "alpha": 1.0}
    anneal = {"sweeps": 1500, "stop_when_solved": False, "record_every": 50}
    ck, ok = conf(tmp_path, "killed", m, anneal)
    cr, orf = conf(tmp_path, "reference", m, anneal)
    args = ["anneal", "--config", ck, "--workers", 1, "--samples", 6, "--quiet"]
    parts = ok + ".parts"
    kill_after_first_shard(args, parts, settle=0.2)
    shards = [p for p in os.listdir(parts) if p.endswith(".h5") and not p.startswith(".")]
    with h5py.File(ok, "r") as f:
        stored = len(f["samples"])
    assert 1 <= stored + len(shards) < 6
    assert relusim_here(*args)[0] == 0
    assert relusim_here("anneal", "--config", cr, "--workers", 1, "--samples", 6, "--quiet")[0] == 0
    assert_same_bits(ok, orf)


def test_theta_max_adapts_while_beta_moves_and_is_frozen_at_constant_beta(tmp_path):
    c, o = conf(tmp_path, "theta", {}, {"sweeps": 200, "extra_sweeps": 100, "stop_when_solved": False,
                                        "record_every": 10, "beta": {"start": 0.5, "stop": 4.0}})
    assert relusim_here("anneal", "--config", c, "--samples", 1)[0] == 0
    with h5py.File(o) as f:
        t = f["samples/000000/trace/theta_max"][()]
        sweeps = f["samples/000000/trace/sweep"][()]
    assert len(np.unique(t[sweeps <= 200])) > 5  # adapted during the schedule
    assert len(np.unique(t[sweeps > 210])) == 1  # frozen at the final, constant beta
    c2, o2 = conf(tmp_path, "const", {}, {"sweeps": 100, "stop_when_solved": False, "record_every": 10,
                                          "beta": 2.0, "step": {"theta_max": 0.7}})
    assert relusim_here("anneal", "--config", c2, "--samples", 1)[0] == 0
    with h5py.File(o2) as f:
        assert np.all(f["samples/000000/trace/theta_max"][()] == 0.7)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_the_recorded_cost_is_exactly_zero_on_solutions(precision):
    """Kept sampling after it is solved, the chain's cached cost drifts by rounding (up to 1e-15 in
    float64, 1e-6 in float32, measured on this config); the trace records L = 0 wherever E = 0."""
    cfg = config.from_dict({"seed": 3, "samples": 1,
                            "model": {"activation": "sign", "weights": "spherical", "K": 3, "N": 45, "alpha": 0.5},
                            "anneal": {"sweeps": 400, "record_every": 5, "stop_when_solved": False,
                                       "energy": "perceptron", "precision": precision,
                                       "beta": {"start": 1.0, "stop": 300.0}},
                            "output": "unused.h5"})
    trace = run_sample(cfg, 0).trace
    cost, errors = trace["cost"], trace["energy"]
    assert (errors == 0).sum() >= 20 and (errors > 0).any()
    assert (cost[errors == 0] == 0).all() and (cost[errors > 0] > 0).all()
