"""``relusim theory ...``: thin click commands over :mod:`relusim.theory`.

Each command builds a list of row dicts, prints them as a table and optionally writes
``--csv``/``--json``/``--plot``. Bad input raises :class:`relusim.errors.InputError`.
"""

from __future__ import annotations

import csv
import json
import math
from typing import Callable

import click
import numpy as np

from .. import ranges
from ..errors import InputError
from ..theory.activations import REGISTRY, get_activation
from ..theory.franz_parisi import franz_parisi_entropy
from ..theory.rs import WEIGHTS, ConvergenceError, at_threshold, capacity_rs, check_alpha, check_weights, rs_ambiguous_range
from ..theory.rsb import capacity_1rsb_spherical, local_entropy, local_entropy_extrapolated
from ..theory.stabilities import sign_lattice_edges, stability_bin_probs, stability_density

_ACT_HELP = ("activation(s), comma separated: " + ", ".join(REGISTRY)
             + ", relu_shift(shift=B) (max(0, x - B)), erf(scale=A) (erf(A x), A > 0)")


# --- parsing -------------------------------------------------------------------------------------

MAX_GRID = 100_000  # points of a grid (each is a solve or an evaluation): far finer than any plot

def parse_list(key: str, text: str) -> list[str]:
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if not items:
        raise InputError(key, text, "a non-empty comma-separated list")
    return items


