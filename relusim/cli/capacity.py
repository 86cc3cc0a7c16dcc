"""``relusim capacity``: parse, validate, call ``relusim.capacity.grid``, print. Registered by ``relusim.cli.main``."""
from __future__ import annotations

import json
import os
import sys

import click

from .. import ranges
from .backends import HELP, check_options, mode_of, slurm_from, slurm_options
from ..errors import InputError


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="BASE YAML: the model (activation, weights, seed) and, for anneal, the protocol.")
@click.option("--alpha", "alpha", default=None,
              help=ranges.HELP + " (0.5:1.0:0.05 is 0.5, 0.55, ..., 1.0). Default by activation (binary "
                   "weights): sign K = 1 0.60:1.10:0.02, sign 0.50:1.30:0.04, relu 0.16:1.20:0.04; "
                   "fully connected (binary, K > 1) 0.16:1.30:0.04; spherical weights: K = 1 1.6:2.4:0.1, else "
                   "1.0:4.0:0.25. alpha counts patterns per weight.")
@click.option("--N", "N", required=True,
              help="Sizes in inputs, a comma list (e.g. 99,199,399). alpha counts patterns per weight: "
                   "P = round(alpha N) for a tree, round(alpha K N) fully connected.")
@click.option("--samples", type=int, default=64, show_default=True, help="Instances per (K, N, alpha).")
@click.option("--K", "K", default=None, help="Numbers of units, a comma list (default: the config's K).")
@click.option("--method", default=None,
              help="exact: true SAT probability by complete search (small N, binary weights); anneal: the "
                   "BASE protocol's success rate (an algorithmic threshold, a lower bound on the capacity). "
                   "Default: exact for binary weights, anneal for spherical.")
@click.option("--max-nodes", type=int, default=10**12, show_default=True,
              help="exact: node budget per instance; an instance that hits it is counted as unknown.")
@click.option("--workers", type=int, default=None,
              help="local: processes (default: all cores); dask: LocalCluster workers, or with --slurm "
                   "worker processes in all.")
@click.option("--backend", default="local", show_default=True,
              help=HELP + " A job array's tasks each append their instances to a journal of their own; "
                          "`relusim merge OUT`, or this command run again, folds them into OUT.")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="dask: a running scheduler's address.")
