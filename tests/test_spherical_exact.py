"""Exactness of the spherical samplers without enumeration: with n = 2 each unit is one angle,
W_l = sqrt(2) (cos phi_l, sin phi_l), so the state space is a K-torus and the Boltzmann law can be
computed on a fine grid of angles.

Single machine (ReLU K = 2, sign K = 3, tanh K = 3 with g(H / sqrt(2)) and c_l = +1, tree; with K = 2 the
sign of tanh x_1 + tanh x_2 is that of x_1 + x_2 and would not test g): at constant beta the chain's histograms of the energy
and of phi_1 match the grid law (G-tests). Explicit robust ensemble (y = 2 replicas and a reference,
ReLU K = 2): weight exp(-beta (E_1 + E_2) + gamma sum_a sum_l cos(phit_l - phi^a_l)); given the
reference the replicas are independent, with Z(phit) = (A * k)(phit) a circular convolution of
A = exp(-beta E) with k = prod_l exp(gamma cos), so p(E_1 = e, E_2 = f) = sum Z_e Z_f / sum Z^2
(Z_e: A restricted to E = e) and p(phit) ~ Z^2 (FFT on the grid).
Each G-test rejects at p < 1e-3; the tests of one law share a Bonferroni budget (false alarm
<= 2e-3 per law). Power: the same samples against the law at a wrong beta (or gamma) must reject.
Every mode runs with float64 fields and with float32 ones (``anneal.precision``), rebuilt every
REBUILD_EVERY sweeps as in ``spherical_mc.run``; with n = 2 the two give the same chain (checked over
200000 sweeps: identical traces with the error count; with the perceptron cost ReLU parts after ~165000,
sign not at all), so the float32 runs here have almost no power against a float32-specific error:
``test_spherical_float32.py`` tests that where rounding changes the chain (n = 50, two samples). Samples are thinned (every THIN sweeps; theta_max = pi makes each accepted rotation a fresh angle,
so that is far beyond the autocorrelation time, checked by the lag-THIN correlation of E).
"""
import math

import numpy as np
import pytest
from numba import njit
from scipy import stats

from relusim.models import instance, machine
from relusim.kernels import spherical, spherical_mc
from relusim.priors import spherical as spherical_prior
from relusim.kernels import rng as _rng

G = 1024  # grid points per angle (single machine)
THIN = 10
ALPHA_TEST = 1e-3


@njit
def _chain_with(sweep, prob, st, mode, etab, gamma, theta, beta, n_samples, thin, E_out, phi_out, L_out):
    """Record (E and L of every replica, angle of unit 0 of replica 0 and of the reference) every ``thin``
    sweeps of ``sweep``, the compiled sweep the samplers run (``spherical_mc.KERNELS``)."""
    for s in range(n_samples):
        for t in range(thin):
            sweep(prob, st, mode, etab, gamma, theta, beta)
            if (s * thin + t + 1) % spherical_mc.REBUILD_EVERY == 0:  # as ``spherical_mc.run``
                spherical_mc.rebuild(prob, st, mode)
        for a in range(st.E.shape[0]):
            E_out[s, a] = st.E[a]
            L_out[s, a] = st.L[a]
        phi_out[s, 0] = math.atan2(st.w[0, 1], st.w[0, 0])
        if mode == spherical_mc.EXPLICIT:
            phi_out[s, 1] = math.atan2(st.ref[1], st.ref[0])


def _chain(prob, *args):
    sweep = spherical_mc.KERNELS[spherical_mc.loop_key(int(prob.act), int(prob.cost))]
    return _chain_with(sweep, prob, *args)


def readout(activation, K):
    """c_l: +1 for the odd activations (sign, tanh), +1 then -1 otherwise (docs/model.md §1)."""
    return np.ones(K) if activation in ("sign", "tanh") else machine.output_weights(activation, K)


def torus_machine(activation, K, P, seed, y=1, explicit=False, cost="errors", precision="float64"):
    N = 2 * K
    inst = instance.make(N, P, seed, 0)
    prob = spherical_prior.problem_arrays(inst.xi, inst.sigma, readout(activation, K), 2, activation, cost=cost)
    u = 1.0 - np.random.default_rng(seed).random((y + 1, N))
    W = spherical.gaussian_sphere(u, 2)
    st = spherical.new_state(W[:y], W[y] if explicit else np.zeros(0), P, K,
                             _rng.new_state(np.random.SeedSequence([seed, 7])), precision)
    mode = spherical_mc.EXPLICIT if explicit else spherical_mc.NONE
    spherical_mc.rebuild(prob, st, mode)
    return inst, prob, st, mode


