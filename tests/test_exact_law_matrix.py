"""Every sampler mode a user can configure is checked against an exact law (issue 28, item 6).

``law_matrix.cells()`` lists the combinations the config validation accepts; every one must be
checked by an exact-law test (``law_matrix.coverage()``, whose node ids must exist). The cells no
other file checked are checked here by one test: the config of the cell, run through
``anneal.anneal`` (the real driver, one record per block of ``record_every`` = THIN sweeps) at constant beta and
gamma, on machines small enough for the exact law:

- binary weights: all 2^Nw weight vectors enumerated (``exact_oracle``): the law of the annealed
  energy U (the error count, or the least-action cost of ``test_least_action.Brute``) under
  exp(-beta U); with y = 2 and an explicit reference the joint law of (U(W^1), W~.W^1) and the law of
  W^1.W^2 (``exact_oracle.replicated_laws``), with a traced reference the law of U(W^1) and of W^1.W^2;
- spherical weights with fan-in n = 2: each unit is one angle, W_l = sqrt(2) (cos phi_l, sin phi_l),
  and the law is computed on a grid of the K-torus (``test_spherical_exact``): E (and the perceptron
  cost L) under exp(-beta U); with an explicit reference (y = 2, coupling gamma sum_a sum_l
  cos(phit_l - phi^a_l)) the joint law of (E_1, E_2) and the law of the reference overlap
  p_1 = Wt.W^1 / Nw = mean_l cos(phit_l - phi^1_l) in bins, by circular convolutions on the grid.

Each cell's G-tests share a false-alarm rate ALPHA_FA = 1e-3 (Bonferroni over its comparisons; fixed
seeds). Power: the same counts must reject (p < ALPHA_FA) the law at a wrong beta (y = 1) or at a
wrong gamma (ensembles).
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import law_matrix
from exact_oracle import all_weights, boltzmann_energy_law, energies_of_all, g_test, lag1_autocorrelation
from relusim import anneal, config
from relusim.models import instance, machine
from relusim.models.activations import parse

ALPHA_FA = 1e-3
KEPT, BURN = 2500, 20  # records kept, records discarded
THIN = {"binary": 30, "rrr": 10, "spherical": 10}  # sweeps per record (one record_every block)
BETA, GAMMA = 1.0, 0.5
WRONG_BETA, WRONG_GAMMA = 1.5, 0.0  # factors of the power checks


# ------------------------------------------------------------------------------- the matrix --

def test_every_configurable_mode_has_an_exact_law_check():
    covered = law_matrix.coverage()
    missing = [c.id for c in law_matrix.cells() if c.id not in covered]
    assert not missing, f"{len(missing)} configurable modes have no exact-law test: {missing}"


def test_the_map_names_only_configurable_cells_and_every_kernel_family():
    ids = {c.id for c in law_matrix.cells()}
    assert set(law_matrix.coverage()) <= ids
    for weights in config.PRIORS:  # a new activation kernel needs its representative in PREFERRED
        assert law_matrix.every_family(weights) == {law_matrix.family(weights, a)
                                                    for a in law_matrix.family_members(weights)}


def test_every_mapped_node_id_exists():
    nodes = {n for ns in law_matrix.coverage().values() for n in ns}
    files = sorted({n.split("::")[0] for n in nodes})
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", "-p",
                          "no:cacheprovider", "-o", "addopts=", *files], cwd=root, capture_output=True, text=True)
    collected = set(out.stdout.split())
    assert not nodes - collected, sorted(nodes - collected)


# ------------------------------------------------------------------------------ the gap cells --

SIZES = {  # (weights, architecture, activation) -> N, K, P: enumerable (2^Nw <= 1024; the sizes of
    # the other exact-law files where they exist, so that the drivers they compile are reused) or a torus (n = 2)
    ("binary", "tree", "sign"): (9, 3, 6), ("binary", "tree", "quadratic"): (8, 2, 6),
    ("binary", "fully_connected", "sign"): (3, 3, 7), ("binary", "fully_connected", "relu"): (5, 2, 8),
    ("binary", "fully_connected", "tanh"): (3, 3, 7), ("binary", "fully_connected", "quadratic"): (5, 2, 8),
}


# With N = 2 fully connected, an even g sees the two input directions (1, 1) and (1, -1) only, and
# h_1^2 + h_2^2 is the same for both: quadratic units give out(1, -1) = -out(1, 1), so most instances
# have one constant error count; this one has three.
SPHERICAL_INSTANCE = {("fully_connected", "quadratic"): (3, 1)}  # P, seed


def sizes(cell):
    """N, K, P and the seed of the cell's instance."""
    if cell.weights == "binary":
        return (*SIZES[cell.weights, cell.architecture, cell.activation], 3)
    K = 3 if parse(cell.activation).odd else 2
    P, seed = SPHERICAL_INSTANCE.get((cell.architecture, cell.activation), (8, 3))
    return (2 * K if cell.architecture == "tree" else 2), K, P, seed


