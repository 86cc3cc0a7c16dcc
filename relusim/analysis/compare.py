"""Numerics vs theory: stability histograms over the K -> inf theory, a distance, robustness side by side.

Theory for a run (docs/theory.md §8, :mod:`relusim.theory.stabilities`): typical RS for ``y = 1``, and for
``y > 1`` the large-deviation law of one of ``y`` replicas at the run's ``alpha``, ``y`` and its
**measured** mean mutual overlap ``q1`` (docs/model.md §7: compare at the ``q1`` actually reached). The same
law is drawn over the reference's stabilities for comparison, though it describes a replica, not the centre.

**Lattice.** At finite K the stabilities live on a lattice (docs/model.md §4): sign units give
``Delta in {1, 3, 5, ...}/sqrt(K)``; ReLU units give ``Delta = out/sqrt(K n)`` with ``out`` an integer, even
when n is even. A plain KS statistic against the continuous theory CDF would be dominated by the jumps
of the empirical CDF at the lattice points. So histogram bins are aligned to the lattice, one lattice
value per bin, and the theory density is integrated over each bin (exact tails).

**Distance ("lattice KS").** With ``e_k`` the bin edges (``e_0 = 0``, every edge midway between two
lattice values),

.. math::  D = \\max_k\\,\\big|\\hat F(e_k) - F_\\mathrm{th}(e_k)\\big|,\\qquad \\hat F(e) = \\#\\{\\Delta \\le e\\}/n,

the Kolmogorov-Smirnov statistic restricted to points where both CDFs are free of lattice jumps. Errors
(``Delta <= 0``, theory mass 0) count at ``e_0``. Its sampling scale is about ``1.36/sqrt(S P)`` (95 %,
S samples of P patterns; the replicas of one sample are strongly correlated, so they do not add); the
K -> inf theory itself differs from K = 9-10 by more than that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models import activations, machine
from ..errors import InputError
from .robustness import Curve, read_curves
from ..theory.stabilities import stability_bin_probs, stability_density

ROBUSTNESS_POINTS = (0.05, 0.1, 0.2, 0.3)  # p at which the table reports the input-flip error


@dataclass
class Run:
    """What ``compare`` needs from one result file."""

    path: str
    name: str
    activation: str
    weights: str
    N: int
    K: int
    alpha: float
    y: int
    q1: float  # measured mean mutual overlap (nan for y = 1)
    stabilities: np.ndarray  # (S, y, P)
    reference_stabilities: np.ndarray | None  # (S, P)
    curves: dict = field(default_factory=dict)
    architecture: str = "tree"


def load_run(path, equilibrium: bool = False, burn: float = 0.0) -> Run:
    """Read a result file: model, measured q1 (mean over samples of q-bar), stabilities, robustness curves.

    ``equilibrium``: the stabilities recorded by equilibrium sampling over solutions
    (``anneal.equilibrium``, relusim.priors.binary.equilibrate) instead of the anneal's final state, from
    the samples that have them (solved ones), every record pooled: ``stabilities`` (S, R y, P),
    ``reference_stabilities`` (S, R P), and q1 the mean over samples of the time-averaged q-bar. The
    KS scale stays 1.36/sqrt(S P): records of one sample share its patterns, like its replicas.
    ``burn`` in [0, 1): the fraction of each sample's records (and of its q-bar series) left out at
    the start, where the chain still remembers the anneal's first solution.
    """
    if not 0.0 <= burn < 1.0:
        raise InputError("burn", burn, "must be in [0, 1)")
    from ..storage.results import open_results, reading, stored_config

    with open_results(path) as f, reading(path):
        cfg = stored_config(f, path)
        groups = [g for _, g in sorted(f["samples"].items()) if g.attrs.get("status") == "complete"]
        if equilibrium:
            groups = [g for g in groups if "equilibrium_stabilities" in g]
        if not groups:
            raise InputError("RESULTS", str(path), "holds no finished sample yet" if not equilibrium else
                             "holds no sample with equilibrium stabilities (anneal.equilibrium; solved samples)")
        y = int(cfg["ensemble"]["replicas"])
        if equilibrium:
            def kept(d):
                return d[int(burn * len(d)):]

            stab = np.stack([kept(g["equilibrium_stabilities"][()]).reshape(-1, g["stabilities"].shape[1])
                             for g in groups])
            ref = (np.stack([kept(g["equilibrium_reference_stabilities"][()]).ravel() for g in groups])
                   if "equilibrium_reference_stabilities" in groups[0] else None)
            q1 = float(np.mean([np.mean(kept(g["equilibrium_overlap"][()])) for g in groups])) if y > 1 else np.nan
        else:
            stab = np.stack([g["stabilities"][()] for g in groups])
            ref = (np.stack([g["reference_stabilities"][()] for g in groups])
                   if "reference_stabilities" in groups[0] else None)
            q1 = float(np.mean([machine.mean_mutual_overlap(g["weights"][()]) for g in groups])) if y > 1 else np.nan
    m = cfg["model"]
    return Run(str(path), cfg.get("name", Path(path).stem), m["activation"], m["weights"], int(m["N"]),
               int(m["K"]), float(m["alpha"]), y, q1, stab, ref, read_curves(path),
               m.get("architecture", "tree"))


def lattice_edges(activation: str, N: int, K: int, upper: float, architecture: str = "tree") -> np.ndarray:
    """Bin edges from 0 to beyond ``upper``, one lattice value of Delta per bin (docs/model.md §4).

    sign: values (2j+1)/sqrt(K), edges 2j/sqrt(K). ReLU: values j d with d = 2/sqrt(Kn) (n even) or
    1/sqrt(Kn) (n odd), edges 0 and (j + 1/2) d for j >= 1 (the first positive value is d); n is the
    fan-in of a unit, ``model.fan_in``: N/K for a tree, N fully connected.
    """
    n = machine.fan_in(N, K, architecture)
    if not activations.parse(activation).integer:  # a smooth g: no lattice worth binning on, 40 equal bins
        return np.linspace(0.0, upper * (1 + 1e-9), 41)
    if activation == "sign":
        d = 2.0 / np.sqrt(K)
        return d * np.arange(int(np.ceil(upper / d)) + 1)
    d = (2.0 if n % 2 == 0 else 1.0) / np.sqrt(K * n)
    top = int(np.ceil(upper / d)) + 1
    return np.concatenate([[0.0], d * (np.arange(1, top) + 0.5)])


def theory_params(run: Run) -> dict:
    """Keyword arguments of the theory law for a run: RS (y = 1) or LD at (y, measured q1)."""
    return {} if run.y == 1 else {"y": run.y, "q1": run.q1}


def lattice_ks(delta: np.ndarray, edges: np.ndarray, theory_mass: np.ndarray) -> float:
    """max_k |F_hat(e_k) - F_th(e_k)| over the lattice edges (module docstring)."""
    delta = np.ravel(delta)
    emp = np.searchsorted(np.sort(delta), edges, side="right") / delta.size
    th = np.concatenate([[0.0], np.cumsum(theory_mass)])
    return float(np.max(np.abs(emp - th)))


@dataclass(frozen=True)
class Histogram:
    """One histogram against its theory: edges, empirical and theory mass per bin, the distance."""

    label: str
    activation: str
    which: str  # "replicas" | "reference" | "machine"
    edges: np.ndarray
    mass: np.ndarray
    theory_mass: np.ndarray
    centres: np.ndarray
    errors: float  # fraction of Delta <= 0
    n: int
    ks: float
    ks_scale: float
    mean: float
    theory_mean: float


def histograms(run: Run) -> list[Histogram]:
    """The replicas' (or the single machine's) and the reference's stability histograms against theory."""
    S, y, P = run.stabilities.shape
    sets = [("machine" if run.y == 1 else "replicas", run.stabilities)]
    if run.reference_stabilities is not None:
        sets.append(("reference", run.reference_stabilities))
    upper = max(float(np.max(d)) for _, d in sets) + 1e-9
    kw = theory_params(run)
    edges = lattice_edges(run.activation, run.N, run.K, max(upper, 4.0 * (1.0 if run.activation == "sign" else 0.6)),
                          run.architecture)
    th = stability_bin_probs(run.activation, run.weights, run.alpha, edges=edges, **kw)
    centres = 0.5 * (edges[:-1] + edges[1:])
    if run.activation == "relu":  # the first ReLU bin [0, 3d/2) holds the value d
        centres[0] = edges[1] - 0.5 * (edges[2] - edges[1])
    out = []
    for which, d in sets:
        d = np.ravel(d)
        mass = np.histogram(d, bins=edges)[0] / d.size
        out.append(Histogram(
            label=run.name, activation=run.activation, which=which, edges=edges, mass=mass, theory_mass=th,
            centres=centres, errors=float(np.mean(d <= 0)), n=d.size, ks=lattice_ks(d, edges, th),
            ks_scale=1.36 / np.sqrt(S * P), mean=float(d.mean()), theory_mean=float(th @ centres / th.sum())))
    return out


