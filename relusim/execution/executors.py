"""One way to run many independent tasks, written once for every command that has many.

``anneal --workers`` (``relusim.execution.runner``), ``sweep`` (``relusim.execution.cluster``) and ``capacity`` give an
executor a function and its tasks (tuples of arguments); ``map`` yields ``(task, result)`` as tasks
finish and turns a task that raised into the command line's one line. Three executors:

* ``Serial``: here, in this process, in order.
* ``Local``: a ``relusim.execution.processes.Pool`` of workers that die with this process; results are handed
  out in task order among those that finish together; progress updates from the workers are passed
  to ``updates`` while waiting.
* ``Dask``: ``dask.distributed`` on a scheduler given by its address, a ``LocalCluster`` started for
  the run, or SLURM jobs of Dask workers (``relusim.execution.slurm.slurm_cluster``). Its workers must run the
  same relusim, numba and NumPy (checked), or their results could differ in the last bits.

A task's result depends only on its arguments, never on the executor, the worker or the order: the
bits of every sample and instance are the same on every executor and worker count.
SLURM job arrays are not an executor: their tasks run later in jobs of their own, and ``relusim merge``
collects them (``relusim.execution.cluster``; a capacity grid's: ``relusim.capacity.array``).
"""
from __future__ import annotations

import contextlib
import logging
import os
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..storage import results
from . import processes
from ..errors import InputError, RunError
from .slurm import slurm_cluster

Task = tuple  # the arguments of the function, in order
Updates = Callable[[object], None]


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def sample_failed(sample: str, exc: BaseException, kept_in: str) -> RunError:
    """The one-line error for a task that raised: which one, what it raised, what is kept.

    Raise it ``from exc``: with ``RELUSIM_DEBUG=1`` the command line prints the whole chain, the
    worker's traceback included (``relusim.cli.main``).
    """
    kept = (f"the samples that finished are kept in {kept_in}: rerun the same command to run the rest "
            "(RELUSIM_DEBUG=1 shows the traceback)")
    if isinstance(exc, BrokenProcessPool):  # every pending sample gets it: do not blame one
        return RunError(f"a worker process died (killed, or out of memory?); {kept}")
    message = " ".join(str(exc).split())
    return RunError(f"{sample} failed: {type(exc).__name__}{': ' + message if message else ''}; {kept}")


