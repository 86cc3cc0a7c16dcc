"""From the answers of a capacity run to its numbers: solved fractions, 50% points, the scaling fit,
the theory beside them; and the summary table and figure of ``relusim capacity``.

Every number is labelled with what the run measured (``relusim.capacity.grid.ANSWER``, a plan's ``answer``): ``exact``
fractions are SAT probabilities, ``anneal`` fractions the success rate of one protocol, whose
threshold is a lower bound on the capacity.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict

import numpy as np

from . import fss
from ..priors import PRIORS

THEORY_LABEL = {
    "fully_connected": "fully connected RS per weight, leading order K -> infinity ({act}, {branch}{note}; "
                       "an asymptote, not a finite-K prediction)",
}


def theory(activation: str, K: int, weights: str = "binary", architecture: str = "tree") -> dict | None:
    """The replica-symmetric capacity of the same model: K = 1 the perceptron, else K -> infinity; for a
    tree (and K = 1) the prior's own (``capacity_theory`` of ``relusim.priors``: binary the RS zero
    entropy of Krauth-Mezard and docs/theory.md; spherical Gardner's 2 at K = 1, the RS or the large-K
    1RSB asymptote beyond).

    Fully connected, K > 1: ``theory.fully_connected.capacity_fc``, the leading order of the RS saddle
    as K -> infinity, per weight (binary sign: 1, the counting bound on the permutation-symmetric q = 0
    branch; binary ReLU: 0.99995, on the PSB branch, replicon-unstable there). It is labelled an
    asymptote: nothing at finite K supports it (docs/results/capacity.md, "Fully connected networks").
    K = 1 is the perceptron in both architectures."""
    if architecture == "fully_connected" and K > 1:
        from ..theory.fully_connected import at_threshold_fc, capacity_fc

        cap = capacity_fc(activation, weights)
        if not math.isfinite(cap.alpha):
            return None
        note = ""
        if cap.branch == "PSB":
            at = at_threshold_fc(activation, weights)
            if at.at_transition or at.alpha <= cap.alpha:
                note = ", replicon-unstable"
        branch = {"PS": "permutation-symmetric q = 0 branch", "PSB": "permutation-symmetry-broken branch"}[cap.branch]
        return {"alpha": float(cap.alpha), "label": THEORY_LABEL["fully_connected"].format(
            act=activation, branch=branch, note=note)}
    prior = PRIORS.get(weights)
    return None if prior is None else prior.capacity_theory(activation, K)


def analyse(plan, records: dict, bootstrap: int = 200) -> dict:
    """Per K: the table of points (Wilson 68% intervals), the 50% point per N and the scaling fit."""
    arch = plan.base.model.architecture
    out = {"answer": plan.answer, "method": plan.method, "activation": plan.base.model.activation,
           "weights": plan.base.model.weights, "architecture": arch, "seed": plan.base.seed,
           "samples": plan.samples, "by_K": {}}
    for K in plan.Ks:
        points, mids = [], []
        wall = cpu = 0.0
        for N in plan.Ns:
            for P in plan.Ps(N, K):
                rs = [records[(K, N, P, i)] for i in range(plan.samples) if (K, N, P, i) in records]
                st = np.array([r.status for r in rs], np.int64)
                spent = float(sum(seconds(r) for r in rs))
                wall += sum(r.wall_s for r in rs)
                cpu += spent
                known = int(np.count_nonzero(st >= 0))
                solved = int(np.count_nonzero(st == 1))
                lo, hi = fss.wilson(solved, known)
                points.append({"N": N, "P": P, "alpha": P / plan.weights(K, N), "done": int(len(st)), "solved": solved,
                               "unknown": int(np.count_nonzero(st < 0)),
                               "fraction": solved / known if known else float("nan"),
                               "wilson_lo": float(lo), "wilson_hi": float(hi),
                               "cpu_s": spent,
                               "cpu_s_solved": median_solved(rs)})
            sel = [p for p in points if p["N"] == N]
            m = fss.midpoint([p["alpha"] for p in sel], [p["solved"] for p in sel],
                             [p["done"] - p["unknown"] for p in sel], N, bootstrap=bootstrap, seed=plan.base.seed)
            mids.append({"N": N, "alpha50": m.alpha50, "err": m.err, **beyond_grid(sel, m.alpha50)})
        fit, why = None, None
        try:
            f = fss.fit_scaling([p["alpha"] for p in points], [p["N"] for p in points],
                                [p["solved"] for p in points], [p["done"] - p["unknown"] for p in points],
                                bootstrap=bootstrap, seed=plan.base.seed)
            fit = f.to_dict()
        except ValueError as exc:
            why = str(exc)
        ex = fss.extrapolate_midpoints([m["N"] for m in mids], [m["alpha50"] for m in mids],
                                       [m["err"] for m in mids])
        sy = fss.extrapolate_with_systematics(
            [m["N"] for m in mids], [m["alpha50"] for m in mids], [m["err"] for m in mids],
            ([p["alpha"] for p in points], [p["N"] for p in points], [p["solved"] for p in points],
             [p["done"] - p["unknown"] for p in points]),
            nadler_fink_err=fit["alpha_c_err"] if fit else float("nan"))
        out["by_K"][K] = {"points": points, "midpoints": mids, "fit": fit, "fit_skipped": why,
                          "midpoint_extrapolation": {"alpha_inf": ex.alpha_inf, "err": ex.err, "b": ex.b,
                                                     "sizes": ex.sizes, "chi2": ex.chi2, "dof": ex.dof,
                                                     "sys": sy.sys, "sys_rule": fss.SYS_RULE,
                                                     "fits": len(sy.variants) + 1,
                                                     "forms_disagree": sy.disagree,
                                                     "variants": [asdict(v) for v in sy.variants]},
                          "theory": theory(plan.base.model.activation, K, plan.base.model.weights, arch),
                          "wall_s": wall, "cpu_s": cpu}
    return out


def seconds(r) -> float:
    """An instance's CPU seconds; its wall time when the file predates CPU times (``Record.cpu_s`` nan)."""
    return r.cpu_s if math.isfinite(r.cpu_s) else r.wall_s


