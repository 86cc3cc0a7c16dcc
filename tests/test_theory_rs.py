"""RS capacities, AT line, saddle points (THEORY.md §3-4; REFERENCE_VALUES.md §1-2)."""

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
