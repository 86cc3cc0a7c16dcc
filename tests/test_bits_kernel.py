"""The class-change bitset kernel (relusim.kernels.bits) against its brute-force twins and the full pass."""
import numpy as np
import pytest

from relusim.models import machine as model
from relusim.kernels import bits, fields, metropolis, replicated
from relusim.kernels import rng as krng

from conftest import make_state
from relusim.kernels.records import Point
from test_kernels_twins import assert_caches_match_model

# one jump size (sign with n odd, ReLU with n even) and two (sign with ties: n even; ReLU with n odd), small
# n so that ties and unit jumps are frequent; P spans several 64-pattern words and ends inside one, so
# padding lanes are in play
CASES = [("sign", 9, 3, 6), ("sign", 45, 5, 70), ("sign", 63, 7, 200), ("sign", 12, 3, 10), ("sign", 30, 5, 130),
         ("relu", 8, 2, 6), ("relu", 40, 4, 100), ("relu", 60, 6, 300), ("relu", 12, 4, 9), ("relu", 30, 6, 150)]


def with_bits(pb, st):
    bt = bits.new(pb, st.w.shape[0])
    bits.build(pb, st, bt)
    return bt


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
    inst, pb, _ = machine("relu", 40, 4, 150, seed=3)  # 150 patterns: padding in the last word
    XT, sig = pb.XT, pb.sig
    XB, SG = bits.problem_bits(XT, sig)
    np.testing.assert_array_equal(XB, np.packbits(XT > 0, axis=1, bitorder="little").view("<u8"))
    np.testing.assert_array_equal(SG, np.packbits(sig > 0, bitorder="little").view("<u8"))


@pytest.mark.parametrize("activation,N,K,P", CASES)
def test_bitset_delta_energy_equals_energy_difference_for_every_weight(machine, activation, N, K, P):
    for s in range(30):
        inst, pb, st = machine(activation, N, K, P, seed=500 + 1000 * s + N)
        bt = with_bits(pb, st)
        for i in range(N):
            w2 = st.w[0].copy()
            w2[i] = -w2[i]
            expected = model.energy(w2, inst.xi, inst.sigma, activation, K) - st.E[0]
            assert bits.delta_energy(pb, st, bt, 0, i) == expected


@pytest.mark.parametrize("activation,N,K,P", CASES)
@pytest.mark.parametrize("mode,y", [(metropolis.NONE, 1), (metropolis.TRACED, 3), (metropolis.EXPLICIT, 3)])
def test_bitset_sweep_is_the_full_pass_chain_bit_for_bit(machine, activation, N, K, P, mode, y):
    # same draws, same acceptances: only the cost of Delta E differs. The bitsets must also still equal
    # the ones rebuilt from scratch, and the caches the brute-force twin.
    inst, pb, st1 = machine(activation, N, K, P, seed=77)
    w0 = np.repeat(st1.w, y, axis=0)
    w0[1:] *= np.where(np.random.default_rng(3).random((y - 1, N)) < 0.3, -1, 1).astype(np.int8)
    ctab = np.zeros((2 * y + 1, 2))
    metropolis.fill_ctab(ctab, 0.7, y)
    runs = []
    for use_bits in (False, True):
        ref = np.where(w0.sum(axis=0) >= 0, 1, -1).astype(np.int8)
        st = make_state(pb, w0, ref, seed=11)
        bt = with_bits(pb, st)
        pt = Point(mode, 0.7, np.empty(2 * pb.XT.shape[1] + 1), ctab)
        acc = []
        for beta in (0.2, 1.0, 3.0, 8.0):
            metropolis.fill_etab(pt.etab, beta, pb.XT.shape[1])
            for _ in range(15):
                acc.append(metropolis.sweep_bits(pb, st, pt, bt) if use_bits else metropolis.sweep(pb, st, pt))
        if use_bits:
            bt2 = with_bits(pb, st)
            np.testing.assert_array_equal(bt.UD, bt2.UD)
            np.testing.assert_array_equal(bt.M, bt2.M)
            assert_caches_match_model(inst, st.w, st.H, st.marg, st.E, activation, K)
        runs.append((st.w, st.E, st.ref, acc, st.rng))
    (wa, Ea, ra, acca, sa), (wb, Eb, rb, accb, sb) = runs
    assert sum(acca) > 0 and acca == accb
    np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(Ea, Eb)
    np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(sa, sb)


@pytest.mark.parametrize("activation,N,K,P", [("sign", 45, 5, 70), ("relu", 40, 4, 100), ("relu", 30, 6, 150)])
def test_the_driver_switching_between_full_pass_and_bitsets_never_changes_the_chain(machine, activation, N, K, P):
    # an annealing schedule that crosses BITS_BELOW both ways: the default driver against the full pass only
    inst, pb, st1 = machine(activation, N, K, P, seed=5)
    betas = np.concatenate([np.linspace(0.0, 6.0, 60), np.zeros(5), np.full(20, 6.0)])
    out = []
    for bits_below in (-1.0, replicated.BITS_BELOW):
        st = make_state(pb, st1.w, seed=2)
        S = len(betas)
        tr = replicated.new_trace(S, 1)
        replicated.run(pb, st, betas, np.zeros(S), replicated.control(metropolis.NONE, bits_below=bits_below), tr,
                       replicated.hybrid_state())
        w, en, acc = st.w, tr.energies, tr.accepted
        out.append((w, en, acc))
    rates = out[0][2] / N
    assert rates.max() > replicated.BITS_BELOW > rates.min()  # both paths were taken
    for x, y in zip(*out):
        np.testing.assert_array_equal(x, y)
