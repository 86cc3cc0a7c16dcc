"""Spherical weights: the rotation kernels against the brute-force model (``relusim.models.machine`` in float64).

Twins: Delta E of a rotation = E(rotated weights) - E(weights) from scratch; the cached fields after
many accepted moves = a fresh computation; the norms |W_l|^2 = n kept by the rotations and restored
by the rebuild. Tree and fully connected, sign and ReLU against ``relusim.models.machine``; the other
activations (tanh, erf with input scale 2, quadratic, shifted ReLU, softplus, logistic, linear)
against margins computed in this file with NumPy/SciPy.
"""
import math

import numpy as np
import pytest
from scipy import special

from relusim.models import instance, machine as model
from relusim.kernels import detmath, spherical, spherical_mc
from relusim.priors import spherical as spherical_prior
from relusim.kernels import rng as _rng

CASES = [("sign", "tree", 45, 3, 60), ("relu", "tree", 40, 4, 70), ("sign", "fully_connected", 12, 3, 50),
         ("relu", "fully_connected", 10, 2, 40)]


def machine(activation, architecture, N, K, P, seed=5, y=1, explicit=False, precision="float64", cost="errors"):
    inst = instance.make(N, P, seed, 0)
    n = model.fan_in(N, K, architecture)
    prob = spherical_prior.problem_arrays(inst.xi, inst.sigma, model.output_weights(activation, K), n, activation,
                                    cost=cost)
    u = 1.0 - np.random.default_rng(seed).random((y + 1, K * n))
    W = spherical.gaussian_sphere(u, n)
    st = spherical.new_state(W[:y], W[y] if explicit else np.zeros(0), P, K,
                             _rng.new_state(np.random.SeedSequence(seed)), precision)
    spherical_mc.rebuild(prob, st, spherical_mc.EXPLICIT if explicit else spherical_mc.NONE)
    return inst, prob, st, n


def random_rotation(g, st, n, K):
    """A move (0, l, i, j, wi', wj') of replica 0: unit l, coordinates i != j, theta ~ U(-pi, pi)."""
    l = int(g.integers(K))
    i, j = (l * n + g.choice(n, 2, replace=False)).tolist()
    sn, cs = detmath.sincos(g.uniform(-math.pi, math.pi))
    return (0, l, i, j, *spherical.rotated(st, 0, i, j, cs, sn))


def brute(inst, w, activation, K, architecture):
    return model.energy(w, inst.xi, inst.sigma, activation, K, architecture)


@pytest.mark.parametrize("activation,architecture,N,K,P", CASES)
def test_rotation_delta_energy_equals_the_brute_force_change(activation, architecture, N, K, P):
    inst, prob, st, n = machine(activation, architecture, N, K, P)
    g = np.random.default_rng(1)
    nonzero = 0
    for step in range(400):
        move = random_rotation(g, st, n, K)
        _, l, i, j, wi, wj = move
        dE = spherical.delta_energy(prob, st, move)
        w2 = st.w[0].copy()
        w2[i], w2[j] = wi, wj
        E0 = brute(inst, st.w[0], activation, K, architecture)
        assert E0 == st.E[0]
        assert dE == brute(inst, w2, activation, K, architecture) - E0, step
        nonzero += dE != 0
        if step % 2 == 0:  # walk on: the cases below reach other states
            spherical.apply(prob, st, move)
            st.E[0] += dE
    assert nonzero > 100  # the moves do change the energy


@pytest.mark.parametrize("activation,architecture,N,K,P", CASES)
def test_cached_fields_and_norms_after_many_accepted_moves_equal_a_fresh_computation(activation, architecture, N,
                                                                                   K, P):
    inst, prob, st, n = machine(activation, architecture, N, K, P)
    etab = np.empty(2 * prob.XT.shape[1] + 1)
    spherical_mc.fill_etab(etab, 0.3, prob.XT.shape[1])
    acc = sum(spherical_mc.sweep(prob, st, spherical_mc.NONE, etab, 0.0, 1.0, 0.3) for _ in range(3000))
    assert acc > 3000 * st.w.shape[1] // 4  # many accepted moves, no rebuild in between
    H = model.unit_fields(st.w[0], inst.xi, K, architecture)
    drift = np.abs(st.H[0][:, :P] - H).max() / math.sqrt(n)
    norms = np.array([st.w[0, l * n:(l + 1) * n] @ st.w[0, l * n:(l + 1) * n] / n - 1 for l in range(K)])
    assert drift < 1e-10 and np.abs(norms).max() < 1e-10, (drift, norms)
    assert st.E[0] == brute(inst, st.w[0], activation, K, architecture)
    out = model.integer_output(st.w[0], inst.xi, activation, K, architecture)
    assert np.abs(st.marg[0, :P] - inst.sigma * out).max() < 1e-9
    if activation == "relu":
        assert np.array_equal(st.nact[0, :P], (H > 0).sum(0))
    spherical_mc.rebuild(prob, st, spherical_mc.NONE)
    norms = [math.fsum(st.w[0, l * n:(l + 1) * n] ** 2) / n - 1 for l in range(K)]
    assert np.abs(norms).max() < 4e-16 * n


