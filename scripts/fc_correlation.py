"""Division of labour in fully connected networks: the within-network unit correlation vs alpha, measured.

For binary-weight fully connected ReLU and sign networks (Nishiyama & Ohzeki, arXiv:2404.13404) at
several K, anneal one machine per sample to a solution (a sweep over ``model.K`` and ``model.alpha`` of
configs/fc_correlation_sweep.yaml and configs/fc_correlation_sweep_sign.yaml) and measure on every
solved sample the mean sign-absorbed unit correlation

    C = mean_(k != l) c_k c_l W_k . W_l / N        (relusim.models.units.unit_correlations(...).absorbed_mean),

the order parameter C of the fully connected replica theory (docs/theory_fully_connected.md).
Beside it: the theory's K -> inf limit (K-1) C -> -1 (eq. (FC12)) and its 1/K correction at each K
(the uniform-mode equations (FC10)-(FC11), relusim.theory.fully_connected.unit_correlation(..., K=K)).

Writes docs/fc_unit_correlation.png ((K-1) C vs alpha: points = mean over solved samples, error bars =
standard error over samples; lines = theory), results/fc_correlation/table.csv, and prints the
markdown table (alpha, K, activation, solved fraction, C +- error, (K-1) C, theory, sampling time).
Resumes: rerunning only runs the samples still missing.

Run: PYTHONPATH=. python scripts/fc_correlation.py [--samples S] [--workers W]
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import h5py
import numpy as np

import relusim
from relusim.analysis import compare
from relusim.models import units
from relusim.theory import fully_connected as fct

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"relu": ROOT / "configs" / "fc_correlation_sweep.yaml",
           "sign": ROOT / "configs" / "fc_correlation_sweep_sign.yaml"}
ALPHAS = [0.1, 0.2, 0.3, 0.4]
KS = {"relu": [2, 4, 6], "sign": [3, 5, 7]}
OUT_DIR = ROOT / "results" / "fc_correlation"
FIGURE = ROOT / "docs" / "fc_unit_correlation.png"


def point_measurement(path: Path, activation: str, K: int) -> dict:
    """Solved fraction, C over the solved samples (mean, standard error over samples), sampling time."""
    with h5py.File(path, "r") as f:
        groups = [g for _, g in sorted(f["samples"].items()) if g.attrs.get("status") == "complete"]
        solved = [g for g in groups if bool(g.attrs["solved"])]
        C = np.array([np.mean([units.unit_correlations(w, activation, K).absorbed_mean
                               for w in np.atleast_2d(g["weights"][()])]) for g in solved])
        wall = float(sum(float(g.attrs["wall_s"]) for g in groups))
        N = int(groups[0]["patterns"].shape[1])
    sem = float(C.std(ddof=1) / np.sqrt(C.size)) if C.size > 1 else float("nan")
    return {"samples": len(groups), "solved": len(solved), "C": float(C.mean()) if C.size else float("nan"),
            "C_sem": sem, "N": N, "sampling_s": wall,
            "null_sem": 1.0 / np.sqrt(N * K * (K - 1) / 2) / np.sqrt(max(C.size, 1))}


def run(samples: int | None, workers: int) -> tuple[list[dict], dict]:
    rows, walls = [], {}
    for activation, cfg in CONFIGS.items():
        t0 = time.perf_counter()
        res = relusim.run_sweep(cfg, {"model.K": KS[activation], "model.alpha": ALPHAS}, samples=samples,
                                out_dir=OUT_DIR / activation, workers=workers)
        walls[activation] = time.perf_counter() - t0
        for values, result in zip(res.points, res.results):
            K, alpha = int(values["model.K"]), float(values["model.alpha"])
            m = point_measurement(result.path, activation, K)
            th = compare.correlation_theory(activation, "binary", alpha, K)
            rows.append({"activation": activation, "K": K, "alpha": alpha, **m,
                         "theory_C_K": th.C_finite, "theory_scaled_inf": th.scaled_inf})
    return rows, walls


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    a_line = np.linspace(0.01, max(ALPHAS) + 0.05, 60)
    for ax, activation in zip(axes, CONFIGS):
        sel = [r for r in rows if r["activation"] == activation]
        for j, K in enumerate(KS[activation]):
            pts = sorted((r for r in sel if r["K"] == K), key=lambda r: r["alpha"])
            x = np.array([r["alpha"] for r in pts]) + 0.006 * (j - 1)
            y = np.array([(K - 1) * r["C"] for r in pts])
            e = np.array([(K - 1) * r["C_sem"] for r in pts])
            n = pts[0]["N"]
            ax.errorbar(x, y, yerr=e, fmt="o", color=f"C{j}", capsize=3, label=f"measured K={K} (N={n})")
            ax.plot(a_line, [(K - 1) * fct.unit_correlation(activation, "binary", a, K=K) for a in a_line],
                    color=f"C{j}", lw=1.2, label=f"theory, 1/K correction at K={K}")
        ax.plot(a_line, [fct.unit_correlation(activation, "binary", a) for a in a_line], "k--", lw=1.2,
                label="theory K -> inf: (K-1) C = -1")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(f"fully connected {activation}, binary weights")
        ax.set_xlabel("alpha (patterns per weight)")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(0.0, 0.38))
    axes[0].set_ylabel("(K-1) C,  C = mean_(k!=l) c_k c_l W_k.W_l / N")
    fig.suptitle("division of labour: within-network unit correlation of annealed solutions "
                 "(error bars: s.e. over solved samples)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    head = ("| activation | K | N | alpha | solved | C ± s.e. | (K-1) C | theory C at K | theory (K-1) C, K->inf "
            "| sampling time (s) |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        K = r["K"]
        out.append(f"| {r['activation']} | {K} | {r['N']} | {r['alpha']:.1f} | {r['solved']}/{r['samples']} | "
                   f"{r['C']:+.4f} ± {r['C_sem']:.4f} | {(K - 1) * r['C']:+.3f} ± {(K - 1) * r['C_sem']:.3f} | "
                   f"{r['theory_C_K']:+.4f} | {r['theory_scaled_inf']:+.1f} | {r['sampling_s']:.1f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=None, help="samples per point (default: the configs')")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows, walls = run(args.samples, args.workers)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "table.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, FIGURE)
    print(table(rows))
    print("sweep wall clock: " + ", ".join(f"{a} {s:.0f} s" for a, s in walls.items())
          + f"; total with analysis {time.perf_counter() - t0:.0f} s")
    print(f"wrote {FIGURE} and {OUT_DIR / 'table.csv'}")


if __name__ == "__main__":
    main()
