"""1RSB capacity and the large-deviation analysis (docs/theory.md §5, §7)."""

import numpy as np
import pytest

from relusim.theory.rs import capacity_rs_spherical, rs_saddle
from relusim.theory.rsb import (capacity_1rsb_spherical, local_entropy, local_entropy_binary,
                                local_entropy_extrapolated, phi_1rsb_binary, phi_1rsb_spherical)


def test_relu_spherical_1rsb_capacity_matches_independent_computation():
    c = capacity_1rsb_spherical("relu")
    assert c.alpha == pytest.approx(2.6643, abs=2e-3)
    assert c.q0 == pytest.approx(0.7571, abs=5e-3) and c.x == pytest.approx(16.63, rel=2e-2)
    assert c.alpha < capacity_rs_spherical("relu")


def test_perceptron_1rsb_capacity_is_the_rs_value():
    assert capacity_1rsb_spherical("perceptron").alpha == pytest.approx(2.0, abs=1e-3)


@pytest.mark.parametrize("name", ["sign", "relu"])
def test_local_entropy_at_y1_equals_rs(name):
    s = rs_saddle(name, "binary", 0.4)
    assert local_entropy(name, "binary", 0.4, 1.0, 0.8).local_entropy == pytest.approx(
        s.phi - np.log(2), abs=1e-7)
    s = rs_saddle(name, "spherical", 1.0)
    assert local_entropy(name, "spherical", 1.0, 1.0, 0.8).local_entropy == pytest.approx(s.phi, abs=1e-6)


@pytest.mark.parametrize("d", [0.02, 0.1, 0.3])
def test_local_entropy_alpha0_y2_equals_exact_count(d):
    p = local_entropy_binary("sign", 0.0, 2.0, 1 - 2 * d)
    assert 2 * p.phi == pytest.approx(np.log(2) - d * np.log(d) - (1 - d) * np.log(1 - d), abs=1e-9)


@pytest.mark.parametrize("name, values", [
    ("sign", (-0.13575, -0.16462, -0.18550)), ("relu", (-0.11390, -0.13976, -0.16248))])
def test_binary_local_entropy_y3_matches_independent_computation(name, values):
    got = [local_entropy(name, "binary", 0.4, 3, 1 - 2 * d).local_entropy for d in (0.01, 0.05, 0.1)]
    np.testing.assert_allclose(got, values, atol=2e-4)


def test_binary_local_entropy_y10_relu_above_sign_near_zero_distance():
    s = local_entropy("sign", "binary", 0.4, 10, 0.98).local_entropy
    r = local_entropy("relu", "binary", 0.4, 10, 0.98).local_entropy
    assert s == pytest.approx(-0.0544, abs=5e-4) and r == pytest.approx(-0.0393, abs=5e-4)
    assert r > s


def test_binary_ld_free_entropy_is_stationary_at_the_saddle():
    p = local_entropy_binary("relu", 0.4, 3, 0.9)
    args = dict(q0=p.q0, q1=p.q1, qhat0=p.qhat0, qhat1=p.qhat1)
    h = 1e-5
    for k in ("q0", "qhat0", "qhat1"):
        up, dn = dict(args), dict(args)
        up[k] += h
        dn[k] -= h
        grad = (phi_1rsb_binary("relu", 0.4, 3, **up) - phi_1rsb_binary("relu", 0.4, 3, **dn)) / (2 * h)
        assert abs(grad) < 1e-5, k


def test_spherical_ld_free_entropy_is_stationary_in_q0():
    p = local_entropy("relu", "spherical", 1.0, 3.0, 0.8)
    h = 1e-5
    grad = (phi_1rsb_spherical("relu", 1.0, 3.0, p.q0 + h, 0.8)
            - phi_1rsb_spherical("relu", 1.0, 3.0, p.q0 - h, 0.8)) / (2 * h)
    assert abs(grad) < 1e-5


def test_extrapolated_local_entropy_tends_to_zero_as_distance_vanishes():
    small = local_entropy_extrapolated("sign", "binary", 0.4, 1 - 2 * 0.005)
    large = local_entropy_extrapolated("sign", "binary", 0.4, 1 - 2 * 0.35)
    assert -2e-3 < small.local_entropy <= 0.0
    assert large.local_entropy < -0.1
