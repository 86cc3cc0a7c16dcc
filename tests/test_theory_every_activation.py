"""Every activation the samplers take has a theory answer, and each answer meets a known value or limit.

`relusim theory capacity` runs once for all activations and both priors (module fixture); the
checks are the published values (docs/reference_values.md §1), our computed-here values (§2, §4),
closed forms (docs/theory.md §3, §9) and inequalities every activation must obey.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import norm

from relusim.errors import InputError
from relusim.theory.activations import (FAMILIES, G, REGISTRY, _bivariate, erf_, from_function,
                                        g_numpy, get_activation, is_odd, split_name)
from relusim.cli.theory import theory_group
from relusim.theory.rs import (at_lhs_limit, capacity_rs, capacity_rs_spherical,
                               capacity_rs_spherical_limit)

ALL = ["perceptron", "linear", "sign", "relu", "erf", "tanh", "quadratic", "logistic", "softplus",
       "relu_shift(shift=0.5)", "relu_shift(shift=-0.5)", "relu_shift(shift=1.0)", "erf(scale=0.5)", "erf(scale=2)",
       "relu_shift0.5", "erf_scale2"]  # the older spelling, read too
LINEAR = {"perceptron", "linear"}


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """The CLI's capacity table for ALL x {binary, spherical}, keyed by (activation name, weights)."""
    js = tmp_path_factory.mktemp("cap") / "cap.json"
    res = CliRunner().invoke(theory_group, ["capacity", "--activation", ",".join(ALL),
                                            "--weights", "binary,spherical", "--json", str(js)])
    assert res.exit_code == 0, res.output
    out = {}
    for r in json.loads(js.read_text()):
        out[r["activation"], r["weights"]] = r
    return out


def _row(rows, name, w):
    return rows[get_activation(name).name, w]


@pytest.mark.parametrize("name", ALL)
def test_every_activation_has_finite_positive_capacities_and_an_rs_instability(rows, name):
    for w in ("binary", "spherical"):
        r = _row(rows, name, w)
        assert r["alpha_at"] is not None and r["alpha_at"] > 0, r
        if name == "sign" and w == "spherical":
            assert r["alpha_c_rs"] is None and r["alpha_c_1rsb"] is None and "diverges" in r["note"]
            continue
        assert np.isfinite(r["alpha_c_rs"]) and r["alpha_c_rs"] > 0, r
        if w == "spherical":
            assert np.isfinite(r["alpha_c_1rsb"]) and r["alpha_c_1rsb"] > 0, r


@pytest.mark.parametrize("name", ALL)
def test_binary_rs_capacity_obeys_the_annealed_bound_alpha_le_1(rows, name):
    # E #solutions = 2^N 2^-P for random labels, whatever g: alpha_c <= 1
    assert _row(rows, name, "binary")["alpha_c_rs"] <= 1.0 + 1e-9


@pytest.mark.parametrize("name", [a for a in ALL if a != "sign"])
def test_spherical_rs_capacity_is_at_least_gardner_by_the_gaussian_poincare_inequality(rows, name):
    # alpha_c = 2 E g'^2 / Var g >= 2, equality iff g is affine
    a = _row(rows, name, "spherical")["alpha_c_rs"]
    if name in LINEAR:
        assert a == pytest.approx(2.0, abs=1e-12)
    else:
        assert a > 2.0 + 1e-4


@pytest.mark.parametrize("name", [a for a in ALL if a != "sign"])
def test_spherical_1rsb_capacity_is_below_rs_for_nonlinear_and_equal_for_linear(rows, name):
    r = _row(rows, name, "spherical")
    if name in LINEAR:
        assert r["alpha_c_1rsb"] == pytest.approx(2.0, abs=1e-6)
    else:
        assert r["alpha_c_1rsb"] < r["alpha_c_rs"] - 1e-4


@pytest.mark.parametrize("name", [a for a in ALL if a != "sign"])
def test_spherical_rs_goes_unstable_before_capacity_unless_linear(rows, name):
    r = _row(rows, name, "spherical")
    if name in LINEAR:
        assert at_lhs_limit(name) == pytest.approx(1.0) and r["alpha_at"] == pytest.approx(2.0)
    else:
        assert at_lhs_limit(name) > 1.0 + 1e-3
        assert r["alpha_at"] < r["alpha_c_rs"]