def median_solved(rs) -> float:
    """The median CPU seconds of the solved instances among ``rs`` (time to solution), nan if none."""
    t = [seconds(r) for r in rs if r.status == 1]
    return float(np.median(t)) if t else float("nan")


BELOW, INSIDE, ABOVE = -1, 0, 1


def beyond_grid(points: list[dict], alpha50: float) -> dict:
    """Where the 50% point of one size lies when the grid does not hold it: ``beyond_grid`` -1 when
    no alpha of the grid is solved in half its instances (alpha_50 below the smallest alpha with
    answers, ``grid_edge``), +1 when every alpha is (above the largest), else 0 (``grid_edge`` nan)."""
    known = [p for p in points if p["done"] - p["unknown"] > 0]
    if math.isfinite(alpha50) or not known:
        return {"beyond_grid": INSIDE, "grid_edge": float("nan")}
    fr = [p["solved"] / (p["done"] - p["unknown"]) for p in known]
    if max(fr) < 0.5:
        return {"beyond_grid": BELOW, "grid_edge": float(min(p["alpha"] for p in known))}
    if min(fr) > 0.5:
        return {"beyond_grid": ABOVE, "grid_edge": float(max(p["alpha"] for p in known))}
    return {"beyond_grid": INSIDE, "grid_edge": float("nan")}


def _mid(m: dict) -> str:
    """A 50% point as the table prints it: the value and its error, or where it lies off the grid."""
    side = m.get("beyond_grid", INSIDE)
    if side == BELOW:
        return f"below alpha_min {m['grid_edge']:.3f}"
    if side == ABOVE:
        return f"above alpha_max {m['grid_edge']:.3f}"
    return _pm(m["alpha50"], m["err"])


def _pm(x: float, e: float, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}" + (f" +- {e:.{digits}f}" if e is not None and math.isfinite(e) else "")


def alpha_meaning(analysis: dict) -> str:
    """What alpha counts, for the outputs: patterns per weight in both architectures."""
    if analysis.get("architecture", "tree") == "fully_connected":
        return "fully connected: alpha = P/(K N), patterns per weight (K N weights, N inputs)"
    return "tree: alpha = P/N, patterns per weight (N inputs, N weights)"


