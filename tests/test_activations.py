"""Every activation on binary weights: the registry, the fixed-point table, the kernels against the
brute-force model, and the samplers against exact enumeration (docs/model.md §1, docs/algorithms.md §1, §8).

Exact-law checks: G-tests at a false-alarm rate ALPHA_FA = 1e-3 per comparison (fixed seeds), with a
power check that a chain at a wrong beta fails the same test.
"""
import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss

from exact_oracle import boltzmann_energy_law, energies_of_all, g_test, lag1_autocorrelation
from relusim.models import activations, instance, machine as model
from relusim.errors import InputError
from relusim.kernels import fields, metropolis, replicated
from relusim.kernels import rng as krng

from conftest import make_problem, make_state

ALPHA_FA = 1e-3
SMOOTH = ["tanh", "erf(scale=2)", "quadratic", "relu_shift(shift=0.5)", "softplus", "logistic", "linear"]


def k_for(act):
    return 3 if activations.parse(act).odd else 2


# ------------------------------------------------------------------------------ registry --

@pytest.mark.parametrize("value,label", [
    ("tanh", "tanh"), ("ERF", "erf"), ("erf(scale=1)", "erf"), ("erf(2)", "erf(scale=2)"),
    ({"name": "erf", "scale": 0.5}, "erf(scale=0.5)"), ("relu_shift(shift=-0.25)", "relu_shift(shift=-0.25)"),
    ("relu_shift0.5", "relu_shift(shift=0.5)"), ({"name": "relu_shift", "shift": 1}, "relu_shift(shift=1)"),
])
def test_every_spelling_of_an_activation_has_one_canonical_label(value, label):
    assert activations.parse(value).label == label
    assert activations.parse(label).label == label


@pytest.mark.parametrize("value,needle", [
    ("swish", "allowed"), ("relu_shift", "needs its shift"), ("tanh(scale=2)", "takes no parameter"),
    ("erf(shift=1)", "takes the parameter scale"), ("erf(scale=-1)", "> 0"), ("erf(scale=nan)", "finite"),
    ({"name": "erf", "scale": 1, "shift": 2}, "at most one"), ({"scale": 1}, "needs name"), (3, "allowed"),
])
def test_a_bad_activation_is_an_input_error_naming_the_key(value, needle):
    with pytest.raises(InputError) as e:
        activations.parse(value)
    assert e.value.key == "model.activation" and needle in str(e.value)


def test_odd_activations_read_out_with_plus_one_and_the_others_balanced():
    for name in activations.NAMES:
        spec = activations.parse(name if name != "relu_shift" else "relu_shift(shift=0.3)")
        x = np.linspace(-3, 3, 13)
        assert spec.odd == bool(np.allclose(spec.g(-x), -spec.g(x)))
        c = activations.readout(spec, 4)
        assert list(c) == ([1, 1, 1, 1] if spec.odd else [1, 1, -1, -1])


@pytest.mark.parametrize("act", SMOOTH + ["sign", "relu"])
def test_the_monte_carlo_g_has_the_theory_s_effective_order_parameters(act):
    """Q_eff = Var g(z) and q_eff(q) = Cov[g(x), g(y)] of the samplers' g equal the theory module's for
    the same name, so the two can never hold different activations. Q_eff by Gauss-Hermite; the
    covariance by Monte Carlo (10^6 Gaussian pairs, a 5-sigma band: g may jump, which spoils quadrature)."""
    spec = activations.parse(act)
    th = activations.theory(spec)
    z, wz = hermegauss(200)
    wz = wz / wz.sum()
    mean = wz @ spec.g(z)
    assert wz @ spec.g(z) ** 2 - mean ** 2 == pytest.approx(th.Q_eff, rel=2e-3)
    rng = np.random.default_rng(0)
    x, u = rng.standard_normal((2, 10**6))
    for q in (0.3, 0.8):
        prod = (spec.g(x) - mean) * (spec.g(q * x + math.sqrt(1 - q * q) * u) - mean)
        assert abs(prod.mean() - float(th.q_eff(np.array(q)))) < 5 * prod.std() / 1e3


# --------------------------------------------------------------------------------- table --

