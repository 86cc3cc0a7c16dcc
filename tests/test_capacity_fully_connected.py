"""relusim capacity on fully connected networks (every unit sees all N inputs, K N weights):
alpha per weight, the exact search against a 2^(K N) enumeration that shares no code with it, both
methods end to end through the command line, resume, and the refusal of sizes the search cannot reach."""
import json

import h5py
import numpy as np
import pytest

from cli_helpers import relusim_here, write_config
from relusim.capacity import grid as cap
from relusim.capacity import exact as ce
from relusim.models import machine
from relusim.config import from_dict
from relusim.priors import binary

FC = "fully_connected"


def _random(rng, N, P):
    xi = (2 * rng.integers(0, 2, (P, N)) - 1).astype(np.int8)
    sigma = (2 * rng.integers(0, 2, P) - 1).astype(np.int8)
    return xi, sigma


@pytest.mark.parametrize("activation,K,Ns", [
    ("sign", 3, (3, 5)), ("sign", 5, (3,)), ("sign", 3, (4, 6)),  # even N: zero fields, sgn(0) = 0 an error
    ("relu", 2, (4, 6, 8)), ("relu", 4, (3, 4)), ("relu", 6, (3,)),
])
def test_exact_fully_connected_search_agrees_with_the_brute_force_twin(activation, K, Ns):
    """SAT/UNSAT of the multiset search (unit vectors, dominance, permutation and sign-flip symmetry,
    suffix-max bound) equals the 2^(K N) enumeration of ``brute_force_fully_connected`` on random
    instances at alpha = P/(K N) from 0.2 to 0.9; every SAT witness has K N weights and zero energy
    under ``relusim.models.machine`` with the fully connected architecture; both answers occur."""
    rng = np.random.default_rng(100 * K + sum(Ns) + len(activation))
    outcomes = []
    for N in Ns:
        for alpha in (0.2, 0.4, 0.6, 0.9):
            for _ in range(4):
                xi, sigma = _random(rng, N, max(1, round(alpha * K * N)))
                res = ce.solve(xi, sigma, activation, K, architecture=FC)
                assert res.status in (ce.SAT, ce.UNSAT)
                twin = ce.brute_force_fully_connected(xi, sigma, activation, K)
                assert (res.status == ce.SAT) == twin, (N, xi, sigma)
                if res.status == ce.SAT:
                    assert res.weights.shape == (K * N,) and res.weights.dtype == np.int8
                    assert set(np.unique(res.weights)) <= {-1, 1}
                    assert machine.energy(res.weights, xi, sigma, activation, K, FC) == 0
                outcomes.append(res.status)
    assert outcomes.count(ce.SAT) >= 3 and outcomes.count(ce.UNSAT) >= 3, outcomes


def test_brute_force_twin_finds_what_the_model_says_and_nothing_else():
    """The twin itself: on an instance built around a planted network it says SAT, and after the
    planted labels of two copies of one pattern are made to disagree it says UNSAT (no network can
    give one input two outputs)."""
    rng = np.random.default_rng(7)
    K, N, P = 3, 5, 6
    w = (2 * rng.integers(0, 2, K * N) - 1).astype(np.int8)
    xi = (2 * rng.integers(0, 2, (P, N)) - 1).astype(np.int8)
    sigma = np.sign(machine.integer_output(w, xi, "sign", K, FC)).astype(np.int8)
    assert ce.brute_force_fully_connected(xi, sigma, "sign", K)
    xi[1], sigma[1] = xi[0], -sigma[0]
    assert not ce.brute_force_fully_connected(xi, sigma, "sign", K)
    assert ce.solve(xi, sigma, "sign", K, architecture=FC).status == ce.UNSAT
    with pytest.raises(ValueError):
        ce.brute_force_fully_connected(np.ones((2, 7), np.int8), np.ones(2, np.int8), "sign", 3)


def test_fully_connected_node_budget_gives_unknown_not_a_guess():
    rng = np.random.default_rng(2)
    xi, sigma = _random(rng, 9, 21)
    full = ce.solve(xi, sigma, "sign", 3, architecture=FC)
    assert full.nodes > 10
    assert ce.solve(xi, sigma, "sign", 3, budget=10, architecture=FC).status == ce.UNKNOWN


