"""Figures: stability histograms over theory, robustness curves (matplotlib, Agg backend).

Pure drawing: every number comes from :mod:`relusim.analysis.compare` or :mod:`relusim.analysis.robustness`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .compare import Run, histograms, theory_line  # noqa: E402
from .robustness import Curve  # noqa: E402

ACT_COLOR = {"sign": "C0", "relu": "C3"}
WHICH_STYLE = {"reference": dict(ls="-", marker="o"), "machine": dict(ls="-", marker="o"),
               "replicas": dict(ls="--", marker="s")}
XLABEL = {"input_flip": "fraction of flipped inputs p", "weight_noise": "fraction of flipped weights f"}


def _color(run: Run, j: int) -> str:
    return ACT_COLOR.get(run.activation, f"C{j}") if j < 2 else f"C{j + 2}"


def stability_axes(ax, run: Run, color: str) -> None:
    """Histograms (replicas filled, reference as a line) as densities, theory per bin (dots) and its line."""
    hs = histograms(run)
    edges = hs[0].edges
    width = np.diff(edges)
    for h in hs:
        dens = h.mass / width
        errs = f", {100 * h.errors:.1f}% at Delta<=0" if h.errors > 0 else ""
        if h.which == "reference":
            ax.stairs(dens, edges, color="k", lw=1.2, label=f"reference (KS {h.ks:.3f}{errs})")
        else:
            ax.stairs(dens, edges, fill=True, color=color, alpha=0.35, label=f"{h.which} (KS {h.ks:.3f}{errs})")
    ax.plot(hs[0].centres, hs[0].theory_mass / width, "o", color=color, ms=3.5, label="theory, per bin")
    x = np.linspace(1e-3, edges[-1], 400)
    kind = "typical (RS)" if run.y == 1 else f"large deviation, y={run.y}, q1={run.q1:.3f}"
    line = theory_line(run, x)
    ax.plot(x, line, "-", color=color, lw=1.5, label=f"theory K->inf, {kind}")
    ax.set_xlim(0, min(edges[-1], 3.2 if run.activation == "sign" else 2.2))
    top = max(max(np.max(h.mass / width) for h in hs), float(np.max(line)))
    ax.set_ylim(0, 1.6 * top)  # headroom for the legend
    ax.set_xlabel("stability Delta")
    ax.set_ylabel("density")
    ax.set_title(f"{run.activation}: N={run.N}, K={run.K}, alpha={run.alpha}, {run.stabilities.shape[0]} samples",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


def plot_stabilities(runs: list[Run], path) -> Path:
    """One panel per run: stabilities of the replicas and the reference over the theory (Fig. 3 left)."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 4.0), squeeze=False)
    for j, (ax, run) in enumerate(zip(axes[0], runs)):
        stability_axes(ax, run, _color(run, j))
    fig.tight_layout()
    return _save(fig, path)


def robustness_axes(ax, series: list[tuple[str, str, str, Curve]], kind: str) -> None:
    """Curves with error bars (standard error over samples); series = (label, color, which, Curve)."""
    for label, color, which, c in series:
        st = WHICH_STYLE[which]
        ax.errorbar(c.x, c.mean, yerr=np.nan_to_num(c.sem), color=color, ls=st["ls"], marker=st["marker"],
                    ms=3, lw=1.2, capsize=2, label=f"{label}, {which}" if which != "machine" else label)
    ax.set_xlabel(XLABEL[kind])
    ax.set_ylabel("misclassified fraction" if kind == "input_flip" else "training error E/P")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _series(runs_curves: list[tuple[str, str, dict]], kind: str) -> list:
    out = []
    for label, color, curves in runs_curves:
        for which in ("reference", "machine", "replicas"):
            if which in curves.get(kind, {}):
                out.append((label, color, which, curves[kind][which]))
    return out


def plot_robustness(runs_curves: list[tuple[str, str, dict]], path, kinds=("input_flip", "weight_noise"),
                    title: str | None = None) -> Path:
    """Robustness curves of several runs on shared axes, one panel per kind present (Fig. 3 right).

    ``runs_curves``: (label, color, curves) with curves from :func:`relusim.analysis.robustness.read_curves`.
    """
    kinds = [k for k in kinds if any(k in c for _, _, c in runs_curves)]
    if not kinds:
        raise ValueError("no robustness curves to plot")
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.6 * len(kinds), 4.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        robustness_axes(ax, _series(runs_curves, kind), kind)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_compare(runs: list[Run], path) -> Path:
    """``relusim compare``: one stability panel per run and, if any run has them, the input-flip curves."""
    with_curves = [r for r in runs if "input_flip" in r.curves]
    ncol = len(runs) + (1 if with_curves else 0)
    fig, axes = plt.subplots(1, ncol, figsize=(5.2 * ncol, 4.0), squeeze=False)
    for j, run in enumerate(runs):
        stability_axes(axes[0][j], run, _color(run, j))
    if with_curves:
        rc = [(r.name, _color(r, runs.index(r)), r.curves) for r in with_curves]
        robustness_axes(axes[0][-1], _series(rc, "input_flip"), "input_flip")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
