"""What ``--backend`` means, said once for every command that has many tasks (``sweep``, ``capacity``):

* ``local``: processes on this machine (``--workers``);
* ``dask``: ``dask.distributed`` on a LocalCluster (``--workers``), a running scheduler (``--scheduler``),
  or with ``--slurm`` Dask workers started as SLURM jobs by dask-jobqueue (``--queue``, ``--walltime``,
  ``--cores``, ``--memory``, ``--setup``);
* ``slurm``: a SLURM job array (``relusim.execution.cluster``): a task table and an ``sbatch`` script,
  ``--chunk`` units per array task, ``--dry-run`` to write them only, ``--wait`` to merge at the end.

An option given that the chosen way of running does not use is refused in one line (exit 2, nothing
written), never silently ignored. docs/CONTRACT.md, "Backends".
"""
from __future__ import annotations

import click

from ..errors import InputError

MODES = {
    "local": {"workers"},
    "dask": {"workers", "scheduler"},
    "dask --slurm": {"workers", "slurm", "queue", "walltime", "cores", "memory", "setup"},
    "slurm": {"queue", "walltime", "cores", "memory", "setup", "chunk", "dry_run", "wait"},
}
MAX_CORES = 4096
HELP = "local processes, dask.distributed (with --slurm: Dask workers as SLURM jobs), or a SLURM job array."


def mode_of(backend: str, slurm: bool) -> str:
    return "dask --slurm" if backend == "dask" and slurm else backend


def check_options(mode: str, given: dict) -> None:
    """Refuse (InputError) an option that ``mode`` does not use, or a size out of range."""
    for name, value in given.items():
        if value in (None, False, ()) or name in MODES[mode]:
            continue
        where = [m for m, names in MODES.items() if name in names]
        hint = ("; Dask workers as SLURM jobs are --backend dask --slurm"
                if mode == "slurm" and "dask --slurm" in where else "")
        raise InputError("--" + name.replace("_", "-"), value,
                         f"not used by --backend {mode}; only with --backend {' or '.join(where)}{hint}")
    if given.get("scheduler") and given.get("workers"):
        raise InputError("--workers", given["workers"], "not used with --scheduler: that cluster has its own")
    for name in ("workers", "cores", "chunk"):
        if given.get(name) is not None and given[name] < 1:
            raise InputError("--" + name, given[name], "must be >= 1")
    if given.get("cores") is not None and given["cores"] > MAX_CORES:
        raise InputError("--cores", given["cores"], f"must be <= {MAX_CORES} (cores of one node: each job "
                         "starts that many worker processes)")


def slurm_options(unit: str):
    """The SLURM options of a command whose array tasks run ``unit``s (samples, instances)."""
    options = [
        click.option("--slurm", is_flag=True, help="dask: start the workers as SLURM jobs (dask-jobqueue)."),
        click.option("--queue", default=None, help="SLURM partition."),
        click.option("--walltime", default=None, help="SLURM time limit per job (e.g. 02:00:00)."),
        click.option("--cores", type=int, default=None, help=f"SLURM cores per job (one {unit} per core at a time)."),
        click.option("--memory", default=None, help="SLURM memory per job (e.g. 4G)."),
        click.option("--setup", multiple=True, metavar="LINE",
                     help="A shell line run first in each SLURM job (e.g. 'module load python'); repeatable."),
        click.option("--chunk", type=int, default=None,
                     help=f"slurm: {unit}s per array task (default: --cores, more past 1000 tasks)."),
        click.option("--dry-run", is_flag=True, help="slurm: write the job script and print the sbatch command only."),
        click.option("--wait", is_flag=True, help="slurm: wait for the array to end, then merge."),
    ]

    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def slurm_from(queue, walltime, cores, memory, setup):
    """The ``SlurmOptions`` of the command line's values (each checked: InputError naming the option)."""
    from ..execution.cluster import SlurmOptions, parse_memory, parse_walltime

    return SlurmOptions(queue=queue, walltime=walltime and parse_walltime(walltime), cores=cores or 1,
                        memory_bytes=memory and parse_memory(memory), setup=tuple(setup))
