"""``relusim sweep``, ``relusim merge`` and the hidden ``relusim run-task``: parse, validate, call
``relusim.execution.sweep`` / ``relusim.execution.cluster``, print. Registered on the main group by ``relusim.cli.main``."""
from __future__ import annotations

import os
import sys

import click

from .. import ranges
from .backends import HELP, check_options, mode_of, slurm_from, slurm_options
from ..errors import InputError

def _command() -> str:
    return "relusim " + " ".join(sys.argv[1:])


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="YAML experiment file: the base of every point.")
@click.option("--grid", "grids", multiple=True, metavar="KEY=V1,V2,...",
              help="A key and its values: V1,V2,... typed as in YAML, or a range " + ranges.RANGE_HELP
                   + ", integers when start, stop and step are (model.alpha=0.3:0.5:0.1); repeat for a "
                   "Cartesian product.")
@click.option("--samples", type=int, default=None, help="Override the number of samples of every point.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Where the points' files go (default: beside the config's output, in a folder "
                   "named after the config's name).")
@click.option("--backend", type=click.Choice(["local", "dask", "slurm"]), default="local", show_default=True,
              help=HELP)
@click.option("--workers", type=int, default=None,
              help="local: processes (default: all cores); dask: LocalCluster workers, or with --slurm "
                   "worker processes in all.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="dask: the address of a running scheduler (e.g. tcp://10.0.0.1:8786).")
@slurm_options("sample")
@click.option("--overwrite", is_flag=True, help="Start every point afresh instead of resuming.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(config_path, grids, samples, out_dir, backend, workers, scheduler, slurm, queue, walltime, cores,
          memory, setup, chunk, dry_run, wait, overwrite, quiet) -> None:
    """Run a config over a grid of values: one result file per point, resumable.

    The samples of all points run on one backend under one progress bar; a sample's bits are the same
    whatever the backend, the chunking or the number of workers. At the end: a table over the grid
    (samples, solved fraction, median sweeps, median final energy, sampling time per point), also
    written as CSV beside the files.

    \b
    Example:
      relusim sweep --config configs/default.yaml --grid model.alpha=0.3,0.4,0.5 --grid model.K=2,4
    """
    from ..execution import cluster
    from .. import config
    from ..execution import sweep as sweep_
    from ..execution.runner import default_workers

    check_options(mode_of(backend, slurm), dict(workers=workers, scheduler=scheduler, slurm=slurm, queue=queue,
                              walltime=walltime, cores=cores, memory=memory, setup=setup, chunk=chunk,
                              dry_run=dry_run, wait=wait))
    from .. import paths
    from ..execution.resources import check_memory

    base = config.load(config_path)
    if samples is not None and samples < 1:
        raise InputError("--samples", samples, "must be >= 1")
    if out_dir is not None:
        paths.check_folder("--out-dir", out_dir)
    points = sweep_.expand(base, sweep_.parse_grid(grids, base), out_dir, samples)
    if backend == "local" or (backend == "dask" and not scheduler and not slurm):
        check_memory([p.cfg for p in points], workers or default_workers())
    opts = slurm_from(queue, walltime, cores, memory, setup)
    if backend == "slurm":
        sub = cluster.submit_sweep(points, opts, chunk=chunk, dry_run=dry_run, wait=wait, overwrite=overwrite,
                                   command=_command())
        _echo_submission(sub, points)
        return
    runner = (cluster.LocalBackend(workers or default_workers()) if backend == "local" else
              cluster.DaskBackend(scheduler, workers, opts if slurm else None))
    s = sweep_.run_sweep(points, runner, overwrite=overwrite, quiet=quiet, command=_command())
    rows = sweep_.point_rows(points)
    click.echo(sweep_.format_rows(rows))
    table = sweep_.write_csv(rows, sweep_.csv_path(points))
    click.echo(f"sweep: {len(points)} points, {s.samples} samples ({s.ran} run now, {s.solved} of them "
               f"solved) in {s.wall_s:.1f} s; files in {_folder(points)}, table in {table}")


def _echo_submission(sub, points) -> None:
    from ..execution import cluster

    if sub.job is None:
        click.echo(f"every sample of the {len(points)} points is done; nothing to submit")
    elif sub.job_id is None:
        click.echo(f"wrote {sub.job.script} ({sub.job.n_tasks} array tasks, {sub.job.samples} samples)")
        click.echo(f"submit with: {' '.join(sub.job.sbatch_command())}")
        click.echo(f"then merge with: relusim merge {_folder(points)}")
    else:
        click.echo(f"submitted job {sub.job_id}: {sub.job.n_tasks} array tasks, {sub.job.samples} samples; "
                   f"logs in {sub.job.script.parent / 'logs'}")
        if not sub.reports:
            click.echo(f"when it ends: relusim merge {_folder(points)}")
    _echo_reports(sub.reports)
    cluster.check_complete(sub.reports)


def _folder(points) -> str:
    return os.path.dirname(points[0].cfg.output) or "."


def _echo_reports(reports) -> None:
    for r in reports:
        state = "complete" if not r.missing else f"missing {', '.join(map(str, r.missing))}"
        click.echo(f"{r.path}: {r.done}/{r.samples} samples, {r.merged} merged now ({state})")


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--allow-missing", is_flag=True,
              help="Exit 0 even when samples are still missing (e.g. to look at a sweep while its array "
                   "runs).")
@click.option("--bootstrap", type=int, default=200, show_default=True,
              help="capacity files: bootstrap refits for the errors of the analysis.")
def merge(results, allow_missing, bootstrap) -> None:
    """Join the per-task files of SLURM array tasks into each point's result file, or into a capacity file.

    RESULTS are result files or folders of them. Each file's finished-sample shards are checked
    against the file's config first: a shard of another config is refused and nothing is written.
    The samples found are merged; if any sample of a file is still missing the exit status is 1,
    unless --allow-missing. A capacity file (`relusim capacity --backend slurm`) gets every array
    task's journal of finished instances folded in, and its analysis once every instance is answered.

    Example: relusim merge results/default/
    """
    from ..execution import cluster
    from .capacity import echo_merge

    files, capacity = cluster.result_files(results)
    if capacity:
        from ..capacity import array
        from ..capacity.grid import MAX_BOOTSTRAP

        if not 0 <= bootstrap <= MAX_BOOTSTRAP:
            raise InputError("--bootstrap", bootstrap, f"must be >= 0 and <= {MAX_BOOTSTRAP} (refits per 50% point)")
        for path in capacity:  # every journal checked before its file is written
            report = array.merge(path, bootstrap)
            echo_merge(report)
            if not allow_missing:
                array.check_complete(report)
    reports = cluster.merge(files) if files else []
    _echo_reports(reports)
    if not allow_missing:
        cluster.check_complete(reports)


@click.command("run-task", hidden=True)
@click.option("--tasks", "table", required=True, type=click.Path(dir_okay=False),
              help="The task table written by `relusim sweep --backend slurm` or `relusim capacity --backend slurm`.")
@click.option("--task-id", type=int, required=True, envvar="SLURM_ARRAY_TASK_ID",
              help="Which array task to run (default: $SLURM_ARRAY_TASK_ID).")
@click.option("--workers", type=int, default=1, show_default=True, help="Local processes for this task.")
def run_task(table, task_id, workers) -> None:
    """Run one array task of a SLURM sweep (a shard per finished sample) or capacity run (a line of the
    task's journal per finished instance); used by array.sbatch.

    \b
    Example:
      relusim run-task --tasks results/default/slurm/20260101-120000/tasks.json --task-id 0
    """
    import platform
    import time

    from ..execution import cluster

    if workers < 1:
        raise InputError("--workers", workers, "must be >= 1")
    t0 = time.perf_counter()
    job = os.environ.get("SLURM_ARRAY_JOB_ID")
    kind = cluster.table_kind(table)
    click.echo(f"task {task_id}{f' of job {job}' if job else ''} on {platform.node()}: {table}")
    n = 0
    if kind == cluster.CAPACITY:
        from ..capacity import array

        for r in array.run_task(table, task_id, workers):
            n += 1
            state = "solved" if r.status == 1 else "unknown" if r.status < 0 else "not solved"
            click.echo(f"  instance {r.i} of K={r.K} N={r.N} P={r.P}: {state}")
            sys.stdout.flush()
        click.echo(f"task {task_id}: {n} instances in {time.perf_counter() - t0:.1f} s")
        return
    for f in cluster.run_task(table, task_id, workers):
        n += 1
        click.echo(f"  {f.output} sample {f.index}: E={f.energy}{' solved' if f.solved else ''}")
        sys.stdout.flush()  # a log read while the job runs
    click.echo(f"task {task_id}: {n} samples in {time.perf_counter() - t0:.1f} s")


COMMANDS: list[click.Command] = [sweep, merge, run_task]