def table(analysis: dict) -> str:
    """The summary: per K the 50% point of every N, the fit (alpha_c, nu) and the theory."""
    head = (f"{analysis['answer']}: {analysis['activation']} units, {analysis['weights']} weights, "
            f"{analysis['samples']} instances per point (errors: 1 sigma; fractions: Wilson 68%)\n"
            f"{alpha_meaning(analysis)}")
    what = "alpha_c (N -> inf)" if analysis["method"] == "exact" else "alpha_alg (N -> inf, lower bound)"
    lines = [head, f"{'K':>3} {'N':>6} {'alpha_50(N)':>21}   {what:>22} {'nu':>16} {'50% + b/N':>16} "
                   f"{'theory':>8}  CPU s"]
    for K, a in analysis["by_K"].items():
        fit = a["fit"]
        th = a["theory"]
        for j, m in enumerate(a["midpoints"]):
            last = j == len(a["midpoints"]) - 1
            fc = _pm(fit["alpha_c"], fit["alpha_c_err"]) if fit and last else ""
            nu = _pm(fit["nu"], fit["nu_err"], 2) if fit and last else ""
            tv = f"{th['alpha']:.4f}" if th and last else ""
            ex = a["midpoint_extrapolation"]
            xs = _pm(ex["alpha_inf"], ex["err"]) if last else ""
            ws = f"{a['cpu_s']:.1f}" if last else ""
            lines.append(f"{K:>3} {m['N']:>6} {_mid(m):>21}   {fc:>22} {nu:>16} {xs:>16} {tv:>8}  {ws}")
        if a["fit_skipped"]:
            lines.append(f"    K = {K}: no scaling fit ({a['fit_skipped']})")
        lines.extend(capacity_lines(K, a["midpoint_extrapolation"], analysis["method"]))
    lines.append(f"{what}: Nadler-Fink fit f((alpha - alpha_c) N^(1/nu)); 50% + b/N: the 50% points "
                 "extrapolated with a 1/N correction")
    lines.append(f"stat: that 1/N fit's error; sys: {fss.SYS_RULE}")
    labels = sorted({a["theory"]["label"] for a in analysis["by_K"].values() if a["theory"]})
    if labels:
        lines.append("theory: " + "; ".join(labels))
    return "\n".join(lines)


def capacity_lines(K: int, ex: dict, method: str) -> list[str]:
    """The quoted N -> infinity value of one K, 'alpha_c = x +- s (stat) +- y (sys)' (``alpha_alg`` for
    the anneal), and a one-line warning when the fits disagree by more than the statistical error."""
    name = "alpha_c" if method == "exact" else "alpha_alg"
    if ex["alpha_inf"] is None or not math.isfinite(ex["alpha_inf"]):
        return [f"    K = {K}: {name} not extrapolated (fewer than two sizes with a 50% point)"]
    sys_ = ex.get("sys", float("nan"))
    stat = f"{ex['alpha_inf']:.3f} +- {ex['err']:.3f} (stat)"
    if sys_ is None or not math.isfinite(sys_):
        return [f"    K = {K}: {name} = {stat}, sys not estimated (no other fit form or size window has enough "
                "sizes)"]
    few = "; too few sizes for the other forms, so a lower bound" if ex["fits"] <= 2 else ""
    out = [f"    K = {K}: {name} = {stat} +- {sys_:.3f} (sys)   [1/N fit over {ex['sizes']} sizes; sys over "
           f"{ex['fits']} fits{few}]"]
    if ex.get("forms_disagree"):
        far = max(ex["variants"], key=lambda v: abs(v["alpha_inf"] - ex["alpha_inf"]))
        out.append(f"    warning: K = {K}: the fit forms and size windows disagree by {sys_:.3f}, more than the "
                   f"statistical error {ex['err']:.3f} (farthest: {far['form']}, N = {far['N_min']}..{far['N_max']}: "
                   f"{far['alpha_inf']:.3f}, {_sigmas(far['z'])})")
    return out


def _sigmas(z) -> str:
    if z is None or not math.isfinite(z):
        return "its scatter not estimated"
    return f"{abs(z):.1f} sigma of its own scatter"


def to_json(analysis: dict) -> dict:
    """The analysis with plain Python numbers (NaN as null) and string keys."""
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (float, np.floating)):
            return None if not math.isfinite(float(v)) else float(v)
        if isinstance(v, np.integer):
            return int(v)
        return v
    return clean(analysis)


