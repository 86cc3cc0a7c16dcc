"""The paper's protocol, small: every replica ends a solution at the target mutual overlap (docs/model.md §8);
and when a robust ensemble counts as solved and stops (``ensemble.solved_when``, docs/algorithms.md §12)."""
import h5py
import numpy as np
import pytest

from cli_helpers import relusim_here, write_config
from relusim import anneal, config
from relusim.errors import InputError
from relusim.models import machine

MINI = {
    "name": "mini-paper", "seed": 7, "samples": 3,
    "model": {"activation": "relu", "N": 200, "K": 4, "alpha": 0.35},
    "ensemble": {"replicas": 5, "reference": "explicit", "gamma": {"start": 0.5, "stop": 15.0},
                 "target_overlap": 0.9, "overlap_tolerance": 0.01},
    "anneal": {"beta": {"start": 0.5, "stop": 15.0}, "sweeps": 20000, "extra_sweeps": 5000, "record_every": 50},
}


@pytest.mark.parametrize("sampler,activation,N,K", [("metropolis", "relu", 200, 4), ("rrr", "relu", 200, 4),
                                                    ("metropolis", "sign", 207, 3)])
def test_every_replica_ends_a_solution_at_the_target_overlap(tmp_path, sampler, activation, N, K):
    cfg = {**MINI, "output": str(tmp_path / "mini.h5"),
           "model": {**MINI["model"], "activation": activation, "N": N, "K": K},
           "anneal": {**MINI["anneal"], "sampler": sampler}}
    code, out, err = relusim_here("anneal", "--config", write_config(tmp_path / "mini.yaml", cfg), "--workers", 1)
    assert code == 0, err
    with h5py.File(tmp_path / "mini.h5") as f:
        assert len(f["samples"]) == 3
        for g in f["samples"].values():
            w, ref = g["weights"][()], g["reference"][()]
            xi, sigma = g["patterns"][()], g["labels"][()]
            assert w.shape == (5, N) and ref.shape == (N,)
            assert all(machine.energy(wa, xi, sigma, activation, K) == 0 for wa in w)  # recomputed, not trusted
            q = machine.mean_mutual_overlap(w)
            assert abs(q - 0.9) <= 0.01 and q == pytest.approx(g.attrs["final_overlap"])
            assert g.attrs["solved"]
            assert (g["stabilities"][()] > 0).all()
            assert g["trace/overlap"].shape == g["trace/gamma"].shape == g["trace/beta"].shape


def test_a_sample_that_misses_its_target_is_recorded_as_not_solved(tmp_path):
    cfg = {**MINI, "samples": 1, "output": str(tmp_path / "hard.h5"),
           "model": {**MINI["model"], "alpha": 1.2},  # far above capacity: no solution exists
           "anneal": {**MINI["anneal"], "sweeps": 300, "extra_sweeps": 100}}
    code, out, err = relusim_here("anneal", "--config", write_config(tmp_path / "hard.yaml", cfg))
    assert code == 0, err
    with h5py.File(tmp_path / "hard.h5") as f:
        g = f["samples/000000"]
        assert not g.attrs["solved"] and g["energy"][()].max() > 0
        assert g.attrs["sweeps_done"] == 400


# A y = 3 ensemble at N = 40 whose seed 1 reaches a first replica solution (sweeps 36-224) well before
# every replica is one (or never, within 300 sweeps): the stop rule decides where the run ends.
SMALL = {"name": "solved-when", "seed": 1, "samples": 1, "output": "unused.h5",
         "model": {"activation": "relu", "N": 40, "K": 4, "alpha": 0.4},
         "ensemble": {"replicas": 3, "gamma": {"start": 0.1, "stop": 2.0}},
         "anneal": {"sweeps": 300, "record_every": 1, "beta": {"start": 0.8, "stop": 6.0}}}