def run_cell(cell, tmp_path):
    """(instance, trace) of the cell's config at constant (BETA, GAMMA), one record every THIN sweeps."""
    N, K, P, seed = sizes(cell)
    nw = N * (K if cell.architecture == "fully_connected" else 1)
    y = 1 if cell.form == "y1" else 2
    thin = THIN["rrr" if cell.sampler == "rrr" else cell.weights]
    d = {"seed": seed, "samples": 1, "output": str(tmp_path / "x.h5"),
         "model": {"weights": cell.weights, "activation": cell.activation, "N": N, "K": K, "alpha": P / nw,
                   "architecture": cell.architecture},
         "ensemble": {"replicas": y, **({"reference": cell.form, "gamma": GAMMA} if y > 1 else {})},
         "anneal": {"sampler": cell.sampler, "rrr_below": 2.0, "energy": cell.energy, "precision": cell.precision,
                    "beta": BETA, "record_every": thin, "sweeps": (BURN + KEPT) * thin, "stop_when_solved": False,
                    "step": {"theta_max": float(np.pi), "adapt": False}}}
    cfg = config.from_dict(d)
    assert cfg.model.P == P
    inst = instance.make(N, P, seed, 0)
    problem = anneal.make_problem(cfg, inst.xi, inst.sigma)
    chain = anneal.init_chain(cfg, problem, instance.stream(seed, 0, instance.DYNAMICS))
    trace = anneal.anneal(cfg, problem, chain)
    return inst, K, nw, {k: v[BURN:] for k, v in trace.items()}


