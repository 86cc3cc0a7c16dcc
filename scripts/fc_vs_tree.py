"""Fully connected against tree at the same number of weights: the table and figure of
docs/results/capacity.md ("Fully connected networks"), from ``relusim capacity --json`` files.

Usage: python scripts/fc_vs_tree.py --pair LABEL FC.json TREE.json [--pair ...] [--plot docs/fc_vs_tree.png]

For each pair (the same activation and K, fully connected and tree) prints one markdown table: per
number of weights the 50% point of each architecture (alpha per weight), then each one's N -> infinity
extrapolation (alpha_50 + b/N, with its statistical and, when the sizes allow, systematic error) and
the theory value the capacity command prints beside it. The figure has one panel per pair: alpha_50
against 1/weights (two panels a row), the 1/N lines, and the theory values as dashes (labelled: the fully connected ones
are K -> infinity asymptotes).
"""
from __future__ import annotations

import argparse
import json
import math


def pm(x, e, d=3) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{d}f} ± {e:.{d}f}" if e is not None and math.isfinite(e) else f"{x:.{d}f}"


def load(path: str) -> tuple[dict, int, dict]:
    a = json.load(open(path))
    (K, k), = a["by_K"].items()
    return a, int(K), k


def weights(a: dict, K: int, N: int) -> int:
    return K * N if a["architecture"] == "fully_connected" and K > 1 else N


def table(label: str, fc_path: str, tree_path: str) -> tuple[str, dict]:
    fa, K, fk = load(fc_path)
    ta, _, tk = load(tree_path)
    rows = {}
    for a, k, col in ((fa, fk, 0), (ta, tk, 1)):
        for m in k["midpoints"]:
            rows.setdefault(weights(a, K, m["N"]), [None, None])[col] = (m["N"], m["alpha50"], m["err"])
    lines = [f"| weights | {label}, fully connected: N, α₅₀ | {label}, tree: N, α₅₀ |", "|---|---|---|"]
    for w in sorted(rows):
        cells = ["-" if c is None or c[1] is None else f"{c[0]}: {pm(c[1], c[2])}" for c in rows[w]]
        lines.append(f"| {w} | {cells[0]} | {cells[1]} |")
    ext = []
    for k in (fk, tk):
        e = k.get("midpoint_extrapolation") or {}
        s = pm(e.get("alpha_inf"), e.get("err"))
        if e.get("sys") is not None:
            s += f" ± {e['sys']:.3f} sys"
        if e.get("chi2") is not None:
            s += f" ({e['chi2']:.1f}/{e['dof']})"
        ext.append(s)
    lines.append(f"| α₅₀ + b/N → N = ∞ (χ²/dof) | {ext[0]} | {ext[1]} |")
    th = [(k.get("theory") or {}).get("alpha") for k in (fk, tk)]
    lines.append(f"| theory beside it | {pm(th[0], None, 5)} (K → ∞ asymptote) | {pm(th[1], None, 4)} (K → ∞) |")
    cpu = [sum(p.get("cpu_s", 0.0) for p in k.get("points", [])) or k.get("wall_s") for k in (fk, tk)]
    lines.append(f"| CPU s (sum over instances) | {cpu[0]:.0f} | {cpu[1]:.0f} |")
    return "\n".join(lines), {"label": label, "K": K, "fc": (fa, fk), "tree": (ta, tk), "theory": th}


def plot(panels: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(2, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 3.8 * rows), squeeze=False)
    for ax, p in zip(axes.flat, panels):
        K = p["K"]
        for key, colour, name in (("fc", "C0", "fully connected"), ("tree", "C1", "tree")):
            a, k = p[key]
            mids = [m for m in k["midpoints"] if m["alpha50"] is not None]
            x = [1.0 / weights(a, K, m["N"]) for m in mids]
            ax.errorbar(x, [m["alpha50"] for m in mids], [m["err"] for m in mids], fmt="o", color=colour,
                        label=name, ms=4, capsize=2)
            e = k.get("midpoint_extrapolation") or {}
            if e.get("alpha_inf") is not None and x:
                scale = K if a["architecture"] == "fully_connected" and K > 1 else 1  # b/N in inputs
                xs = [0.0, max(x)]
                ax.plot(xs, [e["alpha_inf"] + e["b"] * scale * v for v in xs], color=colour, lw=0.8)
        for th, colour, name in zip(p["theory"], ("C0", "C1"), ("FC theory, K → ∞", "tree theory, K → ∞")):
            if th is not None and math.isfinite(th):
                ax.axhline(th, color=colour, ls="--", lw=0.8, label=name)
        ax.set_title(p["label"])
        ax.set_xlabel("1 / weights")
        ax.set_xlim(left=0.0)
        ax.set_ylabel("α₅₀ (patterns per weight)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pair", nargs=3, action="append", metavar=("LABEL", "FC_JSON", "TREE_JSON"), required=True)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    panels = []
    for label, fc, tree in args.pair:
        text, panel = table(label, fc, tree)
        print(text + "\n")
        panels.append(panel)
    if args.plot:
        plot(panels, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