def plot(analysis: dict, path: str) -> None:
    """Per K: solved fraction vs alpha for each N and the scaling collapse; then alpha_c vs K with theory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ks = list(analysis["by_K"])
    fig, axes = plt.subplots(len(Ks) + 1, 2, figsize=(10, 3.2 * (len(Ks) + 1)), squeeze=False)
    ylabel = "P(SAT)" if analysis["method"] == "exact" else "fraction solved by the anneal"
    for row, K in enumerate(Ks):
        a = analysis["by_K"][K]
        fit = a["fit"]
        Ns = sorted({p["N"] for p in a["points"]})
        ax, bx = axes[row]
        for j, N in enumerate(Ns):
            sel = [p for p in a["points"] if p["N"] == N]
            x = np.array([p["alpha"] for p in sel])
            y = np.array([p["fraction"] for p in sel])
            lo = y - np.array([p["wilson_lo"] for p in sel])
            hi = np.array([p["wilson_hi"] for p in sel]) - y
            ax.errorbar(x, y, yerr=[lo, hi], marker="o", ms=3, lw=1, capsize=2, color=f"C{j}", label=f"N = {N}")
            if fit:
                xs = (x - fit["alpha_c"]) * N ** (1 / fit["nu"])
                bx.errorbar(xs, y, yerr=[lo, hi], marker="o", ms=3, lw=0, elinewidth=1, capsize=2,
                            color=f"C{j}", label=f"N = {N}")
        if a["theory"]:
            ax.axvline(a["theory"]["alpha"], color="k", ls="--", lw=1, label=a["theory"]["label"])
        if fit:
            ax.axvline(fit["alpha_c"], color="C3", ls=":", lw=1.5, label=f"FSS alpha_c = {fit['alpha_c']:.3f}")
            xs = np.linspace(*bx.get_xlim(), 200)
            bx.plot(xs, fss.scaling_function(xs, fit["w"], fit["x0"], fit["shape"]), "k-", lw=1,
                    label=f"f, nu = {fit['nu']:.2f}")
            bx.set_xlabel("(alpha - alpha_c) N^(1/nu)")
            bx.set_ylabel(ylabel)
            bx.legend(fontsize=7)
        else:
            bx.text(0.5, 0.5, "no finite-size fit:\ntoo few sizes N or alphas", ha="center", va="center",
                    transform=bx.transAxes, color="0.4")
        bx.set_title(f"K = {K}: scaling collapse")
        ax.set_xlabel("alpha = P/(K N), per weight" if analysis.get("architecture") == "fully_connected"
                      else "alpha = P/N")
        ax.set_ylabel(ylabel)
        ax.set_title(f"K = {K}, {analysis['activation']}: {analysis['method']}")
        ax.legend(fontsize=7)
    ax, bx = axes[-1]
    ks = [K for K in Ks if analysis["by_K"][K]["fit"]]
    what = "alpha_c (exact, FSS)" if analysis["method"] == "exact" else "alpha_alg (anneal, FSS; lower bound)"
    if ks:
        ax.errorbar(ks, [analysis["by_K"][K]["fit"]["alpha_c"] for K in ks],
                    yerr=[analysis["by_K"][K]["fit"]["alpha_c_err"] for K in ks], marker="o", capsize=3,
                    color="C3", label=what)
    for K in Ks:
        for m in analysis["by_K"][K]["midpoints"]:
            if math.isfinite(m["alpha50"]):
                ax.plot(K, m["alpha50"], "x", color="0.5", ms=4)
    ax.plot([], [], "x", color="0.5", label="alpha_50 at each N")
    curve = [(K, a["theory"]["alpha"]) for K, a in analysis["by_K"].items() if a["theory"] and a["theory"].get("per_K")]
    if curve:  # a theory that depends on K (spherical sign: the large-K asymptote)
        ax.plot(*zip(*sorted(curve)), "k--", lw=1, label=analysis["by_K"][curve[0][0]]["theory"]["label"])
    for label, val in sorted({(a["theory"]["label"], a["theory"]["alpha"]) for a in analysis["by_K"].values()
                              if a["theory"] and not a["theory"].get("per_K")}):
        ax.axhline(val, ls="--", lw=1, color="k" if "infinity" in label else "0.4", label=f"{label}: {val:.4f}")
    ax.set_xscale("log", base=2)
    # limits from the grid's Ks, not from the data: a grid too small for a fit or a 50% point (one
    # alpha, one N) plots no point here, and log limits derived from no data fail
    ax.set_xlim(min(Ks) / 1.5, max(Ks) * 1.5)
    ax.set_xticks(Ks, [str(K) for K in Ks])
    ax.set_xlabel("K")
    ax.set_ylabel("alpha")
    ax.set_title(analysis["answer"], fontsize=8)
    ax.legend(fontsize=7)
    bx.axis("off")
    fig.tight_layout()
    from pathlib import Path

    from ..storage.results import temp_path

    tmp = temp_path(path)  # written whole or not at all
    try:
        fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".").lower())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
