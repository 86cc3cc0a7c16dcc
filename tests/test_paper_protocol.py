"""The paper's protocol, small: every replica ends a solution at the target mutual overlap (docs/model.md §8)."""
import h5py
import pytest

from cli_helpers import relusim_here, write_config
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
