"""The bitset Metropolis path against its twins: the O(P) energy change and the brute-force model."""
import numpy as np
import pytest

from relusim.kernels import bits, fields, metropolis
from relusim.kernels import rng as krng
from test_kernels_twins import CASES, assert_caches_match_model


def test_packed_patterns_hold_one_bit_per_pattern():
    XT = np.array([[1, -1, 1] + [0] * 125, [-1, -1, 1] + [0] * 125], dtype=np.int8)
    XB = bits.pack_patterns(XT)
    assert XB.shape == (2, 2) and XB[0, 0] == 0b101 and XB[1, 0] == 0b100 and XB[0, 1] == 0


@pytest.mark.parametrize("activation,N,K,P", CASES)
def test_bitset_delta_energy_equals_the_full_pass_for_every_weight(machine, activation, N, K, P):
    act = fields.ACT_CODES[activation]
    for s in range(20):
        inst, (XT, sig, c), w, H, marg, E = machine(activation, N, K, P, seed=31 * s + N)
        B = bits.new_bits(1, K, XT.shape[1])
        bits.build_bits(sig, c, act, H, marg, B)
        XB = bits.pack_patterns(XT)
        for i in range(N):
            assert bits.delta_energy_bits(XB, B, w, 0, i, i // (N // K)) == \
                fields.delta_energy(XT, sig, c, N // K, act, w, H, marg, E, 0, i)


@pytest.mark.parametrize("activation,N,K,P", CASES)
def test_bitset_sweep_keeps_bits_and_caches_equal_to_their_rebuild(machine, activation, N, K, P):
    act = fields.ACT_CODES[activation]
    inst, (XT, sig, c), w, H, marg, E = machine(activation, N, K, P, seed=7)
    B = bits.new_bits(1, K, XT.shape[1])
    bits.build_bits(sig, c, act, H, marg, B)
    XB = bits.pack_patterns(XT)
    etab = np.empty(2 * XT.shape[1] + 1)
    state = krng.new_state(np.random.SeedSequence(5))
    ref, m, ctab = np.zeros(0, np.int8), w[0].astype(np.int16), np.zeros((1, 2))
    unit, msave = np.arange(N) // (N // K), np.zeros(XT.shape[1], np.int16)
    accepted = 0
    for beta in (0.3, 1.0, 3.0):
        metropolis.fill_etab(etab, beta, XT.shape[1])
        for _ in range(10):
            accepted += bits.sweep(XT, XB, sig, c, N // K, act, w, H, marg, E, ref, m, metropolis.NONE, state,
                                   etab, 0.0, ctab, unit, B, msave)
            assert_caches_match_model(inst, w, H, marg, E, activation, K)
            B2 = bits.new_bits(1, K, XT.shape[1])
            bits.build_bits(sig, c, act, H, marg, B2)
            np.testing.assert_array_equal(B, B2)
    assert accepted > 0


@pytest.mark.parametrize("activation,N,K", [("relu", 200, 4), ("sign", 225, 5)])
def test_driver_on_the_bitset_path_runs_the_same_chain_bit_for_bit(activation, N, K):
    # an annealing that spends most sweeps below the bitset threshold; the plain sweep, driven by hand
    # with the same random stream, must give the very same trajectory
    from relusim.kernels import replicated
    from test_replicated_exact import ensemble

    P = int(0.3 * N)
    S = 400
    betas = np.geomspace(0.5, 12.0, S)
    runs = []
    for driver in (True, False):
        inst, (XT, sig, c), act, w, ref, H, marg, E, m = ensemble(activation, N, K, P, 3, True, seed=3)
        state = krng.new_state(np.random.SeedSequence(9))
        gammas = 0.5 * betas
        en = np.zeros((S, 3), np.int64)
        acc = np.zeros(S, np.int64)
        if driver:
            replicated.run(XT, sig, c, N // K, act, w, H, marg, E, ref, m, metropolis.EXPLICIT, state, betas, gammas,
                           False, 0.0, False, np.nan, 0.0, en, acc, np.zeros(S), np.zeros(S, np.bool_),
                           bits.pack_patterns(XT))
        else:
            etab, ctab, unit = np.empty(2 * XT.shape[1] + 1), np.zeros((7, 2)), np.arange(N) // (N // K)
            for s in range(S):
                metropolis.fill_etab(etab, betas[s], XT.shape[1])
                acc[s] = metropolis.sweep(XT, sig, c, N // K, act, w, H, marg, E, ref, m, metropolis.EXPLICIT,
                                          state, etab, gammas[s], ctab, unit)
                en[s] = E
        runs.append((w.copy(), ref.copy(), en.copy(), acc.copy()))
    (w1, r1, e1, a1), (w2, r2, e2, a2) = runs
    assert (a1 / (N * 4) < replicated.BITS_BELOW).sum() > S // 4, "the bitset path must have been used"
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(r1, r2)
