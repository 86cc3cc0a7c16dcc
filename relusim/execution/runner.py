"""Run the samples of a config, serially or on local processes, with the same bits either way.

A sample's bits depend only on (config, seed, sample index) (``relusim.models.instance``): the worker that
runs it and the order in which samples finish change nothing but the wall clock. Workers write their
finished samples as shards (``relusim.storage.results``); this process merges them into the result file.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from .. import anneal
from ..storage import results
from . import processes
from ..config import Config, ModelConfig
from ..errors import InputError, Interrupted, RunError
from .executors import Failure, Local, default_workers, in_process, sample_failed  # noqa: F401 - this module's API
from ..priors import prior_of

MERGE_EVERY_S = 10.0  # copy-on-write merges are O(file size): batch them


@dataclass(frozen=True)
class RunSummary:
    path: str
    samples: int  # asked for
    ran: int  # run now
    solved: int  # of those run now
    wall_s: float
    held: int = 0  # samples the file holds when the run ends (can exceed ``samples``)
    held_solved: int = 0

    def message(self) -> str:
        """One line for the end of a run: what ran now, and what the file holds."""
        holds = f"the file holds {self.held} sample{'s' * (self.held != 1)}, {self.held_solved} solved"
        asked = f"{self.samples} sample{'s' * (self.samples != 1)} asked for"
        if self.ran == 0:
            return f"{self.path}: {asked} (0 run now: all were done before); {holds}"
        return (f"{self.path}: {asked} ({self.ran} run now, {self.solved} of them solved) in {self.wall_s:.1f} s; "
                f"{holds}")


COMPILE_NOTICE = "compiling the kernels this config uses, once (numba caches them for the next runs)"


def kernels_cached(cfg: Config | None = None) -> bool | None:
    """Whether numba's on-disk cache holds the annealing driver ``cfg`` runs, for this machine (None:
    cannot tell). Without a config: the default experiment's.

    Reads the cache index only (milliseconds): no compilation. An index written for another CPU, or
    for an older source of the kernels, does not count.
    """
    cfg = Config() if cfg is None else cfg
    try:
        disp = prior_of(cfg).driver(cfg)
        index = disp._cache._cache_file._load_index()  # numba internals: guarded, fall back to None
        magic = disp.targetctx.codegen().magic_tuple()
        return any(key[1] == magic for key in index)
    except Exception:  # noqa: BLE001 - any change of numba's internals: we cannot tell
        return None


def compile_kernels(cfgs, quiet: bool, write=None, show: bool | None = None) -> bool:
    """Before the first sample: compile the kernels of every config in ``cfgs`` whose cache is cold, in
    this process, so that workers started afterwards load them. Says so unless ``quiet``, with a bar of
    the kernels compiled so far where a bar is shown (``show``; None: at a terminal).

    Returns whether anything was cold (False when it cannot tell).
    """
    cold = [cfg for cfg in cfgs if kernels_cached(cfg) is False]
    if not cold:
        return False
    if not quiet:
        (write or (lambda text: print(text, file=sys.stderr, flush=True)))(COMPILE_NOTICE)
    if show is None:
        show = not quiet and sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")
    with _compile_bar(show) as bar:
        for i, cfg in enumerate(cold):
            if i == 0 or kernels_cached(cfg) is False:  # configs of a grid often share their kernels
                anneal.compile_run(cfg)
    return True


@contextlib.contextmanager
def _compile_bar(show: bool):
    """A bar counting numba's compilations as they finish, naming the last one (how far it got)."""
    if not show:
        yield None
        return
    from numba.core import event

    bar = tqdm(desc="compiling kernels", unit=" kernel", dynamic_ncols=True, leave=False)

    class _Count(event.Listener):
        depth = 0

        def on_start(self, ev):
            self.depth += 1

        def on_end(self, ev):
            self.depth -= 1
            d = ev.data["dispatcher"]
            if self.depth == 0 and d.py_func.__module__.startswith("relusim"):
                bar.update(1)
                bar.set_postfix_str(d.py_func.__qualname__.replace(".<locals>", ""))

    listener = _Count()
    event.register("numba:compile", listener)
    try:
        yield bar
    finally:
        event.unregister("numba:compile", listener)
        bar.close()


def compile_notice(quiet: bool, write=None, weights=("binary",)) -> bool:
    """Say that kernels will be compiled when the default driver's cache for ``weights`` is cold
    (kept for callers that compile as they run; ``compile_kernels`` compiles first)."""
    cold = any(kernels_cached(Config(model=ModelConfig(weights=kind))) is False for kind in set(weights))
    if cold and not quiet:
        (write or (lambda text: print(text, file=sys.stderr, flush=True)))(COMPILE_NOTICE)
    return cold


