"""The fully connected network's replica theory at large K (docs/theory_fully_connected.md)."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.optimize import minimize_scalar

from relusim.errors import InputError, RunError
from relusim.theory import fully_connected as fc
from relusim.theory.activations import get_activation
from relusim.cli.theory import theory_group
from relusim.theory.rs import at_lhs, capacity_rs, capacity_rs_spherical_limit, rs_saddle

from cli_helpers import relusim

ODD = ("sign", "erf", "tanh")
NONLINEAR = ("sign", "relu", "erf", "tanh", "quadratic")


# --- limits ------------------------------------------------------------------------------------

@pytest.mark.parametrize("K", [2, 5, 20])
def test_linear_unit_is_the_n_dimensional_perceptron_at_alpha_times_K(K):
    alpha = 1.5 / K  # P/N = 1.5 < 2
    m = fc.uniform_mode("linear", "spherical", alpha, K)
    assert m.q_w == pytest.approx(rs_saddle("perceptron", "spherical", alpha * K).q, abs=1e-9)
    assert m.C == pytest.approx(0.0, abs=1e-9)  # eq. (FC11): u = 1 for a linear unit


@pytest.mark.parametrize("K", [3, 10])
def test_linear_unit_capacity_per_weight_is_two_over_K(K):
    fc.uniform_mode("linear", "spherical", 1.98 / K, K)
    with pytest.raises(RunError):
        fc.uniform_mode("linear", "spherical", 2.02 / K, K)


def test_linear_unit_has_no_capacity_per_weight_at_infinite_K():
    with pytest.raises(InputError):
        fc.projected_activation("linear")


@pytest.mark.parametrize("act", ODD + ("relu",))
def test_summed_unit_correlation_tends_to_minus_one_per_pair_as_one_over_K(act):
    # per pair C -> 0 like 1/K (Engel et al. 1992), but (K-1) C -> -1 (eq. (FC12)), with the 1/K term U
    s = fc.fc_saddle(act, "spherical", 0.5)
    assert s.c == -1.0 and fc.unit_correlation(act, "spherical", 0.5) == -1.0
    for K in (300, 3000):
        C = fc.unit_correlation(act, "spherical", 0.5, K=K)
        assert abs(C) < 1.01 / (K - 1)
        assert (K - 1) * C == pytest.approx(-1.0 + s.U / K, abs=3.0 / K ** 1.5 * (1 + s.U) ** 2)


def test_quadratic_units_are_uncorrelated_and_fc_equals_tree():
    assert fc.linear_weight("quadratic") == 0.0
    assert fc.unit_correlation("quadratic", "spherical", 1.5, K=6) == pytest.approx(0.0, abs=1e-12)
    assert fc.capacity_fc("quadratic", "spherical").alpha == pytest.approx(4.0, abs=1e-9)
    q = fc.psb_saddle("quadratic", "spherical", 1.5).q
    assert q == pytest.approx(rs_saddle("quadratic", "spherical", 1.5).q, abs=1e-9)


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_spherical_capacity_is_the_closed_form_of_the_projected_unit(act):
    g = get_activation(act)
    a2 = fc.linear_weight(act)
    closed = 2 * (g.Q_eff * g.drho1 - a2) / (g.Q_eff - a2)  # eq. (FC20)
    cap = fc.capacity_fc(act, "spherical").alpha
    assert cap == pytest.approx(closed, rel=1e-10)
    assert capacity_rs_spherical_limit(fc.projected_activation(act)) == pytest.approx(cap, rel=1e-3)
    assert cap > capacity_rs(act, "spherical")  # removing the linear channel helps (eq. (FC13))


def test_relu_closed_forms():
    assert fc.linear_weight("relu") == pytest.approx(0.25, abs=1e-12)
    assert fc.capacity_fc("relu", "spherical").alpha == pytest.approx(2 * np.pi / (np.pi - 2), rel=1e-9)
    assert fc.transition("relu", "spherical").alpha_ps == pytest.approx(np.pi * (np.pi - 2) / 4, rel=1e-9)


def test_sign_spherical_capacity_diverges_like_the_tree():
    assert fc.capacity_fc("sign", "spherical").alpha == np.inf == capacity_rs("sign", "spherical")


@pytest.mark.parametrize("act", NONLINEAR)
def test_binary_capacity_respects_the_information_bound(act):
    cap = fc.capacity_fc(act, "binary")
    assert 0.9 < cap.alpha <= 1.0 + 1e-12
    assert cap.alpha > capacity_rs(act, "binary") - 1e-9


def test_tree_results_unchanged():
    assert capacity_rs("relu", "spherical") == pytest.approx(2 * np.pi / (np.pi - 1), abs=1e-9)
    assert capacity_rs("sign", "binary") == pytest.approx(0.94695, abs=2e-4)
    res = CliRunner().invoke(theory_group, ["capacity", "--activation", "relu", "--weights", "spherical"])
    assert res.exit_code == 0 and "2.93388" in res.output and "fully_connected" not in res.output


# --- transitions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("weights", ["spherical", "binary"])
@pytest.mark.parametrize("act,kind", [("relu", "continuous"), ("quadratic", "continuous"),
                                      ("erf", "discontinuous"), ("sign", "discontinuous"),
                                      ("tanh", "discontinuous")])
def test_kind_of_the_permutation_symmetry_breaking(act, kind, weights):
    tr = fc.transition(act, weights)
    assert tr.kind == kind
    if kind == "continuous":
        assert tr.alpha_transition == pytest.approx(np.pi / (2 * fc.rho_perp_second(act)), rel=1e-9)
        a_lo = fc.alpha_of_q_fc(act, weights, 1e-3)[0]
        assert tr.alpha_ps < a_lo < fc.alpha_of_q_fc(act, weights, 1e-2)[0]  # supercritical
    else:
        assert fc.rho_perp_second(act) == pytest.approx(0.0, abs=1e-8) and tr.alpha_ps == np.inf
        assert tr.alpha_spinodal < tr.alpha_transition and tr.q_spinodal < tr.q_transition
        a = tr.alpha_transition
        psb = fc.psb_saddle(act, weights, a)
        assert psb.phi == pytest.approx(fc.phi_ps(weights, a), abs=1e-9)
        assert fc.fc_saddle(act, weights, a * 0.99).branch == "PS"
        assert fc.fc_saddle(act, weights, a * 1.01).branch == "PSB"
        with pytest.raises(RunError):
            fc.psb_saddle(act, weights, tr.alpha_spinodal * 0.99)


@pytest.mark.parametrize("act", ["relu", "quadratic"])
def test_replicon_is_marginal_at_the_continuous_bifurcation(act):
    ap = fc.projected_activation(act)
    assert at_lhs(ap, "spherical", 1e-5) == pytest.approx(1.0, abs=1e-3)
    assert at_lhs(ap, "spherical", 0.1) > 1.0  # the RS PSB branch is unstable at once (eq. (FC21))
    assert fc.at_threshold_fc(act, "spherical").at_transition


# --- saddle points: stationarity and a second start ----------------------------------------------

def _fd(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("act,alpha", [("relu", 1.5), ("erf", 5.0), ("sign", 12.0), ("tanh", 4.5),
                                       ("quadratic", 1.2)])
def test_spherical_psb_saddle_is_stationary_and_a_local_minimum_in_q(act, alpha):
    s = fc.fc_saddle(act, "spherical", alpha)
    assert s.branch == "PSB"
    f = lambda q: fc.phi_fc(act, "spherical", alpha, q)  # noqa: E731
    assert abs(_fd(f, s.q, 1e-5)) < 1e-6
    assert f(s.q + 1e-2) > s.phi and f(s.q - 1e-2) > s.phi
    # second start: minimise phi(q) from a bracket far from the root finder's
    r = minimize_scalar(f, bounds=(s.q * 0.5, 0.995),
                        method="bounded", options=dict(xatol=1e-10))
    assert r.x == pytest.approx(s.q, abs=1e-5)


@pytest.mark.parametrize("act,alpha", [("relu", 0.98), ("sign", 10.2), ("quadratic", 0.95)])
def test_binary_psb_saddle_is_stationary_in_q_and_qhat(act, alpha):
    # qhat < 5 here: above qhat ~ 10 the tree module's Gauss-Hermite E tanh^2 loses ~1e-4 (rs.py numerics)
    s = fc.fc_saddle(act, "binary", alpha)
    assert s.branch == "PSB" and s.qhat < 5
    fq = lambda q: fc.phi_fc(act, "binary", alpha, q, s.qhat)  # noqa: E731
    fh = lambda qh: fc.phi_fc(act, "binary", alpha, s.q, qh)  # noqa: E731
    assert abs(_fd(fq, s.q, 1e-5)) < 1e-6 and abs(_fd(fh, s.qhat, 1e-5)) < 1e-6


@pytest.mark.parametrize("weights", ["spherical", "binary"])
def test_ps_phase_is_stationary_and_annealed(weights):
    for act in ("relu", "erf"):
        s = fc.fc_saddle(act, weights, 0.5)
        assert s.branch == "PS" and s.q == 0.0 and s.phi == fc.phi_ps(weights, 0.5)
        f = lambda q: fc.phi_fc(act, weights, 0.5, q)  # noqa: E731
        d1, d2 = _fd(f, 1e-2, 5e-3), _fd(f, 1e-3, 5e-4)  # rho_perp = O(q^2): phi'(q) = O(q), q = 0 a saddle
        assert d1 > 0 and abs(d2) < 0.15 * d1
        assert f(1e-6) == pytest.approx(s.phi, abs=1e-9)


@pytest.mark.parametrize("act,alpha,K", [("relu", 0.5, 4), ("relu", 2.0, 10), ("sign", 0.3, 6),
                                         ("erf", 5.0, 8)])
def test_uniform_mode_is_stationary_and_the_same_from_another_start(act, alpha, K):
    m = fc.uniform_mode(act, "spherical", alpha, K)
    f_u = lambda u: fc.uniform_free_entropy(act, alpha, K, m.q, u, m.delta)  # noqa: E731
    f_d = lambda d: fc.uniform_free_entropy(act, alpha, K, m.q, m.u, d)  # noqa: E731
    assert abs(_fd(f_u, m.u, 1e-6 * m.u)) < 1e-6 and abs(_fd(f_d, m.delta, 1e-6 * m.delta)) < 1e-6  # 1.4e-7 measured (erf, alpha 5, K 8)
    # second start: far from the closed-form guess (FC12) the solver starts from
    for start in [(1.0, 0.5), (2.0 * m.u, 0.5 * m.delta)]:
        m2 = fc.uniform_mode(act, "spherical", alpha, K, start=start)
        assert (m2.u, m2.delta) == pytest.approx((m.u, m.delta), rel=1e-8)
    assert -1.0 / (K - 1) < m.C < 0.0


# --- CLI ------------------------------------------------------------------------------------------

def test_fc_correlation_command_writes_csv_json_png(tmp_path):
    out = {k: tmp_path / f"c.{k}" for k in ("csv", "json", "png")}
    res = CliRunner().invoke(theory_group, ["fc-correlation", "--activation", "relu,erf", "--alpha",
                                            "0.5:5:0.5", "--K", "4", "--csv", str(out["csv"]),
                                            "--json", str(out["json"]), "--plot", str(out["png"])])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out["csv"].open()))
    assert {r["branch"] for r in rows} == {"PS", "PSB"} and "C_K4" in rows[0]
    assert json.loads(out["json"].read_text())[0]["KC_inf"] == -1.0
    assert out["png"].read_bytes()[:4] == b"\x89PNG"


def test_fc_correlation_help_ends_with_example():
    help_text = CliRunner().invoke(theory_group, ["fc-correlation", "--help"]).output.split("Options:")[0]
    lines = help_text.strip().splitlines()
    assert "Example:" in lines[-2] and lines[-1].strip().startswith("relusim theory fc-correlation")


def test_fc_capacity_command_and_bad_input_is_one_line_exit_2():
    res = CliRunner().invoke(theory_group, ["capacity", "--architecture", "fully_connected",
                                            "--activation", "relu", "--weights", "spherical"])
    assert res.exit_code == 0 and "5.50388" in res.output and "continuous" in res.output
    rc, out, err = relusim("theory", "fc-correlation", "--alpha", "1:0:0.1")  # the real command line
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "alpha" in err, err
    for args in (["capacity", "--architecture", "fc"], ["fc-correlation", "--activation", "linear"],
                 ["fc-correlation", "--K", "1"], ["fc-correlation", "--alpha", "0:1:0.5"]):
        res = CliRunner().invoke(theory_group, args)
        assert isinstance(res.exception, InputError) and res.output == "", args


def test_fc_capacities_are_labelled_as_k_infinity_asymptotes_with_their_branch_stability(tmp_path):
    """The K -> infinity values are not finite-K predictions: each row says so, and whether its branch
    is replicon-stable there (binary sign: the counting bound 1, below its AT line; binary ReLU 0.99995,
    past its AT line 0.8966)."""
    out = tmp_path / "fc.json"
    res = CliRunner().invoke(theory_group, ["capacity", "--architecture", "fully_connected", "--activation",
                                            "sign,relu", "--weights", "binary", "--json", str(out)])
    assert res.exit_code == 0, res.output
    rows = {r["activation"]: r for r in json.loads(out.read_text())}
    assert rows["sign"]["status"] == "K->inf asymptote; RS-stable" and rows["sign"]["alpha_c_rs"] == 1.0
    assert rows["relu"]["status"] == "K->inf asymptote; replicon-unstable (past AT)"
    assert rows["relu"]["alpha_c_rs"] > rows["relu"]["alpha_at"]
    assert "not finite-K predictions" in res.output


@pytest.mark.parametrize("act", ODD)
def test_linear_channel_formula_matches_the_exact_finite_K_covariances(act):
    # odd g: Var lambda = Q + (K-1) q_eff(C) and Cov = q_eff(q) + (K-1) q_eff(p) exactly (CLT aside);
    # eq. (FC7) keeps only the a1^2 part of q_eff(C), q_eff(p): the error must fall like 1/K
    g = get_activation(act)
    a2 = fc.linear_weight(act)
    q, u, delta = 0.6, 0.3, 0.2
    errs = []
    for K in (100, 1000):
        C, p = (u - 1) / (K - 1), (u - delta - q) / (K - 1)
        var = g.Q_eff + (K - 1) * float(g.q_eff(C))
        cov = float(g.q_eff(q)) + (K - 1) * float(g.q_eff(p))
        errs.append(abs(var - (g.Q_eff - a2 + a2 * u)) + abs(cov - (float(g.q_eff(q)) - a2 * q + a2 * (u - delta))))
    assert errs[1] < 0.2 * errs[0] and errs[1] < 1e-2