def _base(out, activation="sign", K=3, N=5, **model_keys):
    return {"seed": 2, "model": {"activation": activation, "K": K, "N": N, "architecture": FC, **model_keys},
            "anneal": {"sweeps": 300, "beta": {"start": 1.0, "stop": 8.0}, "record_every": 50},
            "output": str(out)}


def test_plan_counts_alpha_per_weight():
    """P = round(alpha K N) for a fully connected plan (alpha = 0.5, K = 3, N = 5: P = 8, not 3);
    the config of every point gives that P back; a tree keeps P = round(alpha N)."""
    fc = cap.make_plan(from_dict(_base("x.h5")), "exact", "0.3,0.5,0.9",
                       "5,7", "3,5", 2)
    assert fc.Ps(5, 3) == (5, 8, 14) and fc.Ps(7, 5) == (11, 18, 32)  # half up
    with pytest.raises(ValueError):
        fc.Ps(5)
    for K, N, P in fc.points():
        assert fc.point_config(K, N, P).model.P == P and fc.weights(K, N) == K * N
    assert cap.count_instances(fc) == len(fc.instances())
    tree = cap.make_plan(from_dict({"model": {"activation": "sign", "K": 3, "N": 9}, "output": "x.h5"}),
                         "exact", "0.5", "9,15", "3", 2)
    assert tree.Ps(9) == tree.Ps(9, 3) == (5,) and tree.point_config(3, 15, 8).model.P == 8


def test_default_alpha_grid_brackets_the_fully_connected_transitions():
    """No --alpha: the fully connected grid holds P(SAT) ~ 1 at its low end and ~ 0 at its high end
    (exact, sign K = 3 N = 5 and 9, ReLU K = 2 N = 6; 16 instances at each end)."""
    for act, K, N in (("sign", 3, 5), ("sign", 3, 9), ("relu", 2, 6)):
        plan = cap.make_plan(from_dict(_base("x.h5", act, K, N)), "exact", None, str(N), None, 16)
        assert plan.alphas == cap.parse_alpha(binary.DEFAULT_ALPHA["fully_connected"])
        ends = [np.mean([cap.solve_instance(plan, K, N, P, i).status for i in range(16)])
                for P in (plan.Ps(N, K)[0], plan.Ps(N, K)[-1])]
        assert ends[0] >= 0.9 and ends[1] <= 0.1, (act, K, N, ends)


