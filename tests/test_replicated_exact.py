"""The robust ensemble and RRR sample their exact laws (docs/algorithms.md §5 and §8).

Tiny machines are enumerated exactly (all 2^N reference and replica configurations). Each chain is
run at constant beta and gamma, observed every `thin` sweeps (lag-1 autocorrelation checked small),
and compared with a G-test at a false-alarm rate ALPHA_FA = 1e-3 per comparison (fixed seeds).
"""
import numpy as np
import pytest

from exact_oracle import (all_weights, boltzmann_energy_law, energies_of_all, g_test, lag1_autocorrelation,
                          replicated_laws)
from relusim.models import machine as model
from relusim.kernels import fields, metropolis, replicated, rrr
from relusim.kernels import rng as krng
from relusim.kernels.records import Point

from conftest import make_problem, make_state

ALPHA_FA = 1e-3
BETA, GAMMA, Y = 1.0, 0.35, 3


def ensemble(activation, N, K, P, y, explicit, seed=5):
    from relusim.models import instance

    inst = instance.make(N, P, seed, 0)
    pb = make_problem(inst, activation, K, N // K)
    g = np.random.default_rng(seed)
    w = (2 * g.integers(0, 2, (y, N)) - 1).astype(np.int8)
    ref = (2 * g.integers(0, 2, N) - 1).astype(np.int8) if explicit else np.zeros(0, np.int8)
    return inst, pb, make_state(pb, w, ref)


def observe(activation, N, K, P, mode, use_rrr, records, thin, seed=7):
    explicit = mode == metropolis.EXPLICIT
    inst, pb, st0 = ensemble(activation, N, K, P, Y, explicit)
    st = st0._replace(rng=krng.new_state(np.random.SeedSequence(seed)))
    w, ref, E = st.w, st.ref, st.E
    betas, gammas = np.full(thin, BETA), np.full(thin, GAMMA)
    tr = replicated.new_trace(thin, Y)
    used = tr.rrr_used
    ctl = replicated.control(mode, use_rrr, 2.0, 2.0)
    out = np.zeros((records, 3), np.int64)  # E(W^1), ref.W^1, W^1.W^2
    hyb = replicated.hybrid_state()
    for r in range(-20, records):
        # bits_below = 2: Metropolis takes the bitset path throughout (the full pass is
        # test_sampler_exact's; test_bits_kernel holds the two to the same chain)
        replicated.run(pb, st, betas, gammas, ctl, tr, hyb)
        if r >= 0:
            out[r] = E[0], int(ref.astype(int) @ w[0]) if explicit else 0, int(w[0].astype(int) @ w[1])
    assert used.all() == use_rrr
    return inst, out


CASES = [("relu", 8, 2, 6), ("sign", 9, 3, 6), ("tanh", 9, 3, 6)]


@pytest.mark.parametrize("activation,N,K,P", CASES)
@pytest.mark.parametrize("sampler", ["metropolis", "rrr"])
@pytest.mark.slow
def test_explicit_ensemble_matches_exact_joint_law_of_energy_reference_overlap_and_mutual_overlap(
        activation, N, K, P, sampler):
    thin = 6 if sampler == "rrr" else 12
    inst, out = observe(activation, N, K, P, metropolis.EXPLICIT, sampler == "rrr", 6000, thin)
    W = all_weights(N)
    joint, mutual = replicated_laws(energies_of_all(inst.xi, inst.sigma, activation, K), W, BETA, GAMMA, Y, P)
    for col in range(3):
        assert abs(lag1_autocorrelation(out[:, col])) < 0.1
    counts = np.zeros_like(joint)
    np.add.at(counts, (out[:, 0], (out[:, 1] + N) // 2), 1)
    keep = joint.ravel() > 0
    assert counts.ravel()[~keep].sum() == 0
    assert g_test(counts.ravel()[keep], joint.ravel()[keep]) > ALPHA_FA
    mc = np.bincount((out[:, 2] + N) // 2, minlength=N + 1)
    keep = mutual > 0
    assert g_test(mc[keep], mutual[keep]) > ALPHA_FA


@pytest.mark.parametrize("activation,N,K,P", CASES)
def test_traced_ensemble_has_the_exact_replica_marginals(activation, N, K, P):
    inst, out = observe(activation, N, K, P, metropolis.TRACED, False, 6000, 12)
    joint, mutual = replicated_laws(energies_of_all(inst.xi, inst.sigma, activation, K), all_weights(N),
                                    BETA, GAMMA, Y, P)
    e_law = joint.sum(1)
    assert g_test(np.bincount(out[:, 0], minlength=P + 1)[e_law > 0], e_law[e_law > 0]) > ALPHA_FA
    mc = np.bincount((out[:, 2] + N) // 2, minlength=N + 1)
    assert g_test(mc[mutual > 0], mutual[mutual > 0]) > ALPHA_FA


def test_exact_check_rejects_a_wrong_coupling():
    activation, N, K, P = CASES[0]
    inst, out = observe(activation, N, K, P, metropolis.EXPLICIT, False, 6000, 12)
    _, mutual = replicated_laws(energies_of_all(inst.xi, inst.sigma, activation, K), all_weights(N),
                                BETA, 1.3 * GAMMA, Y, P)
    mc = np.bincount((out[:, 2] + N) // 2, minlength=N + 1)
    assert g_test(mc[mutual > 0], mutual[mutual > 0]) < ALPHA_FA


@pytest.mark.parametrize("activation,N,K,P,beta,thin", [("sign", 9, 3, 6, 1.0, 5), ("relu", 8, 2, 6, 2.0, 15)])
def test_rrr_single_machine_energy_histogram_matches_exact_enumeration(machine, activation, N, K, P, beta, thin):
    inst, pb, st0 = machine(activation, N, K, P, seed=5)
    st = make_state(pb, st0.w, seed=3)
    S = 100 + 6000 * thin
    tr = replicated.new_trace(S, 1)
    replicated.run(pb, st, np.full(S, beta), np.zeros(S), replicated.control(metropolis.NONE, True, 2.0), tr,
                   replicated.hybrid_state())
    en = tr.energies
    assert tr.rrr_used.all()
    kept = en[100::thin, 0]  # one RRR sweep is only nv = N steps here
    assert abs(lag1_autocorrelation(kept)) < 0.1
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, activation, K), beta, P)
    assert g_test(np.bincount(kept, minlength=P + 1), exact) > ALPHA_FA


def brute_hamiltonian(inst, activation, K, w, ref, beta, gamma):
    """beta H = beta sum_a E(W^a) - gamma sum_a ref . W^a (docs/model.md §7), from scratch."""
    data = sum(model.energy(wa, inst.xi, inst.sigma, activation, K) for wa in w)
    coupling = sum(int(ref.astype(int) @ wa.astype(int)) for wa in w) if len(ref) else 0
    return beta * data - gamma * coupling


@pytest.mark.parametrize("activation,N,K,P", [("relu", 12, 4, 10), ("relu", 30, 6, 25), ("sign", 15, 3, 12),
                                              ("sign", 45, 5, 40), ("tanh", 15, 3, 20), ("quadratic", 12, 2, 20)])
@pytest.mark.parametrize("y", [1, 3])
def test_rrr_weights_equal_the_brute_force_hamiltonian_difference_of_every_flip(activation, N, K, P, y):
    beta, gamma = 0.8, 0.4
    mode = metropolis.EXPLICIT if y > 1 else metropolis.NONE
    inst, pb, st0 = ensemble(activation, N, K, P, y, y > 1, seed=N + y)
    st = st0._replace(rng=krng.new_state(np.random.SeedSequence(11)))
    w, ref, E = st.w, st.ref, st.E
    scratch = rrr.scratch_arrays(y, N, pb.XT.shape[1], mode)
    pt = Point(mode, gamma, np.empty(2 * pb.XT.shape[1] + 1), np.zeros((1, 2)))
    metropolis.fill_etab(pt.etab, beta, pb.XT.shape[1])
    rrr.rebuild_delta(pb, st, scratch.dEd)
    rrr.rebuild_p(st, pt, scratch)
    for step in range(60):  # random states along an RRR trajectory: p must match after every move
        h0 = brute_hamiltonian(inst, activation, K, w, ref, beta, gamma)
        p = scratch[1]
        for j in range(y * N + (N if y > 1 else 0)):
            w2, ref2 = w.copy(), ref.copy()
            if j < y * N:
                w2[j // N, j % N] *= -1
            else:
                ref2[j - y * N] *= -1
            dh = brute_hamiltonian(inst, activation, K, w2, ref2, beta, gamma) - h0
            assert p[j] == pytest.approx(min(1.0, np.exp(-dh)), rel=1e-12, abs=1e-300)
        np.testing.assert_allclose(scratch[2].sum(), p.sum(), rtol=1e-12)
        rrr.step(pb, st, pt, scratch)
    for a in range(y):
        assert E[a] == model.energy(w[a], inst.xi, inst.sigma, activation, K)