def run_chain(prob, st, mode, beta, gamma, n_samples, burn=2000, theta=np.pi, thin=THIN):
    P = prob.XT.shape[1]
    etab = np.empty(2 * P + 1)
    spherical_mc.fill_etab(etab, beta, P)
    y = st.w.shape[0]
    E = np.zeros((n_samples, y), np.int64)
    L = np.zeros((n_samples, y))
    phi = np.zeros((n_samples, 2))
    _chain(prob, st, mode, etab, gamma, theta, beta, 1, burn, np.zeros((1, y), np.int64), np.zeros((1, 2)),
           np.zeros((1, y)))
    _chain(prob, st, mode, etab, gamma, theta, beta, n_samples, thin, E, phi, L)
    return (E, phi, L) if prob.cost == spherical.PERCEPTRON else (E, phi)


def grid_energy(inst, activation, K, g, cost=False):
    """E on the grid of angles phi = -pi + (k + 1/2) 2 pi / g per unit: an int array of shape (g,)*K;
    with ``cost`` also the perceptron cost L = sum over errors of sum_l max(0, -sigma c_l x_l)."""
    phis = -np.pi + (np.arange(g) + 0.5) * 2 * np.pi / g
    P = inst.xi.shape[0]
    c = readout(activation, K)
    E = np.zeros((g,) * K, np.int16)
    L = np.zeros((g,) * K)
    for mu in range(P):
        out = 0
        against = 0
        for l in range(K):
            x = np.cos(phis) * inst.xi[mu, 2 * l] + np.sin(phis) * inst.xi[mu, 2 * l + 1]  # H / sqrt(2)
            gl = {"sign": np.sign, "relu": lambda v: np.maximum(v, 0), "tanh": np.tanh}[activation](x)
            shape = (1,) * l + (g,) + (1,) * (K - l - 1)
            out = out + c[l] * gl.reshape(shape)
            against = against + np.maximum(0.0, -inst.sigma[mu] * c[l] * x).reshape(shape)
        err = inst.sigma[mu] * out <= 0
        E += err.astype(np.int16)
        L += np.where(err, against, 0.0)
    return (E, L) if cost else E


def gtest(counts, probs):
    """G-test p-value of observed counts against probabilities, cells with expectation < 5 pooled."""
    counts, probs = np.asarray(counts, float).ravel(), np.asarray(probs, float).ravel()
    exp = probs / probs.sum() * counts.sum()
    order = np.argsort(exp)
    c, e = [], []
    acc_c = acc_e = 0.0
    for k in order:
        acc_c += counts[k]
        acc_e += exp[k]
        if acc_e >= 5:
            c.append(acc_c)
            e.append(acc_e)
            acc_c = acc_e = 0.0
    if acc_e > 0:
        c[-1] += acc_c
        e[-1] += acc_e
    c, e = np.array(c), np.array(e)
    if len(c) < 2:
        return 1.0
    gstat = 2 * np.sum(np.where(c > 0, c * np.log(np.where(c > 0, c, 1) / e), 0.0))
    return float(stats.chi2.sf(gstat, len(c) - 1))


def single_laws(Eg, beta, K, bins, U=None):
    """The grid laws of E and of phi_1 (in ``bins``) under exp(-beta U), U = E unless given."""
    w = np.exp(-beta * (Eg if U is None else U).astype(float))
    pE = np.bincount(Eg.ravel(), weights=w.ravel())
    marg = w.sum(axis=tuple(range(1, K)))  # over phi_2..phi_K: the law of phi_1 on the grid
    pphi = marg.reshape(bins, -1).sum(1)
    return pE, pphi


@pytest.mark.parametrize("activation,K,P,beta,theta,precision", [
    ("relu", 2, 8, 1.0, np.pi, "float64"), ("relu", 2, 8, 1.0, 0.6, "float64"), ("sign", 3, 9, 1.0, np.pi, "float64"),
    ("tanh", 3, 9, 1.0, np.pi, "float64"), ("relu", 2, 8, 1.0, 0.6, "float32"), ("sign", 3, 9, 1.0, np.pi, "float32")])