@pytest.mark.parametrize("method", ["exact", "anneal"])
@pytest.mark.slow
def test_both_methods_run_fully_connected_configs_end_to_end_and_resume(tmp_path, method):
    """``relusim capacity`` on sign K = 3 fully connected (N = 5, 7 exact; N = 7 anneal), through the
    command line: exit 0, the table says alpha is per weight and labels the theory an asymptote; the
    file's P are round(alpha K N), its alpha P/(K N), every witness K N weights of zero energy; the
    fractions are 1 at alpha = 0.1 and 0 at 1.3 (P > K N + 2: more patterns than weights, and at these
    N the exact 50% points are 0.4-0.6); a second run resumes (nothing run again), and a run grown from
    fewer samples gives the bits of a run made at once."""
    base = write_config(tmp_path / "b.yaml", _base(tmp_path / "x.h5", N=7))
    Ns = "5,7" if method == "exact" else "7"
    args = ["capacity", "--config", base, "--N", Ns, "--alpha", "0.1,0.5,1.3", "--method", method,
            "--workers", 1, "--bootstrap", 5, "--quiet"]
    out = tmp_path / "c.h5"
    rc, so, se = relusim_here(*args, "--samples", 4, "--out", out, "--json", tmp_path / "c.json")
    assert rc == 0, se
    assert "alpha = P/(K N), patterns per weight" in so
    assert "leading order K -> infinity" in so and "not a finite-K prediction" in so
    with h5py.File(out, "r") as f:
        assert f.attrs["architecture"] == FC and f.attrs["finished"]
        for N in map(int, Ns.split(",")):
            g = f[f"instances/K3/N{N}"]
            assert list(g["P"][()]) == sorted({max(1, int(np.floor(a * 3 * N + 0.5))) for a in (0.1, 0.5, 1.3)})
            assert np.allclose(g["alpha"][()], g["P"][()] / (3 * N)) and g.attrs["n_weights"] == 3 * N
            assert g["witness"].shape[-1] == 3 * N
            st = g["status"][()]
            assert (st[0] == 1).all() and (st[-1] == 0).all(), st
    d = json.loads((tmp_path / "c.json").read_text())
    assert d["architecture"] == FC and d["by_K"]["3"]["theory"]["alpha"] == 1.0
    fr = [p["fraction"] for p in d["by_K"]["3"]["points"]]
    assert all(0.0 <= x <= 1.0 for x in fr)
    _, recs = cap.load_records(out)
    for r in recs:
        if r.status == 1:
            xi, sigma = cap.make_instance(2, r.K, r.N, r.P, r.i)
            assert r.witness.shape == (3 * r.N,)
            assert machine.energy(r.witness, xi, sigma, "sign", 3, FC) == 0
    rc, so, se = relusim_here(*args, "--samples", 4, "--out", out)
    assert rc == 0 and "(0 run now)" in so, (so, se)
    part = tmp_path / "part.h5"
    assert relusim_here(*args, "--samples", 2, "--out", part)[0] == 0
    # a run killed mid-way: its journal holds one more finished instance (witness of K N weights)
    sha = h5py.File(part, "r").attrs["capacity_sha256"]
    extra = [r for r in recs if r.i == 2 and r.status == 1][:1]
    journal = cap.results.parts_dir(part) / "instances.jsonl"
    journal.parent.mkdir(exist_ok=True)
    journal.write_text("".join(r.to_json(sha) + "\n" for r in extra))
    rc, so, se = relusim_here(*args, "--samples", 4, "--out", part)
    assert rc == 0, se
    assert cap.check_bits(recs, cap.load_records(part)[1])


def test_spherical_fully_connected_anneal_runs(tmp_path):
    """Spherical weights, ReLU K = 2 fully connected: the anneal (perceptron cost) runs, P per weight."""
    base = from_dict({"seed": 1, "model": {"activation": "relu", "weights": "spherical", "K": 2, "N": 8,
                                           "architecture": FC},
                      "anneal": {"sweeps": 200, "beta": {"start": 1.0, "stop": 1000.0}, "record_every": 100,
                                 "energy": "perceptron"},
                      "output": str(tmp_path / "s.h5")})
    plan = cap.make_plan(base, "anneal", "0.25,3.0", "8", None, 2)
    assert plan.Ps(8, 2) == (4, 48)
    a = cap.run(plan, str(tmp_path / "sph.h5"), workers=1, quiet=True, bootstrap=2).analysis["by_K"][2]
    assert [p["solved"] for p in a["points"]] == [2, 0], a["points"]
    assert "leading order K -> infinity" in a["theory"]["label"]


@pytest.mark.parametrize("argv,what", [
    (("--K", "3", "--N", "5,17"), "reaches N <= 15 inputs"),  # 2^17 vectors per unit: not in 3e9 nodes
    (("--K", "5", "--N", "11"), "reaches N <= 10 inputs"),
    (("--K", "3", "--N", "16"), "reaches N <= 15 inputs"),
])
def test_exact_refuses_fully_connected_sizes_it_cannot_search_in_one_line(tmp_path, argv, what, capsys):
    from relusim.cli.main import main

    base = write_config(tmp_path / "b.yaml", _base(tmp_path / "x.h5", allow_ties=True))
    with pytest.raises(SystemExit) as exc:
        main(["capacity", "--config", base, *argv, "--alpha", "0.5", "--method", "exact",
              "--out", str(tmp_path / "c.h5")])
    se = capsys.readouterr().err
    assert exc.value.code == 2 and len(se.strip().splitlines()) == 1 and "--N" in se and what in se, se
    assert not (tmp_path / "c.h5").exists()
