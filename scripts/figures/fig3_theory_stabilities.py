"""Fig. 3 (left) theory lines: stability densities, typical (RS) and large deviation (y, q1), sign vs ReLU.

Binary weights; alpha = 0.5, y = 7, q1 = 0.9 (relusim choices, docs/reference_values.md §5; the paper's values
are stripped). Stabilities normalised as docs/model.md §4. Writes docs/fig3_theory_stabilities.png.
Run: PYTHONPATH=. python scripts/figures/fig3_theory_stabilities.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from relusim.theory.stabilities import stability_density  # noqa: E402

ALPHA, Y, Q1 = 0.5, 7, 0.9
X = np.linspace(0.0, 3.0, 601)[1:]
OUT = Path(__file__).resolve().parents[2] / "docs" / "fig3_theory_stabilities.png"


def main() -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for color, act in (("C0", "sign"), ("C3", "relu")):
        typ = stability_density(act, "binary", ALPHA, x=X)
        ld = stability_density(act, "binary", ALPHA, y=Y, q1=Q1, x=X)
        ax.plot(X, typ, "--", color=color, label=f"{act}, typical (RS)")
        ax.plot(X, ld, "-", color=color, label=f"{act}, large deviation y={Y}, q1={Q1}")
        print(f"{act}: typical mode {X[np.argmax(typ)]:.3f}, LD mode {X[np.argmax(ld)]:.3f}")
    ax.set_xlabel("stability Delta")
    ax.set_ylabel("P(Delta)")
    ax.set_title(f"Stability distributions, binary, alpha = {ALPHA}, K -> inf", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT, dpi=120)


if __name__ == "__main__":
    main()
