"""Franz-Parisi entropy (docs/theory.md §6)."""

import pytest

from relusim.theory.franz_parisi import franz_parisi_entropy
from relusim.theory.rs import rs_saddle


@pytest.mark.parametrize("weights, alpha", [("binary", 0.5), ("spherical", 1.0)])
def test_fp_entropy_at_typical_overlap_equals_rs(weights, alpha):
    s = rs_saddle("relu", weights, alpha)
    assert franz_parisi_entropy("relu", weights, alpha, s.q).V == pytest.approx(s.phi, abs=1e-6)


def test_binary_sign_typical_solutions_are_isolated():
    assert franz_parisi_entropy("sign", "binary", 0.5, 1 - 2 * 0.01).V < -0.03
    assert franz_parisi_entropy("sign", "binary", 0.5, 1 - 2 * 0.1).V > 0.05


def test_binary_fp_entropy_is_small_at_small_distance():
    # V ~ H2(d) - c sqrt(d) -> 0; the solver reaches d = 5e-4 (below, the phat root fails: ConvergenceError)
    v = [franz_parisi_entropy("perceptron", "binary", 0.5, 1 - 2 * d).V for d in (0.0005, 0.05)]
    assert -0.015 < v[0] < 0 < v[1]


def test_relu_less_isolated_than_sign():
    d = 0.02
    assert franz_parisi_entropy("relu", "binary", 0.5, 1 - 2 * d).V > \
        franz_parisi_entropy("sign", "binary", 0.5, 1 - 2 * d).V