@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize("n,K", [(3, 4), (33, 3), (400, 8)])
def test_the_fixed_point_table_is_g_to_within_its_stated_units_including_the_extreme_fields(act, n, K):
    """gq unit = g to within the bound binary_table states (1/2 unit for the polynomial g and H >= 0, 1
    for H < 0, (|H| + 1)/2 for softplus at H < 0, plus gfun's few ulp against NumPy), at every field
    including h = -+sqrt(n); H >= 0 of tanh/erf/logistic/softplus is round(2^S g) of the deterministic g
    (relusim.kernels.gfun) exactly; the int64 margins never overflow."""
    from relusim.kernels import gfun
    spec = activations.parse(act)
    gq, unit = activations.binary_table(spec, n, K)
    H = np.arange(-n, n + 1)
    h = H / math.sqrt(n)
    assert gq.shape == (2 * n + 1,) and gq.dtype == np.int64
    if spec.name in ("tanh", "erf", "logistic", "softplus"):
        S = -math.frexp(unit)[1] + 1
        assert unit == math.ldexp(1.0, -S)
        det = gfun.evaluate_array(spec.code, 0.0 if math.isnan(spec.param) else spec.param, h)
        assert np.array_equal(gq[n:], np.rint(np.ldexp(det[n:], S)).astype(np.int64))
    exact = spec.g(h)
    bound = np.where(H >= 0, 0.5, (np.abs(H) + 1) / 2 if spec.name == "softplus" else 1.0)
    assert np.all(np.abs(gq * unit - exact) <= unit * (bound * (1 + 1e-9)) + 1e-15 * np.abs(exact).max())
    assert K * np.abs(gq).max() < 2**61  # a margin plus one update never overflows int64
    assert unit < 2.0**-40 * np.abs(exact).max()  # resolution far below any difference of g that matters


def test_the_tables_hold_the_identities_of_g_exactly():
    """Odd g antisymmetric, logistic gq[H] + gq[-H] constant, softplus gq[H] - gq[-H] proportional to H,
    quadratic symmetric, linear proportional to H (docs/model.md §1)."""
    for n, K in [(1, 2), (7, 4), (64, 8), (401, 6)]:
        H = np.arange(-n, n + 1)
        for act in ["tanh", "erf", "erf(scale=2)", "linear"]:
            gq = activations.binary_table(activations.parse(act), n, K)[0]
            assert np.array_equal(gq, -gq[::-1]), act
        gq = activations.binary_table(activations.parse("linear"), n, K)[0]
        assert np.all(gq == gq[n + 1] * H)
        gq = activations.binary_table(activations.parse("quadratic"), n, K)[0]
        assert np.all(gq == gq[n + 1] * H * H)
        gq = activations.binary_table(activations.parse("logistic"), n, K)[0]
        assert len(set((gq + gq[::-1]).tolist())) == 1 and gq[n] * 2 == gq[0] + gq[-1]
        gq = activations.binary_table(activations.parse("softplus"), n, K)[0]
        d = gq - gq[::-1]
        assert np.all(d == d[n + 1] * H)


# ------------------------------------------------------------------------ kernels vs twin --

def machine(act, N, K, P, seed, architecture="tree"):
    inst = instance.make(N, P, seed, 0)
    n = model.fan_in(N, K, architecture)
    pb = make_problem(inst, act, K, n)
    nw = model.n_weights(N, K, architecture)
    w = (2 * np.random.default_rng(seed).integers(0, 2, (1, nw)) - 1).astype(np.int8)
    return inst, pb, make_state(pb, w)


@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize("architecture,N", [("tree", 12), ("fully_connected", 6)])
def test_energy_change_of_every_flip_and_cached_margins_match_the_brute_force_model(act, architecture, N):
    """n even (ties of the field and of the output happen) and n odd; after 60 committed flips the cached
    fields and margins equal a rebuild and the energy the brute force."""
    K = 4 if not activations.parse(act).odd else 3
    N = N * K // math.gcd(N, K) if architecture == "tree" else N
    inst, pb, st = machine(act, N, K, 5 * N, seed=3, architecture=architecture)
    assert pb.act == fields.TABLE and st.marg.dtype == np.int64
    E = lambda w: model.energy(w, inst.xi, inst.sigma, act, K, architecture)  # noqa: E731
    g = np.random.default_rng(1)
    for step in range(60):
        i = int(g.integers(st.w.shape[1]))
        if step % 20 == 0:
            for j in range(st.w.shape[1]):
                w2 = st.w[0].copy()
                w2[j] = -w2[j]
                assert fields.delta_energy(pb, st, 0, j) == E(w2) - st.E[0]
        dE = fields.delta_energy(pb, st, 0, i)
        fields.apply_flip(pb, st, 0, i, dE)
        assert st.E[0] == E(st.w[0])
    fresh = make_state(pb, st.w)
    assert np.array_equal(fresh.H, st.H) and np.array_equal(fresh.marg, st.marg)
    out = model.integer_output(st.w[0], inst.xi, act, K, architecture)
    assert np.array_equal(inst.sigma * out, st.marg[0, :inst.xi.shape[0]])


