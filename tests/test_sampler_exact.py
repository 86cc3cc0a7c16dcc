"""Metropolis at constant beta samples the exact Boltzmann law of the energy (docs/algorithms.md §8).

Each case enumerates all 2^N weight vectors of a tiny machine, runs the real kernel at constant beta,
keeps the energy every `thin` sweeps (the lag-1 autocorrelation of the kept values is checked to be small,
so that they are close to independent), and applies a G-test. With a false-alarm rate of
ALPHA_FA = 1e-3 per case, a correct sampler fails a case about once in a thousand seeds; the seed is
fixed. The same machinery rejects a chain run at a wrong temperature (a power check), so the test
can fail.
"""
import numpy as np
import pytest

from exact_oracle import boltzmann_energy_law, energies_of_all, g_test, lag1_autocorrelation
from relusim.kernels import metropolis
from relusim.kernels import rng as krng

ALPHA_FA = 1e-3
KEPT = 20000
CASES = [("sign", 9, 3, 6, 1.0, 10), ("relu", 8, 2, 6, 1.0, 10), ("relu", 8, 2, 6, 2.0, 40)]


def chain_energies(machine, activation, N, K, P, beta, thin, seed=11):
    inst, pb, st = machine(activation, N, K, P, seed=5)
    st = st._replace(rng=krng.new_state(np.random.SeedSequence(seed)))
    S = thin * KEPT + 200
    energies = np.zeros(S, np.int64)
    acc = np.zeros(S, np.int64)
    done = metropolis.sweeps(pb, st, np.full(S, beta), False, energies, acc)
    assert done == S
    return inst, energies[200::thin]


@pytest.mark.parametrize("activation,N,K,P,beta,thin", CASES)
def test_metropolis_energy_histogram_matches_exact_enumeration(machine, activation, N, K, P, beta, thin):
    inst, kept = chain_energies(machine, activation, N, K, P, beta, thin)
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, activation, K), beta, P)
    assert abs(lag1_autocorrelation(kept)) < 0.05
    counts = np.bincount(kept, minlength=P + 1)
    assert g_test(counts, exact) > ALPHA_FA
    assert 0.5 * np.abs(counts / counts.sum() - exact).sum() < 0.03


def test_enumeration_check_rejects_a_chain_at_the_wrong_temperature(machine):
    activation, N, K, P, beta, thin = CASES[1]
    inst, kept = chain_energies(machine, activation, N, K, P, beta * 1.25, thin)
    exact = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, activation, K), beta, P)
    assert g_test(np.bincount(kept, minlength=P + 1), exact) < ALPHA_FA