@pytest.mark.slow
def test_single_machine_on_the_torus_samples_the_boltzmann_law(activation, K, P, beta, theta, precision):
    # theta_max = pi: fresh angles; 0.6: small steps (a one-sided rotation passes at pi, fails here)
    inst, prob, st, mode = torus_machine(activation, K, P, seed=11, precision=precision)
    n_samples = 20000
    E, phi, *_ = run_chain(prob, st, mode, beta, 0.0, n_samples, theta=theta, thin=THIN if theta == np.pi else 60)
    e = E[:, 0]
    assert abs(np.corrcoef(e[:-1], e[1:])[0, 1]) < 0.05  # thinned samples are nearly independent
    g = G if K == 2 else 160
    Eg = grid_energy(inst, activation, K, g)
    bins = 16
    hE = np.bincount(e, minlength=P + 1)
    hphi = np.histogram(phi[:, 0], bins=bins, range=(-np.pi, np.pi))[0]
    pE, pphi = single_laws(Eg, beta, K, bins)
    pE = np.pad(pE, (0, P + 1 - len(pE)))
    assert len(np.unique(e)) >= 4  # a law with something to test
    for h, p in ((hE, pE), (hphi, pphi)):
        assert gtest(h, p) > ALPHA_TEST / 2
    wrong = single_laws(Eg, 1.25 * beta, K, bins)[0]
    assert gtest(hE, np.pad(wrong, (0, P + 1 - len(wrong)))) < ALPHA_TEST  # power: a wrong beta fails


def ensemble_laws(Eg, beta, gamma, P, bins, U=None):
    g = Eg.shape[0]
    phis = -np.pi + (np.arange(g) + 0.5) * 2 * np.pi / g
    k1 = np.exp(gamma * np.cos(phis - phis[0]))  # kernel at offsets delta = phi - phi_0 (circular)
    kf = np.fft.rfft2(np.outer(k1, k1))
    A = np.exp(-beta * (Eg if U is None else U).astype(float))

    def conv(f):  # Z(phit) = sum_phi f(phi) k(phit - phi): the kernel is even, so a correlation
        return np.fft.irfft2(np.fft.rfft2(f) * kf, s=f.shape)

    Ze = [conv(np.where(Eg == e, A, 0.0)) for e in range(P + 1)]
    Z = sum(Ze)
    norm = np.sum(Z * Z)
    joint = np.array([[np.sum(Ze[e] * Ze[f]) / norm for f in range(P + 1)] for e in range(P + 1)])
    # phit grid point k sits at phis[k] (the correlation aligns Z on the same grid)
    pref = (Z * Z).sum(1).reshape(bins, -1).sum(1)
    return np.clip(joint, 0, None), pref


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_explicit_ensemble_on_the_torus_samples_its_joint_law(precision):
    P, beta, gamma = 8, 1.0, 1.5
    inst, prob, st, mode = torus_machine("relu", 2, P, seed=13, y=2, explicit=True, precision=precision)
    E, phi, *_ = run_chain(prob, st, mode, beta, gamma, 20000)
    g = 512
    Eg = grid_energy(inst, "relu", 2, g)
    bins = 16
    joint, pref = ensemble_laws(Eg, beta, gamma, P, bins)
    hjoint = np.zeros((P + 1, P + 1))
    np.add.at(hjoint, (E[:, 0], E[:, 1]), 1)
    href = np.histogram(phi[:, 1], bins=bins, range=(-np.pi, np.pi))[0]
    assert gtest(hjoint, joint) > ALPHA_TEST / 2
    assert gtest(href, pref) > ALPHA_TEST / 2
    wrong_beta = ensemble_laws(Eg, 1.3 * beta, gamma, P, bins)[0]
    assert gtest(hjoint, wrong_beta) < ALPHA_TEST
    wrong_gamma = ensemble_laws(Eg, beta, 0.0, P, bins)[1]  # uncoupled: the reference is uniform
    assert gtest(href, wrong_gamma) < ALPHA_TEST


