"""The extrapolated capacity's two errors (``relusim.capacity.fss.extrapolate_with_systematics``) and the 50% points
that lie off the grid (``relusim.capacity.analysis.beyond_grid``).

Systematics are tested on Asimov data sets: every count is its expectation, k = n P(alpha, N), so a fit
recovers the law it was drawn from exactly and what remains is the bias of a wrong form, which the
systematic error must cover. The statistical error of the default fit (1/N over all sizes) must be
the number it was before the systematics existed.
"""
import json
import math
from dataclasses import asdict

import h5py
import numpy as np
import pytest
from scipy.special import expit

from cli_helpers import relusim_here, write_config
from relusim.capacity import grid as cap
from relusim.capacity import fss
from relusim.capacity.analysis import capacity_lines, table
from relusim.config import from_dict

SIZES = (9, 15, 21, 27, 33)  # those of the README's sign K = 3 capacity


def asimov(a50, width, sizes=SIZES, n=64, grid=np.arange(0.60, 1.2001, 0.01)):
    """Points (alpha, N, k, n) with k = n / (1 + exp((alpha - a50(N)) / width(N))) exactly."""
    A, Ns, k, nn = [], [], [], []
    for N in sizes:
        for a in grid:
            A.append(a), Ns.append(N), nn.append(n), k.append(n * expit(-(a - a50(N)) / width(N)))
    return tuple(np.array(v, float) for v in (A, Ns, k, nn))


def systematics(points, bootstrap=40):
    """The chain ``capacity.analysis.analyse`` runs: a 50% point per size, then the extrapolations."""
    A, Ns, k, n = points
    mids = [fss.midpoint(A[Ns == N], k[Ns == N], n[Ns == N], int(N), bootstrap=bootstrap, seed=1)
            for N in np.unique(Ns)]
    nf = fss.fit_scaling(A, Ns, k, n, bootstrap=0)
    sy = fss.extrapolate_with_systematics([m.N for m in mids], [m.alpha50 for m in mids], [m.err for m in mids],
                                          points)
    return mids, nf, sy


def as_analysis(sy):
    return {"alpha_inf": sy.alpha_inf, "err": sy.stat, "sizes": len(SIZES), "sys": sy.sys,
            "fits": len(sy.variants) + 1, "forms_disagree": sy.disagree,
            "variants": [asdict(v) for v in sy.variants]}


def test_a_1_over_N2_term_is_covered_by_the_systematic_error_and_warned_about():
    """alpha_50(N) = 0.9 - 0.5/N + 8/N^2 (0.943 at N = 9, 0.892 at N = 33; widths 0.45/N), 64
    instances per point: the 1/N fit over N = 9..33 is biased by more than its statistical error, the
    1/N + 1/N^2 fits recover 0.9, so sys >= |default - 0.9| and the warning line is printed."""
    truth = 0.9
    mids, _, sy = systematics(asimov(lambda N: truth - 0.5 / N + 8 / N ** 2, lambda N: 0.45 / N))
    assert all(abs(m.alpha50 - (truth - 0.5 / m.N + 8 / m.N ** 2)) < 1e-4 for m in mids)
    bias = abs(sy.alpha_inf - truth)
    assert bias > sy.stat  # the case the issue found: the quoted error does not cover the truth
    assert sy.sys >= bias  # the systematic error does
    assert sy.disagree and abs(sy.farthest.alpha_inf - truth) < 1e-3 and sy.farthest.z > 3
    quad = [v for v in sy.variants if v.form == "1/N + 1/N^2" and v.window == "all sizes"][0]
    assert abs(quad.alpha_inf - truth) < 1e-3 and quad.dof == 2
    assert {v.form for v in sy.variants} == {"1/N", "1/N + 1/N^2", "Nadler-Fink"}
    lines = capacity_lines(3, as_analysis(sy), "exact")
    assert len(lines) == 2 and lines[1].startswith("    warning: K = 3: the fit forms and size windows disagree")
    assert f"alpha_c = {sy.alpha_inf:.3f} +- {sy.stat:.3f} (stat) +- {sy.sys:.3f} (sys)" in lines[0]


