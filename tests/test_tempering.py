"""Parallel tempering (``anneal.tempering``, docs/algorithms.md §11) samples, at every rung r, its exact law.

The joint law of a ladder of M rungs is the product of exp(-beta_r U(W_r)) / Z(beta_r), U the annealed
energy; its marginal at rung r is the single machine's Boltzmann law at beta_r. Every tempering cell
the validation accepts (``law_matrix.tempered()``: y = 1, every prior, architecture, sampler, energy,
precision and activation family) is run through ``anneal.anneal_instance`` (the real driver) on the
systems of ``test_exact_law_matrix`` (binary: all 2^Nw weights enumerated; spherical: fan-in 2, the
K-torus on a grid), with M = 3 rungs at LADDER, one swap round and one record every THIN sweeps (30
for spherical weights), and
at every rung the law of U (binary; spherical: the error count E, and with the perceptron cost the
law of L in quantile bins) is G-tested against exp(-beta_r U) / Z at false-alarm ALPHA_FA = 1e-3,
Bonferroni over the rungs (and the two spherical laws). Power: the same counts must reject (p <
ALPHA_FA, in at least one of the laws of the cell) a wrong ladder at the coldest rung (beta * WRONG)
and at the hottest (the reversed ladder: the hottest rung's counts against the coldest beta).
"""
import copy

import h5py
import numpy as np
import pytest

import law_matrix
from cli_helpers import BASE, kill_after_first_shard, relusim, write_config
from exact_oracle import boltzmann_energy_law, lag1_autocorrelation
from relusim import anneal, config, tempering
from relusim.models import instance
from relusim.errors import InputError
from test_exact_law_matrix import ALPHA_FA, BURN, GRID, L_BINS, SIZES, THIN, binary_energies, gtest_kept, sizes, \
    torus_energy
from test_resume_and_workers import assert_same_bits

KEPT = 2000
LADDER = (0.6, 1.5)  # beta.start, beta.stop: rungs 0.6, 0.949, 1.5
M = 3
WRONG = 1.5
BINARY_SIZES = {**SIZES, ("binary", "tree", "relu"): (8, 2, 6), ("binary", "tree", "tanh"): (9, 3, 6)}  # N, K, P


def cell_sizes(cell):
    """N, K, P and the seed of the cell's instance (those of ``test_exact_law_matrix``, two more trees)."""
    if cell.weights == "binary":
        return (*BINARY_SIZES[cell.weights, cell.architecture, cell.activation], 3)
    return sizes(cell)


def cell_config(cell, tmp_path) -> tuple:
    N, K, P, seed = cell_sizes(cell)
    nw = N * (K if cell.architecture == "fully_connected" else 1)
    thin = {**THIN, "spherical": 30}["rrr" if cell.sampler == "rrr" else cell.weights]  # the cold rung mixes slower
    d = {"seed": seed, "samples": 1, "output": str(tmp_path / "x.h5"),
         "model": {"weights": cell.weights, "activation": cell.activation, "N": N, "K": K, "alpha": P / nw,
                   "architecture": cell.architecture},
         "anneal": {"sampler": cell.sampler, "rrr_below": 2.0, "energy": cell.energy, "precision": cell.precision,
                    "beta": {"start": LADDER[0], "stop": LADDER[1]}, "record_every": thin,
                    "sweeps": (BURN + KEPT) * thin, "stop_when_solved": False,
                    "tempering": {"rungs": M, "swap_every": thin},
                    "step": {"theta_max": float(np.pi), "adapt": False}}}
    cfg = config.from_dict(d)
    assert cfg.model.P == P
    return cfg, N, K, P, seed, nw


