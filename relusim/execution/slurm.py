"""What a SLURM job asks for (``SlurmOptions``), shared by ``sweep``'s job arrays (``relusim.execution.cluster``)
and by the Dask workers that ``relusim.execution.executors.Dask`` starts as SLURM jobs (``slurm_cluster``).

Every value that reaches a job script is checked to be one printable line before anything is
written (a newline in ``--queue`` would be a shell command of the script). The scripts export
``NUMBA_CACHE_DIR`` (default ``$HOME/.cache/relusim/numba``) so that one compilation serves every node.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ..errors import InputError

NUMBA_CACHE_DEFAULT = "${HOME:-/tmp}/.cache/relusim/numba"
NUMBA_CACHE_EXPORT = f'export NUMBA_CACHE_DIR="${{NUMBA_CACHE_DIR:-{NUMBA_CACHE_DEFAULT}}}"'


@dataclass(frozen=True)
class SlurmOptions:
    """What a SLURM job asks for; shared by job arrays and ``dask_jobqueue.SLURMCluster``."""

    queue: str | None = None
    walltime: str | None = None
    cores: int = 1
    memory_bytes: int | None = None
    setup: tuple[str, ...] = ()
    python: str = sys.executable

    def __post_init__(self):
        """Every value that reaches a job script is one printable line (issue 27: a newline in --queue
        became a shell command of the script); refused here, before anything is written."""
        from ..paths import check_plain

        if self.queue is not None:
            check_plain("--queue", self.queue, "it is written into the job script")
        if self.walltime is not None:
            check_plain("--walltime", self.walltime, "it is written into the job script")
        for line in self.setup:
            check_plain("--setup", line, "each --setup is one line of the job script (repeat --setup for "
                        "several)")

    def check(self) -> None:
        """The values a job script holds besides the options: the Python that runs it and the working
        directory it starts in. Called before a sweep touches any file."""
        from ..paths import check_plain

        check_plain("python", self.python, "the interpreter's path is written into the job script")
        check_plain("working directory", os.getcwd(), "the job starts in it (#SBATCH --chdir); run "
                    "from another folder")

    def prologue(self) -> list[str]:
        return [*self.setup, NUMBA_CACHE_EXPORT]



def slurm_cluster(opts: SlurmOptions, log_directory: str | os.PathLike | None = None):
    """A ``dask_jobqueue.SLURMCluster`` whose jobs hold ``opts.cores`` single-threaded workers.

    Memory defaults to 2 GiB per core; the jobs' logs go to ``log_directory`` (default: the cwd).
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise InputError("--slurm", True, "needs dask-jobqueue: pip install 'relusim[dask]'") from None
    opts.check()
    if log_directory is not None:
        from ..paths import check_plain

        check_plain("output", str(log_directory), "the job logs go beside it")
    memory = opts.memory_bytes or opts.cores * 2 * 2**30
    return SLURMCluster(queue=opts.queue, walltime=opts.walltime or "01:00:00", cores=opts.cores,
                        processes=opts.cores, memory=f"{memory}B", python=opts.python,
                        job_name="relusim-dask", job_script_prologue=opts.prologue(),
                        log_directory=str(log_directory) if log_directory else None)
