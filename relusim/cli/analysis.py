"""``relusim robustness`` and ``relusim compare``: thin click commands over the analysis library.

Parse, validate (bad input -> :class:`relusim.errors.InputError`), call the library, print.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click
import numpy as np

from .. import ranges
from ..errors import InputError

PAPER_FLIPS = "0:0.5:0.01"  # docs/reference_values.md §5: p in {0, 0.01, ..., 0.5}
PAPER_TRIALS = 100
DEFAULT_WEIGHT_NOISE = "0:0.2:0.01"
MAX_POINTS = 10_000  # fractions on a curve: far finer than round(pN) can tell apart at any N we run
MAX_TRIALS = 1_000_000


def parse_spec(key: str, text: str, allow_none: bool = False) -> np.ndarray:
    """Fractions in [0, 1]: ``start:stop:step`` or ``"x1,x2,..."`` (``relusim.ranges``, at most ``MAX_POINTS``),
    or ``"none"`` (empty) if allowed; rounded to 12 decimals."""
    text = str(text).strip()
    if allow_none and text.lower() == "none":
        return np.zeros(0)
    vals = np.array(ranges.parse(key, text, MAX_POINTS), dtype=float)
    if np.any(vals < 0) or np.any(vals > 1):
        raise InputError(key, text, "fractions in [0, 1]" + (" (or 'none')" if allow_none else ""))
    return np.round(vals, 12)


def _quiet(quiet: bool) -> bool:
    return quiet or os.environ.get("CI", "").lower() == "true" or not sys.stderr.isatty()


def _progress(quiet: bool, desc: str):
    if _quiet(quiet):
        return None
    from tqdm import tqdm

    return lambda it: tqdm(it, desc=desc, unit="sample", leave=False)


def _existing(path: str) -> str:
    if not Path(path).is_file():
        raise InputError("RESULTS", path, "is a directory, not a result file" if Path(path).is_dir()
                         else "no such file")
    return path


@click.command()
@click.argument("results", type=str)
@click.option("--flips", default=PAPER_FLIPS, show_default=True,
              help="Fractions p of flipped inputs, in [0, 1]: " + ranges.HELP + " (0:0.5:0.01 is 0, 0.01, ..., 0.5).")
@click.option("--trials", default=PAPER_TRIALS, show_default=True, type=int,
              help="Random perturbations per pattern (and weight-noise trials).")
@click.option("--weight-noise", "weight_noise", default=DEFAULT_WEIGHT_NOISE, show_default=True,
              help="Fractions f of flipped weights, in [0, 1]: " + ranges.HELP + ", or 'none'.")
@click.option("--plot", "plot_path", default=None, help="PNG of the curves [default: RESULTS_robustness.png].")
@click.option("--over", type=click.Choice(["solved", "all", "unsolved"]), default="solved", show_default=True,
              help="Which samples the curves average over (every sample is measured and stored).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def robustness(results, flips, trials, weight_noise, plot_path, over, quiet) -> None:
    """Misclassification under input flips and weight noise of every finished sample.

    For the reference (or the single machine) and every replica: the fraction of training patterns
    misclassified after flipping round(pN) random input bits (TRIALS perturbations per pattern), and
    the training error after flipping round(fN) random weights (docs/algorithms.md §7). Writes
    /robustness into RESULTS atomically (same settings: nothing to do; new settings replace the group)
    and a PNG. The curves average over the solved samples unless --over says otherwise: an unsolved
    sample misclassifies training patterns even at p = 0, which is not the robustness of a solution.

    Example: relusim robustness results/paper_fig3_relu_quick.h5 --flips 0:0.5:0.01 --trials 100
    """
    from ..storage import results as io
    from .. import paths
    from ..analysis import plots
    from ..analysis.robustness import measure_file, read_curves, run_activation, solved_counts

    _existing(results)
    fr = parse_spec("--flips", flips)
    wn = parse_spec("--weight-noise", weight_noise, allow_none=True)
    if not 1 <= trials <= MAX_TRIALS:
        raise InputError("--trials", trials, f"must be >= 1 and <= {MAX_TRIALS}")
    plot_path = plot_path or str(Path(results).with_name(Path(results).stem + "_robustness.png"))
    paths.check_plot("--plot", plot_path)  # every path checked before any work
    paths.check_writable("RESULTS", results)
    with io.open_results(results, verify=False) as f, io.reading(results):  # a result file, before it is locked
        stored = f.attrs.get("config")
    _check_memory(stored, len(fr), len(wn), trials)
    rf = io.ResultsFile(results)
    rf.claim(tasks=False, key="RESULTS")
    try:
        rf.clean_debris(shards_too=False)
        t0 = time.perf_counter()
        written, curves = measure_file(results, fr, trials, wn, progress=_progress(quiet, "robustness"), over=over)
        wall = time.perf_counter() - t0
    finally:
        rf.release()
    n_solved, n_unsolved = solved_counts(results)
    n_over = {"solved": n_solved, "unsolved": n_unsolved, "all": n_solved + n_unsolved}[over]
    click.echo(f"{n_solved + n_unsolved} samples measured: {n_solved} solved, {n_unsolved} unsolved; "
               f"the curves average over the {n_over} {'samples' if over == 'all' else over + ' ones'}"
               + (" (--over all or --over unsolved for the others)" if over == "solved" and n_unsolved else ""))
    if not curves:
        raise InputError("--over", over, f"no {over} sample in {results}; use --over all")
    paths.make_parent(plot_path)
    color = plots.ACT_COLOR.get(run_activation(results), "C2")
    plots.plot_robustness([(Path(results).stem, color, curves)], plot_path,
                          title=f"{Path(results).name} ({n_over} {'' if over == 'all' else over + ' '}samples)")
    _echo_curves(curves, over)
    if over == "solved" and n_unsolved:
        _echo_curves(read_curves(results, "unsolved"), "unsolved")
    state = f"written in {wall:.1f} s" if written else "up to date (same settings), nothing recomputed"
    click.echo(f"{results}: /robustness {state}; plot {plot_path}")


def measure_bytes(P: int, C: int, flips: int, noise: int, trials: int) -> int:
    """Memory one sample's measurement needs (``relusim.analysis.robustness``): error counts (P, flips, C) and
    (trials, noise, C) int64, a generator state per pattern and per trial, fields (C, K, P) float64."""
    return 8 * C * (P * flips + trials * noise) + 32 * (P + trials) + 8 * C * P * 4 + 8 * C * (flips + noise)


def _check_memory(stored_config, flips: int, noise: int, trials: int) -> None:
    """Refuse (naming --trials or --flips) a measurement whose arrays cannot fit in memory: the file's
    P and replicas fix its size. Nothing is checked when the stored config cannot be read (then the
    measurement itself refuses the file)."""
    from ..config import ModelConfig, parse_yaml
    from ..execution.resources import _size, available_bytes

    avail = available_bytes()
    try:
        raw = parse_yaml(str(stored_config), "RESULTS")
        model = ModelConfig(**{k: raw["model"][k] for k in ("N", "K", "alpha") if k in raw["model"]},
                            architecture=raw["model"].get("architecture", "tree"))
        P, C = model.P, int(raw["ensemble"]["replicas"]) + 1
    except Exception:  # noqa: BLE001 - an unreadable config is the measurement's to refuse
        return
    need = measure_bytes(P, C, flips, noise, trials)
    if avail is None or need <= avail // 2:
        return
    key, value = ("--trials", trials) if trials * noise >= P * flips else ("--flips", flips)
    raise InputError(key, value, f"a sample's measurement needs about {_size(need)} of memory (P = {P} patterns, "
                     f"{C} configurations, {flips} flip fractions, {noise} noise levels x {trials} trials); this "
                     f"machine has {_size(avail)} available")


def _echo_curves(curves: dict, over: str) -> None:
    for kind, d in curves.items():
        for which, c in d.items():
            pts = "  ".join(f"{x:g}: {m:.4f}±{s:.4f}" for x, m, s in zip(c.x, c.mean, np.nan_to_num(c.sem))
                            if _shown(x, c.x))
            click.echo(f"{over:8s} {kind:12s} {which:9s} {pts}")


def _shown(x: float, grid: np.ndarray) -> bool:
    """A handful of grid points for the printed summary."""
    idx = np.unique(np.linspace(0, len(grid) - 1, min(len(grid), 6)).round().astype(int))
    return bool(np.any(np.isclose(grid[idx], x)))


@click.command()
@click.argument("results", nargs=-1, required=True, type=str)
@click.option("--plot", "plot_path", default=None,
              help="PNG: stability histograms over theory, robustness curves [default: RESULTS_compare.png "
                   "beside the first file].")
@click.option("--no-plot", is_flag=True, help="Print the table only.")
@click.option("--json", "json_path", default=None, help="Write the table as JSON.")
def compare(results, plot_path, no_plot, json_path) -> None:
    """Stabilities of each run against the K -> inf theory, with a distance, and robustness side by side.

    Theory: RS typical for y = 1; large deviation at the run's alpha, y and measured q1 for y > 1
    (docs/theory.md §8). Distance: the Kolmogorov-Smirnov statistic over lattice-aligned bin edges
    ("ks"; "ks_scale" is its 95 % sampling scale 1.36/sqrt(samples * P)). A ks above ks_scale is
    explained under the table. Robustness columns need `relusim robustness` first. A fully connected
    file adds its hidden units: aligned unit overlaps and the within-network unit correlation C beside
    the fully connected theory at the run's alpha (a K -> inf limit, and its 1/K correction at the run's K).

    Example: relusim compare results/paper_fig3_sign_quick.h5 results/paper_fig3_relu_quick.h5
    """
    from ..analysis import compare as cmp
    from .. import paths

    if no_plot and plot_path:
        raise InputError("--no-plot", True, "not with --plot; give one of them")
    if not no_plot:
        first = Path(results[0])
        plot_path = plot_path or str(first.with_name(first.stem + "_compare.png"))
        paths.check_plot("--plot", plot_path)
    if json_path:
        paths.check_writable("--json", json_path)
    runs = [cmp.load_run(_existing(p)) for p in results]
    rows = cmp.table_rows(runs)
    click.echo(cmp.format_table(rows))
    for line in cmp.explain(rows):
        click.echo(line)
    for run in runs:
        for line in cmp.unit_lines(run):
            click.echo(line)
    if json_path:
        paths.make_parent(json_path)
        Path(json_path).write_text(json.dumps(rows, indent=1))
        click.echo(f"table: {json_path}")
    if not no_plot:
        from ..analysis import plots

        paths.make_parent(plot_path)
        plots.plot_compare(runs, plot_path)
        click.echo(f"plot: {plot_path}")


COMMANDS = [robustness, compare]