def test_forms_that_agree_give_no_warning():
    """The Nadler-Fink law with nu = 1: alpha_50(N) = 0.9 - 0.45/N exactly, widths 0.45/N. Every form
    over every window recovers 0.9 (the 1/N^2 coefficient vanishes, Nadler-Fink is the law itself):
    sys is far below stat, and the line has no warning."""
    _, nf, sy = systematics(asimov(lambda N: 0.9 - 0.45 / N, lambda N: 0.45 / N))
    assert abs(nf.alpha_c - 0.9) < 1e-4 and abs(nf.nu - 1) < 1e-2
    assert abs(sy.alpha_inf - 0.9) < 1e-4
    assert len(sy.variants) == 6  # 1/N: 2 reduced windows; 1/N + 1/N^2: all sizes (the reduced windows have
    # errors above 4 stat here); Nadler-Fink: 3
    assert sy.sys < 0.1 * sy.stat and not sy.disagree
    lines = capacity_lines(3, as_analysis(sy), "anneal")
    assert len(lines) == 1 and "alpha_alg = 0.900 +-" in lines[0] and "warning" not in lines[0]


def test_the_statistical_error_of_the_default_fit_is_unchanged():
    """The numbers ``extrapolate_midpoints`` gave before the systematics existed (main at c4f13fd), to
    the last bits, and the central value and stat of ``extrapolate_with_systematics`` are those."""
    Ns, a, e = [9, 15, 21, 27, 33], [0.912, 0.897, 0.901, 0.890, 0.901], [0.012, 0.011, 0.017, 0.009, 0.017]
    x = fss.extrapolate_midpoints(Ns, a, e)
    assert (x.alpha_inf, x.err, x.b, x.dof) == (0.8842798075719498, 0.01235376806456214, 0.23614085016496722, 3)
    assert x.chi2 == pytest.approx(0.6240575255494789, rel=1e-12)
    x3 = fss.extrapolate_midpoints([15, 25, 35], [0.93, 0.912, 0.904], [0.014, 0.012, 0.016])
    assert (x3.alpha_inf, x3.err) == (0.8846877525428478, 0.025322982614930926)
    sy = fss.extrapolate_with_systematics(Ns, a, e)
    assert (sy.alpha_inf, sy.stat) == (x.alpha_inf, x.err)
    sy3 = fss.extrapolate_with_systematics([15, 25, 35], [0.93, 0.912, 0.904], [0.014, 0.012, 0.016])
    assert (sy3.alpha_inf, sy3.stat) == (x3.alpha_inf, x3.err)
    assert sy3.variants == () and math.isnan(sy3.sys)  # three sizes, no counts: nothing else has a dof left
    assert "sys not estimated" in capacity_lines(5, as_analysis(sy3), "exact")[0]


