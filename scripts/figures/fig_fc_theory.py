"""Fully connected network at large K: figures for docs/theory_fully_connected.md.

docs/fc_correlation.png: the unit correlation (K-1) C vs alpha at K = 4, 10, 100 (uniform mode
resummed, eq. (FC11)) with its K -> inf limit -1, per activation, spherical weights.
docs/fc_transition.png: the order parameter q of the permutation-symmetry breaking vs alpha per
activation (PS: q = 0; PSB stable branch solid, unstable branch dotted, spinodal and transition marked),
spherical and binary weights (binary: the free entropy is negative right of alpha ~ 1, see the
capacity table, so the binary PSB branches there are formal).

Run: python scripts/figures/fig_fc_theory.py   (about 30 s)
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from relusim.theory.fully_connected import (alpha_of_q_fc, capacity_fc, fc_saddle, transition,  # noqa: E402
                                            uniform_mode)

ACTS = ("sign", "relu", "erf", "tanh", "quadratic")
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "docs")


def correlation_figure(path: str) -> None:
    fig, axes = plt.subplots(1, len(ACTS), figsize=(15, 3.3), sharey=True)
    alphas = np.linspace(0.05, 6.0, 60)
    for ax, act in tqdm(list(zip(axes, ACTS)), desc="correlation"):
        cap = capacity_fc(act, "spherical").alpha
        al = alphas[alphas < 0.995 * cap]
        qs = [fc_saddle(act, "spherical", a).q for a in al]
        for K, ls in ((4, ":"), (10, "--"), (100, "-")):
            C = [uniform_mode(act, "spherical", a, K, q=q).C for a, q in zip(al, qs)]
            ax.plot(al, (K - 1) * np.asarray(C), ls=ls, label=f"K={K}")
        ax.axhline(-1.0 if act != "quadratic" else 0.0, color="k", lw=0.8, label="K -> inf")
        tr = transition(act, "spherical")
        if tr.alpha_transition < al[-1]:
            ax.axvline(tr.alpha_transition, color="grey", lw=0.6, ls="-.", label="PSB")
        ax.set_title(f"{act} (spherical)")
        ax.set_xlabel("alpha = P/(KN)")
    axes[0].set_ylabel("(K-1) C,  C = c_k c_l W_k.W_l / N")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def transition_figure(path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, w in tqdm(list(zip(axes, ("spherical", "binary"))), desc="transition"):
        # binary: q <= 0.85 (above it the tree module's E tanh^2 quadrature is off by ~1e-4 in q)
        qmax = 0.995 if w == "spherical" else 0.85
        for act, col in zip(ACTS, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
            tr = transition(act, w)
            qs = np.linspace(1e-3, qmax, 200)
            al = np.array([alpha_of_q_fc(act, w, q)[0] for q in qs])
            stable = qs >= max(tr.q_spinodal, 0.0)
            ax.plot(al[stable], qs[stable], color=col, label=f"{act} ({tr.kind})")
            if (~stable).any():
                ax.plot(al[~stable], qs[~stable], color=col, ls=":")
                ax.plot([tr.alpha_spinodal], [tr.q_spinodal], "o", color=col, ms=4)
                ax.plot([tr.alpha_transition] * 2, [0, tr.q_transition], color=col, lw=0.8, ls="--")
            ax.plot([0, tr.alpha_transition], [0, 0], color=col, lw=2, alpha=0.5)
        if w == "binary":
            ax.axvline(1.0, color="k", lw=0.8)
            ax.text(1.05, 0.95, "alpha = 1: information bound;\nphi < 0 to the right for PS", fontsize=7,
                    va="top")
        ax.set_xlim(0, 14)
        ax.set_xlabel("alpha = P/(KN)")
        ax.set_title(f"{w} weights: PS (q = 0) and PSB branches")
    axes[0].set_ylabel("q (same unit, two replicas)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    correlation_figure(os.path.join(OUT, "fc_correlation.png"))
    transition_figure(os.path.join(OUT, "fc_transition.png"))
