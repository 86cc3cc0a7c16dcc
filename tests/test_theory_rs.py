"""RS capacities, AT line, saddle points (docs/theory.md §3-4; docs/reference_values.md §1-2)."""

import warnings

import numpy as np
import pytest

from relusim.errors import InputError
from relusim.theory import ConvergenceError
from relusim.theory.rs import (at_threshold, capacity_rs_binary, capacity_rs_spherical,
                               capacity_rs_spherical_limit, phi_rs_binary, phi_rs_spherical,
                               rs_saddle)


def test_spherical_perceptron_capacity_matches_gardner():
    assert capacity_rs_spherical("perceptron") == pytest.approx(2.0, abs=1e-3)
    assert capacity_rs_spherical_limit("perceptron") == pytest.approx(2.0, abs=1e-3)


def test_binary_perceptron_zero_entropy_capacity_matches_krauth_mezard():
    assert capacity_rs_binary("perceptron").alpha == pytest.approx(0.833, abs=1e-3)


def test_binary_perceptron_rs_instability_matches_gardner_derrida():
    assert at_threshold("perceptron", "binary").alpha == pytest.approx(1.015, abs=2e-3)


def test_spherical_perceptron_rs_is_stable_up_to_capacity():
    at = at_threshold("perceptron", "spherical")
    assert at.marginal and at.alpha == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize("name, expected", [("sign", 0.94695), ("relu", 0.90399)])
def test_binary_committee_capacity_matches_independent_computation(name, expected):
    assert capacity_rs_binary(name).alpha == pytest.approx(expected, abs=2e-3)


def test_relu_spherical_rs_capacity_matches_closed_form():
    assert capacity_rs_spherical("relu") == pytest.approx(2 * np.pi / (np.pi - 1), abs=1e-4)


def test_relu_spherical_rs_capacity_numeric_limit_matches_closed_form():
    assert capacity_rs_spherical_limit("relu") == pytest.approx(2 * np.pi / (np.pi - 1), abs=1e-4)


@pytest.mark.parametrize("name, weights, alpha, q", [
    ("relu", "spherical", 1.7212, 0.7244), ("sign", "spherical", 2.9878, 0.6303),
    ("sign", "binary", 2.0347, None), ("relu", "binary", 1.1112, None)])
def test_rs_instability_matches_independent_computation(name, weights, alpha, q):
    at = at_threshold(name, weights)
    assert at.alpha == pytest.approx(alpha, abs=2e-3)
    if q is not None:
        assert at.q == pytest.approx(q, abs=2e-3)


def test_relu_instability_far_below_sign():
    assert at_threshold("relu", "spherical").alpha < 0.7 * at_threshold("sign", "spherical").alpha


@pytest.mark.parametrize("name", ["sign", "relu"])
def test_binary_free_entropy_gradient_vanishes_at_saddle(name):
    s = rs_saddle(name, "binary", 0.6)
    h = 1e-5
    dq = (phi_rs_binary(name, 0.6, s.q + h, s.qhat) - phi_rs_binary(name, 0.6, s.q - h, s.qhat)) / (2 * h)
    dqh = (phi_rs_binary(name, 0.6, s.q, s.qhat + h) - phi_rs_binary(name, 0.6, s.q, s.qhat - h)) / (2 * h)
    assert abs(dq) < 1e-6 and abs(dqh) < 1e-6
    assert abs((phi_rs_binary(name, 0.6, s.q + 0.05, s.qhat) - s.phi)) > 1e-4  # the test can fail


@pytest.mark.parametrize("name", ["sign", "relu"])
def test_spherical_free_entropy_gradient_vanishes_at_saddle(name):
    s = rs_saddle(name, "spherical", 1.2)
    h = 1e-5
    d = (phi_rs_spherical(name, 1.2, s.q + h) - phi_rs_spherical(name, 1.2, s.q - h)) / (2 * h)
    assert abs(d) < 1e-6


