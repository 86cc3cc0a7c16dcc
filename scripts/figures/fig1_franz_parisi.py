"""Fig. 1 theory curves: Franz-Parisi entropy vs distance, binary weights, sign vs ReLU (docs/theory.md §6).

Writes docs/fig1_franz_parisi.png. Run: PYTHONPATH=. python scripts/figures/fig1_franz_parisi.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from relusim.theory.franz_parisi import franz_parisi_curve  # noqa: E402

ALPHAS = (0.3, 0.5, 0.7)
D = np.concatenate([np.geomspace(0.0008, 0.05, 12), np.linspace(0.07, 0.45, 12)])
OUT = Path(__file__).resolve().parents[2] / "docs" / "fig1_franz_parisi.png"


def main() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, xmax in zip(axes, (0.45, 0.06)):
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xlim(0, xmax)
        ax.set_xlabel("d")
    for ls, act in (("-", "sign"), ("--", "relu")):
        for color, alpha in zip(("C0", "C1", "C2"), ALPHAS):
            pts = franz_parisi_curve(act, "binary", alpha, D, skip_failures=True)
            d = [p.d for p in pts if p is not None]
            v = [p.V for p in pts if p is not None]
            dmin = next((p.d for p in pts if p is not None and p.V > 0), np.nan)
            print(f"{act:5s} alpha={alpha}: d_min ~ {dmin:.4f}, failed points: {pts.count(None)}")
            for ax in axes:
                ax.plot(d, v, ls, color=color, label=f"{act}, alpha={alpha}")
    axes[0].set_ylabel("Franz-Parisi entropy V(d)")
    axes[1].set_ylim(-0.12, 0.1)
    axes[0].legend(fontsize=7)
    axes[1].set_title("zoom near d = 0", fontsize=9)
    fig.suptitle("Franz-Parisi entropy, binary weights, K -> inf (theory)", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT, dpi=120)


if __name__ == "__main__":
    main()
