"""Fig. 2 theory curves: local entropy vs the replicas' distance, binary, sign vs ReLU (docs/theory.md §7).

y = 10 is computed; y = inf is EXTRAPOLATED in 1/y from y = 20, 40, 80, 160 (band: fit-window spread).
Writes docs/fig2_local_entropy.png. Run: PYTHONPATH=. python scripts/figures/fig2_local_entropy.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from relusim.theory.rsb import local_entropy, local_entropy_extrapolated  # noqa: E402

ALPHAS = (0.4, 0.6)
D = np.array([0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.13, 0.16, 0.2, 0.24, 0.28, 0.32, 0.36,
              0.4, 0.45])
OUT = Path(__file__).resolve().parents[2] / "docs" / "fig2_local_entropy.png"


def main() -> None:
    fig, axes = plt.subplots(1, len(ALPHAS), figsize=(10, 4), sharey=True)
    for ax, alpha in zip(axes, ALPHAS):
        for color, act in (("C0", "sign"), ("C3", "relu")):
            fin = [local_entropy(act, "binary", alpha, 10, 1 - 2 * d).local_entropy for d in D]
            ext = [local_entropy_extrapolated(act, "binary", alpha, 1 - 2 * d) for d in D]
            v = np.array([e.local_entropy for e in ext])
            s = np.array([e.spread for e in ext])
            ax.plot(D, fin, ":", color=color, label=f"{act}, y=10")
            ax.plot(D, v, "-", color=color, label=f"{act}, y=inf (extrapolated)")
            ax.fill_between(D, v - s, np.minimum(v + s, 0), color=color, alpha=0.15)
            print(f"alpha={alpha} {act}: y=inf", np.round(v, 4).tolist())
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_title(f"alpha = {alpha}", fontsize=9)
        ax.set_xlabel("d = (1 - q1)/2")
    axes[0].set_ylabel("local entropy per replica (minus alpha = 0)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Local entropy, binary weights, K -> inf (theory; y = inf extrapolated in 1/y)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT, dpi=120)


if __name__ == "__main__":
    main()
