"""The fully connected theory's unit correlation against a small fully connected Monte Carlo (issue 17).

Binary sign networks, K = 5, N = 41 inputs, alpha = 0.3 (well below where annealing stops solving):
the mean over solved samples of C = mean_(k!=l) c_k c_l W_k.W_l/N must be significantly nonzero and
of the sign of the theory's C at that alpha (docs/theory_fully_connected.md eq. (FC10)-(FC12)), and
within a few standard errors of its 1/K-corrected value at K = 5. One point of
scripts/fc_correlation.py (the same config, seed and samples 0..11).
"""
import numpy as np
import pytest

from relusim import anneal, config
from relusim.models import units
from relusim.theory import fully_connected as fct

ACT, N, K, ALPHA, SAMPLES = "sign", 41, 5, 0.3, 12


@pytest.fixture(scope="module")
def measured():
    cfg = config.from_dict({
        "name": "fc-corr", "seed": 14, "samples": SAMPLES,
        "model": {"activation": ACT, "weights": "binary", "architecture": "fully_connected", "N": N, "K": K,
                  "alpha": ALPHA},
        "anneal": {"sampler": "metropolis", "beta": {"start": 1.0, "stop": 10.0, "schedule": "geometric"},
                   "sweeps": 20000, "stop_when_solved": True, "record_every": 50}})
    C = []
    for i in range(SAMPLES):
        r = anneal.run_sample(cfg, i)
        if r.solved:
            C.append(units.unit_correlations(r.weights[0], ACT, K).absorbed_mean)
    C = np.array(C)
    assert C.size >= SAMPLES - 1, f"only {C.size}/{SAMPLES} samples solved"
    return float(C.mean()), float(C.std(ddof=1) / np.sqrt(C.size))


def check_same_sign(theory_C, mean, sem):
    assert abs(mean) > 2.5 * sem, f"the Monte Carlo C = {mean:+.4f} ± {sem:.4f} is not significant"
    assert np.sign(theory_C) == np.sign(mean), f"theory C {theory_C:+.4f}, Monte Carlo {mean:+.4f} ± {sem:.4f}"


def test_theory_unit_correlation_has_the_sign_of_the_monte_carlo(measured):
    mean, sem = measured
    check_same_sign(fct.unit_correlation(ACT, "binary", ALPHA, K=K), mean, sem)
    check_same_sign(fct.unit_correlation(ACT, "binary", ALPHA), mean, sem)  # K -> inf: (K-1) C -> -1


def test_a_flipped_theory_sign_is_caught(measured):
    mean, sem = measured
    with pytest.raises(AssertionError):
        check_same_sign(-fct.unit_correlation(ACT, "binary", ALPHA, K=K), mean, sem)


def test_the_finite_K_theory_is_within_the_monte_carlo_error(measured):
    mean, sem = measured
    assert abs(mean - fct.unit_correlation(ACT, "binary", ALPHA, K=K)) < 3 * sem