def test_the_explicit_ensemble_keeps_the_replica_sums_and_the_reference_on_its_spheres():
    inst, prob, st, n = machine("relu", "tree", 40, 4, 30, y=3, explicit=True)
    etab = np.empty(2 * prob.XT.shape[1] + 1)
    spherical_mc.fill_etab(etab, 0.5, prob.XT.shape[1])
    ref0 = st.ref.copy()
    for _ in range(500):
        spherical_mc.sweep(prob, st, spherical_mc.EXPLICIT, etab, 3.0, 1.0, 0.5)
    assert np.abs(st.m - st.w.sum(0)).max() < 1e-11
    assert not np.array_equal(st.ref, ref0)
    for l in range(4):
        assert abs(st.ref[l * n:(l + 1) * n] @ st.ref[l * n:(l + 1) * n] / n - 1) < 1e-12
    for a in range(3):
        assert st.E[a] == brute(inst, st.w[a], "relu", 4, "tree")


@pytest.mark.parametrize("activation", ["linear", "tanh", "relu_shift(shift=0.5)", "softplus"])
def test_at_beta_zero_the_explicit_ensemble_runs_the_same_chain_for_every_activation(activation):
    """At beta = 0 only the coupling gamma sum_a Wt . W^a / n decides a move, and the draws do not depend on
    g: every activation's loop must give ReLU's chain (the loops of the other codes once read the coupling
    from a name their pattern loop reused for g of a new field)."""
    chains = []
    for act in ("relu", activation):
        inst, prob, st, n = machine(act, "tree", 40, 4, 30, y=3, explicit=True)
        etab = np.ones(2 * prob.XT.shape[1] + 1)
        for _ in range(20):
            spherical_mc.sweep(prob, st, spherical_mc.EXPLICIT, etab, 3.0, 1.0, 0.0)
        chains.append((st.w.copy(), st.ref.copy()))
    np.testing.assert_array_equal(chains[0][0], chains[1][0])
    np.testing.assert_array_equal(chains[0][1], chains[1][1])


def test_a_zero_relu_output_is_an_error_even_when_rounding_leaves_a_tiny_positive_margin():
    inst, prob, st, n = machine("relu", "tree", 8, 2, 40)
    dead = np.flatnonzero(st.nact[0, :40] == 0)  # no active unit: out = 0 exactly, an error
    assert len(dead) > 0 and st.E[0] == brute(inst, st.w[0], "relu", 2, "tree")
    st.marg[0, dead] = 1e-17  # what accumulated rounding can leave instead of 0
    null_move = (0, 0, 0, 1, st.w[0, 0], st.w[0, 1])
    assert spherical.delta_energy(prob, st, null_move) == 0


def test_sincos_is_within_a_few_ulp_of_libm():
    x = np.random.default_rng(3).uniform(-math.pi, math.pi, 5000)
    s = np.array([detmath.sincos(v) for v in x])
    assert np.abs(s[:, 0] - np.sin(x)).max() < 1e-15 and np.abs(s[:, 1] - np.cos(x)).max() < 2e-15


# Every other activation: margin = sigma sum_l c_l g(H_l / sqrt(n)), computed here from scratch with
# NumPy/SciPy (not through relusim.models.machine); c_l = +1 for the odd g, +1 then -1 (K even) for the others.
G_REF = {
    "tanh": (np.tanh, True),
    "erf": (lambda x: special.erf(2.0 * x), True),  # input scale 2
    "quadratic": (lambda x: x * x, False),
    "relu_shift": (lambda x: np.maximum(x - 0.5, 0.0), False),
    "softplus": (lambda x: np.logaddexp(0.0, x), False),
    "logistic": (special.expit, False),
    "linear": (lambda x: x, True),
}
G_PARAM = {"erf": 2.0, "relu_shift": 0.5}
G_CASES = [(act, arch) for act in ("tanh", "erf", "quadratic", "relu_shift", "softplus")
           for arch in ("tree", "fully_connected")] + [("logistic", "tree"), ("linear", "fully_connected")]


