"""Effective kernels (docs/theory.md §1, docs/reference_values.md §3-4)."""

import numpy as np
import pytest

from relusim.errors import InputError
from relusim.theory.activations import get_activation
from relusim.theory.rs import capacity_rs_spherical


@pytest.mark.parametrize("name, q, expected", [
    ("relu", 0.3, 0.0822172), ("relu", 0.8, 0.2544049),
    ("sign", 0.3, 0.1939734), ("sign", 0.8, 0.5903345)])
def test_q_eff_matches_reference_closed_form(name, q, expected):
    assert get_activation(name).q_eff(q) == pytest.approx(expected, abs=1e-7)


def test_Q_eff_matches_reference():
    assert get_activation("relu").Q_eff == pytest.approx(0.3408451, abs=1e-7)
    assert get_activation("sign").Q_eff == 1.0


@pytest.mark.parametrize("name", ["sign", "relu", "tanh", "erf"])
def test_q_eff_matches_monte_carlo(name):
    act = get_activation(name)
    g = {"sign": np.sign, "relu": lambda x: np.maximum(x, 0), "tanh": np.tanh,
         "erf": __import__("scipy.special", fromlist=["erf"]).erf}[name]
    rng = np.random.default_rng(1)
    x, z = rng.standard_normal((2, 400_000))
    for q in (0.3, 0.8):
        y = q * x + np.sqrt(1 - q * q) * z
        assert np.cov(g(x), g(y))[0, 1] == pytest.approx(act.q_eff(q), abs=4e-3)


@pytest.mark.parametrize("name", ["perceptron", "sign", "relu", "tanh", "quadratic", "relu_shift0.5"])
def test_rho_is_normalised_and_drho_is_its_derivative(name):
    act = get_activation(name)
    assert act.rho(0.0) == pytest.approx(0.0, abs=1e-9)
    assert act.rho(1.0) == pytest.approx(1.0, abs=1e-9)
    h = 1e-5
    for q in (0.2, 0.6):
        assert (act.rho(q + h) - act.rho(q - h)) / (2 * h) == pytest.approx(act.drho(q), rel=1e-5)
        assert (act.drho(q + h) - act.drho(q - h)) / (2 * h) == pytest.approx(act.d2rho(q), rel=1e-4)


def test_generic_quadrature_path_matches_relu_closed_form():
    closed, generic = get_activation("relu"), get_activation("relu_shift0")
    q = np.array([0.0, 0.3, 0.8, 0.99])
    np.testing.assert_allclose(generic.q_eff(q), closed.q_eff(q), atol=1e-9)
    np.testing.assert_allclose(generic.drho(q), closed.drho(q), atol=1e-7)
    assert generic.drho1 == pytest.approx(closed.drho1, abs=1e-9)


@pytest.mark.parametrize("name, expected", [
    ("perceptron", 2.0), ("relu", 2.93388), ("erf", 2.45140), ("tanh", 2.35561),
    ("quadratic", 4.0), ("logistic", 2.06719), ("softplus", 2.16106)])
def test_spherical_rs_capacity_of_other_activations_matches_independent_computation(name, expected):
    assert capacity_rs_spherical(name) == pytest.approx(expected, abs=2e-3)


def test_sign_spherical_rs_capacity_diverges():
    assert capacity_rs_spherical("sign") == np.inf


def test_unknown_activation_is_input_error():
    with pytest.raises(InputError):
        get_activation("swish")