# published values (docs/reference_values.md §1) and our independently checked ones (§2, §4)
@pytest.mark.parametrize("name, weights, key, expected, tol", [
    ("perceptron", "binary", "alpha_c_rs", 0.833079, 1e-5),      # Krauth & Mezard 1989
    ("perceptron", "binary", "alpha_at", 1.015, 1e-3),           # Gardner & Derrida 1988
    ("perceptron", "spherical", "alpha_c_rs", 2.0, 1e-12),       # Gardner 1988
    ("linear", "spherical", "alpha_c_1rsb", 2.0, 1e-6),
    ("sign", "binary", "alpha_c_rs", 0.94695, 2e-5),             # computed here, §2
    ("sign", "spherical", "alpha_at", 2.9878, 2e-3),
    ("relu", "binary", "alpha_c_rs", 0.90399, 2e-5),
    ("relu", "spherical", "alpha_c_rs", 2 * np.pi / (np.pi - 1), 1e-9),
    ("relu", "spherical", "alpha_at", 1.7212, 2e-3),
    ("relu", "spherical", "alpha_c_1rsb", 2.6643, 2e-3),
    ("erf", "spherical", "alpha_c_rs", 4 / (np.sqrt(5) * np.arcsin(2 / 3)), 1e-9),
    ("quadratic", "spherical", "alpha_c_rs", 4.0, 1e-12),        # 2 E[(2x)^2] / Var x^2
    ("quadratic", "spherical", "alpha_at", np.pi / 4, 1e-9),     # end of the q = 0 saddle
    ("quadratic", "binary", "alpha_at", np.pi / 4, 1e-9),
])
def test_capacity_table_matches_published_and_closed_form_values(rows, name, weights, key, expected, tol):
    assert _row(rows, name, weights)[key] == pytest.approx(expected, abs=tol)


def test_quadratic_rs_branch_is_unstable_everywhere_and_says_so(rows):
    for w in ("binary", "spherical"):
        assert "RS-unstable everywhere" in _row(rows, "quadratic", w)["note"]


@pytest.mark.parametrize("b", [0.5, -0.5, 1.0])
def test_shifted_relu_spherical_capacity_matches_its_closed_form(rows, b):
    # E g'^2 = H(b); Var g = (1+b^2) H(b) - b N(b) - (N(b) - b H(b))^2
    H, N = norm.sf(b), norm.pdf(b)
    var = (1 + b * b) * H - b * N - (N - b * H) ** 2
    assert _row(rows, f"relu_shift{b}", "spherical")["alpha_c_rs"] == pytest.approx(2 * H / var, rel=1e-9)


@pytest.mark.parametrize("name", ["tanh", "logistic", "softplus", "erf_scale2"])
def test_spherical_capacity_closed_form_equals_the_q_to_1_limit_of_alpha_q(name):
    assert capacity_rs_spherical_limit(name) == pytest.approx(capacity_rs_spherical(name), rel=1e-5)