def readout(activation, K):
    return np.ones(K) if G_REF[activation][1] else np.where(np.arange(K) < K // 2, 1.0, -1.0)


def fields_np(w, xi, K, n, architecture):
    W = w.reshape(K, n)
    if architecture == "tree":
        return np.einsum("pkn,kn->kp", xi.reshape(xi.shape[0], K, n).astype(float), W)
    return W @ xi.T.astype(float)


def margins_np(w, inst, activation, K, n, architecture):
    x = fields_np(w, inst.xi, K, n, architecture) / math.sqrt(n)
    return inst.sigma * (readout(activation, K)[:, None] * G_REF[activation][0](x)).sum(0), x


def energy_np(w, inst, activation, K, n, architecture):
    return int((margins_np(w, inst, activation, K, n, architecture)[0] <= 0).sum())


def generic_machine(activation, architecture, seed=5, y=1):
    N, K, P = (40, 4, 70) if architecture == "tree" else (10, 2, 50)
    inst = instance.make(N, P, seed, 0)
    n = model.fan_in(N, K, architecture)
    prob = spherical_prior.problem_arrays(inst.xi, inst.sigma, readout(activation, K), n, activation,
                                    G_PARAM.get(activation))
    u = 1.0 - np.random.default_rng(seed).random((y + 1, K * n))
    W = spherical.gaussian_sphere(u, n)
    st = spherical.new_state(W[:y], np.zeros(0), P, K, _rng.new_state(np.random.SeedSequence(seed)))
    spherical_mc.rebuild(prob, st, spherical_mc.NONE)
    return inst, prob, st, n, K, P


@pytest.mark.parametrize("activation,architecture", G_CASES)
def test_generic_activation_rotation_delta_energy_equals_the_brute_force_change(activation, architecture):
    inst, prob, st, n, K, P = generic_machine(activation, architecture)
    g = np.random.default_rng(1)
    nonzero = 0
    for step in range(300):
        move = random_rotation(g, st, n, K)
        _, l, i, j, wi, wj = move
        dE = spherical.delta_energy(prob, st, move)
        w2 = st.w[0].copy()
        w2[i], w2[j] = wi, wj
        E0 = energy_np(st.w[0], inst, activation, K, n, architecture)
        assert E0 == st.E[0], step
        assert dE == energy_np(w2, inst, activation, K, n, architecture) - E0, step
        nonzero += dE != 0
        if step % 2 == 0:
            spherical.apply(prob, st, move)
            st.E[0] += dE
    assert nonzero > 60


@pytest.mark.parametrize("activation,architecture", G_CASES)
def test_generic_activation_caches_after_many_accepted_moves_equal_a_fresh_computation(activation, architecture):
    # 400 sweeps with no rebuild in between: 50 times the driver's REBUILD_EVERY
    inst, prob, st, n, K, P = generic_machine(activation, architecture)
    etab = np.empty(2 * prob.XT.shape[1] + 1)
    spherical_mc.fill_etab(etab, 0.3, prob.XT.shape[1])
    acc = sum(spherical_mc.sweep(prob, st, spherical_mc.NONE, etab, 0.0, 1.0, 0.3) for _ in range(400))
    assert acc > 400 * st.w.shape[1] // 4
    marg, x = margins_np(st.w[0], inst, activation, K, n, architecture)
    assert np.abs(st.H[0][:, :P] / math.sqrt(n) - x).max() < 1e-12
    assert np.abs(st.marg[0, :P] - marg).max() < 1e-12
    if spherical.costly(prob.act):
        assert np.abs(st.G[0][:, :P] - G_REF[activation][0](x)).max() < 1e-12
    if activation == "relu_shift":
        assert np.array_equal(st.nact[0, :P], (x > 0.5).sum(0))
    assert st.E[0] == energy_np(st.w[0], inst, activation, K, n, architecture)
    before = (st.E.copy(), st.marg.copy())
    spherical_mc.rebuild(prob, st, spherical_mc.NONE)
    assert st.E[0] == before[0][0] and np.abs(st.marg - before[1]).max() < 1e-12


def test_a_zero_shifted_relu_output_is_an_error_even_when_rounding_leaves_a_tiny_positive_margin():
    inst, prob, st, n, K, P = generic_machine("relu_shift", "tree")
    dead = np.flatnonzero(st.nact[0, :P] == 0)  # no unit above the shift: out = 0 exactly, an error
    assert len(dead) > 0 and st.E[0] == energy_np(st.w[0], inst, "relu_shift", K, n, "tree")
    st.marg[0, dead] = 1e-17
    assert spherical.delta_energy(prob, st, (0, 0, 0, 1, st.w[0, 0], st.w[0, 1])) == 0


def test_activation_names_give_their_codes_and_default_parameters():
    from relusim.errors import InputError
    from relusim.kernels import gfun
    assert spherical_prior.act_code_param("relu_shift(shift=0.5)") == (gfun.RELU_SHIFT, 0.5)
    assert spherical_prior.act_code_param("erf") == (gfun.ERF, 1.0)
    assert spherical_prior.act_code_param("erf(scale=2)") == (gfun.ERF, 2.0)
    with pytest.raises(InputError, match="shift"):
        spherical_prior.act_code_param("relu_shift")
    assert spherical_prior.act_code_param("sign") == (gfun.SIGN, 0.0) and spherical_prior.act_code("relu") == gfun.RELU
    assert {spherical_prior.act_code(a) for a in ("linear", "quadratic", "tanh", "logistic", "softplus")} == {
        gfun.LINEAR, gfun.QUADRATIC, gfun.TANH, gfun.LOGISTIC, gfun.SOFTPLUS}
    with pytest.raises(InputError, match="gelu"):
        spherical_prior.act_code_param("gelu")


# anneal.energy: perceptron (sign and ReLU): the cost L kept beside E, against ``model.perceptron_cost``
def cost_machine(activation, architecture, N, K, P):
    inst = instance.make(N, P, 5, 0)
    n = model.fan_in(N, K, architecture)
    prob = spherical_prior.problem_arrays(inst.xi, inst.sigma, model.output_weights(activation, K), n, activation,
                                    cost="perceptron")
    W = spherical.gaussian_sphere(1.0 - np.random.default_rng(5).random((1, K * n)), n)
    st = spherical.new_state(W, np.zeros(0), P, K, _rng.new_state(np.random.SeedSequence(5)))
    spherical_mc.rebuild(prob, st, spherical_mc.NONE)
    return inst, prob, st, n


def brute_cost(inst, w, activation, K, architecture):
    return model.perceptron_cost(w, inst.xi, inst.sigma, activation, K, architecture)


@pytest.mark.parametrize("activation,architecture,N,K,P", CASES)
def test_rotation_delta_cost_equals_the_brute_force_change(activation, architecture, N, K, P):
    inst, prob, st, n = cost_machine(activation, architecture, N, K, P)
    assert abs(st.L[0] - brute_cost(inst, st.w[0], activation, K, architecture)) < 1e-10
    g = np.random.default_rng(2)
    nonzero = 0
    for step in range(300):
        move = random_rotation(g, st, n, K)
        _, l, i, j, wi, wj = move
        dL = spherical.delta_cost(prob, st, move)
        w2 = st.w[0].copy()
        w2[i], w2[j] = wi, wj
        L0 = brute_cost(inst, st.w[0], activation, K, architecture)
        assert abs(dL - (brute_cost(inst, w2, activation, K, architecture) - L0)) < 1e-9, step
        nonzero += abs(dL) > 1e-9
        if step % 2 == 0:
            st.E[0] += spherical.delta_energy(prob, st, move)
            spherical.apply(prob, st, move)
            st.L[0] += dL
    assert nonzero > 100


@pytest.mark.parametrize("activation,architecture,N,K,P", CASES)
def test_perceptron_sweeps_keep_the_cost_and_errors_equal_to_a_fresh_computation(activation, architecture, N, K, P):
    inst, prob, st, n = cost_machine(activation, architecture, N, K, P)
    etab = np.empty(2 * prob.XT.shape[1] + 1)
    spherical_mc.fill_etab(etab, 2.0, prob.XT.shape[1])  # read by the error energy only: must not matter
    L0 = st.L[0]
    acc = sum(spherical_mc.sweep(prob, st, spherical_mc.NONE, etab, 0.0, 1.0, 2.0) for _ in range(1000))
    assert acc > 1000 * st.w.shape[1] // 10
    assert st.E[0] == brute(inst, st.w[0], activation, K, architecture)
    assert abs(st.L[0] - brute_cost(inst, st.w[0], activation, K, architecture)) < 1e-9
    assert st.L[0] < L0  # beta = 2 on the cost lowers it from a random start
    S = st.S[0].copy()
    spherical_mc.rebuild(prob, st, spherical_mc.NONE)
    assert np.abs(S - st.S[0]).max() < 1e-9