def in_process(fn, sample: str, kept_in: str, *args):
    """``fn(*args)`` in this process; a failure other than our own one-line errors becomes ``sample_failed``."""
    try:
        return fn(*args)
    except (InputError, RunError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a sample is a failed run
        if results.is_disk_full(exc):
            raise results.disk_full_error(kept_in, f"the finished samples are kept in {kept_in}") from exc
        raise sample_failed(sample, exc, kept_in) from exc


@dataclass(frozen=True)
class Failure:
    """How a command reports what went wrong in its tasks.

    ``describe(task)``: the task in the one line ("sample 3", "instance 2 of K=3 N=9 P=4");
    ``kept_in``: where its finished tasks are kept; ``disk_full(task)``: the one line for a full disk
    (None: reported as any other failure); ``cleanup()``: remove what killed workers were writing;
    ``kept``: what an interrupted run keeps, for the line that ends it.
    """

    describe: Callable[[Task], str]
    kept_in: str
    disk_full: Callable[[Task], BaseException] | None = None
    cleanup: Callable[[], None] | None = None
    kept: str | None = None


@dataclass(frozen=True)
class Serial:
    """Each task in this process, in order. ``updates`` is given to ``fn`` as its last argument."""

    runs_here = True

    def map(self, fn, tasks: Sequence[Task], failure: Failure, updates: Updates | None = None) -> Iterator:
        for t in tasks:
            args = (*t, _Direct(updates)) if updates is not None else t
            yield t, in_process(fn, failure.describe(t), failure.kept_in, *args)


class _Direct:
    """A queue-like ``put`` that calls ``updates`` at once (``Serial``'s progress)."""

    def __init__(self, fn):
        self.put = fn


@dataclass(frozen=True)
class Local:
    """A pool of ``workers`` processes on this machine that die with this one (``relusim.execution.processes``).

    ``window``: at most this many tasks submitted at once (None: all), so that a long task list does
    not sit pickled in the pool's queue. With one worker or one task it runs as ``Serial``.

    On a failure, tasks not yet started are dropped and running ones finish (what they write is
    kept); on a full disk, or an interruption, the workers are killed and ``failure.cleanup`` removes
    what they were writing.
    """

    workers: int
    window: int | None = None
    runs_here = True

    def map(self, fn, tasks: Sequence[Task], failure: Failure, updates: Updates | None = None) -> Iterator:
        if self.workers <= 1 or len(tasks) <= 1:
            yield from Serial().map(fn, tasks, failure, updates)
            return
        order = {}
        try:
            with processes.Pool(min(self.workers, len(tasks)), updates=updates is not None) as pool:
                queue = iter(enumerate(tasks))
                limit = self.window or len(tasks)

                def submit() -> set:
                    """The next task submitted: its future in a set, empty when none is left."""
                    nxt = next(queue, None)
                    if nxt is None:
                        return set()
                    fut = pool.submit(fn, *nxt[1])
                    order[fut] = nxt
                    return {fut}

                for _ in range(min(limit, len(tasks))):
                    submit()
                pending = set(order)
                while pending:
                    done, pending = wait(pending, timeout=0.25 if updates is not None else None,
                                         return_when=FIRST_COMPLETED)
                    for fut in sorted(done, key=lambda f: order[f][0]):
                        k, t = order.pop(fut)
                        try:
                            result = fut.result()
                        except Exception as exc:  # noqa: BLE001 - the worker's error, reported as a run failure
                            if failure.disk_full is not None and results.is_disk_full(exc):
                                pool.kill()  # the others would fail too, or write untrusted files
                                if failure.cleanup is not None:
                                    failure.cleanup()
                                raise failure.disk_full(t) from exc
                            raise sample_failed(failure.describe(t), exc, failure.kept_in) from exc
                        yield t, result
                        pending |= submit()
                    if updates is not None:
                        for update in pool.drain():
                            updates(update)
        except BaseException as exc:
            if processes.killed_by_us(exc) and failure.cleanup is not None:
                failure.cleanup()
            if failure.kept is not None:
                processes.note_kept(exc, failure.kept)
            raise


def _versions() -> dict:
    import numba
    import numpy

    from .. import __version__

    return {"relusim": __version__, "numba": numba.__version__, "numpy": numpy.__version__}


def _check_versions(client) -> None:
    """Workers of another relusim (or numba, numpy) could compute other bits: refuse them."""
    here = _versions()
    for worker, theirs in client.run(_versions).items():
        if theirs != here:
            raise RunError(f"Dask worker {worker} runs {theirs}, this process {here}: install the same "
                           "versions on the workers, or their samples could differ")


@dataclass(frozen=True)
class Dask:
    """Tasks on ``dask.distributed``: the scheduler at ``address``, else a ``LocalCluster`` of
    ``workers`` processes, or with ``slurm`` (``relusim.execution.slurm.SlurmOptions``) ``workers`` Dask workers
    in SLURM jobs (default: one job's cores), their logs in ``log_directory``. Results come back to
    this process (workers need not share its file system); a worker that dies has its task rerun
    elsewhere by the scheduler. ``updates`` are not sent (Dask has its own dashboard)."""

    address: str | None = None
    workers: int | None = None
    slurm: object | None = None
    log_directory: Path | None = None
    runs_here = False

    def map(self, fn, tasks: Sequence[Task], failure: Failure, updates: Updates | None = None) -> Iterator:
        if not tasks:
            return
        try:
            from dask.distributed import Client, as_completed
        except ImportError:
            raise InputError("--backend", "dask", "needs dask: pip install 'relusim[dask]'") from None
        with contextlib.ExitStack() as stack:
            target = self.address or stack.enter_context(self._start_cluster(len(tasks)))
            client = stack.enter_context(Client(target))
            _check_versions(client)  # the workers up now; jobqueue workers start later, from this env
            futures = [client.submit(fn, *t, pure=False) for t in tasks]
            task_of = {f.key: t for f, t in zip(futures, tasks)}
            for fut in as_completed(futures):
                t = task_of[fut.key]
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - the worker's error, reported as a run failure
                    raise sample_failed(f"{failure.describe(t)} (a Dask task)", exc, failure.kept_in) from exc
                fut.release()
                yield t, result

    def _start_cluster(self, n_tasks: int):
        if self.slurm is None:
            from dask.distributed import LocalCluster

            n = min(self.workers or default_workers(), n_tasks)
            quiet = os.environ.get("RELUSIM_DEBUG") != "1"  # a failed task is our one line, not Dask's log
            return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                                silence_logs=logging.CRITICAL if quiet else logging.WARNING)
        cluster = slurm_cluster(self.slurm, log_directory=self.log_directory)
        cluster.scale(n=min(self.workers or self.slurm.cores, n_tasks))
        return cluster
