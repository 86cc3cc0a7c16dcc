"""The class-change bitset kernel (relusim.kernels.bits) against its brute-force twins and the full pass."""
import numpy as np
import pytest

from relusim import model
from relusim.kernels import bits, fields, metropolis, replicated
from relusim.kernels import rng as krng

from test_kernels_twins import assert_caches_match_model

# one jump size (sign with n odd, ReLU with n even) and two (sign with ties: n even; ReLU with n odd), small
# n so that ties and unit jumps are frequent; P spans several 64-pattern words and ends inside one, so
# padding lanes are in play
CASES = [("sign", 9, 3, 6), ("sign", 45, 5, 70), ("sign", 63, 7, 200), ("sign", 12, 3, 10), ("sign", 30, 5, 130),
         ("relu", 8, 2, 6), ("relu", 40, 4, 100), ("relu", 60, 6, 300), ("relu", 12, 4, 9), ("relu", 30, 6, 150)]


def with_bits(XT, sig, H, marg, act, n):
    XB, SG = bits.problem_bits(XT, sig)
    UD, M = bits.new_state(H.shape[0], H.shape[1], H.shape[2])
    bits.build(act, n, H, marg, UD, M)
    return XB, SG, UD, M


def test_one_level_is_exactly_the_activations_whose_margin_jumps_are_all_two():
    assert bits.levels(fields.SIGN_ODD, 3) == 1 and bits.levels(fields.RELU, 4) == 1
    assert bits.levels(fields.SIGN, 4) == 2 and bits.levels(fields.RELU, 5) == 2


@pytest.mark.parametrize("op,ref", [(bits.mask_eq, np.equal), (bits.mask_ge, np.greater_equal)])
def test_mask_intrinsics_equal_numpy_packbits(op, ref):
    from numba import njit

    @njit
    def masks(x, v, out):
        for j in range(out.shape[0]):
            out[j] = op(x, 64 * j, v)

    x = np.random.default_rng(0).integers(-3, 4, (3, 256)).astype(np.int16)
    for v in (-1, 0, 2):
        out = np.zeros(12, np.uint64)
        masks(x, np.int16(v), out)
        expected = np.packbits(ref(x, v).ravel(), bitorder="little").view("<u8")
        np.testing.assert_array_equal(out, expected)


def test_packed_patterns_and_labels_equal_numpy_packbits(machine):
    inst, (XT, sig, c), *_ = machine("relu", 40, 4, 150, seed=3)  # 150 patterns: padding in the last word
    XB, SG = bits.problem_bits(XT, sig)
    np.testing.assert_array_equal(XB, np.packbits(XT > 0, axis=1, bitorder="little").view("<u8"))
    np.testing.assert_array_equal(SG, np.packbits(sig > 0, bitorder="little").view("<u8"))