def test_logistic_has_the_kernel_of_tanh_half_since_rho_ignores_affine_maps():
    # logistic = 1/2 + tanh(x/2)/2: rho (hence every capacity) is that of tanh(x/2)
    t = from_function("tanh_half", lambda x: np.tanh(x / 2), lambda x: 0.5 / np.cosh(x / 2) ** 2)
    q = np.array([0.1, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(get_activation("logistic").rho(q), t.rho(q), atol=1e-12)
    assert get_activation("logistic").drho1 == pytest.approx(t.drho1, rel=1e-12)


# --- erf with an input scale (Williams 1997) ----------------------------------------------------

@pytest.mark.parametrize("a", [0.5, 2.0])
def test_scaled_erf_closed_form_matches_the_generic_quadrature_path(a):
    dg = lambda x: 2 * a / np.sqrt(np.pi) * np.exp(-(a * x) ** 2)  # noqa: E731
    # split panels at 0: plain Gauss-Hermite(121) resolves the steep erf(2x) only to 1e-8
    generic = from_function("erf_generic", g_numpy("erf", scale=a), dg, lambda x: -2 * a * a * x * dg(x),
                            kinks=(0.0,))
    closed = erf_(a)
    q = np.array([0.0, 0.2, 0.5, 0.8, 0.95, 1.0])
    assert closed.Q_eff == pytest.approx(generic.Q_eff, rel=1e-10)
    np.testing.assert_allclose(closed.q_eff(q), generic.q_eff(q), atol=1e-10)
    np.testing.assert_allclose(closed.drho(q), generic.drho(q), rtol=1e-10)
    np.testing.assert_allclose(closed.d2rho(q), generic.d2rho(q), rtol=1e-10, atol=1e-12)
    assert closed.drho1 == pytest.approx(generic.drho1, rel=1e-8)


def test_erf_without_a_scale_is_scale_one_and_keeps_its_name():
    assert erf_().name == "erf" and get_activation("erf(scale=1)").name == "erf"
    assert erf_(2.0).name == "erf(scale=2)" and get_activation("erf(scale=2)").Q_eff == erf_(2.0).Q_eff
    assert get_activation("erf_scale1").name == "erf" and get_activation("erf_scale2").name == "erf(scale=2)"
    assert erf_().Q_eff == pytest.approx(2 / np.pi * np.arcsin(2 / 3), rel=1e-15)


def test_scaled_erf_tends_to_the_perceptron_and_to_sign():
    assert capacity_rs("erf_scale0.01", "binary") == pytest.approx(0.833079, abs=1e-5)
    assert capacity_rs("erf_scale0.01", "spherical") == pytest.approx(2.0, abs=1e-4)
    q = np.array([0.3, 0.8])
    np.testing.assert_allclose(erf_(1e4).rho(q), get_activation("sign").rho(q), atol=1e-4)  # ~ 1/a
    b = [capacity_rs(f"erf_scale{a}", "binary") for a in (2, 20, 100)]
    assert b[0] < b[1] < b[2] < capacity_rs("sign", "binary") and b[2] == pytest.approx(0.94695, abs=1e-3)
    # spherical: 2 c / (sqrt(1 - c^2) arcsin c) ~ 4a/pi, diverging like sign's
    assert capacity_rs("erf_scale1000", "spherical") * np.pi / 4000 == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("bad", ["erf_scale0", "erf_scale-1", "erf_scalex", "relu_shiftnan", "swish"])
def test_bad_parametrised_names_are_input_errors(bad):
    with pytest.raises(InputError):
        get_activation(bad)


# --- one definition of g for the theory and the Monte Carlo --------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_every_kernel_is_the_gaussian_covariance_of_its_numpy_g(name):
    """Q_eff and q_eff(q) of the theory (closed form or quadrature) = Cov[g(x), g(y)] of g_numpy(name)."""
    act = get_activation(name)
    family, params = split_name(name)
    kinks = (params["shift"],) if family == "relu_shift" else (0.0,)  # Legendre panels split there
    g = g_numpy(name)
    assert act.g is g or np.array_equal(act.g(np.linspace(-4, 4, 41)), g(np.linspace(-4, 4, 41)))
    one = lambda y: np.ones_like(y)  # noqa: E731
    mean = float(_bivariate(g, one, np.ones(1), 80, kinks)[0])
    q = np.array([0.0, 0.3, 0.7, 0.99, 1.0])
    cov = _bivariate(g, g, q, 80, kinks) - mean ** 2
    np.testing.assert_allclose(cov, act.q_eff(q), atol=1e-9)
    assert act.Q_eff == pytest.approx(cov[-1], abs=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_is_odd_says_whether_g_of_minus_x_is_minus_g_of_x(name):
    x = np.linspace(-5, 5, 101)
    g = g_numpy(name)
    assert is_odd(name) == bool(np.array_equal(g(-x), -g(x)))


def test_g_numpy_takes_parameters_as_keywords_or_in_the_name():
    x = np.linspace(-3, 3, 13)
    assert np.array_equal(g_numpy("relu_shift", shift=0.5)(x), g_numpy("relu_shift0.5")(x))
    assert np.array_equal(g_numpy("erf", scale=2)(x), g_numpy("erf_scale2")(x))
    assert np.array_equal(g_numpy("erf")(x), G["erf"](x)) and g_numpy("perceptron") is G["linear"]
    assert set(G) | {"relu_shift"} == set(FAMILIES) and set(REGISTRY) - {"perceptron"} <= set(G)
    assert g_numpy("sign")(np.array([0.0]))[0] == 0.0  # sgn 0 = 0, as the samplers use
    assert np.all(np.isfinite(g_numpy("softplus")(np.array([-1e4, 1e4]))))
    assert np.all(np.isfinite(g_numpy("logistic")(np.array([-1e4, 1e4]))))


@pytest.mark.parametrize("call", [lambda: g_numpy("relu_shift"), lambda: g_numpy("tanh", scale=2),
                                  lambda: g_numpy("erf", shift=1), lambda: g_numpy("erf", scale=0),
                                  lambda: g_numpy("relu_shift", shift=float("inf")), lambda: g_numpy("gelu")])
def test_g_numpy_bad_names_and_parameters_are_input_errors(call):
    with pytest.raises(InputError):
        call()


def test_parametrised_names_read_back_exactly():
    for name in ("relu_shift(shift=0.1234567891)", "erf(scale=3.3333333333)", "relu_shift-2"):
        act = get_activation(name)
        assert get_activation(act.name).q_eff(0.5) == act.q_eff(0.5)
        assert split_name(act.name) == split_name(name)


def test_monte_carlo_definition_of_g_is_the_theory_one():
    """Where the samplers' registry (relusim.models.activations) exists, its g equals g_numpy on a grid."""
    mc = pytest.importorskip("relusim.models.activations")
    x = np.linspace(-6, 6, 241)
    for name in ALL:
        family, params = split_name(name)
        label = family if not params else f"{family}({next(iter(params))}={next(iter(params.values()))!r})"
        np.testing.assert_array_equal(mc.parse(label).g(x), g_numpy(name)(x), err_msg=name)
        assert mc.parse(label).odd == is_odd(name), name


def test_weakly_nonlinear_spherical_rs_is_not_reported_stable_up_to_capacity():
    # erf(0.1 x): the AT crossing is at 1 - q ~ 3e-7, beyond the scan; the limit decides
    from relusim.theory.rs import at_threshold
    at = at_threshold("erf_scale0.1", "spherical")
    assert not at.marginal and "beyond" in at.note
    assert 2.0 < at.alpha < capacity_rs_spherical("erf_scale0.1")
    assert at_lhs_limit("erf_scale0.1") > 1.0


def test_rarely_firing_shifted_relu_folds_the_rs_map_and_the_solvers_say_so():
    # relu_shift3: alpha(q) rises, falls and rises again; inside the fold RS has several saddles
    from relusim.theory.rs import ConvergenceError, at_threshold, rs_ambiguous_range, rs_saddle
    assert rs_ambiguous_range("relu_shift2.5", "spherical") is None
    lo, hi = rs_ambiguous_range("relu_shift3", "spherical")
    assert 5 < lo < hi < capacity_rs_spherical("relu_shift3")
    with pytest.raises(ConvergenceError):
        rs_saddle("relu_shift3", "spherical", 0.5 * (lo + hi))
    with pytest.raises(ConvergenceError):
        at_threshold("relu_shift3", "spherical")
    assert rs_saddle("relu_shift3", "spherical", 0.5 * lo).q < rs_saddle("relu_shift3", "spherical", 1.1 * hi).q


def test_binary_capacity_of_a_rarely_firing_unit_is_found_at_small_q_below_the_annealed_bound():
    from relusim.theory.rs import capacity_rs_binary
    s = capacity_rs_binary("relu_shift2.5")
    assert s.q < 0.05 and 0.999 < s.alpha < 1.0


@pytest.mark.parametrize("config, name", [("erf(scale=2)", "erf(scale=2)"), ("erf(0.5)", "erf(scale=0.5)"),
                                          ("relu_shift(shift=0.5)", "relu_shift(shift=0.5)"), ("erf(scale=1)", "erf"),
                                          ("relu_shift(-1)", "relu_shift(shift=-1)"),
                                          ("erf_scale2", "erf(scale=2)"), ("relu_shift-1", "relu_shift(shift=-1)")])
def test_every_spelling_of_a_parametrised_activation_is_named_as_a_config_spells_it(config, name):
    assert get_activation(config).name == name
    x = np.linspace(-3, 3, 7)
    assert np.array_equal(g_numpy(config)(x), g_numpy(name)(x))


@pytest.mark.parametrize("bad", ["erf(shift=2)", "tanh(scale=2)", "erf(scale=0)", "erf(scale=2", "relu_shift()"])
def test_bad_config_spellings_are_input_errors(bad):
    with pytest.raises(InputError):
        get_activation(bad)