def cost_law(Lg, beta, edges):
    """The grid law of L under exp(-beta L), in the bins ``edges``."""
    w = np.exp(-beta * Lg)
    return np.histogram(Lg.ravel(), bins=edges, weights=w.ravel())[0]


@pytest.mark.parametrize("activation,K,P,seed,beta,theta,precision", [
    ("relu", 2, 6, 9, 1.5, np.pi, "float64"), ("relu", 2, 6, 9, 1.5, 0.6, "float64"),
    ("sign", 3, 7, 11, 1.5, np.pi, "float64"), ("relu", 2, 6, 9, 1.5, 0.6, "float32"),
    ("sign", 3, 7, 11, 1.5, np.pi, "float32")])
@pytest.mark.slow
def test_perceptron_cost_on_the_torus_samples_exp_minus_beta_L(activation, K, P, seed, beta, theta, precision):
    # anneal.energy: perceptron: the chain's laws of E, phi_1 and L against exp(-beta L) on the grid;
    # instances with solutions (L = 0 on 3-5% of the torus), so the atom of the law at 0 is tested too
    inst, prob, st, mode = torus_machine(activation, K, P, seed=seed, cost="perceptron", precision=precision)
    n_samples = 20000
    E, phi, L = run_chain(prob, st, mode, beta, 0.0, n_samples, theta=theta, thin=THIN if theta == np.pi else 60)
    e, lc = E[:, 0], L[:, 0]
    # L = 0 exactly on the solutions (E = 0); the cached running sum holds the rounding it gathered since
    # the last rebuild there (float64 ~1e-15, float32 ~1e-7), so solutions are told by E
    lc = np.where(e == 0, 0.0, lc)
    g = G if K == 2 else 160
    Eg, Lg = grid_energy(inst, activation, K, g, cost=True)
    assert np.array_equal(Eg == 0, Lg == 0)  # the cost vanishes exactly on the solutions
    bins = 16
    hE = np.bincount(e, minlength=P + 1)
    hphi = np.histogram(phi[:, 0], bins=bins, range=(-np.pi, np.pi))[0]
    pE, pphi = single_laws(Eg, beta, K, bins, U=Lg)
    pE = np.pad(pE, (0, P + 1 - len(pE)))
    edges = np.concatenate([[-1.0, 1e-9], np.quantile(lc[lc > 1e-9], np.linspace(0.1, 0.9, 9)), [Lg.max() + 1]])
    hL = np.histogram(lc, bins=edges)[0]
    assert len(np.unique(e)) >= 3 and hL[0] > 100  # a law with something to test, solutions included
    for h, p in ((hE, pE), (hphi, pphi), (hL, cost_law(Lg, beta, edges))):
        assert gtest(h, p) > ALPHA_TEST / 3
    assert gtest(hL, cost_law(Lg, 1.25 * beta, edges)) < ALPHA_TEST  # power: a wrong beta fails
    assert gtest(hE, np.pad(single_laws(Eg, beta, K, bins)[0], (0, P + 1 - len(pE)))) < ALPHA_TEST  # and E as energy


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_explicit_ensemble_with_the_perceptron_cost_samples_its_joint_law(precision):
    P, beta, gamma = 8, 1.5, 1.5
    inst, prob, st, mode = torus_machine("relu", 2, P, seed=13, y=2, explicit=True, cost="perceptron",
                                         precision=precision)
    E, phi, L = run_chain(prob, st, mode, beta, gamma, 20000)
    g = 512
    Eg, Lg = grid_energy(inst, "relu", 2, g, cost=True)
    bins = 16
    joint, pref = ensemble_laws(Eg, beta, gamma, P, bins, U=Lg)
    hjoint = np.zeros((P + 1, P + 1))
    np.add.at(hjoint, (E[:, 0], E[:, 1]), 1)
    href = np.histogram(phi[:, 1], bins=bins, range=(-np.pi, np.pi))[0]
    assert gtest(hjoint, joint) > ALPHA_TEST / 2
    assert gtest(href, pref) > ALPHA_TEST / 2
    assert gtest(hjoint, ensemble_laws(Eg, 1.5 * beta, gamma, P, bins, U=Lg)[0]) < ALPHA_TEST
    assert gtest(href, ensemble_laws(Eg, beta, 0.0, P, bins, U=Lg)[1]) < ALPHA_TEST