@pytest.mark.parametrize("act", SMOOTH)
def test_tabled_energies_are_the_true_g_energies_including_exact_ties(act):
    """The fixed point changes no error: model.energy counts exactly the patterns whose true output
    sigma sum_l c_l g(h_l) is <= 0 (tests/tie_twin.py: exact arithmetic or mpmath) on random machines,
    and agrees with float64 away from exact ties (float64 turns some ties into +-1e-16, issue 29)."""
    import tie_twin as tw
    spec = activations.parse(act)
    K = 3 if spec.odd else 4
    n = 15
    N, P = n * K, 400
    inst = instance.make(N, P, 9, 0)
    for seed in range(5):
        w = 2 * np.random.default_rng(seed).integers(0, 2, N) - 1
        H = model.unit_fields(w, inst.xi, K).T.astype(np.int64)  # (P, K)
        plus, minus = (H, np.zeros((P, 0), np.int64)) if spec.odd else (H[:, :K // 2], H[:, K // 2:])
        true = np.diagonal(tw.true_signs(act, n, K, spec.odd, plus, minus))
        assert model.energy(w, inst.xi, inst.sigma, act, K) == np.count_nonzero(inst.sigma * true <= 0)
        out = activations.readout(spec, K) @ spec.g(H.T / math.sqrt(n))
        away = true != 0
        assert np.array_equal((inst.sigma * out <= 0)[away], (inst.sigma * true <= 0)[away])


@pytest.mark.parametrize("act,table", [("relu", "relu_shift(shift=0)"), ("sign", "linear")])
@pytest.mark.slow
def test_a_tabled_relu_chain_is_the_integer_relu_chain_bit_for_bit(act, table):
    """relu_shift(shift=0) is ReLU through the table: with the same draws the chain must make the same
    moves as the int16 kernel (a test of the TABLE loops' bookkeeping over thousands of flips). For
    sign the table path of 'linear' is a different machine, so only its acceptance bookkeeping runs."""
    K = 2 if act == "relu" else 3
    N, P = 60, 40
    inst = instance.make(N, P, 4, 0)
    w0 = (2 * np.random.default_rng(2).integers(0, 2, (1, N)) - 1).astype(np.int8)
    runs = []
    for a in (act, table):
        pb = make_problem(inst, a, K, N // K)
        st = make_state(pb, w0, seed=5)
        en, acc = np.zeros(300, np.int64), np.zeros(300, np.int64)
        metropolis.sweeps(pb, st, np.geomspace(0.5, 4.0, 300), False, en, acc)
        assert st.E[0] == model.energy(st.w[0], inst.xi, inst.sigma, a, K)
        runs.append((st.w.copy(), en))
    if act == "relu":
        assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


# ------------------------------------------------------------------------ exact samplers --

EXACT = [("tanh", 9, 3, 6, 1.0, 10), ("quadratic", 8, 2, 6, 1.0, 25)]


def metropolis_energies(act, N, K, P, beta, thin=10, kept=10000):
    inst, pb, st = machine(act, N, K, P, seed=5)
    st = st._replace(rng=krng.new_state(np.random.SeedSequence(11)))
    S = thin * kept + 200
    en, acc = np.zeros(S, np.int64), np.zeros(S, np.int64)
    metropolis.sweeps(pb, st, np.full(S, beta), False, en, acc)
    return inst, en[200::thin]


@pytest.mark.parametrize("act,N,K,P,beta,thin", EXACT)
def test_metropolis_with_a_smooth_activation_samples_the_exact_boltzmann_law(act, N, K, P, beta, thin):
    inst, kept = metropolis_energies(act, N, K, P, beta, thin)
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, act, K), beta, P)
    assert abs(lag1_autocorrelation(kept)) < 0.05
    assert g_test(np.bincount(kept, minlength=P + 1), exact) > ALPHA_FA


def test_the_smooth_activation_exact_check_rejects_a_wrong_beta():
    act, N, K, P, beta, thin = EXACT[0]
    inst, kept = metropolis_energies(act, N, K, P, 1.3 * beta, thin)
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, act, K), beta, P)
    assert g_test(np.bincount(kept, minlength=P + 1), exact) < ALPHA_FA


@pytest.mark.slow
def test_rrr_with_a_smooth_activation_samples_the_exact_boltzmann_law():
    act, N, K, P, beta, _ = EXACT[0]
    inst, pb, st0 = machine(act, N, K, P, seed=5)
    st = make_state(pb, st0.w, seed=3)
    thin, S = 5, 100 + 6000 * 5
    tr = replicated.new_trace(S, 1)
    replicated.run(pb, st, np.full(S, beta), np.zeros(S), replicated.control(metropolis.NONE, True, 2.0), tr,
                   replicated.hybrid_state())
    assert tr.rrr_used.all()
    kept = tr.energies[100::thin, 0]
    assert abs(lag1_autocorrelation(kept)) < 0.1
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, act, K), beta, P)
    assert g_test(np.bincount(kept, minlength=P + 1), exact) > ALPHA_FA
