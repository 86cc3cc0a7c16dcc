"""The algorithmic-threshold table of docs/results/reach.md, from the JSON files of ``relusim capacity --json``.

Usage: python scripts/threshold_table.py "perceptron|PT, least action|0.833|a.json" "sign tree K = 3|SA|-|b.json" ...
       [--plot docs/reach_thresholds.png]

Each argument is ``model|algorithm|capacity|file``: the labels of the row, the capacity to print beside
it (a number, or ``-`` for the theory the file carries), and a capacity JSON (``--method anneal``). One
markdown row per (file, K, N): the instances solved at each alpha, the 50% point with its error (or
where it lies off the grid), the median CPU seconds per solved instance at the frontier (the largest
alpha solved in at least half its instances; ``cpu_s_solved``, wall seconds for files written before
relusim recorded CPU times, marked with *), and the capacity. The figure draws the 50% points against
N, one line per (model, algorithm), the capacities as dashes.
"""
from __future__ import annotations

import argparse
import json
import math


def pm(x, e, d=3) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{d}f} ± {e:.{d}f}" if e is not None and math.isfinite(e) else f"{x:.{d}f}"


def fifty(m: dict) -> str:
    side = m.get("beyond_grid", 0)
    if side == -1:
        return f"below {m['grid_edge']:.2f}"
    if side == 1:
        return f"above {m['grid_edge']:.2f}"
    return pm(m["alpha50"], m["err"])


def frontier_cpu(points: list[dict]) -> str:
    """The median CPU seconds per solved instance at the largest alpha solved in at least half its instances."""
    ok = [p for p in points if p["done"] - p["unknown"] > 0 and p["solved"] >= (p["done"] - p["unknown"]) / 2]
    if not ok:
        return "-"
    p = max(ok, key=lambda p: p["alpha"])
    if "cpu_s_solved" in p:
        return f"{p['cpu_s_solved']:.1f} (α {p['alpha']:.2f})"
    return "-"


def rows(spec: str):
    model, algorithm, capacity, path = spec.split("|")
    a = json.load(open(path))
    for K, k in a["by_K"].items():
        th = k.get("theory")
        cap = capacity if capacity != "-" else (f"{th['alpha']:.3f} (theory)" if th else "-")
        for m in k["midpoints"]:
            pts = sorted((p for p in k["points"] if p["N"] == m["N"]), key=lambda p: p["alpha"])
            solved = ", ".join(f"{p['alpha']:.3g}: {p['solved']}/{p['done'] - p['unknown']}" for p in pts)
            yield model, algorithm, int(K), m, solved, frontier_cpu(pts), cap


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="+", help="model|algorithm|capacity|capacity.json")
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    table = [r for spec in args.specs for r in rows(spec)]
    print("| model | algorithm | N | solved per alpha | 50% point | CPU s per solved instance, median at the frontier | capacity |")
    print("|---|---|---|---|---|---|---|")
    for model, algorithm, K, m, solved, cpu, cap in table:
        print(f"| {model} | {algorithm} | {m['N']} | {solved} | {fifty(m)} | {cpu} | {cap} |")
    if args.plot:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        lines: dict[tuple[str, str], list] = {}
        for model, algorithm, K, m, *_ in table:
            if m["alpha50"] is not None and math.isfinite(m["alpha50"]):
                lines.setdefault((model, algorithm), []).append((m["N"], m["alpha50"], m["err"]))
        for j, ((model, algorithm), pts) in enumerate(sorted(lines.items())):
            pts.sort()
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=3,
                        color=f"C{j}", label=f"{model}: {algorithm}")
        caps = {}
        for model, algorithm, K, m, solved, cpu, cap in table:
            try:
                caps[model] = float(cap.split()[0])
            except ValueError:
                pass
        for j, (model, c) in enumerate(sorted(caps.items())):
            ax.axhline(c, ls="--", lw=0.8, color="0.4")
            ax.annotate(f"capacity, {model}", (0.01, c), xycoords=("axes fraction", "data"), fontsize=7,
                        va="bottom", color="0.3")
        ax.set_xscale("log")
        ax.set_xlabel("N (inputs)")
        ax.set_ylabel("50% point α₅₀ (patterns per weight)")
        ax.set_title("Algorithmic thresholds of relusim's samplers, binary weights")
        ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=130)
        print(f"figure: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