def rung_laws(cell, inst, K, nw, P, betas):
    """[(the sampled quantity's name, its trace column -> counts, law at beta)] for each law checked."""
    if cell.weights == "binary":
        U_all = binary_energies(cell, inst, K)
        top = int(U_all.max()) + 1
        key = "rung_energy" if cell.energy == "errors" else "rung_cost"
        return [(key, lambda x: np.bincount(x.astype(np.int64), minlength=top),
                 lambda b: boltzmann_energy_law(U_all, b, top - 1))]
    E_grid, L_grid = torus_energy(cell, inst, K, GRID[K])
    U = L_grid if cell.energy == "perceptron" else E_grid.astype(float)

    def e_law(b):
        A = np.exp(-b * (U - U.min()))
        return np.bincount(E_grid.ravel(), weights=A.ravel(), minlength=P + 1)

    out = [("rung_energy", lambda x: np.bincount(x, minlength=P + 1), e_law)]
    if cell.energy == "perceptron":
        inner = np.quantile(L_grid[L_grid > 1e-9], np.linspace(0, 1, L_BINS + 1)[1:-1])
        edges = np.concatenate([[-1.0, 1e-9], inner, [L_grid.max() + 1]])
        out.append(("rung_cost", lambda x: np.histogram(x, bins=edges)[0],
                    lambda b: np.histogram(L_grid.ravel(), bins=edges, weights=np.exp(-b * L_grid).ravel())[0]))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("cell_id", law_matrix.tempered())
def test_every_rung_of_every_tempering_cell_samples_its_exact_law(tmp_path, cell_id):
    parts = cell_id.split("-")
    cell = law_matrix.Cell(*parts[:-1], tempering=parts[-1])
    cfg, N, K, P, seed, nw = cell_config(cell, tmp_path)
    inst = instance.make(N, P, seed, 0)
    _, state, tr = anneal.anneal_instance(cfg, inst.xi, inst.sigma, instance.stream(seed, 0, instance.DYNAMICS))
    tr = {k: v[BURN:] for k, v in tr.items()}
    betas = tempering.ladder(cfg)
    assert np.array_equal(tr["rung_beta"][0], betas) and betas[0] == LADDER[0] and betas[-1] == LADDER[1]
    rates = np.nanmean(tr["swap_rate"], axis=0)
    assert ((rates > 0) & (rates < 1)).all(), rates  # swaps happen, and not always
    laws = rung_laws(cell, inst, K, nw, P, betas)
    for r in range(M):
        assert abs(lag1_autocorrelation(tr["rung_energy"][:, r].astype(float))) < 0.15
        for key, counts_of, law_at in laws:
            counts = counts_of(tr[key][:, r])
            assert gtest_kept(counts, law_at(betas[r])) > ALPHA_FA / (M * len(laws)), (r, key)
    for r, wrong in ((M - 1, WRONG * betas[M - 1]), (0, betas[M - 1])):  # power: some law rejects a wrong beta
        assert min(gtest_kept(counts_of(tr[key][:, r]), law_at(wrong)) for key, counts_of, law_at in laws) < ALPHA_FA


# ------------------------------------------------------------------ behaviour and bits --

PT = {"name": "pt", "seed": 5, "samples": 1, "output": "unused.h5",
      "model": {"activation": "sign", "weights": "binary", "N": 41, "K": 1, "alpha": 0.6},
      "anneal": {"beta": {"start": 0.5, "stop": 6.0}, "sweeps": 400, "record_every": 40, "stop_when_solved": False,
                 "tempering": {"rungs": 4, "swap_every": 5}}}


def pt_config(**anneal_):
    d = copy.deepcopy(PT)
    d["anneal"].update(anneal_)
    return config.from_dict(d)


@pytest.mark.parametrize("energy", ["errors", "least_action"])
def test_swaps_happen_and_a_same_seed_rerun_gives_the_same_bits(energy):
    cfg = pt_config(energy=energy)
    a, b = anneal.run_sample(cfg, 0), anneal.run_sample(cfg, 0)
    rates = np.nanmean(a.trace["swap_rate"], axis=0)
    assert rates.shape == (3,) and ((rates > 0) & (rates < 1)).all(), rates
    assert a.trace["rung_energy"].shape == (10, 4) and a.trace["rung_beta"].shape == (10, 4)
    assert ("rung_cost" in a.trace) == (energy == "least_action")
    assert a.trace["energy"][-1, 0] == a.trace["rung_energy"][-1, -1] == a.energy[0]  # the coldest rung's state
    for k in a.trace:
        assert np.array_equal(a.trace[k], b.trace[k], equal_nan=True), k
    assert np.array_equal(a.weights, b.weights)


