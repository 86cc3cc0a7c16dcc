"""Equilibrium sampling over solutions after the anneal (``anneal.equilibrium``, relusim.priors.binary.equilibrate).

The exact-law test enumerates a tiny sign tree (N = 9, K = 3, P = 4: 58 solutions, connected by
single flips) with a twin written here (no relusim code), and compares the sampled joint law of
(W^1.W^2, W^1.W~) over the records with the coupled measure restricted to solutions,
P ∝ 1[E(W^1) = 0] 1[E(W^2) = 0] exp(gamma (W^1 + W^2).W~), by a G-test at a false-alarm rate
ALPHA_FA = 1e-3 (fixed seed); its power is checked by the same counts rejecting (p < 1e-6) the law at
a gamma 0.25 larger and the law at gamma = 0.
"""
import copy
import itertools

import h5py
import numpy as np
import pytest

from cli_helpers import kill_after_first_shard, relusim_here, write_config
from exact_oracle import g_test
from relusim import anneal, config
from relusim.analysis import compare
from relusim.models import instance, measure
from relusim.errors import InputError

ALPHA_FA = 1e-3

SMALL = {
    "name": "eq", "seed": 3, "samples": 2,
    "model": {"activation": "relu", "N": 40, "K": 4, "alpha": 0.3},
    "ensemble": {"replicas": 3, "reference": "explicit", "gamma": {"start": 0.5, "stop": 3.0},
                 "target_overlap": 0.6, "overlap_tolerance": 0.05},
    "anneal": {"beta": {"start": 1.0, "stop": 8.0}, "sweeps": 400, "extra_sweeps": 400, "record_every": 20,
               "equilibrium": {"sweeps": 300, "every": 10, "steer": 50}},
}


