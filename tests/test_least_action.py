"""The least-action energy of binary weights (docs/algorithms.md §10): exact values, exact moves, exact laws.

L(W) = sum_mu (least number of weight flips, the others held, after which pattern mu is right). The
twin ``brute_least_action`` shares no code with the kernel: it enumerates every weight vector of a
tiny machine, evaluates the network in plain integer arithmetic and takes the least Hamming distance
to one that classifies each pattern right. The laws of the samplers are checked by G-tests against
exp(-beta L) over all 2^N states at a false-alarm rate ALPHA_FA = 1e-3 per comparison (fixed seeds),
with power checks (a chain at a wrong beta, or the law of the error count, must be rejected).
"""
import itertools

import numpy as np
import pytest

from exact_oracle import g_test, lag1_autocorrelation, replicated_laws
from relusim.models import instance, machine as model
from relusim.kernels import fields, least_action, metropolis, replicated
from relusim.kernels import rng as krng

from conftest import make_problem, make_state

ALPHA_FA = 1e-3


def brute_outputs(Wall, xi, K, activation, fc):
    """Integer outputs (states, P) of every weight vector in Wall (states, Nw): sign or ReLU units, c_l as
    docs/model.md §1 (+1 for sign; +1 for the first K/2 ReLU units, -1 for the rest)."""
    P, N = xi.shape
    n = N if fc else N // K
    out = np.zeros((Wall.shape[0], P), np.int64)
    for l in range(K):
        Wl = Wall[:, l * n:(l + 1) * n].astype(np.int64)
        Xl = (xi if fc else xi[:, l * n:(l + 1) * n]).astype(np.int64)
        h = Wl @ Xl.T
        if activation == "sign":
            out += np.sign(h)
        else:
            out += (1 if l < K // 2 else -1) * np.maximum(h, 0)
    return out


class Brute:
    """Every weight vector of a tiny machine and which patterns each gets right."""

    def __init__(self, nw, xi, sigma, K, activation, fc):
        self.Wall = np.array(list(itertools.product((-1, 1), repeat=nw)), np.int8)
        self.right = sigma[None, :] * brute_outputs(self.Wall, xi, K, activation, fc) > 0

    def costs(self, w):
        """L_mu for every pattern: the least Hamming distance from w to a weight vector that gets it right."""
        dist = (self.Wall != w[None, :]).sum(1)
        return np.where(self.right, dist[:, None], 10**9).min(0)


MACHINES = [  # activation, N inputs, K, fully connected, allow even fan-in (sign ties)
    ("sign", 9, 1, False), ("sign", 8, 1, False), ("sign", 9, 3, False), ("sign", 12, 3, False),
    ("sign", 4, 3, True), ("sign", 3, 3, True), ("relu", 8, 2, False), ("relu", 10, 2, False),
    ("relu", 12, 4, False), ("relu", 3, 2, True), ("relu", 4, 2, True), ("relu", 8, 4, False),
]


def machine(activation, N, K, fc, P, seed, y=1):
    inst = instance.make(N, P, seed, 0)
    n = N if fc else N // K
    pb = make_problem(inst, activation, K, n)
    g = np.random.default_rng(seed)
    w = (2 * g.integers(0, 2, (y, K * n)) - 1).astype(np.int8)
    return inst, pb, w


@pytest.mark.parametrize("activation,N,K,fc", MACHINES)
def test_cached_cost_equals_brute_force_hamming_ball_minimum(activation, N, K, fc):
    for seed in range(3):
        inst, pb, w = machine(activation, N, K, fc, 40, seed)
        st = make_state(pb, w)
        la = least_action.new(pb, st)
        L_mu = Brute(w.shape[1], inst.xi, inst.sigma, K, activation, fc).costs(w[0])
        np.testing.assert_array_equal(la.C[0, :len(L_mu)], L_mu)
        assert la.L[0] == L_mu.sum()
        assert (L_mu == 0).sum() == 40 - st.E[0]


@pytest.mark.parametrize("activation,N,K,fc", MACHINES[:8])
def test_model_twin_equals_brute_force_hamming_ball_minimum(activation, N, K, fc):
    inst, pb, w = machine(activation, N, K, fc, 40, 2)
    arch = "fully_connected" if fc else "tree"
    np.testing.assert_array_equal(model.least_action_costs(w[0], inst.xi, inst.sigma, activation, K, arch),
                                  Brute(w.shape[1], inst.xi, inst.sigma, K, activation, fc).costs(w[0]))


@pytest.mark.parametrize("activation,N,K,fc", [
    ("sign", 63, 3, False), ("sign", 60, 3, False), ("sign", 21, 5, True), ("sign", 41, 1, False), ("sign", 40, 1, False),
    ("relu", 40, 2, False), ("relu", 42, 2, False), ("relu", 44, 4, False), ("relu", 13, 4, True), ("relu", 14, 2, True)])
def test_cached_cost_equals_the_model_twin_beyond_brute_force_sizes(activation, N, K, fc):
    """Fan-in 10-41, where no enumeration reaches: states near solutions (few wrong patterns, costs up to
    the caps of the units) and random ones, along an annealed walk at beta = 2."""
    inst, pb, w = machine(activation, N, K, fc, 200, 3)
    arch = "fully_connected" if fc else "tree"
    st = make_state(pb, w)
    la = least_action.new(pb, st)
    for _ in range(3):
        twin = model.least_action_costs(st.w[0], inst.xi, inst.sigma, activation, K, arch)
        np.testing.assert_array_equal(la.C[0, :200], twin)
        assert la.L[0] == twin.sum() and st.E[0] == (twin > 0).sum()
        S = 30
        least_action.run(pb, st, la, np.full(S, 2.0), np.zeros(S), replicated.control(metropolis.NONE),
                         replicated.new_trace(S, 1), np.zeros((S, 1), np.int64), replicated.hybrid_state())


@pytest.mark.parametrize("activation,N,K,fc,P", [m + (30,) for m in MACHINES] + [
    ("sign", 9, 3, False, 150), ("relu", 4, 2, True, 150), ("relu", 8, 2, False, 150), ("sign", 9, 1, False, 150)])  # 3 words of patterns
def test_incremental_delta_cost_equals_recomputed_difference_on_random_walks(activation, N, K, fc, P):
    inst, pb, w = machine(activation, N, K, fc, P, 7)
    st = make_state(pb, w)
    la = least_action.new(pb, st)
    g = np.random.default_rng(3)
    nw = w.shape[1]
    brute = Brute(nw, inst.xi, inst.sigma, K, activation, fc)
    for _ in range(25):
        base = brute.costs(st.w[0]).sum()
        assert la.L[0] == base
        for i in range(nw):
            nerr, dL = least_action.delta_cost(pb, st, la, 0, i)
            w2 = st.w[0].copy()
            w2[i] = -w2[i]
            assert dL == brute.costs(w2).sum() - base
            assert abs(dL) <= P
            E2 = model.energy(w2, inst.xi, inst.sigma, activation, K, "fully_connected" if fc else "tree")
            assert nerr == E2
            if least_action.uses_bits(pb.act, K):  # the perceptron's bitsets give the same two numbers
                assert least_action.delta_cost_bits(pb, st, la, 0, i) == (nerr, dL)
        # walk: flip a random weight with the kernel's own update (a beta = 0 sweep of one proposal)
        i = int(g.integers(nw))
        nerr, dL = least_action.delta_cost(pb, st, la, 0, i)
        least_action.apply_flip(pb, st, la, 0, i, nerr, dL)
        if least_action.uses_bits(pb.act, K):
            least_action.build_bits(st, la)


# --- the sampled laws -------------------------------------------------------------------------------

BETA, GAMMA, Y = 1.0, 0.35, 3
LAW_MACHINES = [("sign", 9, 1, False), ("sign", 9, 3, False), ("relu", 8, 2, False), ("sign", 3, 3, True),
                ("relu", 4, 2, True)]


def exact_costs(activation, N, K, fc, P, seed):
    """(instance, every weight vector, L of each), by the brute-force twin."""
    inst, _, w = machine(activation, N, K, fc, P, seed)
    brute = Brute(w.shape[1], inst.xi, inst.sigma, K, activation, fc)
    nw = w.shape[1]
    D = (nw - brute.Wall.astype(np.int64) @ brute.Wall.T.astype(np.int64)) // 2  # Hamming distances
    L_all = np.zeros(len(D), np.int64)
    for mu in range(P):
        L_all += D[:, brute.right[:, mu]].min(1)
    return inst, brute.Wall, L_all


def cost_law(L_all, beta):
    g = np.bincount(L_all).astype(float)
    p = g * np.exp(-beta * np.arange(len(g)))
    return p / p.sum()


def chain(activation, N, K, fc, P, y, mode, beta, records, thin, seed=7, bits_below=2.0):
    """Observe (L(W^1), ref.W^1, W^1.W^2) every ``thin`` sweeps of least_action.run at constant (beta, gamma)."""
    inst, pb, w = machine(activation, N, K, fc, P, 5, y)
    g = np.random.default_rng(seed)
    ref = (2 * g.integers(0, 2, w.shape[1]) - 1).astype(np.int8) if mode == metropolis.EXPLICIT else np.zeros(0, np.int8)
    st = make_state(pb, w, ref, seed=seed)
    la = least_action.new(pb, st)
    betas, gammas = np.full(thin, beta), np.full(thin, GAMMA if y > 1 else 0.0)
    tr = replicated.new_trace(thin, y)
    costs = np.zeros((thin, y), np.int64)
    ctl = replicated.control(mode, bits_below=bits_below)
    hyb = replicated.hybrid_state()
    out = np.zeros((records, 3), np.int64)
    for r in range(-20, records):
        assert least_action.run(pb, st, la, betas, gammas, ctl, tr, costs, hyb) == thin
        if r >= 0:
            out[r] = la.L[0], int(ref.astype(int) @ st.w[0]) if len(ref) else 0, \
                int(st.w[0].astype(int) @ st.w[1]) if y > 1 else 0
    np.testing.assert_array_equal(costs[-1], la.L)
    return out


@pytest.mark.slow  # compiles a driver (cold: 4-18 s)
@pytest.mark.parametrize("activation,N,K,fc", LAW_MACHINES)
def test_metropolis_on_least_action_samples_exp_minus_beta_L(activation, N, K, fc):
    inst, _, L_all = exact_costs(activation, N, K, fc, 6, 5)
    out = chain(activation, N, K, fc, 6, 1, metropolis.NONE, BETA, 12000, 8)
    assert abs(lag1_autocorrelation(out[:, 0])) < 0.05
    exact = cost_law(L_all, BETA)
    counts = np.bincount(out[:, 0], minlength=len(exact))
    assert len(counts) == len(exact)
    assert g_test(counts, exact) > ALPHA_FA


def test_least_action_law_check_rejects_a_wrong_beta_and_the_error_count_law():
    activation, N, K, fc = LAW_MACHINES[2]
    inst, Wall, L_all = exact_costs(activation, N, K, fc, 6, 5)
    out = chain(activation, N, K, fc, 6, 1, metropolis.NONE, 1.25 * BETA, 12000, 8)
    assert g_test(np.bincount(out[:, 0], minlength=L_all.max() + 1), cost_law(L_all, BETA)) < ALPHA_FA
    # the chain on exp(-beta E) has another law of L: the test tells the two energies apart
    E_all = np.array([model.energy(w, inst.xi, inst.sigma, activation, K) for w in Wall])
    wrong = np.bincount(L_all, weights=np.exp(-BETA * E_all), minlength=L_all.max() + 1)
    out = chain(activation, N, K, fc, 6, 1, metropolis.NONE, BETA, 12000, 8)
    assert g_test(np.bincount(out[:, 0], minlength=L_all.max() + 1), wrong / wrong.sum()) < ALPHA_FA


@pytest.mark.slow  # compiles a driver (cold: 4-18 s)
@pytest.mark.parametrize("N,y,mode", [(9, 1, metropolis.NONE), (8, 1, metropolis.NONE), (9, 3, metropolis.TRACED),
                                      (8, 3, metropolis.EXPLICIT)])
def test_perceptron_bitset_path_runs_the_same_chain_as_the_full_pass(N, y, mode):
    runs = []
    for bits_below in (-1.0, 2.0, 0.5):  # never, always, and switching with the acceptance
        inst, pb, w = machine("sign", N, 1, False, 12, 5, y)
        ref = w[0].copy() if mode == metropolis.EXPLICIT else np.zeros(0, np.int8)
        st = make_state(pb, w, ref, seed=9)
        la = least_action.new(pb, st)
        S = 400
        betas, gammas = np.geomspace(0.2, 3.0, S), np.full(S, 0.3 if y > 1 else 0.0)
        tr = replicated.new_trace(S, y)
        costs = np.zeros((S, y), np.int64)
        ctl = replicated.control(mode, bits_below=bits_below)
        assert least_action.run(pb, st, la, betas, gammas, ctl, tr, costs, replicated.hybrid_state()) == S
        runs.append((st.w.copy(), tr.energies.copy(), costs, tr.accepted.copy(), la.C.copy()))
    for other in runs[1:]:
        for x, z in zip(runs[0], other):
            np.testing.assert_array_equal(x, z)
    rate = runs[0][3] / (N * (y + (mode == metropolis.EXPLICIT)))
    assert rate.max() > 0.5 > rate.min()  # the switching run took both paths


ENSEMBLE_MACHINES = [("relu", 8, 2, False), ("sign", 3, 3, True)]


@pytest.mark.slow  # compiles a driver (cold: 4-18 s)
@pytest.mark.parametrize("activation,N,K,fc", ENSEMBLE_MACHINES)
def test_explicit_ensemble_on_least_action_matches_exact_joint_law(activation, N, K, fc):
    inst, Wall, L_all = exact_costs(activation, N, K, fc, 6, 5)
    nw = Wall.shape[1]
    out = chain(activation, N, K, fc, 6, Y, metropolis.EXPLICIT, BETA, 5000, 12)
    joint, mutual = replicated_laws(L_all, Wall, BETA, GAMMA, Y, int(L_all.max()))
    for col in range(3):
        assert abs(lag1_autocorrelation(out[:, col])) < 0.1
    counts = np.zeros_like(joint)
    np.add.at(counts, (out[:, 0], (out[:, 1] + nw) // 2), 1)
    keep = joint.ravel() > 0
    assert counts.ravel()[~keep].sum() == 0
    assert g_test(counts.ravel()[keep], joint.ravel()[keep]) > ALPHA_FA
    mc = np.bincount((out[:, 2] + nw) // 2, minlength=nw + 1)
    assert g_test(mc[mutual > 0], mutual[mutual > 0]) > ALPHA_FA


@pytest.mark.slow  # compiles a driver (cold: 4-18 s)
@pytest.mark.parametrize("activation,N,K,fc", ENSEMBLE_MACHINES)
def test_traced_ensemble_on_least_action_has_the_exact_replica_marginals(activation, N, K, fc):
    inst, Wall, L_all = exact_costs(activation, N, K, fc, 6, 5)
    nw = Wall.shape[1]
    out = chain(activation, N, K, fc, 6, Y, metropolis.TRACED, BETA, 5000, 12)
    joint, mutual = replicated_laws(L_all, Wall, BETA, GAMMA, Y, int(L_all.max()))
    law = joint.sum(1)
    assert g_test(np.bincount(out[:, 0], minlength=len(law))[law > 0], law[law > 0]) > ALPHA_FA
    mc = np.bincount((out[:, 2] + nw) // 2, minlength=nw + 1)
    assert g_test(mc[mutual > 0], mutual[mutual > 0]) > ALPHA_FA
    if Wall.shape[1] > 8:
        return  # the power check below, once (the exact law costs 4^N)
    # power: the same marginal at a 1.3x coupling is rejected
    _, mutual_wrong = replicated_laws(L_all, Wall, BETA, 1.3 * GAMMA, Y, int(L_all.max()))
    assert g_test(mc[mutual_wrong > 0], mutual_wrong[mutual_wrong > 0]) < ALPHA_FA


# --- whole runs and bad input ------------------------------------------------------------------------

def run_config(activation, N, K, arch, alpha, y, reference="traced", sweeps=300):
    from relusim import config

    d = {"seed": 4, "samples": 1, "model": {"activation": activation, "weights": "binary", "N": N, "K": K,
                                            "alpha": alpha, "architecture": arch},
         "ensemble": {"replicas": y} if y == 1 else {"replicas": y, "reference": reference,
                                                     "gamma": {"start": 0.05, "stop": 3.0}},
         "anneal": {"energy": "least_action", "sweeps": sweeps, "record_every": 50,
                    "beta": {"start": 0.5, "stop": 10.0}}}
    return config.from_dict(d)


@pytest.mark.parametrize("activation,N,K,arch,y,reference", [
    ("sign", 45, 3, "tree", 1, None), ("relu", 40, 4, "tree", 3, "traced"), ("sign", 15, 3, "fully_connected", 1, None),
    ("relu", 16, 2, "fully_connected", 3, "explicit")])
def test_final_cost_is_zero_exactly_when_the_final_errors_are_zero(activation, N, K, arch, y, reference):
    from relusim import anneal

    seen = set()
    for alpha in (0.3, 1.2):  # one density the runs solve, one they cannot
        cfg = run_config(activation, N, K, arch, alpha, y, reference)
        res = anneal.run_sample(cfg, 0)
        cost, energy = res.trace["cost"], res.trace["energy"]
        assert cost.shape == energy.shape == (len(res.trace["sweep"]), y)
        np.testing.assert_array_equal(energy[-1], res.energy)
        np.testing.assert_array_equal(cost[-1] == 0, res.energy == 0)
        assert (cost >= energy).all()  # an error costs at least one flip
        seen.add(bool(res.solved))
    assert seen == {True, False}
    from relusim.execution import runner

    assert runner.kernels_cached(cfg) is True  # the driver a least-action config runs is the one checked


@pytest.mark.parametrize("changes,says", [
    ({"model.weights": "spherical"}, "needs model.weights: binary"),
    ({"model.activation": "tanh", "model.K": 3}, "implemented for sign and relu units, not tanh"),
    ({"anneal.sampler": "rrr"}, "sampled with anneal.sampler: metropolis, not rrr"),
])
def test_unsupported_least_action_combinations_are_refused_in_one_line(changes, says):
    from relusim.errors import InputError

    cfg = run_config("sign", 45, 3, "tree", 0.3, 1)
    with pytest.raises(InputError) as e:
        cfg.replace(**changes)
    assert "anneal.energy" in str(e.value) and says in str(e.value) and "\n" not in str(e.value)


def test_bad_least_action_config_exits_2_with_one_line(tmp_path):
    from cli_helpers import relusim_here, write_config

    d = run_config("sign", 45, 3, "tree", 0.3, 1).to_dict()
    d["model"]["weights"] = "spherical"
    d["output"] = str(tmp_path / "x.h5")
    code, out, err = relusim_here("validate", "--config", write_config(tmp_path / "c.yaml", d))
    assert code == 2 and err.count("\n") == 1 and "anneal.energy" in err and "least_action" in err
    assert not (tmp_path / "x.h5").exists()
