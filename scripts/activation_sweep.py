"""Which activations does simulated annealing solve, beside the theory's capacity of each?

Binary-weight tree committee machines (configs/activation_sweep.yaml: N = 400, K = 4, one machine per
sample, the default anneal with stop-when-solved) for every activation the samplers take, at two
alphas; sign runs at K = 5, N = 405 (it needs K and N/K odd). For each point: the fraction of samples solved (E = 0)
and the sampling time; beside it the replica-symmetric capacity at K -> infinity for binary weights
(relusim.theory.rs.capacity_rs_binary) and the spherical RS and 1RSB values of the same g, for scale.
The annealing threshold is a lower bound on the capacity of finite K: the theory is the K -> infinity
limit, so the table ranks activations, it does not test the theory.

Writes results/activation_sweep/table.csv and docs/activation_sweep.png, prints the markdown table.
Resumes: rerunning only runs the samples still missing.

Run: PYTHONPATH=. python scripts/activation_sweep.py [--samples S] [--workers W] [--alphas 0.3,0.5]
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import h5py
import numpy as np

import relusim
from relusim.models import activations
from relusim.theory import rs, rsb

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "activation_sweep.yaml"
ACTIVATIONS = ["relu", "relu_shift(shift=0.5)", "quadratic", "softplus", "logistic", "linear", "tanh", "erf",
               "erf(scale=2)"]
OUT_DIR = ROOT / "results" / "activation_sweep"
FIGURE = ROOT / "docs" / "activation_sweep.png"


def theory_row(activation: str) -> dict:
    act = activations.theory(activations.parse(activation))
    out = {}
    for key, fn in (("binary_rs", lambda: rs.capacity_rs_binary(act).alpha),
                    ("spherical_rs", lambda: rs.capacity_rs(act, "spherical")),
                    ("spherical_1rsb", lambda: rsb.capacity_1rsb_spherical(act).alpha)):
        try:
            out[key] = float(fn())
        except Exception:  # a diverging capacity (sign, spherical) or no 1RSB solution: shown as "-"
            out[key] = float("nan")
    return out


def point(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        groups = [g for _, g in sorted(f["samples"].items()) if g.attrs.get("status") == "complete"]
        solved = sum(bool(g.attrs["solved"]) for g in groups)
        wall = float(sum(float(g.attrs["wall_s"]) for g in groups))
        E = [int(np.min(g["energy"][()])) for g in groups]
    return {"samples": len(groups), "solved": solved, "sampling_s": wall, "mean_final_E": float(np.mean(E))}


def run(samples, workers, alphas) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    rows = []
    grids = [({"model.activation": ACTIVATIONS, "model.alpha": alphas}, OUT_DIR / "K4"),
             ({"model.activation": ["sign"], "model.K": [5], "model.N": [405], "model.alpha": alphas}, OUT_DIR / "sign_K5")]
    for grid, out in grids:
        res = relusim.run_sweep(CONFIG, grid, samples=samples, out_dir=out, workers=workers)
        for values, result in zip(res.points, res.results):
            a = str(values["model.activation"])
            rows.append({"activation": activations.parse(a).label, "K": int(values.get("model.K", 4)),
                         "alpha": float(values["model.alpha"]), **point(result.path), **theory_row(a)})
    return rows, time.perf_counter() - t0


def plot(rows, path: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["activation"] for r in rows))
    alphas = sorted({r["alpha"] for r in rows})
    fig, ax = plt.subplots(figsize=(9, 4.2))
    x = np.arange(len(names))
    wdt = 0.8 / len(alphas)
    for j, a in enumerate(alphas):
        frac = [next(r["solved"] / r["samples"] for r in rows if r["activation"] == nm and r["alpha"] == a)
                for nm in names]
        ax.bar(x + (j - (len(alphas) - 1) / 2) * wdt, frac, wdt, label=f"alpha = {a:g}")
    ax2 = ax.twinx()
    cap = [next(r["binary_rs"] for r in rows if r["activation"] == nm) for nm in names]
    ax2.plot(x, cap, "ko--", label="RS capacity, binary, K -> inf")
    ax2.set_ylabel("theory: RS capacity (binary weights, K -> inf)")
    ax.set_xticks(x, [f"{nm}\n(K={next(r['K'] for r in rows if r['activation'] == nm)})" for nm in names],
                  fontsize=7)
    ax.set_ylabel("fraction of samples solved by the anneal")
    ax.set_ylim(0, 1.05)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower left")
    ax.set_title("binary tree committee machines, N = 400: annealing (bars) vs the theory's capacity (line)",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{v:.3f}"


def table(rows) -> str:
    alphas = sorted({r["alpha"] for r in rows})
    head = ("| activation | K | RS capacity binary (K->inf) | RS spherical | 1RSB spherical | "
            + " | ".join(f"solved at alpha={a:g}" for a in alphas) + " | sampling time (s) |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for nm in dict.fromkeys(r["activation"] for r in rows):
        sel = {r["alpha"]: r for r in rows if r["activation"] == nm}
        r0 = sel[alphas[0]]
        out.append(f"| {nm} | {r0['K']} | {fmt(r0['binary_rs'])} | {fmt(r0['spherical_rs'])} | "
                   f"{fmt(r0['spherical_1rsb'])} | "
                   + " | ".join(f"{sel[a]['solved']}/{sel[a]['samples']}" for a in alphas)
                   + f" | {sum(sel[a]['sampling_s'] for a in alphas):.0f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=None, help="samples per point (default: the config's)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--alphas", default="0.3,0.5")
    args = ap.parse_args()
    rows, wall = run(args.samples, args.workers, [float(a) for a in args.alphas.split(",")])
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "table.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, FIGURE)
    print(table(rows))
    print(f"wall clock {wall:.0f} s; wrote {FIGURE} and {OUT_DIR / 'table.csv'}")


if __name__ == "__main__":
    main()