def test_the_systematics_reach_the_outputs(tmp_path):
    """Through the CLI: the stat +- sys line in the table, the fields in the JSON and the HDF5 file
    (added beside the old ones, which keep their names and meaning)."""
    base = write_config(tmp_path / "b.yaml", {"seed": 1, "model": {"activation": "sign", "K": 3, "N": 9},
                                              "output": str(tmp_path / "x.h5")})
    out = tmp_path / "c.h5"
    rc, so, se = relusim_here("capacity", "--config", base, "--K", "3", "--N", "9,15,21,27", "--alpha", "0.6:1.3:0.1",
                              "--samples", 8, "--method", "exact", "--workers", 1, "--out", out, "--bootstrap", 5,
                              "--json", tmp_path / "a.json", "--quiet")
    assert rc == 0, se
    d = json.loads((tmp_path / "a.json").read_text())["by_K"]["3"]["midpoint_extrapolation"]
    assert {"alpha_inf", "err", "b", "sizes", "chi2", "dof"} <= set(d)  # the old fields, kept
    assert {"sys", "sys_rule", "fits", "forms_disagree", "variants"} <= set(d)
    assert d["fits"] == len(d["variants"]) + 1 >= 4
    assert f"K = 3: alpha_c = {d['alpha_inf']:.3f} +- {d['err']:.3f} (stat) +- {d['sys']:.3f} (sys)" in so
    assert ("warning: K = 3" in so) == d["forms_disagree"] == (d["sys"] > d["err"])
    with h5py.File(out, "r") as f:
        g = f["analysis/K3/midpoint_extrapolation"]
        assert g.attrs["err"] == pytest.approx(d["err"]) and g.attrs["sys"] == pytest.approx(d["sys"])
        assert [s.decode() for s in g["variants/form"][()]] == [v["form"] for v in d["variants"]]
        assert np.allclose(g["variants/alpha_inf"][()], [v["alpha_inf"] for v in d["variants"]])


def test_50_percent_points_off_the_grid_say_where(tmp_path):
    """No alpha solved at an N: 'below alpha_min' with the smallest alpha, not '-'; every alpha solved:
    'above alpha_max' with the largest. The JSON and HDF5 files say the same (beyond_grid -1 / +1)."""
    base = from_dict({"seed": 1, "model": {"activation": "sign", "K": 3, "N": 9}, "output": str(tmp_path / "x.h5")})
    for spec, side, word in (("2.5,3.0", -1, "below alpha_min"), ("0.1,0.2", 1, "above alpha_max")):
        plan = cap.make_plan(base, "exact", spec, "9,15", None, 4)
        a = cap.run(plan, str(tmp_path / f"{side}.h5"), workers=1, quiet=True, bootstrap=5).analysis
        k = a["by_K"][3]
        assert all(p["solved"] == (0 if side < 0 else p["done"]) for p in k["points"])
        text = table(a)
        for m in k["midpoints"]:
            assert m["beyond_grid"] == side and math.isnan(m["alpha50"])
            alphas = [p["alpha"] for p in k["points"] if p["N"] == m["N"]]
            edge = min(alphas) if side < 0 else max(alphas)
            assert m["grid_edge"] == edge
            assert f"{word} {edge:.3f}" in text
        assert "K = 3: alpha_c not extrapolated" in text
        with h5py.File(tmp_path / f"{side}.h5", "r") as f:
            assert list(f["analysis/K3/midpoints/beyond_grid"][()]) == [side, side]


def test_a_resolved_50_percent_point_is_inside_the_grid():
    pts = [{"alpha": a, "done": 8, "unknown": 0, "solved": s} for a, s in ((0.5, 8), (0.9, 3), (1.3, 0))]
    from relusim.capacity.analysis import beyond_grid

    assert beyond_grid(pts, 0.85)["beyond_grid"] == 0
    assert beyond_grid(pts[1:], float("nan")) == {"beyond_grid": -1, "grid_edge": 0.9}
    assert beyond_grid(pts[:1], float("nan")) == {"beyond_grid": 1, "grid_edge": 0.5}


def test_three_sizes_leave_only_nadler_fink_and_the_line_says_sys_is_a_lower_bound():
    """Three sizes: no 50%-point form but the default has a degree of freedom left, so only the
    Nadler-Fink fit is compared (sign K = 5 and ReLU K = 4 of docs/results/capacity.md)."""
    pts = asimov(lambda N: 0.9 - 0.5 / N + 8 / N ** 2, lambda N: 0.45 / N, sizes=(15, 25, 35))
    _, _, sy = systematics(pts, bootstrap=10)
    assert [(v.form, v.window) for v in sy.variants] == [("Nadler-Fink", "all sizes")]
    a = {**as_analysis(sy), "sizes": 3}
    assert "sys over 2 fits; too few sizes for the other forms, so a lower bound" in capacity_lines(5, a, "exact")[0]