@pytest.mark.parametrize("chunk", [None, 1])
def test_stop_when_solved_stops_at_the_first_solution(chunk):
    """chunk 1: record_every 1 and swap_every 1, so every solution falls on a chunk's last sweep (before
    this was fixed, such a run never stopped)."""
    d = copy.deepcopy(PT)
    d["model"]["alpha"] = 0.3
    extra = {"record_every": 1, "tempering": {**d["anneal"]["tempering"], "swap_every": 1}} if chunk else {}
    cfg = config.from_dict({**d, "anneal": {**d["anneal"], "stop_when_solved": True, "sweeps": 4000, **extra}})
    r = anneal.run_sample(cfg, 0)
    assert r.solved and r.energy[0] == 0 and r.sweeps_done < 4000
    assert r.trace["sweep"][-1] == r.sweeps_done and r.trace["energy"][-1, 0] == 0
    assert (r.trace["rung_energy"][-1] == 0).any()


def test_the_ladder_is_geometric_from_beta_start_to_beta_stop():
    b = tempering.ladder(pt_config())
    assert b[0] == 0.5 and b[-1] == 6.0 and len(b) == 4
    assert np.allclose(b[1:] / b[:-1], (6.0 / 0.5) ** (1 / 3), rtol=1e-14, atol=0)


@pytest.mark.parametrize("change,key", [
    ({"anneal": {"tempering": {"rungs": 0}}}, "anneal.tempering.rungs"),
    ({"anneal": {"tempering": {"rungs": 65}}}, "anneal.tempering.rungs"),
    ({"anneal": {"tempering": {"swap_every": 0}}}, "anneal.tempering.swap_every"),
    ({"anneal": {"tempering": {"rung": 3}}}, "anneal.tempering.rung"),
    ({"anneal": {"tempering": {"rungs": 3}}, "ensemble": {"replicas": 3}}, "anneal.tempering.rungs"),
    ({"anneal": {"tempering": {"rungs": 3}, "sampler": "rrr"}}, "anneal.rrr_below"),
])
def test_bad_tempering_settings_are_refused_in_one_line(change, key):
    d = copy.deepcopy(PT)
    d.pop("anneal")
    for k, v in change.items():
        d.setdefault(k, {}).update(v)
    with pytest.raises(InputError) as err:
        config.from_dict(d)
    assert err.value.key == key and "\n" not in str(err.value)


def test_without_tempering_the_config_text_and_hash_are_those_of_before():
    d = copy.deepcopy(PT)
    d["anneal"].pop("tempering")
    off = config.from_dict(d)
    assert "tempering" not in off.to_yaml()
    assert off.physics_sha256() == config.from_dict({**d, "anneal": {**d["anneal"], "tempering": {"rungs": 1}}}
                                                    ).physics_sha256()
    assert pt_config().physics_sha256() != off.physics_sha256() and "tempering" in pt_config().to_yaml()


@pytest.mark.slow
def test_a_killed_and_resumed_tempering_run_has_the_bits_of_an_uninterrupted_one(tmp_path):
    c = copy.deepcopy(BASE)
    c["model"].update(activation="sign", N=61, K=1, alpha=0.7)
    c["anneal"].update(sweeps=1200, record_every=40, stop_when_solved=False, tempering={"rungs": 3, "swap_every": 10})
    paths = {}
    for name in ("killed", "reference"):
        c["output"] = str(tmp_path / f"{name}.h5")
        paths[name] = (write_config(tmp_path / f"{name}.yaml", c), c["output"])
    (ck, ok), (cr, orf) = paths["killed"], paths["reference"]
    args = ["anneal", "--config", ck, "--workers", 1, "--samples", 6, "--quiet"]
    kill_after_first_shard(args, ok + ".parts", settle=0.2)
    assert relusim(*args)[0] == 0
    assert relusim("anneal", "--config", cr, "--workers", 2, "--samples", 6, "--quiet")[0] == 0
    assert_same_bits(ok, orf)
    with h5py.File(orf) as f:
        assert f["samples/000000/trace/swap_rate"].shape == (30, 2)
