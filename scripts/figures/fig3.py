"""Fig. 3 of arXiv:1907.07578 on our runs: stabilities vs theory (left) and robustness to input flips (right).

Left: stability histograms of the robust-ensemble solutions (replicas and reference), sign and ReLU, over
the K -> inf large-deviation theory at each run's alpha, y and measured q1 (relusim.analysis.compare).
Right: misclassified fraction vs flipped fraction p (paper grid p = 0, 0.01, ..., 0.5; 100 trials per
pattern, docs/reference_values.md §5), sign vs ReLU, reference vs replicas, error bars over samples.

Without arguments it uses results/paper_fig3_{sign,relu}_quick.h5, running
``relusim anneal --config configs/paper_fig3_{sign,relu}_quick.yaml`` first when a file is missing or was
produced by another config. With arguments it reads the given result files. ``/robustness`` is added to
each file (a no-op when already there with the same settings).

Writes docs/fig3_stabilities.png and docs/fig3_robustness.png and prints the comparison table.
Run: PYTHONPATH=. python scripts/figures/fig3.py [RESULTS.h5 ...]

With ``--equilibrium`` (issue 29 item 6) it uses configs/paper_fig3_{sign,relu}_quick_eq.yaml (the same
anneal, then ``anneal.equilibrium`` sampling over solutions) and prints the table twice: the anneal's
first solutions (``stabilities``, the same bits as the plain quick runs) and the equilibrium records
(``equilibrium_stabilities``, the first half of each sample's records dropped as burn-in, theory at
the time-averaged q-bar); it draws
docs/fig3_stabilities_equilibrium.png and skips the robustness measurement.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py

from relusim.analysis import compare, plots
from relusim import config
from relusim.cli.analysis import PAPER_FLIPS, PAPER_TRIALS, parse_spec
from relusim.analysis.robustness import measure_file

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [ROOT / "configs" / "paper_fig3_sign_quick.yaml", ROOT / "configs" / "paper_fig3_relu_quick.yaml"]
BURN = 0.5  # --equilibrium: the fraction of each sample's records dropped as burn-in
CONFIGS_EQ = [ROOT / "configs" / "paper_fig3_sign_quick_eq.yaml", ROOT / "configs" / "paper_fig3_relu_quick_eq.yaml"]
DOCS = ROOT / "docs"


def ensure_run(cfg_path: Path) -> Path:
    """The config's result file, annealed now if missing or from another config."""
    cfg = config.load(cfg_path)
    out = ROOT / cfg.output
    fresh = False
    if out.exists():
        with h5py.File(out, "r") as f:
            fresh = (f.attrs.get("config_sha256") == cfg.physics_sha256()
                     and int(f.attrs.get("samples_done", 0)) >= cfg.samples)
    if not fresh:
        print(f"annealing {cfg_path.name} -> {out}", flush=True)
        subprocess.run([sys.executable, "-m", "relusim", "anneal", "--config", str(cfg_path), "--out", str(out),
                        "--quiet"] + (["--overwrite"] if out.exists() else []), check=True, cwd=ROOT)
    return out


def main_equilibrium(argv: list[str]) -> None:
    """First solutions vs equilibrium over solutions, the same files (module docstring)."""
    import dataclasses

    paths = [Path(p) for p in argv] or [ensure_run(c) for c in CONFIGS_EQ]
    first = [compare.load_run(p) for p in paths]
    eq = [compare.load_run(p, equilibrium=True, burn=BURN) for p in paths]
    eq = [dataclasses.replace(r, name=r.name + " (equilibrium)") for r in eq]
    print("first solution found by the anneal:")
    print(compare.format_table(compare.table_rows(first)))
    print(f"equilibrium over solutions (anneal.equilibrium; first {BURN:.0%} of each sample's records left out):")
    print(compare.format_table(compare.table_rows(eq)))
    for label, rs in (("first solution", first), ("equilibrium", eq)):
        for r in rs:
            for h in compare.histograms(r):
                print(f"{label:14s} {r.activation:5s} {h.which:9s} mass in the smallest-stability bin "
                      f"{h.mass[0]:.4f} (theory {h.theory_mass[0]:.4f}); KS {h.ks:.4f} = {h.ks / h.ks_scale:.2f} x its "
                      f"95% scale {h.ks_scale:.4f}")
    for p in paths:
        with h5py.File(p, "r") as f:
            for name, g in sorted(f["samples"].items()):
                a = g.attrs
                print(f"{p.name} {name}: {a.get('equilibrium')}, gamma {a.get('equilibrium_gamma', float('nan')):.4g}, "
                      f"acceptance {a.get('equilibrium_acceptance', float('nan')):.3g}, "
                      f"tau(q-bar) {a.get('equilibrium_tau_overlap_sweeps', float('nan')):.4g} sweeps, "
                      f"tau(mean stability) {a.get('equilibrium_tau_stability_sweeps', float('nan')):.4g} sweeps")
    plots.plot_stabilities(eq, DOCS / "fig3_stabilities_equilibrium.png")
    print(f"wrote {DOCS / 'fig3_stabilities_equilibrium.png'}")


def main(argv: list[str]) -> None:
    if "--equilibrium" in argv:
        return main_equilibrium([a for a in argv if a != "--equilibrium"])
    paths = [Path(p) for p in argv] or [ensure_run(c) for c in CONFIGS]
    flips = parse_spec("--flips", PAPER_FLIPS)
    for p in paths:
        written, _ = measure_file(p, flips, PAPER_TRIALS, noise_levels=parse_spec("w", "0:0.2:0.01"))
        print(f"{p}: /robustness {'written' if written else 'up to date'}")
    runs = [compare.load_run(p) for p in paths]
    print(compare.format_table(compare.table_rows(runs)))
    plots.plot_stabilities(runs, DOCS / "fig3_stabilities.png")
    series = [(f"{r.activation} (N={r.N}, K={r.K})", plots.ACT_COLOR.get(r.activation, f"C{j + 4}"), r.curves)
              for j, r in enumerate(runs)]
    plots.plot_robustness(series, DOCS / "fig3_robustness.png", kinds=("input_flip",),
                          title=f"input noise: binary weights, alpha={runs[0].alpha}, y={runs[0].y}\n"
                                f"{runs[0].stabilities.shape[0]} samples, {PAPER_TRIALS} trials per pattern, "
                                f"error bars: s.e. over samples")
    for r in runs:
        d = r.curves["input_flip"]
        for which, c in d.items():
            vals = "  ".join(f"p={p}: {compare.curve_at(c, p)[0]:.4f}±{compare.curve_at(c, p)[1]:.4f}"
                             for p in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5))
            print(f"{r.activation:5s} {which:9s} {vals}")
    print(f"wrote {DOCS / 'fig3_stabilities.png'} and {DOCS / 'fig3_robustness.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