def test_spherical_saddle_above_capacity_raises_convergence_error():
    with pytest.raises(ConvergenceError) as err:
        rs_saddle("relu", "spherical", 3.5)
    assert err.value.params["alpha"] == 3.5


def test_bad_alpha_and_weights_are_input_errors():
    with pytest.raises(InputError):
        rs_saddle("relu", "binary", 0.0)
    with pytest.raises(InputError):
        rs_saddle("relu", "ternary", 0.5)


def _quad_alpha_of_q(name, weights, q):
    """alpha(q) from scipy's adaptive quadrature (independent of the module's grids)."""
    from scipy.integrate import quad
    from scipy.optimize import brentq
    from scipy.special import log_ndtr

    from relusim.theory import get_activation

    def gauss(f, scale):  # roundoff warnings at the 1e-12 target are harmless here
        pts = [-1.0 / scale, 0.0, 1.0 / scale]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return quad(lambda z: f(scale * z) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi), -40, 40,
                        points=pts, limit=400, epsabs=0, epsrel=1e-12)[0]

    act = get_activation(name)
    rho = float(act.rho(q))
    s = np.sqrt(rho / (1 - rho))
    A1 = gauss(lambda x: np.exp(-x * x - 2 * 0.5 * np.log(2 * np.pi) - 2 * log_ndtr(x)), s) / (1 - rho)
    if weights == "spherical":
        qhat = q / (1 - q) ** 2
    else:
        qhat = np.exp(brentq(lambda lq: gauss(lambda h: np.tanh(h) ** 2, np.sqrt(np.exp(lq))) - q,
                             -30, 16, xtol=1e-13))
    return qhat / (float(act.drho(q)) * A1)


@pytest.mark.parametrize("name", ["sign", "relu"])
@pytest.mark.parametrize("weights", ["binary", "spherical"])
def test_alpha_of_q_matches_adaptive_quadrature_over_the_whole_q_range(name, weights):
    from relusim.theory.rs import alpha_of_q
    qs = [0.02, 0.2, 0.5, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99, 0.995]
    got = [alpha_of_q(name, weights, q)[0] for q in qs]
    np.testing.assert_allclose(got, [_quad_alpha_of_q(name, weights, q) for q in qs], rtol=1e-8)


def test_binary_relu_alpha_at_q_09_is_1636():
    from relusim.theory.rs import alpha_of_q
    assert alpha_of_q("relu", "binary", 0.9)[0] == pytest.approx(1.636347, abs=2e-6)


@pytest.mark.parametrize("weights", ["binary", "spherical"])
def test_quadratic_rs_is_paramagnetic_below_pi_over_4_and_its_branch_starts_there(weights):
    from relusim.theory.rs import alpha_of_q, alpha_paramagnetic
    assert alpha_paramagnetic("quadratic") == pytest.approx(np.pi / 4, rel=1e-12)
    assert alpha_of_q("quadratic", weights, 1e-6)[0] == pytest.approx(np.pi / 4, rel=1e-5)
    s = rs_saddle("quadratic", weights, 0.5)
    assert s.q == 0.0 and s.phi == pytest.approx((np.log(2) if weights == "binary" else 0) - 0.5 * np.log(2))
    assert rs_saddle("quadratic", weights, 0.9).q > 0.05


@pytest.mark.parametrize("weights", ["binary", "spherical"])
def test_quadratic_rs_instability_is_where_the_q0_saddle_ends(weights):
    at = at_threshold("quadratic", weights)
    assert at.alpha == pytest.approx(np.pi / 4, rel=1e-12) and at.q == 0.0 and "q = 0" in at.note


def test_logistic_spherical_rs_instability_lies_below_capacity_near_q_1():
    at = at_threshold("logistic", "spherical")
    assert not at.marginal and 0.97 < at.q < 0.99
    assert at.alpha == pytest.approx(1.99628, abs=1e-5) and at.alpha < capacity_rs_spherical("logistic")
