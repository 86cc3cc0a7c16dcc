"""Stability distributions (docs/theory.md §8, docs/model.md §4)."""

import numpy as np
import pytest
from scipy.special import ndtr

from relusim.errors import InputError
from relusim.theory.rs import rs_saddle
from relusim.theory.stabilities import (sign_lattice_edges, stability_bin_probs, stability_density,
                                        typical_moments, typical_tail)

U = np.linspace(0.0, 3.0, 3001)
X = U ** 2  # dense near 0, where the typical density has a steep shoulder


def _integral(d):
    f = d * 2 * U
    return float(np.sum(0.5 * (f[1:] + f[:-1])) * (U[1] - U[0]))


@pytest.mark.parametrize("name", ["sign", "relu"])
@pytest.mark.parametrize("y", [1, 7])
def test_densities_integrate_to_one(name, y):
    d = stability_density(name, "binary", 0.5, y=y, q1=0.9, x=X)
    assert _integral(d) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("name", ["sign", "relu"])
def test_lattice_bin_probs_sum_to_one_and_match_density(name):
    edges = sign_lattice_edges(9, 9.0)
    p = stability_bin_probs(name, "binary", 0.5, y=7, q1=0.9, edges=edges)
    assert p.sum() == pytest.approx(1.0, abs=1e-6) and np.all(p >= 0)
    x = np.linspace(edges[1], edges[2], 2001)
    d = stability_density(name, "binary", 0.5, y=7, q1=0.9, x=x)
    assert p[1] == pytest.approx(float(np.sum(0.5 * (d[1:] + d[:-1])) * (x[1] - x[0])), abs=1e-5)


@pytest.mark.parametrize("name, weights, alpha, ref", [
    ("sign", "binary", 0.5, (0.7642, 0.5867, 0.0857)), ("relu", "binary", 0.5, (0.4328, 0.3366, 0.1532)),
    ("relu", "spherical", 1.0, (0.3969, 0.3232, 0.1788)), ("relu", "spherical", 2.0, (0.3141, 0.3123, 0.2974))])
def test_typical_moments_match_independent_computation(name, weights, alpha, ref):
    q = rs_saddle(name, weights, alpha).q
    np.testing.assert_allclose(typical_moments(name, q), ref, atol=3e-4)


@pytest.mark.parametrize("name, Q", [("perceptron", 1.0), ("relu", (np.pi - 1) / (2 * np.pi))])
def test_stability_law_at_spherical_capacity_matches_kepler_abbott(name, Q):
    q = 1 - 1e-7
    eps = np.array([1e-2, 0.3, 1.0])
    np.testing.assert_allclose(typical_tail(name, q, eps), ndtr(-eps / np.sqrt(Q)), atol=5e-3)
    assert typical_moments(name, q)[0] == pytest.approx(np.sqrt(Q / (2 * np.pi)), abs=5e-3)


@pytest.mark.parametrize("name", ["sign", "relu"])
def test_typical_mode_at_zero_and_ld_mode_away_from_zero(name):
    x = np.linspace(0.005, 3.0, 600)
    assert np.argmax(stability_density(name, "binary", 0.5, x=x)) == 0
    assert x[np.argmax(stability_density(name, "binary", 0.5, y=7, q1=0.9, x=x))] > 0.2


def test_relu_ld_peak_closer_to_zero_with_smaller_spread():
    x = np.linspace(0.005, 4.0, 800)
    s = stability_density("sign", "binary", 0.5, y=7, q1=0.9, x=x)
    r = stability_density("relu", "binary", 0.5, y=7, q1=0.9, x=x)
    assert x[np.argmax(r)] < x[np.argmax(s)]
    sd = [np.sqrt(np.sum(x * x * d) / np.sum(d) - (np.sum(x * d) / np.sum(d)) ** 2) for d in (s, r)]
    assert sd[1] < sd[0]


def test_ld_requires_q1_and_bad_edges_are_input_errors():
    with pytest.raises(InputError):
        stability_density("relu", "binary", 0.5, y=3, x=[0.5])
    with pytest.raises(InputError):
        stability_bin_probs("relu", "binary", 0.5, edges=[1.0, 0.5])


def _quad_typical_density(name, q, x):
    """The docs/theory.md §8 z-integral by scipy's adaptive quadrature, split at its scales."""
    import warnings

    from scipy.integrate import quad
    from scipy.special import log_ndtr

    from relusim.theory import get_activation
    act = get_activation(name)
    Q = act.Q_eff
    qe = Q * float(act.rho(q))
    v = Q - qe
    k = np.sqrt(qe / v)

    def f(z):
        return np.exp(-0.5 * z * z - 0.5 * (x - np.sqrt(qe) * z) ** 2 / v - np.log(2 * np.pi)
                      - 0.5 * np.log(v) - log_ndtr(k * z))

    z0, sc = x / np.sqrt(qe), np.sqrt(v / qe)
    pts = sorted(p for p in {z0 - 10 * sc, z0, z0 + 10 * sc, -1 / k, -10 / k, -100 / k, -1.0, 0.0}
                 if -12 < p < 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quad(f, -12, 12, points=pts, limit=2000, epsabs=0, epsrel=1e-11)[0]


@pytest.mark.parametrize("name", ["sign", "relu"])
@pytest.mark.parametrize("q", [0.3, 0.99, 0.999, 0.9999])
def test_typical_density_near_zero_matches_adaptive_quadrature_up_to_q_09999(name, q):
    from relusim.theory.stabilities import typical_density
    x = np.array([1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0])
    np.testing.assert_allclose(typical_density(name, q, x),
                               [_quad_typical_density(name, q, xi) for xi in x], rtol=1e-8)


@pytest.mark.parametrize("name", ["sign", "relu", "tanh"])
@pytest.mark.parametrize("q", [0.5, 0.99, 0.999, 0.9999])
def test_typical_density_integrates_to_one_up_to_q_09999(name, q):
    from relusim.theory.stabilities import typical_density
    s = np.linspace(np.log(1e-12), np.log(15.0), 4001)  # x = e^s resolves the spike at x ~ sqrt(v)
    f = typical_density(name, q, np.exp(s)) * np.exp(s)
    assert float(np.sum(0.5 * (f[1:] + f[:-1])) * (s[1] - s[0])) == pytest.approx(1.0, abs=1e-7)


def test_spherical_relu_density_near_capacity_keeps_its_spike():
    q = rs_saddle("relu", "spherical", 2.9).q
    d = stability_density("relu", "spherical", 2.9, x=[0.001])[0]
    assert d == pytest.approx(_quad_typical_density("relu", q, 0.001), rel=1e-8)
    assert d == pytest.approx(120.889, abs=1e-3)