def theory_line(run: Run, x: np.ndarray) -> np.ndarray:
    """The K -> inf theory density of the run at points x (for plots)."""
    return stability_density(run.activation, run.weights, run.alpha, x=x, **theory_params(run))


def curve_at(curve: Curve, p: float) -> tuple[float, float]:
    """(mean, sem) of a curve at the grid point nearest p (nan if the grid is farther than 1e-9)."""
    j = int(np.argmin(np.abs(curve.x - p)))
    if abs(curve.x[j] - p) > 1e-9:
        return float("nan"), float("nan")
    return float(curve.mean[j]), float(curve.sem[j])


def table_rows(runs: list[Run]) -> list[dict]:
    """One row per (run, replicas|reference): parameters, distance, means, robustness at a few p."""
    rows = []
    for run in runs:
        for h in histograms(run):
            row = {"file": run.path, "name": run.name, "activation": run.activation, "N": run.N, "K": run.K,
                   "alpha": run.alpha, "y": run.y, "q1": None if np.isnan(run.q1) else round(run.q1, 4),
                   "theory": "RS typical" if run.y == 1 else "large deviation", "which": h.which, "n": h.n,
                   "errors": h.errors, "mean": h.mean, "theory_mean": h.theory_mean, "ks": h.ks,
                   "ks_scale": h.ks_scale}
            c = run.curves.get("input_flip", {}).get(h.which)
            for p in ROBUSTNESS_POINTS:
                row[f"p_err({p})"] = curve_at(c, p)[0] if c is not None else None
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of :func:`table_rows`."""
    cols = ["name", "activation", "y", "q1", "which", "n", "errors", "mean", "theory_mean", "ks", "ks_scale"]
    cols += [k for k in rows[0] if k.startswith("p_err")] if rows else []

    def fmt(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "-"
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [[c for c in cols]] + [[fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells)


def explain(rows: list[dict]) -> list[str]:
    """Plain words for every row whose distance exceeds its 95 % sampling scale: why, and what to do.

    ``ks_scale`` counts only the sampling noise of S x P stabilities drawn from the theory law. The
    theory is a K -> inf, N -> inf law of solutions under the measure of docs/theory.md §8, so a run
    can differ from it for reasons that more samples do not remove.
    """
    over = [r for r in rows if r["ks"] > r["ks_scale"]]
    if not over:
        return ["every ks is below its 95 % scale: the runs agree with the theory within the sampling noise"] if rows else []
    lines = ["ks above its 95 % scale (the scale counts sampling noise only):"]
    for r in over:
        ratio = r["ks"] / r["ks_scale"]
        why = []
        if ratio < 2:
            why.append("within 2x of the scale: too few samples can do this (S x P stabilities are not all "
                       "independent: patterns of one sample share its weights)")
        if r["errors"] > 0:
            why.append(f"{100 * r['errors']:.1f}% of the stabilities are <= 0 (unsolved samples, or a "
                       "reference that is not a solution); the theory has no mass there")
        why.append(f"finite K = {r['K']}: the output field is a sum of {r['K']} unit terms, not yet the "
                   "Gaussian of the K -> inf theory; this part does not shrink with more samples")
        why.append(f"finite N = {r['N']} (n = N/K = {r['N'] // r['K']} inputs per unit)")
        if r["which"] == "reference":
            why.append("the theory law is that of a replica; the reference (the centre) is drawn against it "
                       "for comparison only and is not expected to follow it")
        elif r["y"] == 1:
            why.append("annealing does not draw solutions uniformly: it tends to find solutions in dense "
                       "regions, which are not the typical ones the RS law describes")
        lines.append(f"  {r['name']} ({r['which']}): ks {r['ks']:.4f} = {ratio:.1f} x scale {r['ks_scale']:.4f}")
        lines += [f"    - {w}" for w in why]
    lines.append("  what to do: run more samples; if ks falls like 1/sqrt(samples) it was sampling noise, if it "
                 "stays, it is finite size: compare runs at growing K and N (keeping alpha) and check that "
                 "ks falls; solve every sample (more sweeps) before comparing.")
    return lines


# --- fully connected: the hidden units against the fully connected theory ------------------------

def unit_summary(path):
    """:func:`relusim.models.units.summarise` over the finished samples of a result file (any architecture)."""
    from ..models import units
    from ..storage.results import open_results, reading, stored_config

    with open_results(path) as f, reading(path):
        m = stored_config(f, path)["model"]
        groups = [g for _, g in sorted(f["samples"].items()) if g.attrs.get("status") == "complete"]
        if not groups:
            return None
        return units.summarise(((g["weights"][()], g["reference"][()] if "reference" in g else None) for g in groups),
                               m["activation"], int(m["K"]), m.get("architecture", "tree"))


@dataclass(frozen=True)
class CorrelationTheory:
    """The fully connected theory's unit correlation at a run's (activation, weights, alpha, K).

    ``scaled_inf``: the K -> inf limit of (K-1) C (docs/theory_fully_connected.md eq. (FC12));
    ``C_finite``: C from the uniform-mode equations at the run's K (eq. (FC10)-(FC11)); ``error``: why
    a value is missing (nan).
    """

    scaled_inf: float
    C_finite: float
    error: str = ""


def correlation_theory(activation: str, weights: str, alpha: float, K: int) -> CorrelationTheory:
    from ..theory import fully_connected as fc
    from ..theory.rs import ConvergenceError

    vals, errs = [], []
    for k in (None, K):
        try:
            vals.append(float(fc.unit_correlation(activation, weights, alpha, K=k)))
        except (ConvergenceError, InputError, ValueError, RuntimeError) as exc:
            vals.append(float("nan"))
            errs.append(f"{type(exc).__name__}: {exc}")
    return CorrelationTheory(vals[0], vals[1], "; ".join(errs))


def unit_lines(run: Run) -> list[str]:
    """``relusim compare``'s lines on a fully connected run: measured unit overlaps and correlations, and
    the measured sign-absorbed correlation C beside the theory at the run's alpha (empty for a tree)."""
    if run.architecture != "fully_connected":
        return []
    s = unit_summary(run.path)
    if s is None:
        return []
    th = correlation_theory(run.activation, run.weights, run.alpha, run.K)
    meas = s.absorbed_correlation
    out = [f"{run.name}: hidden units (fully connected, K={run.K}, N={run.N} inputs, alpha={run.alpha}, "
           f"{meas.n_samples} samples)"]
    out += ["  " + line for line in s.lines()]
    scaled = (f"{(run.K - 1) * meas.mean:+.4f} ± {(run.K - 1) * meas.sem:.4f}" if np.isfinite(meas.sem)
              else f"{(run.K - 1) * meas.mean:+.4f}")
    out.append(f"  unit correlation C = mean_(k!=l) c_k c_l W_k.W_l/N vs the fully connected theory at alpha={run.alpha}:")
    out.append(f"    measured C {meas}   (K-1) C {scaled}")
    out.append(f"    theory K -> inf (the theory is a K -> infinity limit): (K-1) C -> {th.scaled_inf:+.4f}, "
               f"i.e. C ~ {th.scaled_inf / (run.K - 1):+.4f} at K={run.K}")
    out.append(f"    theory at K={run.K} (uniform-mode 1/K correction): C = {th.C_finite:+.4f}")
    if th.error:
        out.append(f"    (theory not available: {th.error})")
    return out