@slurm_options("instance")
@click.option("--out", default=None, help="HDF5 output (default: the config's output with _capacity).")
@click.option("--json", "json_path", default=None, type=str, help="Write the analysis as JSON.")
@click.option("--plot", "plot_path", default=None, type=str, help="Write the figure (png, pdf, svg).")
@click.option("--bootstrap", type=int, default=200, show_default=True, help="Bootstrap refits for the errors.")
@click.option("--overwrite", is_flag=True, help="Start afresh instead of resuming.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def capacity(config_path, alpha, N, samples, K, method, max_nodes, workers, backend, scheduler, slurm, queue,
             walltime, cores, memory, setup, chunk, dry_run, wait, out, json_path, plot_path, bootstrap, overwrite,
             quiet) -> None:
    """Storage capacity: solved fraction over (K, N, alpha), 50% points, finite-size scaling, theory.

    Example: relusim capacity --config configs/default.yaml --K 2,4 --N 8,12,16 --alpha 0.5:1.2:0.1
    --samples 32 --method exact --plot cap.png
    """
    from pathlib import Path

    from ..capacity import grid as cap
    from .. import config, paths
    from ..capacity.analysis import plot, table, to_json

    base = config.load(config_path)
    if method is None:
        method = "exact" if cap.prior_of(base).EXACT_SEARCH else "anneal"
    if method not in cap.METHODS:
        raise InputError("--method", method, f"allowed: {', '.join(cap.METHODS)}")
    if backend not in cap.BACKENDS:
        raise InputError("--backend", backend, f"allowed: {', '.join(cap.BACKENDS)}")
    check_options(mode_of(backend, slurm), dict(workers=workers, scheduler=scheduler, slurm=slurm, queue=queue,
                                                walltime=walltime, cores=cores, memory=memory, setup=setup,
                                                chunk=chunk, dry_run=dry_run, wait=wait))
    if not 0 <= bootstrap <= cap.MAX_BOOTSTRAP:
        raise InputError("--bootstrap", bootstrap, f"must be >= 0 and <= {cap.MAX_BOOTSTRAP} (refits per 50% point)")
    plan = cap.make_plan(base, method, alpha, N, K, samples, max_nodes)
    out = out or str(Path(base.output).with_name(Path(base.output).stem + "_capacity.h5"))
    if not out.endswith((".h5", ".hdf5")):
        raise InputError("--out", out, "must end in .h5 or .hdf5")
    if plot_path and Path(plot_path).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise InputError("--plot", plot_path, "must end in .png, .pdf or .svg")
    # every output path is checked before any work (CONTRACT.md "Output paths: one rule for every command")
    paths.check_writable("--out", out)
    if json_path:
        paths.check_writable("--json", json_path)
    if plot_path:
        paths.check_plot("--plot", plot_path)
    for key, path in (("--json", json_path), ("--plot", plot_path)):
        if path and os.path.abspath(path) == os.path.abspath(out):
            raise InputError(key, path, "is the --out file; give another path")
    opts = slurm_from(queue, walltime, cores, memory, setup)
    command = "relusim " + " ".join(sys.argv[1:])
    if backend == "slurm":
        from ..capacity import array

        sub = array.submit(plan, out, opts, chunk=chunk, dry_run=dry_run, wait=wait, overwrite=overwrite,
                           command=command, bootstrap=bootstrap)
        _echo_submission(sub, out)
        if sub.merged is None or sub.merged.summary is None:
            return
        s = sub.merged.summary
    else:
        from ..execution.runner import default_workers

        if backend == "local" or (backend == "dask" and not scheduler and not slurm):
            _check_workers(workers or default_workers(), cap.count_instances(plan))
        s = cap.run(plan, out, workers=workers or default_workers(), backend=backend, scheduler=scheduler,
                    slurm=opts if slurm else None, overwrite=overwrite, command=command, quiet=quiet,
                    bootstrap=bootstrap)
    click.echo(table(s.analysis))
    click.echo(f"{s.path}: {s.instances} instances ({s.ran} run now) in {s.wall_s:.1f} s")
    if json_path:
        paths.make_parent(json_path)
        _write_atomically(json_path, json.dumps(to_json(s.analysis), indent=1) + "\n")
    if plot_path:
        paths.make_parent(plot_path)
        plot(s.analysis, plot_path)


def _echo_submission(sub, out: str) -> None:
    """What ``--backend slurm`` did: the script written, the job submitted, or the merge at its end."""
    from ..capacity import array

    if sub.job is not None and sub.job_id is None:
        click.echo(f"wrote {sub.job.script} ({sub.job.n_tasks} array tasks, {sub.job.samples} instances)")
        click.echo(f"submit with: {' '.join(sub.job.sbatch_command())}")
        click.echo(f"then merge with: relusim merge {out}")
    elif sub.job is not None:
        click.echo(f"submitted job {sub.job_id}: {sub.job.n_tasks} array tasks, {sub.job.samples} instances; "
                   f"logs in {sub.job.script.parent / 'logs'}")
        if sub.merged is None:
            click.echo(f"when it ends: relusim merge {out}")
    if sub.merged is not None:
        echo_merge(sub.merged)
        array.check_complete(sub.merged)


def echo_merge(r) -> None:
    state = "complete" if not r.missing else f"{len(r.missing)} missing"
    click.echo(f"{r.path}: {r.done}/{r.instances} instances, {r.merged} merged now ({state})")


def _check_workers(workers: int, instances: int) -> None:
    """Refuse more worker processes at once than this machine's memory holds (each loads Python,
    NumPy and the compiled kernels: ``resources.PROCESS_BYTES``). ``--workers 1000000000`` started a
    process per instance."""
    from ..execution.resources import PROCESS_BYTES, _size, available_bytes

    at_once = min(workers, instances)
    avail = available_bytes()
    if at_once <= 1 or avail is None or at_once * PROCESS_BYTES <= avail:
        return
    fits = max(1, int(avail // PROCESS_BYTES))
    raise InputError("--workers", workers, f"{at_once} processes at once need about {_size(at_once * PROCESS_BYTES)} "
                     f"of memory; this machine has {_size(avail)} available: use --workers {fits}")


def _write_atomically(path: str, text: str) -> None:
    """``text`` into ``path`` through a temporary file beside it (never a half-written file)."""
    from ..storage.results import temp_path

    tmp = temp_path(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


COMMANDS = [capacity]