def _throttled(send, every_s: float = 0.3):
    last = [0.0]

    def progress(index: int, sweep: int, energy: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            send((index, sweep, energy))

    return progress


def run_one(cfg: Config, index: int, updates=None) -> tuple[int, bool, int]:
    """Run sample ``index`` and write its shard; returns (index, solved, total final energy).

    ``updates``: where progress goes (``.put``); None in a worker of a ``processes.Pool``: its queue.
    """
    if updates is None:
        updates = processes.worker_updates()
    processes.check_writes_trusted(worker=processes.in_worker())  # nothing more after a write failed on a full disk
    progress = _throttled(updates.put) if updates is not None else None
    res = anneal.run_sample(cfg, index, progress)
    try:
        results.write_shard(cfg.output, res, cfg.physics_sha256())
    except BaseException as exc:
        processes.note_write_failure(exc)
        raise
    return index, res.solved, int(res.energy.sum())


def run(cfg: Config, *, workers: int = 1, overwrite: bool = False, command: str = "",
        quiet: bool = False, progress: bool | None = None) -> RunSummary:
    """Run (or resume) every sample of ``cfg`` into ``cfg.output``.

    ``progress``: the bar; None shows it at a terminal only (not with ``quiet``, in CI or into a
    file), True always (a notebook: ``tqdm.auto`` draws a widget there).
    """
    t0 = time.perf_counter()
    from .resources import check_memory

    processes.check_writes_trusted()
    check_memory([cfg], workers)
    rf = results.ResultsFile(cfg.output)
    kept = "nothing was run"
    try:
        with disk_full_is_one_line(cfg.output, "nothing was run"):
            rf.prepare(cfg, command or " ".join(sys.argv), overwrite)
        kept = (f"the finished samples are kept in {cfg.output}: rerun the same command to run the rest")
        with disk_full_is_one_line(cfg.output, f"the finished samples are kept in {cfg.output} and "
                                               f"{results.parts_dir(cfg.output)}"):
            return _run_prepared(cfg, rf, workers, quiet, t0, progress)
    except Interrupted as exc:
        processes.note_kept(exc, kept)
        raise
    finally:
        rf.release()


@contextlib.contextmanager
def disk_full_is_one_line(output, kept: str):
    """A full disk (ENOSPC from the OS or from HDF5) becomes one RunError line saying what is kept."""
    try:
        yield
    except (InputError, RunError):
        raise
    except Exception as exc:  # noqa: BLE001 - only a full disk is translated here
        if results.is_disk_full(exc):
            processes.note_write_failure(exc)
            raise results.disk_full_error(output, kept) from exc
        raise


def _run_prepared(cfg: Config, rf: results.ResultsFile, workers: int, quiet: bool, t0: float,
                  progress: bool | None = None) -> RunSummary:
    sha = cfg.physics_sha256()
    done = rf.done_indices()  # once: it audits the whole file
    todo = [i for i in range(cfg.samples) if i not in done]
    if progress is None:
        show = not quiet and sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")
    else:
        show = bool(progress) and not quiet
    n_todo = len(todo)
    if todo:
        compile_kernels([cfg], quiet, show=show)
    bar = tqdm(total=cfg.samples, initial=cfg.samples - len(todo), desc=cfg.name, unit="sample",
               disable=not show, dynamic_ncols=True)
    solved = 0
    last_merge = time.monotonic()

    def finished(index: int, ok: bool, energy: int) -> None:
        nonlocal solved, last_merge
        solved += ok
        bar.update(1)
        bar.set_postfix_str(f"sample {index}: E={energy}{' solved' if ok else ''}")
        if time.monotonic() - last_merge > MERGE_EVERY_S:
            rf.merge_shards(sha)
            last_merge = time.monotonic()

    def live(update) -> None:
        index, sweep, energy = update
        bar.set_postfix_str(f"sample {index}: sweep {sweep}, E={energy}")

    failure = Failure(
        describe=lambda t: f"sample {t[1]}", kept_in=str(cfg.output),
        disk_full=lambda t: results.disk_full_error(cfg.output, f"the finished samples are kept in {cfg.output} "
                                                           f"and {results.parts_dir(cfg.output)}"),
        cleanup=lambda: results.ResultsFile(cfg.output).clean_debris(shards_too=True, quiet=True))
    try:
        # workers that die with this process; on a failure, samples not yet started are dropped and
        # running ones finish and write their shards (merged below); on an interruption the workers
        # are killed, what they were running is lost (a rerun runs it) and their temporary files removed
        for _, result in Local(workers).map(run_one, [(cfg, i) for i in todo], failure, live if show else None):
            finished(*result)
    except BaseException as exc:
        bar.close()
        if not (results.is_disk_full(exc) or processes.write_failed()):  # a full disk: no more HDF5 writes here
            try:  # merge what finished; if that fails too, the shards stay for the rerun
                rf.merge_shards(sha, final_samples=cfg.samples)
            except Exception:  # noqa: BLE001 - the run's own error is the one to report
                pass
        raise
    bar.close()
    rf.merge_shards(sha, final_samples=cfg.samples)
    held = rf.solved_flags()
    return RunSummary(str(cfg.output), cfg.samples, n_todo, solved, time.perf_counter() - t0,
                      len(held), sum(held))