def mutual_law(U_all, W, beta, gamma):
    """Law of W^1.W^2 over (W^1.W^2 + Nw) / 2 for y = 2 replicas coupled to one reference (summed out):
    P(W^1, W^2) ~ sum_ref exp(-beta (U^1 + U^2) + gamma ref.(W^1 + W^2)) (docs/model.md §7)."""
    nw = W.shape[1]
    G = W.astype(np.int64) @ W.T.astype(np.int64)
    logw = -beta * U_all[None, :] + gamma * G  # (ref, W)
    wts = np.exp(logw - logw.max())
    M = wts.T @ wts  # (W^1, W^2), the reference summed out
    law = np.bincount(((G + nw) // 2).ravel(), weights=M.ravel(), minlength=nw + 1)
    return law / law.sum()


def joint_law(U_all, W, beta, gamma):
    """Joint law of (U(W^1), ref.W^1) over [U, (ref.W + Nw) / 2] for y = 2 and an explicit reference."""
    nw = W.shape[1]
    G = W.astype(np.int64) @ W.T.astype(np.int64)
    logw = -beta * U_all[None, :] + gamma * G
    wts = np.exp(logw - logw.max())
    Z = wts.sum(1)
    joint = np.zeros((U_all.max() + 1, nw + 1))
    np.add.at(joint, (np.broadcast_to(U_all, G.shape), (G + nw) // 2), Z[:, None] * wts)
    return joint / joint.sum()


def binary_energies(cell, inst, K):
    arch = cell.architecture
    if cell.energy == "errors":
        return energies_of_all(inst.xi, inst.sigma, cell.activation, K, arch)
    from test_least_action import Brute

    nw = machine.n_weights(inst.xi.shape[1], K, arch)
    brute = Brute(nw, inst.xi, inst.sigma, K, cell.activation, arch == "fully_connected")
    D = (nw - brute.Wall.astype(np.int64) @ brute.Wall.T.astype(np.int64)) // 2
    return np.array([D[:, brute.right[:, mu]].min(1) for mu in range(inst.xi.shape[0])]).sum(0)


def gtest_kept(counts, law):
    """G-test over the cells the law allows; a count where the law is 0 fails."""
    counts, law = np.asarray(counts, float).ravel(), np.asarray(law, float).ravel()
    keep = law > 0
    assert counts[~keep].sum() == 0
    return g_test(counts[keep], law[keep] / law[keep].sum())


def check_binary(cell, inst, K, nw, tr):
    U_all = binary_energies(cell, inst, K)
    W = all_weights(nw)
    U = tr["energy" if cell.energy == "errors" else "cost"][:, 0].astype(np.int64)
    assert abs(lag1_autocorrelation(U)) < 0.1
    top = int(U_all.max()) + 1
    if cell.form == "y1":
        counts = np.bincount(U, minlength=top)
        assert gtest_kept(counts, boltzmann_energy_law(U_all, BETA, top - 1)) > ALPHA_FA
        assert gtest_kept(counts, boltzmann_energy_law(U_all, WRONG_BETA * BETA, top - 1)) < ALPHA_FA
        return
    q = np.rint(tr["overlap"] * nw).astype(np.int64)  # y = 2: q-bar = W^1.W^2 / Nw
    mq = np.bincount((q + nw) // 2, minlength=nw + 1)
    if cell.form == "explicit":
        p = np.rint(tr["reference_overlap"][:, 0] * nw).astype(np.int64)
        counts = np.zeros((top, nw + 1))
        np.add.at(counts, (U, (p + nw) // 2), 1)
        first = gtest_kept(counts, joint_law(U_all, W, BETA, GAMMA))
        wrong = gtest_kept(counts, joint_law(U_all, W, BETA, WRONG_GAMMA * GAMMA))
    else:
        counts = np.bincount(U, minlength=top)
        marg = joint_law(U_all, W, BETA, GAMMA).sum(1)
        first = gtest_kept(counts, marg)
        wrong = gtest_kept(mq, mutual_law(U_all, W, BETA, WRONG_GAMMA * GAMMA))
    assert first > ALPHA_FA / 2
    assert gtest_kept(mq, mutual_law(U_all, W, BETA, GAMMA)) > ALPHA_FA / 2
    assert wrong < ALPHA_FA


# ---------------------------------------------------------------------- spherical: the torus --

GRID = {2: 256, 3: 72}  # grid points per angle, by K
P_BINS = 12  # bins of the reference overlap p in [-1, 1]
L_BINS = 8


def torus_energy(cell, inst, K, g):
    """E and the perceptron cost L on the grid phi = -pi + (k + 1/2) 2 pi / g of every unit's angle:
    arrays of shape (g,) * K (docs/algorithms.md §4.1: L sums max(0, -sigma c_l h_l) over the errors)."""
    phis = -np.pi + (np.arange(g) + 0.5) * 2 * np.pi / g
    c = machine.output_weights(cell.activation, K)
    gfun = parse(cell.activation).g
    E, L = np.zeros((g,) * K, np.int16), np.zeros((g,) * K)
    for mu in range(inst.xi.shape[0]):
        out = against = 0
        for l in range(K):
            i = 2 * l if cell.architecture == "tree" else 0
            h = (np.cos(phis) * inst.xi[mu, i] + np.sin(phis) * inst.xi[mu, i + 1]).reshape((1,) * l + (g,) + (1,) * (K - l - 1))
            out = out + c[l] * gfun(h)
            against = against + np.maximum(0.0, -inst.sigma[mu] * c[l] * h)
        err = inst.sigma[mu] * out <= 0
        E += err.astype(np.int16)
        L += np.where(err, against, 0.0)
    return E, L


def torus_laws(E, U, beta, gamma, P, p_edges):
    """Laws under weight exp(-beta U): y = 1, (law of E, None); y = 2 with an explicit reference and
    coupling gamma sum_l cos(phit_l - phi_l) per replica, (joint law of (E_1, E_2), law of p_1 in bins).
    Given the reference, the replicas are independent: Z(phit) = (A * k)(phit), A = exp(-beta U),
    k = prod_l exp(gamma cos); p(E_1 = e, E_2 = f) ~ sum Z_e Z_f, p(p_1 in b) ~ sum Z (A * k_b)."""
    A = np.exp(-beta * (U - U.min()))
    if gamma is None:
        return np.bincount(E.ravel(), weights=A.ravel(), minlength=P + 1), None
    K, g = E.ndim, E.shape[0]
    d = np.arange(g) * 2 * np.pi / g  # the kernel at offsets phit - phi on the grid (circular)
    cosd = sum(np.cos(d).reshape((1,) * l + (g,) + (1,) * (K - l - 1)) for l in range(K))
    k = np.exp(gamma * cosd)
    kf = np.fft.rfftn(k)

    def conv(f, kernel_f=kf):
        return np.fft.irfftn(np.fft.rfftn(f) * kernel_f, s=f.shape, axes=tuple(range(f.ndim)))

    Ze = [conv(np.where(E == e, A, 0.0)) for e in range(P + 1)]
    Z = sum(Ze)
    joint = np.array([[np.sum(Ze[e] * Ze[f]) for f in range(P + 1)] for e in range(P + 1)])
    pb = np.digitize(cosd / K, p_edges) - 1
    pref = np.array([np.sum(Z * conv(A, np.fft.rfftn(np.where(pb == b, k, 0.0)))) for b in range(len(p_edges) - 1)])
    return np.clip(joint, 0, None), np.clip(pref, 0, None)


def check_spherical(cell, inst, K, nw, tr):
    P = inst.xi.shape[0]
    E_grid, L_grid = torus_energy(cell, inst, K, GRID[K])
    cost = cell.energy == "perceptron"
    U = L_grid if cost else E_grid.astype(float)
    E = tr["energy"]
    assert abs(lag1_autocorrelation(E[:, 0])) < 0.1
    assert len(np.unique(E[:, 0])) >= 2  # a law with something to test
    if cell.form == "y1":
        hE = np.bincount(E[:, 0], minlength=P + 1)
        tests = [(hE, torus_laws(E_grid, U, BETA, None, P, None)[0])]
        wrong = (hE, torus_laws(E_grid, U, WRONG_BETA * BETA, None, P, None)[0])
        if cost:
            Lc = np.where(E[:, 0] == 0, 0.0, tr["cost"][:, 0])
            edges = np.concatenate([[-1.0, 1e-9], np.quantile(Lc[Lc > 1e-9], np.linspace(0, 1, L_BINS + 1)[1:-1]),
                                    [L_grid.max() + 1]])
            hL = np.histogram(Lc, bins=edges)[0]
            w = np.exp(-BETA * L_grid)
            tests.append((hL, np.histogram(L_grid.ravel(), bins=edges, weights=w.ravel())[0]))
        for h, law in tests:
            assert gtest_kept(h, law) > ALPHA_FA / len(tests)
        assert gtest_kept(*wrong) < ALPHA_FA
        return
    p_edges = np.linspace(-1, 1, P_BINS + 1)
    p_edges[-1] += 1e-9
    hjoint = np.zeros((P + 1, P + 1))
    np.add.at(hjoint, (E[:, 0], E[:, 1]), 1)
    hp = np.histogram(tr["reference_overlap"][:, 0], bins=p_edges)[0]
    joint, pref = torus_laws(E_grid, U, BETA, GAMMA, P, p_edges)
    assert gtest_kept(hjoint, joint) > ALPHA_FA / 2
    assert gtest_kept(hp, pref) > ALPHA_FA / 2
    assert gtest_kept(hp, torus_laws(E_grid, U, BETA, WRONG_GAMMA * GAMMA, P, p_edges)[1]) < ALPHA_FA


@pytest.mark.slow
@pytest.mark.parametrize("cell_id", law_matrix.FILLED)
def test_every_gap_cell_samples_its_exact_law(tmp_path, cell_id):
    cell = law_matrix.Cell(*cell_id.split("-"))
    inst, K, nw, tr = run_cell(cell, tmp_path)
    (check_binary if cell.weights == "binary" else check_spherical)(cell, inst, K, nw, tr)
