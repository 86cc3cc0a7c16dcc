"""The capacity table and figure of docs/results/capacity.md, from the JSON files of ``relusim capacity --json``.

Usage: python scripts/capacity_summary.py results/cap/exact_perceptron.json results/cap/exact_sign_K3.json ...
       [--plot docs/capacity_summary.png]

Prints one markdown row per (file, K): method, N range, instances per point, the 50% point at the
largest N, the 50% points extrapolated as alpha_inf + b/N with its statistical error (scaled by the
Birge ratio) and its systematic error (``relusim.capacity.fss.extrapolate_with_systematics``: the number of
fits compared and the farthest, with its deviation in units of its own scatter), the
Nadler-Fink alpha_c and nu, the RS theory of the same model and the CPU seconds summed over instances.
The figure draws alpha_50(N) against 1/N with the 1/N line, and the theory values as dashes.
"""
from __future__ import annotations

import argparse
import json
import math
import sys


def pm(x, e, d=3):
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{d}f} ± {e:.{d}f}" if e is not None and math.isfinite(e) else f"{x:.{d}f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    rows = []
    for path in args.files:
        a = json.load(open(path))
        for K, k in a["by_K"].items():
            rows.append((a, int(K), k))
    print("| model | method | N | inst./point | α₅₀ at largest N | α₅₀ + b/N → N=∞ ± stat ± sys (χ²/dof) | sys: fits, farthest | Nadler-Fink α_c | ν | RS theory | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for a, K, k in rows:
        mids = [m for m in k["midpoints"] if m["alpha50"] is not None]
        Ns = [m["N"] for m in k["midpoints"]]
        ex, fit, th = k["midpoint_extrapolation"], k["fit"], k["theory"]
        big = mids[-1] if mids else None
        nf = pm(fit["alpha_c"], fit["alpha_c_err"]) if fit else "-"
        nu = pm(fit["nu"], fit["nu_err"], 2) if fit else "-"
        chi = f" ({ex['chi2']:.1f}/{ex['dof']})" if ex.get("dof") else ""
        at = f"{pm(big['alpha50'], big['err'])} (N = {big['N']})" if big else "-"
        what = "exact" if a["method"] == "exact" else "anneal (lower bound)"
        sys_ = ex.get("sys")
        central = pm(ex["alpha_inf"], ex["err"])
        if sys_ is not None and ex["alpha_inf"] is not None:
            central += f" ± {sys_:.3f}"
        far = "-"
        if ex.get("variants"):
            v = max(ex["variants"], key=lambda v: abs(v["alpha_inf"] - ex["alpha_inf"]))
            z = f", {abs(v['z']):.1f}σ" if v.get("z") is not None else ""
            far = f"{ex['fits']}: {v['form']}, N = {v['N_min']}..{v['N_max']}: {v['alpha_inf']:.3f}{z}"
            if ex.get("forms_disagree"):
                far += " (warning)"
        print(f"| {a['activation']} K = {K} | {what} | {min(Ns)}..{max(Ns)} | {a['samples']} | "
              f"{at} | "
              f"{central}{chi if ex['alpha_inf'] is not None else ''} | {far} | {nf} | {nu} | "
              f"{th['alpha']:.4f} | {k['wall_s']:.0f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
        for j, (a, K, k) in enumerate(rows):
            m = [x for x in k["midpoints"] if x["alpha50"] is not None]
            if not m:
                continue
            target = ax if a["method"] == "exact" else bx
            N = np.array([x["N"] for x in m], float)
            label = f"{a['activation']} K = {K}"
            target.errorbar(1 / N, [x["alpha50"] for x in m], yerr=[x["err"] for x in m], marker="o", ms=4,
                            capsize=2, lw=0, elinewidth=1, color=f"C{j}", label=label)
            ex = k["midpoint_extrapolation"]
            if ex["alpha_inf"] is not None:
                xs = np.linspace(0, 1 / N.min(), 20)
                target.plot(xs, ex["alpha_inf"] + ex["b"] * xs, color=f"C{j}", lw=1)
                target.errorbar([0], [ex["alpha_inf"]], yerr=[ex["err"]], marker="s", ms=5, capsize=3,
                                color=f"C{j}")
        for val, lab in ((0.8331, "Krauth-Mezard 0.833 (K = 1)"), (0.9470, "sign K → ∞: 0.947"),
                         (0.9040, "ReLU K → ∞: 0.904")):
            for t in (ax, bx):
                t.axhline(val, ls="--", lw=0.8, color="0.4")
            ax.text(0.001, val + 0.004, lab, fontsize=7, color="0.3")
        ax.set_title("exact P(SAT) = 1/2 points (binary weights, tree)", fontsize=9)
        bx.set_title("anneal 50% points: algorithmic, a lower bound", fontsize=9)
        for t in (ax, bx):
            t.set_xlabel("1/N")
            t.set_ylabel("α₅₀(N)")
            lo, hi = t.get_xlim()
            t.set_xlim(-0.02 * max(hi, 1e-3), max(hi, 1e-3) * 1.1)  # N = infinity at the left edge, whatever the sizes
            t.legend(fontsize=7, loc="lower left" if t is ax else "lower right")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