def small(weights="binary", reference="traced", energy="errors", solved_when="all", record_every=1):
    return config.from_dict({**SMALL, "model": {**SMALL["model"], "weights": weights,
                                                **({"alpha": 0.8} if weights == "spherical" else {})},
                             "ensemble": {**SMALL["ensemble"], "reference": reference, "solved_when": solved_when},
                             "anneal": {**SMALL["anneal"], "energy": energy, "record_every": record_every}})


@pytest.mark.parametrize("weights,reference,energy", [
    ("binary", "traced", "errors"), ("binary", "explicit", "errors"), ("binary", "traced", "least_action"),
    ("binary", "explicit", "least_action"), ("spherical", "explicit", "errors")])
def test_solved_when_any_stops_at_the_first_sweep_where_one_replica_has_no_error(weights, reference, energy):
    every = anneal.run_sample(small(weights, reference, energy, "all"), 0)  # one trace row per sweep
    first = int(np.argmax(every.trace["energy"].min(axis=1) == 0))  # the first sweep with a solved replica
    assert every.trace["energy"][first].min() == 0 and every.trace["energy"][first].max() > 0
    assert every.sweeps_done > first + 1  # 'all' runs on past it: the two rules differ here
    for record_every in (1, 7):  # 7: the first solution may fall on a block's last sweep or inside one
        r = anneal.run_sample(small(weights, reference, energy, "any", record_every), 0)
        assert r.sweeps_done == first + 1 == r.trace["sweep"][-1]
        assert r.trace["energy"][-1].min() == 0 and r.energy.max() > 0
        assert np.array_equal(r.energy, every.trace["energy"][first])  # the same chain up to there
        assert r.solved
    assert every.solved == (every.energy.max() == 0)


def test_with_one_replica_any_and_all_give_the_same_bits():
    one = {"ensemble.replicas": 1}
    a, b = (anneal.run_sample(small(solved_when=rule, record_every=7).replace(**one), 0) for rule in ("all", "any"))
    assert a.sweeps_done == b.sweeps_done < 300 and np.array_equal(a.weights, b.weights) and a.solved and b.solved


def test_solved_when_changes_the_config_hash_only_when_any():
    d = small().to_dict()
    assert small().physics_sha256() != small(solved_when="any").physics_sha256()
    d["ensemble"].pop("solved_when")  # a file written before the key existed
    assert config.from_dict(d).physics_sha256() == small().physics_sha256()


@pytest.mark.parametrize("changes,says", [
    ({"ensemble.solved_when": "some"}, "allowed: all, any"),
    ({"ensemble.solved_when": "any", "anneal.equilibrium": {"sweeps": 10, "every": 1, "steer": 0}},
     "needs solved_when: all"),
])
def test_bad_solved_when_is_refused_in_one_line_naming_the_key(changes, says):
    with pytest.raises(InputError) as err:
        small().replace(**changes)
    assert err.value.key == "ensemble.solved_when" and says in str(err.value) and "\n" not in str(err.value)
    assert str(changes["ensemble.solved_when"]) in str(err.value)


@pytest.mark.parametrize("replicas,record_every", [(1, 1), (1, 7), (3, 1), (3, 7)])
def test_solved_when_all_stops_at_the_first_sweep_where_every_replica_has_no_error(replicas, record_every):
    """Before this was fixed, a run whose solution fell on a block's last sweep went on (with
    record_every 1: every sweep is a block's last, and the run never stopped)."""
    cfg = small(record_every=record_every).replace(**{"ensemble.replicas": replicas})
    free = anneal.run_sample(cfg.replace(**{"anneal.stop_when_solved": False, "anneal.record_every": 1}), 0)
    solved = np.flatnonzero(free.trace["energy"].max(axis=1) == 0)
    assert solved.size, "this seed must reach a solution of every replica within the sweeps"
    r = anneal.run_sample(cfg, 0)
    assert r.sweeps_done == solved[0] + 1 < 300 and r.solved and r.energy.max() == 0
