"""Every sampler mode a user can configure samples the exact law at constant (beta, gamma).

The chains run through the real driver (``anneal.anneal`` on a Config, so the hybrid's state crosses
the ``record_every`` blocks as in a run) on machines small enough to enumerate (all 2^N weight
vectors, 4^N for the explicit ensemble). The recorded energies (and, with an explicit reference,
the replica-reference overlaps of the trace) are compared with the exact law by a G-test at a
false-alarm rate ALPHA_FA = 1e-3 per case (fixed seeds). The hybrid RRR/Metropolis cases failed on
the earlier switching rule (a choice made every sweep from the previous sweep's acceptance):
p = 1.4e-8, 3.3e-8 and 5.2e-6 for rrr_below = 0.05, 0.12 and 0.3 with record_every = 10 (with
record_every = 1 it never used RRR), and p = 1.4e-12 / 1.7e-15 (joint law / mutual overlap) and
2.6e-14 / 3.6e-15 for the explicit ensemble at rrr_below = 0.3, record_every = 2 and 10
(``scripts/sampler_exact_table.py`` prints the table). A power check rejects a chain run at a wrong beta.
"""
import numpy as np
import pytest

from exact_oracle import (all_weights, boltzmann_energy_law, energies_of_all, g_test, lag1_autocorrelation,
                          replicated_laws)
from relusim import anneal, config
from relusim.models import instance, machine
from relusim.kernels import fields

ALPHA_FA = 1e-3
KEPT = 4000
BURN = 100  # sweeps discarded (the hybrid's single switch happens in the first few)


def run_trace(tmp_path, activation, N, K, P, beta, sampler, rrr_below, record_every, thin, y=1,
              gamma=None, seed=3, architecture="tree"):
    nw = N * (K if architecture == "fully_connected" else 1)
    d = {"seed": seed, "samples": 1, "output": str(tmp_path / "x.h5"),
         "model": {"activation": activation, "N": N, "K": K, "alpha": P / nw, "architecture": architecture},
         "ensemble": {"replicas": y, **({"gamma": gamma} if gamma is not None else {})},
         "anneal": {"sampler": sampler, "rrr_below": rrr_below, "beta": beta, "record_every": record_every,
                    "sweeps": BURN + KEPT * thin, "stop_when_solved": False}}
    cfg = config.from_dict(d)
    assert cfg.model.P == P
    inst = instance.make(N, cfg.model.P, seed, 0)
    problem = anneal.make_problem(cfg, inst.xi, inst.sigma)
    chain = anneal.init_chain(cfg, problem, instance.stream(seed, 0, instance.DYNAMICS))
    trace = anneal.anneal(cfg, problem, chain)
    step = thin // record_every if thin >= record_every else 1
    keep = slice(BURN // record_every, None, step)
    return inst, {k: v[keep] for k, v in trace.items()}


SINGLE = [("metropolis", 0.0, 1), ("rrr", 2.0, 1), ("rrr", 2.0, 10),
          ("rrr", 0.05, 10), ("rrr", 0.12, 10), ("rrr", 0.3, 10), ("rrr", 0.12, 1), ("rrr", 0.3, 1)]


@pytest.mark.parametrize("sampler,rrr_below,record_every", SINGLE)
def test_single_machine_energy_law_is_exact_in_every_sampler_mode(tmp_path, sampler, rrr_below, record_every):
    activation, N, K, P, beta = "relu", 12, 4, 10, 2.0
    inst, tr = run_trace(tmp_path, activation, N, K, P, beta, sampler, rrr_below, record_every, thin=10)
    kept = tr["energy"][:, 0]
    if sampler == "rrr":
        assert tr["rrr"].mean() > 0.5  # the RRR kernel did the sampling
    assert abs(lag1_autocorrelation(kept)) < 0.1
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, activation, K), beta, P)
    assert g_test(np.bincount(kept, minlength=P + 1), exact) > ALPHA_FA


def test_energy_law_check_rejects_a_wrong_beta(tmp_path):
    activation, N, K, P, beta = "relu", 12, 4, 10, 2.0
    inst, tr = run_trace(tmp_path, activation, N, K, P, beta, "rrr", 0.12, 10, thin=10)
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, activation, K), 1.2 * beta, P)
    assert g_test(np.bincount(tr["energy"][:, 0], minlength=P + 1), exact) < ALPHA_FA


EXPLICIT = [("metropolis", 0.0, 5), ("rrr", 2.0, 5), ("rrr", 0.3, 2), ("rrr", 0.3, 10)]


def explicit_trace(tmp_path, sampler, rrr_below, record_every):
    activation, N, K, P, beta, gamma, y = "relu", 8, 2, 6, 2.0, 0.5, 2
    thin = 30 if sampler == "metropolis" else 10  # Metropolis decorrelates slower here (lag-1 0.19 at 10)
    inst, tr = run_trace(tmp_path, activation, N, K, P, beta, sampler, rrr_below, record_every, thin=thin, y=y,
                         gamma={"start": gamma, "stop": gamma})
    joint, mutual = replicated_laws(energies_of_all(inst.xi, inst.sigma, activation, K), all_weights(N), beta, gamma,
                                    y, P)
    E, p = tr["energy"][:, 0], np.rint(tr["reference_overlap"][:, 0] * N).astype(int)
    q12 = np.rint(tr["overlap"] * N).astype(int)  # y = 2: q-bar = W^1.W^2 / N
    return N, tr, joint, mutual, E, p, q12


@pytest.mark.parametrize("sampler,rrr_below,record_every", EXPLICIT)
def test_explicit_ensemble_laws_of_energy_reference_overlap_and_mutual_overlap_are_exact(
        tmp_path, sampler, rrr_below, record_every):
    N, tr, joint, mutual, E, p, q12 = explicit_trace(tmp_path, sampler, rrr_below, record_every)
    if sampler == "rrr":
        assert tr["rrr"].mean() > 0.5
    for x in (E, p, q12):
        assert abs(lag1_autocorrelation(x)) < 0.1
    counts = np.zeros_like(joint)
    np.add.at(counts, (E, (p + N) // 2), 1)
    keep = joint.ravel() > 0
    assert counts.ravel()[~keep].sum() == 0
    assert g_test(counts.ravel()[keep], joint.ravel()[keep]) > ALPHA_FA
    mc = np.bincount((q12 + N) // 2, minlength=N + 1)
    assert g_test(mc[mutual > 0], mutual[mutual > 0]) > ALPHA_FA