def parse_grid(key: str, text: str, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """``start:stop:step`` or ``"x1,x2,..."`` (``relusim.ranges``, at most ``MAX_GRID`` points); values
    checked against ``(lo, hi)`` open."""
    vals = np.array(ranges.parse(key, text, MAX_GRID), dtype=float)
    if (lo is not None and np.any(vals <= lo)) or (hi is not None and np.any(vals >= hi)):
        raise InputError(key, text, f"values must lie in ({lo}, {hi})")
    return vals


# The user's spelling of each activation this command parsed (internal name -> as typed), so that a
# message names ``linear`` to a user who typed ``linear``, not the theory's name ``perceptron``.
_TYPED: dict[str, str] = {}


def parse_activations(text: str) -> list[str]:
    names = []
    for given in parse_list("activation", text):
        name = get_activation(given).name
        _TYPED.setdefault(name, given)
        names.append(name)
    return names


def typed(name: str) -> str:
    """The activation as the user typed it (its internal name if it was not parsed here)."""
    return _TYPED.get(name, name)


def parse_weights(text: str) -> list[str]:
    return [check_weights(w) for w in parse_list("weights", text)]


def parse_alphas(text: str) -> list[float]:
    """alpha values > 0: ``start:stop:step`` or a comma list (``relusim.ranges``)."""
    return [check_alpha(float(a)) for a in ranges.parse("alpha", text, MAX_GRID)]


def parse_ys(text: str, allow_inf: bool) -> list[float]:
    out = []
    for s in parse_list("y", text):
        try:
            y = float(s)
        except ValueError:
            raise InputError("y", s, "numbers >= 1" + (" or 'inf'" if allow_inf else "")) from None
        if not (y >= 1) or (math.isinf(y) and not allow_inf):
            raise InputError("y", s, "numbers >= 1" + (" or 'inf'" if allow_inf else ""))
        out.append(y)
    return out


# --- output --------------------------------------------------------------------------------------

def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _finite_or_none(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    def just(text, w, col):  # free text (the note column) reads better left-aligned
        return text.ljust(w) if col == "note" else text.rjust(w)

    lines = ["  ".join(just(c, w, c) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(just(x, w, c) for x, w, c in zip(row, widths, cols)).rstrip() for row in cells]
    return "\n".join(lines)


def emit(rows: list[dict], csv_path: str | None, json_path: str | None, plot_path: str | None,
         plot: Callable[[list[dict], object], None]) -> None:
    from ..paths import make_parent

    click.echo(format_table(rows))
    for path in (csv_path, json_path, plot_path):
        if path:
            make_parent(path)
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if json_path:
        with open(json_path, "w") as f:
            json.dump([{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                        for k, v in r.items()} for r in rows], f, indent=1)
    if plot_path:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5.5, 4))
        plot(rows, ax)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(plot_path, dpi=120)
        plt.close(fig)


def _lines(rows, ax, x, y, keys, xlabel, ylabel):
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    for key, rs in groups.items():
        ax.plot([r[x] for r in rs], [r[y] for r in rs], marker=".",
                label=", ".join(f"{k}={_fmt(v)}" for k, v in zip(keys, key)))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _checked_path(ctx, param, value):
    """Every output path is checked before any work (relusim.paths: the one rule of every command)."""
    from .. import paths

    if value is None:
        return None
    key = "--" + param.name.replace("_path", "")
    (paths.check_plot if param.name == "plot_path" else paths.check_writable)(key, value)
    return value


def output_options(f):
    f = click.option("--plot", "plot_path", callback=_checked_path,
                     help="write a figure (png, pdf, svg, ...)")(f)
    f = click.option("--json", "json_path", callback=_checked_path, help="write JSON")(f)
    f = click.option("--csv", "csv_path", callback=_checked_path, help="write CSV")(f)
    return f


_SHOWN = ("activation", "weights", "alpha", "y", "q1", "p", "d")


def _no_solution(exc: Exception) -> InputError:
    """A solver that found no solution: one line saying where, never the solver's internals."""
    params = getattr(exc, "params", {}) or {}
    def shown(k, v):
        return _fmt(float(v)) if isinstance(v, (float, np.floating)) else typed(v) if k == "activation" else v

    where = ", ".join(f"{k}={shown(k, v)}" for k, v in params.items() if k in _SHOWN and np.ndim(v) == 0)
    key, value = ("alpha", _fmt(float(params["alpha"]))) if "alpha" in params else ("theory", where or "?")
    return InputError(key, value, f"the equations have no solution here{' (' + where + ')' if where else ''}: "
                      "beyond the range they cover (e.g. above the capacity, or a distance out of reach); "
                      "try smaller values")


def _as_typed(ctx: click.Context, exc: InputError) -> InputError:
    """The library's InputError in the words of the command line: its key as the option the user
    gave (``alpha`` -> ``--alpha``) and an activation as the user spelt it (``linear``, not the
    theory's ``perceptron``; ``ERF(scale=2)`` as typed)."""
    options = {}
    sub = ctx.command.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
    for param in (sub.params if sub is not None else []):
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                options[opt[2:]] = opt
    key = options.get(exc.key, exc.key)
    value = typed(exc.value) if exc.key == "activation" and isinstance(exc.value, str) else exc.value
    if (key, value) == (exc.key, exc.value):
        return exc
    return InputError(key, value, exc.allowed)


class _TheoryGroup(click.Group):
    def invoke(self, ctx):
        from ..theory.rs import ConvergenceError

        _TYPED.clear()
        try:
            return super().invoke(ctx)
        except ConvergenceError as exc:
            raise _as_typed(ctx, _no_solution(exc)) from None
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
            if isinstance(exc, InputError):
                raise _as_typed(ctx, exc) from None
            raise _as_typed(ctx, _no_solution(exc)) from None


# --- commands ------------------------------------------------------------------------------------

@click.group("theory", cls=_TheoryGroup)
def theory_group() -> None:
    """Replica predictions at K -> infinity (docs/theory.md): capacities, Franz-Parisi, local entropy,
    stability distributions."""


def _capacity_row(a: str, w: str) -> dict:
    """One row of ``theory capacity``; a value that is not a finite number is None and ``note`` says why."""
    notes = []
    rs = _finite_or_none(capacity_rs(a, w))
    if rs is None:
        notes.append(f"RS: diverges ({a}, {w}: rho'(1) = inf"
                     + ("; at finite K the RS capacity grows like sqrt K)" if a == "sign" else ")"))
    amb = rs_ambiguous_range(a, w)
    if amb is not None:
        notes.append(f"RS: several RS saddles for alpha in [{amb[0]:.6g}, {amb[1]:.6g}] (alpha(q) folds back, "
                     "a first-order RS transition): alpha_c_rs is the q -> 1 end of the upper branch")
    try:
        if amb is not None:
            raise ConvergenceError("not computed where the RS saddle is not unique")
        at = at_threshold(a, w)
        alpha_at, q_at = _finite_or_none(at.alpha), _finite_or_none(at.q)
        if at.note:
            notes.append("AT: " + at.note)
    except ConvergenceError as e:
        alpha_at = q_at = None
        notes.append(f"AT: not found ({e})")
    if w == "binary":
        rsb = None
        notes.append("1RSB: not computed for binary weights")
    else:
        c1 = capacity_1rsb_spherical(a)
        rsb = _finite_or_none(c1.alpha)
        if rsb is None:
            notes.append("1RSB: diverges at K = inf (rho'(1) = inf)")
        elif c1.x == 0.0:
            notes.append("1RSB: no interior stationary point (within 1e-6 of RS), the RS value")
    return dict(activation=a, weights=w, alpha_c_rs=rs, alpha_at=alpha_at, q_at=q_at,
                alpha_c_1rsb=rsb, note="; ".join(notes))


@theory_group.command("capacity")
@click.option("--activation", default="sign,relu", show_default=True, help=_ACT_HELP)
@click.option("--weights", default="binary,spherical", show_default=True, help="binary, spherical")
@click.option("--architecture", default="tree", show_default=True,
              help="tree (K -> inf tree theory) or fully_connected (docs/theory_fully_connected.md)")
@output_options
def capacity_cmd(activation, weights, architecture, csv_path, json_path, plot_path):
    """RS capacity, RS instability (AT) and, for spherical weights, the 1RSB capacity.

    With --architecture fully_connected: the FC network at K -> inf (capacity per weight, the
    permutation-symmetry-breaking point and its kind, the replicon of the PSB branch), e.g.
    relusim theory capacity --architecture fully_connected --activation relu,erf.

    \b
    Example:
      relusim theory capacity --activation sign,relu,erf --weights spherical --csv cap.csv
    """
    if architecture == "fully_connected":
        return fc_capacity_rows(activation, weights, csv_path, json_path, plot_path)
    if architecture != "tree":
        raise InputError("architecture", architecture, "allowed: tree, fully_connected")
    rows = []
    for w in parse_weights(weights):
        for a in parse_activations(activation):
            rows.append(_capacity_row(a, w))

    def plot(rows, ax):
        labels = [f"{r['activation']}\n{r['weights']}" for r in rows]
        xs = np.arange(len(rows))
        for i, (k, lab) in enumerate([("alpha_c_rs", "RS capacity"), ("alpha_at", "AT"),
                                      ("alpha_c_1rsb", "1RSB capacity")]):
            vals = [np.nan if r[k] is None else r[k] for r in rows]
            ax.bar(xs + (i - 1) * 0.27, vals, 0.27, label=lab)
        ax.set_xticks(xs, labels, fontsize=7)
        ax.set_ylabel("alpha (missing bar: see the note column)")

    emit(rows, csv_path, json_path, plot_path, plot)


@theory_group.command("franz-parisi")
@click.option("--activation", default="sign,relu", show_default=True, help=_ACT_HELP)
@click.option("--weights", default="binary", show_default=True, help="binary or spherical")
@click.option("--alpha", default="0.5", show_default=True, help="alpha value(s) > 0: " + ranges.HELP)
@click.option("--d", "d_grid", default="0.005:0.4:0.04", show_default=True,
              help="distances d = (1-p)/2, 0 < d < 0.5: " + ranges.HELP)
@output_options
def franz_parisi_cmd(activation, weights, alpha, d_grid, csv_path, json_path, plot_path):
    """Franz-Parisi entropy V(d) around a typical (equilibrium) solution (docs/theory.md §6).

    \b
    Example:
      relusim theory franz-parisi --activation sign,relu --alpha 0.3,0.5 --d 0.02:0.3:0.02 --plot fp.png
    """
    ds = parse_grid("d", d_grid, 0.0, 0.5)
    rows = []
    for w in parse_weights(weights):
        for al in parse_alphas(alpha):
            for a in parse_activations(activation):
                for d in ds:
                    r = franz_parisi_entropy(a, w, al, 1.0 - 2.0 * d)
                    rows.append(dict(activation=a, weights=w, alpha=al, d=float(d), p=r.p, V=r.V))
    emit(rows, csv_path, json_path, plot_path,
         lambda rows, ax: (_lines(rows, ax, "d", "V", ("activation", "alpha"), "d", "Franz-Parisi entropy"),
                           ax.axhline(0, color="k", lw=0.5)))


@theory_group.command("local-entropy")
@click.option("--activation", default="sign,relu", show_default=True, help=_ACT_HELP)
@click.option("--weights", default="binary", show_default=True, help="binary or spherical")
@click.option("--alpha", default="0.4", show_default=True, help="alpha value(s) > 0: " + ranges.HELP)
@click.option("--y", "y_list", default="3,10", show_default=True,
              help="replica numbers y >= 1, comma separated; 'inf' = extrapolation in 1/y")
@click.option("--d", "d_grid", default="0.01:0.4:0.05", show_default=True,
              help="mutual distances d = (1-q1)/2, 0 < d < 0.5: " + ranges.HELP)
@output_options
def local_entropy_cmd(activation, weights, alpha, y_list, d_grid, csv_path, json_path, plot_path):
    """Large-deviation local entropy phi(y, d) - phi(alpha=0), per replica (docs/theory.md §7, App. D).

    y = inf is EXTRAPOLATED in 1/y from y = 20, 40, 80, 160 (column 'spread' = fit-window difference).

    \b
    Example:
      relusim theory local-entropy --activation sign,relu --alpha 0.4 --y 3,10,inf --d 0.03:0.3:0.03
    """
    ds = parse_grid("d", d_grid, 0.0, 0.5)
    ys = parse_ys(y_list, allow_inf=True)
    rows = []
    for w in parse_weights(weights):
        for al in parse_alphas(alpha):
            for a in parse_activations(activation):
                for y in ys:
                    for d in ds:
                        q1 = 1.0 - 2.0 * float(d)
                        if math.isinf(y):
                            e = local_entropy_extrapolated(a, w, al, q1)
                            val, spread = e.local_entropy, e.spread
                        else:
                            val, spread = local_entropy(a, w, al, y, q1).local_entropy, 0.0
                        rows.append(dict(activation=a, weights=w, alpha=al, y=y, d=float(d), q1=q1,
                                         local_entropy=val, spread=spread))
    emit(rows, csv_path, json_path, plot_path,
         lambda rows, ax: _lines(rows, ax, "d", "local_entropy", ("activation", "alpha", "y"), "d",
                                 "local entropy (per replica)"))


@theory_group.command("stabilities")
@click.option("--activation", default="sign,relu", show_default=True, help=_ACT_HELP)
@click.option("--weights", default="binary", show_default=True, help="binary or spherical")
@click.option("--alpha", default="0.5", show_default=True, help="alpha (one value)")
@click.option("--y", "y_list", default="1,7", show_default=True,
              help="1 = typical (RS); y > 1 = large deviation at mutual overlap --q1")
@click.option("--q1", default=0.9, show_default=True, type=float, help="replicas' mutual overlap (y > 1)")
@click.option("--x", "x_grid", default="0.1:3:0.1", show_default=True,
              help="stability values where the density is evaluated: " + ranges.HELP)
@click.option("--K", "K", default=None, type=int,
              help="instead of densities: mass per bin of the sign lattice {1,3,..}/sqrt(K) up to max x")
@output_options
def stabilities_cmd(activation, weights, alpha, y_list, q1, x_grid, K, csv_path, json_path, plot_path):
    """Stability densities (docs/model.md §4 normalisation), typical and large deviation (docs/theory.md §8).

    \b
    Example:
      relusim theory stabilities --activation sign,relu --alpha 0.5 --y 1,7 --q1 0.9 --plot stab.png
    """
    al = parse_alphas(alpha)
    if len(al) != 1:
        raise InputError("alpha", alpha, "exactly one value")
    ys = parse_ys(y_list, allow_inf=False)
    xs = parse_grid("x", x_grid, None, None)
    if not 0.0 < q1 < 1.0:
        raise InputError("q1", q1, "must lie in (0, 1)")
    rows = []
    for w in parse_weights(weights):
        for a in parse_activations(activation):
            for y in ys:
                kw = dict(y=y, q1=q1 if y > 1 else None)
                if K is not None:
                    bins = math.ceil(float(xs.max()) * math.sqrt(K) / 2.0) if K >= 1 else 0
                    if bins > MAX_GRID:  # before the edges exist (--K 10^18 was 11 GB)
                        raise InputError("K", K, f"gives {bins} lattice bins up to x = {float(xs.max()):g}; at most "
                                         f"{MAX_GRID} (a smaller --K or --x)")
                    edges = sign_lattice_edges(K, float(xs.max()))
                    probs = stability_bin_probs(a, w, al[0], edges=edges, **kw)
                    for lo, hi, pr in zip(edges[:-1], edges[1:], probs):
                        rows.append(dict(activation=a, weights=w, alpha=al[0], y=y, bin_lo=float(lo),
                                         bin_hi=float(hi), prob=float(pr)))
                else:
                    dens = stability_density(a, w, al[0], x=xs, **kw)
                    for x, p in zip(xs, dens):
                        rows.append(dict(activation=a, weights=w, alpha=al[0], y=y, x=float(x),
                                         density=float(p)))
    if K is not None:
        for r in rows:
            r["x"] = 0.5 * (r["bin_lo"] + r["bin_hi"])
        emit(rows, csv_path, json_path, plot_path,
             lambda rows, ax: _lines(rows, ax, "x", "prob", ("activation", "y"), "Delta", "bin mass"))
    else:
        emit(rows, csv_path, json_path, plot_path,
             lambda rows, ax: _lines(rows, ax, "x", "density", ("activation", "y"), "Delta", "P(Delta)"))


# --- fully connected network (docs/theory_fully_connected.md) -----------------------------------

def _fc_activations(text: str) -> list[str]:
    from ..theory.fully_connected import linear_weight

    names = parse_activations(text)
    for a in names:
        act = get_activation(a)
        if act.Q_eff - linear_weight(act) <= 1e-9 * act.Q_eff:
            raise InputError("activation", typed(a), "a non-linear activation (a linear unit has no capacity "
                             "per weight at K -> inf in the fully connected network)")
    return names


def _fc_status(alpha_c: float, alpha_at: float) -> str:
    """What a fully connected capacity is: a leading-order K -> infinity asymptote (not a finite-K
    prediction), and whether its branch is replicon-stable there (alpha_c <= alpha_at)."""
    if not math.isfinite(alpha_c):
        return "K->inf asymptote; no RS capacity"
    return "K->inf asymptote; " + ("RS-stable" if alpha_c <= alpha_at else "replicon-unstable (past AT)")


def fc_capacity_rows(activation, weights, csv_path, json_path, plot_path) -> None:
    """Rows of ``relusim theory capacity --architecture fully_connected``."""
    import time

    from ..theory.fully_connected import at_threshold_fc, capacity_fc, transition

    acts, ws = _fc_activations(activation), parse_weights(weights)
    rows = []
    for w in ws:
        for a in acts:
            t0 = time.perf_counter()
            tr, cap, at = transition(a, w), capacity_fc(a, w), at_threshold_fc(a, w)
            rows.append(dict(activation=a, weights=w, architecture="fully_connected",
                             alpha_c_rs=float(cap.alpha), branch_c=cap.branch, q_c=float(cap.q),
                             kind=tr.kind, alpha_psb=float(tr.alpha_transition),
                             q_psb=float(tr.q_transition), alpha_spinodal=float(tr.alpha_spinodal),
                             alpha_ps_unstable=float(tr.alpha_ps), alpha_at=float(at.alpha),
                             at_at_psb=bool(at.at_transition), status=_fc_status(cap.alpha, at.alpha),
                             seconds=round(time.perf_counter() - t0, 3)))

    def plot(rows, ax):
        labels = [f"{r['activation']}\n{r['weights']}" for r in rows]
        xs = np.arange(len(rows))
        for i, (k, lab) in enumerate([("alpha_c_rs", "RS capacity / weight"),
                                      ("alpha_spinodal", "PSB spinodal"), ("alpha_psb", "PSB transition")]):
            ax.bar(xs + (i - 1) * 0.27, [min(r[k], 12.0) for r in rows], 0.27, label=lab)
        ax.set_xticks(xs, labels, fontsize=7)
        ax.set_ylabel("alpha = P/(KN) (inf shown as 12)")

    emit(rows, csv_path, json_path, plot_path, plot)
    click.echo("note: fully connected values are the leading order of the RS saddle as K -> infinity, not "
               "finite-K predictions; exact capacities measured at K = 2, 3 (per weight, tree beside): "
               "docs/results/capacity.md, 'Fully connected networks'", err=True)


def parse_alpha_grid(text: str) -> np.ndarray:
    """``start:stop:step`` (``0.1:2:0.05``) or a comma list (``relusim.ranges``); every value > 0."""
    vals = parse_grid("alpha", text)
    if not np.all(vals > 0):
        raise InputError("alpha", text, "every alpha must be > 0")
    return vals


def parse_Ks(text: str | None) -> list[int]:
    if not text:
        return []
    out = []
    for s in parse_list("K", text):
        try:
            k = int(s)
        except ValueError:
            raise InputError("K", s, "integers >= 2, comma separated") from None
        if k < 2:
            raise InputError("K", s, "integers >= 2, comma separated")
        out.append(k)
    return out


@theory_group.command("fc-correlation")
@click.option("--activation", default="relu", show_default=True, help=_ACT_HELP + " (not linear)")
@click.option("--weights", default="spherical", show_default=True, help="binary, spherical")
@click.option("--alpha", "alpha_grid", default="0.1:2:0.1", show_default=True,
              help="alpha = P/(KN) > 0: " + ranges.HELP)
@click.option("--K", "K_list", default="4,10", show_default=True,
              help="finite widths for the 1/K-resummed unit correlation C_K (comma list, >= 2; '' for none)")
@output_options
def fc_correlation_cmd(activation, weights, alpha_grid, K_list, csv_path, json_path, plot_path):
    """Fully connected network: unit correlation and the permutation-symmetry breaking vs alpha.

    Columns: branch (PS below the transition, PSB above), q (same unit, two replicas), KC_inf
    = (K-1) C at K -> inf, U (the 1/K correction, (K-1) C = -1 + U/K), phi (free entropy per weight)
    and C_K<K> = the correlation C = c_k c_l W_k.W_l/N at finite K (uniform mode resummed).
    Spherical alphas at or above the RS capacity per weight are skipped.

    \b
    Example:
      relusim theory fc-correlation --activation relu --weights spherical --alpha 0.1:2:0.05
    """
    from ..theory.fully_connected import capacity_fc, fc_saddle, transition, uniform_mode

    acts, ws = _fc_activations(activation), parse_weights(weights)
    alphas, Ks = parse_alpha_grid(alpha_grid), parse_Ks(K_list)
    rows = []
    for w in ws:
        for a in acts:
            tr = transition(a, w)
            cap = capacity_fc(a, w).alpha if w == "spherical" else np.inf
            for al in alphas:
                if al >= cap * (1 - 1e-9):
                    continue  # at or above the spherical capacity there is no saddle
                s = fc_saddle(a, w, float(al))
                r = dict(activation=a, weights=w, alpha=float(al), branch=s.branch, q=s.q,
                         KC_inf=s.c, U=s.U, phi=s.phi, kind=tr.kind,
                         alpha_psb=float(tr.alpha_transition))
                for K in Ks:
                    r[f"C_K{K}"] = uniform_mode(a, w, float(al), K, q=s.q).C
                rows.append(r)
    if not rows:
        raise InputError("alpha", alpha_grid, "at least one alpha below the capacity")

    def plot(rows, ax):
        _lines(rows, ax, "alpha", "q", ("activation", "weights"), "alpha = P/(KN)",
               "q (solid), (K-1) C at finite K (dashed)")
        for K in Ks:
            for key in dict.fromkeys((r["activation"], r["weights"]) for r in rows):
                rs = [r for r in rows if (r["activation"], r["weights"]) == key]
                ax.plot([r["alpha"] for r in rs], [(K - 1) * r[f"C_K{K}"] for r in rs], ls="--",
                        label=f"{key[0]}, {key[1]}, K={K}")
        ax.axhline(-1, color="k", lw=0.5)

    emit(rows, csv_path, json_path, plot_path, plot)


__all__ = ["theory_group", "WEIGHTS"]