def twin_stabilities(w, xi, sigma, activation, K):
    """Delta^mu for binary tree weights w (..., N), written from docs/model.md §4 alone: unit l reads
    the block of inputs l n .. (l + 1) n - 1; sign: sum_l sgn(h_l) / sqrt(K); relu:
    sum_l c_l max(0, h_l) / sqrt(K n) with c = (+1, ..., -1, ...) (half each)."""
    N = xi.shape[1]
    n = N // K
    h = np.einsum("...kn,pkn->...pk", w.reshape(*w.shape[:-1], K, n).astype(np.int64),
                  xi.reshape(-1, K, n).astype(np.int64))
    if activation == "sign":
        out = np.sign(h).sum(-1) / np.sqrt(K)
    else:
        c = np.where(np.arange(K) < K // 2, 1, -1)
        out = (np.maximum(h, 0) * c).sum(-1) / np.sqrt(K * n)
    return sigma * out


# ---------------------------------------------------------------- validation --

@pytest.mark.parametrize("eq,key", [
    ({"sweeps": -1}, "anneal.equilibrium.sweeps"),
    ({"sweeps": 10, "every": 0}, "anneal.equilibrium.every"),
    ({"sweeps": 10, "every": 11}, "anneal.equilibrium.every"),
    ({"sweeps": 10, "evry": 1}, "anneal.equilibrium.evry"),
    ({"sweeps": 1.5}, "anneal.equilibrium.sweeps"),
    ({"sweeps": 10, "steer": -1}, "anneal.equilibrium.steer"),
])
def test_bad_values_are_refused_naming_the_key(tmp_path, eq, key):
    cfg = copy.deepcopy(SMALL)
    cfg["anneal"]["equilibrium"] = eq
    cfg["output"] = str(tmp_path / "o.h5")
    code, out, err = relusim_here("anneal", "--config", write_config(tmp_path / "c.yaml", cfg))
    assert code == 2 and key in err and len(err.strip().splitlines()) == 1, err


def test_spherical_weights_are_refused():
    d = copy.deepcopy(SMALL)
    d["model"] = {**d["model"], "weights": "spherical"}
    d["anneal"]["equilibrium"] = {"sweeps": 10, "every": 1}
    with pytest.raises(InputError, match="anneal.equilibrium.sweeps"):
        config.from_dict(d)


def test_steering_needs_a_target_overlap():
    d = copy.deepcopy(SMALL)
    d["ensemble"]["target_overlap"] = None
    d["anneal"]["equilibrium"] = {"sweeps": 10, "every": 1, "steer": 5}
    with pytest.raises(InputError, match="anneal.equilibrium.steer"):
        config.from_dict(d)


def test_off_keeps_the_config_hash():
    d = copy.deepcopy(SMALL)
    d["anneal"].pop("equilibrium")
    base = config.from_dict(d).physics_sha256()
    d["anneal"]["equilibrium"] = {"sweeps": 0, "every": 5}
    assert config.from_dict(d).physics_sha256() == base
    d["anneal"]["equilibrium"] = {"sweeps": 10, "every": 5}
    assert config.from_dict(d).physics_sha256() != base


# ---------------------------------------------------------------- a run --

def test_records_are_solutions_sealed_and_workers_give_the_same_bits(tmp_path):
    outs = []
    for workers in (1, 2):
        cfg = {**SMALL, "output": str(tmp_path / f"w{workers}.h5")}
        code, _, err = relusim_here("anneal", "--config", write_config(tmp_path / f"w{workers}.yaml", cfg),
                                    "--workers", workers, "--quiet")
        assert code == 0, err
        outs.append(cfg["output"])
    from test_resume_and_workers import assert_same_bits
    assert_same_bits(*outs)
    with h5py.File(outs[0]) as f:
        solved = [g for g in f["samples"].values() if g.attrs["solved"]]
        assert solved, "no sample solved: the test has nothing to check"
        for g in f["samples"].values():
            if not g.attrs["solved"]:
                assert "skipped" in g.attrs["equilibrium"] and "equilibrium_weights" not in g
        for g in solved:
            xi, sigma = g["patterns"][()], g["labels"][()]
            W, S = g["equilibrium_weights"][()], g["equilibrium_stabilities"][()]
            assert W.shape == (30, 3, 40) and S.shape == (30, 3, xi.shape[0])
            twin = twin_stabilities(W, xi, sigma, "relu", 4)
            assert (twin > 0).all()  # every replica a solution at every record
            np.testing.assert_allclose(S, twin, rtol=0, atol=1e-12)
            ref = g["equilibrium_reference"][()]
            np.testing.assert_allclose(g["equilibrium_reference_stabilities"][()],
                                       twin_stabilities(ref, xi, sigma, "relu", 4), rtol=0, atol=1e-12)
            assert g.attrs["equilibrium"] == "sampled" and g["equilibrium_overlap"].shape == (300,)
            assert g["equilibrium_steer_overlap"].shape == (50,) and g.attrs["equilibrium_steer"] == 50
            assert len({tuple(w.ravel()) for w in W}) > 1  # the chain moves
            assert np.isfinite(g.attrs["equilibrium_tau_overlap_sweeps"])
        name = solved[0].name
    run = compare.load_run(outs[0], equilibrium=True)  # what fig3.py --equilibrium compares
    assert run.stabilities.shape == (len(solved), 30 * 3, 12) and run.reference_stabilities.shape == (len(solved), 360)
    assert compare.histograms(run)[0].errors == 0.0
    assert relusim_here("info", outs[0], "--verify")[0] == 0
    with h5py.File(outs[0], "r+") as f:  # one value changed, the seal kept
        d = f[name]["equilibrium_stabilities"]
        a = d[()]
        a[0, 0, 0] += 2.0 ** -40
        d[...] = a
    code, out, err = relusim_here("info", outs[0], "--verify")
    assert code != 0 and "equilibrium_stabilities" in out + err


# ---------------------------------------------------------------- the exact law --


@pytest.mark.slow
def test_a_run_killed_during_equilibrium_sampling_resumes_to_the_bits_of_an_uninterrupted_run(tmp_path):
    """SIGKILL while sample 1 samples the equilibrium (sample 0 finished: its shard exists; at 8000
    equilibrium sweeps a sample takes about 2 s, most of it there); the file opens, sample 0 is kept
    whole, and the rerun gives every dataset of a run never interrupted."""
    import os

    from test_resume_and_workers import assert_same_bits

    base = copy.deepcopy(SMALL)
    base["anneal"]["equilibrium"] = {"sweeps": 8000, "every": 100}
    confs = {}
    for name in ("killed", "reference"):
        confs[name] = write_config(tmp_path / f"{name}.yaml", {**base, "output": str(tmp_path / f"{name}.h5")})
    args = ["anneal", "--config", confs["killed"], "--workers", 1, "--quiet"]
    parts = tmp_path / "killed.h5.parts"
    kill_after_first_shard(args, parts, settle=0.5)
    with h5py.File(tmp_path / "killed.h5", "r") as f:  # opens: never half-written
        assert not f.attrs["finished"]
        stored = len(f["samples"])
    shards = [p for p in os.listdir(parts) if p.endswith(".h5") and not p.startswith(".")]
    assert stored + len(shards) == 1, (stored, shards)  # sample 0 kept, sample 1 cut off
    code, _, err = relusim_here(*args)
    assert code == 0, err
    code, _, err = relusim_here("anneal", "--config", confs["reference"], "--workers", 1, "--quiet")
    assert code == 0, err
    assert_same_bits(tmp_path / "killed.h5", tmp_path / "reference.h5")
    with h5py.File(tmp_path / "killed.h5") as f:
        assert f.attrs["finished"] and len(f["samples"]) == 2
        assert any(g.attrs["equilibrium"] == "sampled" and g["equilibrium_weights"].shape[0] == 80
                   for g in f["samples"].values())

def test_autocorrelation_time_of_an_ar1_series():
    """tau_int of x_t = r x_{t-1} + noise is (1 + r) / (1 - r) (Sokal 1997, §3)."""
    g = np.random.default_rng(0)
    r, n = 0.8, 200_000
    e = g.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = r * x[t - 1] + e[t]
    tau, M = measure.integrated_autocorrelation_time(x)
    assert tau == pytest.approx(9.0, rel=0.05) and M >= 5 * tau


def connected(sol) -> bool:
    """Is the graph of solutions joined by single flips connected?"""
    adj = np.abs(sol[:, None, :] - sol[None]).sum(-1) == 2
    seen, todo = {0}, [0]
    while todo:
        for j in np.flatnonzero(adj[todo.pop()]):
            if j not in seen:
                seen.add(int(j))
                todo.append(int(j))
    return len(seen) == len(sol)


def exact_joint(sol, gamma, N):
    """Law of (W^1.W^2, W^1.W~) under P ∝ 1[W^1, W^2 in sol] exp(gamma (W^1 + W^2).W~), all W~ enumerated."""
    allw = np.array(list(itertools.product((-1, 1), repeat=N)), np.int64)
    A = sol @ allw.T  # (S, 2^N): W.W~
    B = np.exp(gamma * A)
    joint = np.zeros((N + 1, N + 1))
    Q = sol @ sol.T
    for a in range(len(sol)):
        wts = B[a][None, :] * B  # (b, W~)
        qi = np.broadcast_to(((Q[a] + N) // 2)[:, None], wts.shape)
        pi = np.broadcast_to(((A[a] + N) // 2)[None, :], wts.shape)
        np.add.at(joint, (qi.ravel(), pi.ravel()), wts.ravel())
    return joint / joint.sum()


def exact_traced(sol, gamma, N):
    """Law of W^1.W^2 under P ∝ 1[W^1, W^2 in sol] prod_i cosh(gamma (W^1_i + W^2_i)) (reference summed out)."""
    wts = np.prod(np.cosh(gamma * (sol[:, None, :] + sol[None, :, :])), axis=-1)
    law = np.bincount(((sol @ sol.T + N) // 2).ravel(), weights=wts.ravel(), minlength=N + 1)
    return law / law.sum()


@pytest.mark.parametrize("reference", ["explicit", "traced"])  # RRR, Metropolis (``equilibrate``)
def test_sampled_joint_law_of_the_overlaps_is_the_coupled_measure_over_solutions(reference):
    N, K, P, seed, gamma, thin, records = 9, 3, 4, 3, 0.4, 10, 5000
    d = {"name": "exact", "seed": seed, "samples": 1,
         "model": {"activation": "sign", "N": N, "K": K, "alpha": P / N + 1e-9},
         "ensemble": {"replicas": 2, "reference": reference, "gamma": gamma},
         "anneal": {"beta": {"start": 1.0, "stop": 8.0}, "sweeps": 200, "record_every": 10,
                    "equilibrium": {"sweeps": thin * (records + 100), "every": thin}},
         "output": "unused.h5"}
    cfg = config.from_dict(d)
    assert cfg.model.P == P
    res = anneal.run_sample(cfg, 0)
    assert res.solved and res.extra_attrs["equilibrium_gamma"] == gamma
    W = res.extra_datasets["equilibrium_weights"][100:].astype(np.int64)
    R = res.extra_datasets["equilibrium_reference"][100:].astype(np.int64)
    # the solutions, by the twin, and their single-flip graph connected (else the chain cannot reach all)
    inst = instance.make(N, P, seed, 0)
    allw = np.array(list(itertools.product((-1, 1), repeat=N)), np.int64)
    sol = allw[(twin_stabilities(allw, inst.xi, inst.sigma, "sign", K) > 0).all(1)]
    assert len(sol) == 58 and connected(sol)
    assert (twin_stabilities(W, inst.xi, inst.sigma, "sign", K) > 0).all()
    q = np.einsum("ri,ri->r", W[:, 0], W[:, 1])
    p = np.einsum("ri,ri->r", W[:, 0], R)
    xq = q - q.mean()
    assert abs(xq[1:] @ xq[:-1] / (xq @ xq)) < 0.1  # records nearly independent
    if reference == "traced":
        counts = np.bincount((q + N) // 2, minlength=N + 1)
        law = exact_traced(sol, gamma, N)
        keep = law > 0
        assert counts[~keep].sum() == 0 and g_test(counts[keep], law[keep]) > ALPHA_FA
        for wrong in (gamma + 0.25, 0.0):
            alt = exact_traced(sol, wrong, N)
            assert g_test(counts[alt > 0], alt[alt > 0]) < 1e-6, wrong
        return
    counts = np.zeros((N + 1, N + 1))
    np.add.at(counts, ((q + N) // 2, (p + N) // 2), 1)
    law = exact_joint(sol, gamma, N)
    keep = law.ravel() > 0
    assert counts.ravel()[~keep].sum() == 0
    assert g_test(counts.ravel()[keep], law.ravel()[keep]) > ALPHA_FA
    for wrong in (gamma + 0.25, 0.0):  # power: the same counts reject a nearby wrong law
        alt = exact_joint(sol, wrong, N).ravel()
        assert g_test(counts.ravel()[alt > 0], alt[alt > 0]) < 1e-6, wrong


def test_a_single_machine_samples_the_solutions_uniformly():
    """y = 1: gamma plays no part, the measure is flat over the 58 solutions (G-test, power vs a tilt)."""
    N, K, P, seed = 9, 3, 4, 3
    d = {"name": "flat", "seed": seed, "samples": 1,
         "model": {"activation": "sign", "N": N, "K": K, "alpha": P / N + 1e-9},
         "anneal": {"beta": {"start": 1.0, "stop": 8.0}, "sweeps": 200, "record_every": 10,
                    "equilibrium": {"sweeps": 4 * 3100, "every": 4}}, "output": "unused.h5"}
    res = anneal.run_sample(config.from_dict(d), 0)
    assert res.solved
    W = res.extra_datasets["equilibrium_weights"][100:, 0].astype(np.int64)
    inst = instance.make(N, P, seed, 0)
    allw = np.array(list(itertools.product((-1, 1), repeat=N)), np.int64)
    sol = allw[(twin_stabilities(allw, inst.xi, inst.sigma, "sign", K) > 0).all(1)]
    code = {tuple(s): j for j, s in enumerate(sol)}
    counts = np.bincount([code[tuple(w)] for w in W], minlength=len(sol))  # KeyError if not a solution
    assert g_test(counts, np.full(len(sol), 1 / len(sol))) > ALPHA_FA
    tilt = np.exp(0.3 * sol.sum(1))  # a wrong law: solutions weighted by their magnetisation
    assert g_test(counts, tilt / tilt.sum()) < 1e-6
