"""Fully connected committee machines in the kernels (issue 14): twins and exact laws.

Every unit l sees all N inputs with its own weights, w[a, l N + j] (unit-major); the kernels tell the
architecture from the shapes (``fields.is_fc``). Twins: the cached fields, margins and energy after
random flips equal the brute-force model, the Delta E of every weight equals the brute-force energy
difference, and the bitset path is the full pass's chain bit for bit. Exact laws: tiny networks
(2^(K N) weight vectors) sampled at constant beta by Metropolis, forced RRR, the hybrid and the
explicit robust ensemble, G-test at ALPHA_FA = 1e-3 per case, with a power check on a wrong beta.
"""
import numpy as np
import pytest

from exact_oracle import all_weights, boltzmann_energy_law, energies_of_all, g_test, replicated_laws
from relusim.models import instance, machine
from relusim.kernels import fields, metropolis, replicated
from conftest import make_problem, make_state
from test_hybrid_exact import run_trace

ALPHA_FA = 1e-3
FC = "fully_connected"
TWINS = [("relu", 10, 4, 23), ("relu", 9, 2, 40), ("sign", 9, 3, 30), ("sign", 8, 3, 30), ("relu", 7, 1, 9)]


def fc_machine(activation, N, K, P, y=1, seed=4):
    """A fully connected instance: Problem with fan-in N, State of random weights (y, K N)."""
    inst = instance.make(N, P, seed, 0)
    pb = make_problem(inst, activation, K, N)
    w = (2 * np.random.default_rng(seed).integers(0, 2, (y, K * N)) - 1).astype(np.int8)
    return inst, pb, make_state(pb, w, seed=2)


@pytest.mark.parametrize("activation,N,K,P", TWINS)
def test_fc_delta_energy_of_every_weight_and_cached_fields_after_flips_equal_the_brute_force_model(
        activation, N, K, P):
    inst, pb, st = fc_machine(activation, N, K, P)
    w, H, marg, E = st.w, st.H, st.marg, st.E
    g = np.random.default_rng(1)
    for _ in range(25):
        e0 = machine.energy(w[0], inst.xi, inst.sigma, activation, K, FC)
        assert E[0] == e0
        for i in range(K * N):
            w2 = w[0].copy()
            w2[i] *= -1
            de = fields.delta_energy(pb, st, 0, i)
            assert de == machine.energy(w2, inst.xi, inst.sigma, activation, K, FC) - e0
        i = int(g.integers(K * N))
        fields.apply_flip(pb, st, 0, i, fields.delta_energy(pb, st, 0, i))
        np.testing.assert_array_equal(H[0, :, :P], machine.unit_fields(w[0], inst.xi, K, FC))
        out = machine.integer_output(w[0], inst.xi, activation, K, FC)
        np.testing.assert_array_equal(marg[0, :P], inst.sigma * out)


@pytest.mark.parametrize("activation,N,K,P", [("relu", 20, 4, 150), ("sign", 21, 3, 140), ("relu", 21, 2, 130)])
def test_fc_bitset_path_is_the_full_pass_chain_bit_for_bit(activation, N, K, P):
    out = []
    for bits_below in (-1.0, 2.0):  # forced full pass, forced bitsets
        inst, pb, st = fc_machine(activation, N, K, P)
        w, E = st.w, st.E
        S = 60
        betas = np.geomspace(0.5, 6.0, S)
        tr = replicated.new_trace(S, 1)
        replicated.run(pb, st, betas, np.zeros(S), replicated.control(metropolis.NONE, bits_below=bits_below), tr,
                       replicated.hybrid_state())
        en, acc = tr.energies, tr.accepted
        out.append((w.copy(), en, acc))
        assert E[0] == machine.energy(w[0], inst.xi, inst.sigma, activation, K, FC)
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][2], out[1][2])
    assert out[0][2].sum() > 0


SINGLE = [("relu", 5, 2, 8, "metropolis", 0.0, 1), ("relu", 5, 2, 8, "rrr", 2.0, 10),
          ("relu", 5, 2, 8, "rrr", 0.2, 10), ("sign", 3, 3, 7, "metropolis", 0.0, 1),
          ("sign", 3, 3, 7, "rrr", 2.0, 5)]


@pytest.mark.parametrize("activation,N,K,P,sampler,rrr_below,record_every", SINGLE)
def test_fc_energy_law_matches_exact_enumeration(tmp_path, activation, N, K, P, sampler, rrr_below, record_every):
    beta = 1.5
    inst, tr = run_trace(tmp_path, activation, N, K, P, beta, sampler, rrr_below, record_every, thin=10,
                         architecture=FC)
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, activation, K, FC), beta, P)
    counts = np.bincount(tr["energy"][:, 0], minlength=P + 1)
    assert g_test(counts, exact) > ALPHA_FA
    wrong = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, activation, K, FC), 1.3 * beta, P)
    assert g_test(counts, wrong) < ALPHA_FA  # power: the same chain rejects a wrong beta


@pytest.mark.parametrize("sampler,rrr_below", [("metropolis", 0.0), ("rrr", 2.0)])
def test_fc_explicit_ensemble_joint_law_of_energy_and_reference_overlap(tmp_path, sampler, rrr_below):
    activation, N, K, P, beta, gamma, y = "sign", 3, 3, 7, 1.0, 0.3, 2
    inst, tr = run_trace(tmp_path, activation, N, K, P, beta, sampler, rrr_below, 5, thin=20, y=y,
                         gamma={"start": gamma, "stop": gamma}, architecture=FC)
    nw = K * N
    joint, _ = replicated_laws(energies_of_all(inst.xi, inst.sigma, activation, K, FC), all_weights(nw), beta, gamma,
                               y, P)
    E, p = tr["energy"][:, 0], np.rint(tr["reference_overlap"][:, 0] * nw).astype(int)
    counts = np.zeros_like(joint)
    np.add.at(counts, (E, (p + nw) // 2), 1)
    keep = joint.ravel() > 0
    assert counts.ravel()[~keep].sum() == 0
    assert g_test(counts.ravel()[keep], joint.ravel()[keep]) > ALPHA_FA


@pytest.mark.parametrize("activation,N,K,P", [("relu", 10, 4, 70), ("sign", 9, 3, 70), ("relu", 9, 2, 70)])
def test_fc_bitset_delta_energy_of_every_weight_equals_the_brute_force_model(activation, N, K, P):
    from relusim.kernels import bits

    inst, pb, st = fc_machine(activation, N, K, P)
    w = st.w
    bt = bits.new(pb, 1)
    bits.build(pb, st, bt)
    e0 = machine.energy(w[0], inst.xi, inst.sigma, activation, K, FC)
    for i in range(K * N):
        w2 = w[0].copy()
        w2[i] *= -1
        expected = machine.energy(w2, inst.xi, inst.sigma, activation, K, FC) - e0
        assert bits.delta_energy(pb, st, bt, 0, i) == expected