@pytest.mark.parametrize("activation,N,K,P", CASES)
def test_bitset_delta_energy_equals_energy_difference_for_every_weight(machine, activation, N, K, P):
    act, n = fields.act_code(activation, N // K), N // K
    lev = bits.levels(act, n)
    for s in range(30):
        inst, (XT, sig, c), w, H, marg, E = machine(activation, N, K, P, seed=500 + 1000 * s + N)
        XB, SG, UD, M = with_bits(XT, sig, H, marg, act, n)
        for i in range(N):
            w2 = w[0].copy()
            w2[i] = -w2[i]
            expected = model.energy(w2, inst.xi, inst.sigma, activation, K) - E[0]
            assert bits.delta_energy(XB, SG, UD, M, lev, c[i // n], w, 0, i, i // n) == expected


@pytest.mark.parametrize("activation,N,K,P", CASES)
@pytest.mark.parametrize("mode,y", [(metropolis.NONE, 1), (metropolis.TRACED, 3), (metropolis.EXPLICIT, 3)])
def test_bitset_sweep_is_the_full_pass_chain_bit_for_bit(machine, activation, N, K, P, mode, y):
    # same draws, same acceptances: only the cost of Delta E differs. The bitsets must also still equal
    # the ones rebuilt from scratch, and the caches the brute-force twin.
    inst, (XT, sig, c), w1, _, _, _ = machine(activation, N, K, P, seed=77)
    act, n = fields.act_code(activation, N // K), N // K
    w0 = np.repeat(w1, y, axis=0)
    w0[1:] *= np.where(np.random.default_rng(3).random((y - 1, N)) < 0.3, -1, 1).astype(np.int8)
    ctab = np.zeros((2 * y + 1, 2))
    metropolis.fill_ctab(ctab, 0.7, y)
    runs = []
    for use_bits in (False, True):
        w = w0.copy()
        H, marg = fields.new_caches(y, K, P)
        E = np.array([fields.build(XT, sig, c, n, act, w, H, marg, a) for a in range(y)], np.int64)
        m = np.zeros(N, np.int16)
        replicated.replica_sums(w, m)
        ref = np.where(m >= 0, 1, -1).astype(np.int8)
        XB, SG, UD, M = with_bits(XT, sig, H, marg, act, n)
        state = krng.new_state(np.random.SeedSequence(11))
        etab = np.empty(2 * XT.shape[1] + 1)
        acc = []
        for beta in (0.2, 1.0, 3.0, 8.0):
            metropolis.fill_etab(etab, beta, XT.shape[1])
            for _ in range(15):
                args = (XT, sig, c, n, act, w, H, marg, E, ref, m, mode, state, etab, 0.7, ctab, np.arange(N) // n)
                acc.append(metropolis.sweep_bits(*args, XB, UD, M, SG) if use_bits else metropolis.sweep(*args))
        if use_bits:
            _, _, UD2, M2 = with_bits(XT, sig, H, marg, act, n)
            np.testing.assert_array_equal(UD, UD2)
            np.testing.assert_array_equal(M, M2)
            assert_caches_match_model(inst, w, H, marg, E, activation, K)
        runs.append((w, E, ref, acc, state))
    (wa, Ea, ra, acca, sa), (wb, Eb, rb, accb, sb) = runs
    assert sum(acca) > 0 and acca == accb
    np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(Ea, Eb)
    np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(sa, sb)


@pytest.mark.parametrize("activation,N,K,P", [("sign", 45, 5, 70), ("relu", 40, 4, 100), ("relu", 30, 6, 150)])
def test_the_driver_switching_between_full_pass_and_bitsets_never_changes_the_chain(machine, activation, N, K, P):
    # an annealing schedule that crosses BITS_BELOW both ways: the default driver against the full pass only
    inst, (XT, sig, c), w1, _, _, _ = machine(activation, N, K, P, seed=5)
    act, n = fields.act_code(activation, N // K), N // K
    betas = np.concatenate([np.linspace(0.0, 6.0, 60), np.zeros(5), np.full(20, 6.0)])
    out = []
    for bits_below in (-1.0, replicated.BITS_BELOW):
        w = w1.copy()
        H, marg = fields.new_caches(1, K, P)
        E = np.array([fields.build(XT, sig, c, n, act, w, H, marg, 0)], np.int64)
        m = w[0].astype(np.int16)
        state = krng.new_state(np.random.SeedSequence(2))
        S = len(betas)
        en, acc, q, used = np.zeros((S, 1), np.int64), np.zeros(S, np.int64), np.zeros(S), np.zeros(S, np.bool_)
        replicated.run(XT, sig, c, n, act, w, H, marg, E, np.zeros(0, np.int8), m, metropolis.NONE, state, betas,
                       np.zeros(S), False, 0.0, bits_below, False, np.nan, 0.0, en, acc, q, used,
                       replicated.hybrid_state())
        out.append((w, en, acc))
    rates = out[0][2] / N
    assert rates.max() > replicated.BITS_BELOW > rates.min()  # both paths were taken
    for x, y in zip(*out):
        np.testing.assert_array_equal(x, y)
