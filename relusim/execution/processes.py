"""Worker processes that never outlive the run that started them, and signals that end a run cleanly.

Every local pool of relusim (``anneal --workers``, ``sweep``'s local backend, ``capacity --workers``)
is a :class:`Pool`: a ``spawn`` ProcessPoolExecutor whose workers

* ask the kernel to SIGKILL them when their parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``), and
  check right after that the parent they were started by is still the one they have (it may have
  died before the request);
* also run a watchdog thread that ends the worker when its parent PID changes (other systems, and
  a second line of defence: the kernels return to Python after every ``record_every`` sweeps, so
  the thread gets the GIL within one block);
* ignore SIGINT and SIGHUP: a Ctrl-C or a closed terminal reaches the whole process group, and the
  parent, which handles them, ends its workers itself (no traceback from each worker);
* get their progress updates to the parent through a plain queue given at start, not through a
  ``multiprocessing.Manager``, whose server process would be one more process to outlive the run.

When the workers are gone, multiprocessing's resource tracker reads the end of its pipe and exits:
nothing of a run is left, whatever killed it (SIGKILL included).

The death signal is tied to the *thread* that started the worker: a pool is used within one call,
by the thread that made it, as every caller here does.

:func:`stop_on_signals` (the command line's) turns SIGTERM, SIGHUP and SIGINT into
:class:`relusim.errors.Interrupted`, so that a stopped run kills its pool, keeps its finished
samples and ends with one line.
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from ..errors import Interrupted

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_EVERY_S = 0.5
KILL_WAIT_S = 10.0
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name))

_updates = None  # in a worker: the queue its pool gave it for progress updates (None: no bar shown)
_write_failed = ""  # what a write of this process that failed on a full disk raised ("": none did)
_stopping = 0  # in the parent: the signal that stop_on_signals turned into Interrupted, if any


# -------------------------------------------------------------------------- in a worker --


def die_with_parent() -> bool:
    """Have the kernel SIGKILL this process when its parent ends (Linux); whether that was set.
    ``RELUSIM_PDEATHSIG=0`` in the environment leaves it unset (the tests of the watchdog alone)."""
    if not sys.platform.startswith("linux") or os.environ.get("RELUSIM_PDEATHSIG") == "0":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_EVERY_S)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)


def _worker_init(parent: int, updates) -> None:
    global _updates, _in_worker
    _updates, _in_worker = updates, True
    for sig in (signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the request above: nobody would tell us
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="relusim-parent-watch").start()
    quiet_disk_full_noise()


def worker_updates():
    """In a worker of a :class:`Pool`: its queue of progress updates, or None."""
    return _updates


def quiet_disk_full_noise() -> None:
    """Drop the reports that HDF5 objects print when they are freed after a write failed on a full
    disk: for each object, a traceback of ``h5py._objects.ObjectID._dealloc`` (Cython prints it
    through ``sys.excepthook``) and an "Exception ignored in ... __dealloc__" (``sys.unraisablehook``),
    tens of lines per file. The full disk itself is raised and reported once, by the parent.
    Anything else is printed as before, and everything with ``RELUSIM_DEBUG=1``."""
    if getattr(sys.unraisablehook, "_relusim_quiet", False):
        return
    unraisable_hook, except_hook = sys.unraisablehook, sys.excepthook

    def noise(exc) -> bool:  # (the traceback is not looked at: Cython's frames of a finaliser can crash it)
        from ..storage.results import is_disk_full

        return exc is not None and os.environ.get("RELUSIM_DEBUG") != "1" and is_disk_full(exc)

    def quiet_unraisable(unraisable) -> None:
        if not noise(unraisable.exc_value):
            unraisable_hook(unraisable)

    def quiet_except(kind, value, tb) -> None:
        if not noise(value):  # a full disk that reaches here unhandled is a finaliser's report too:
            except_hook(kind, value, tb)  # relusim's commands turn every other one into their one line

    quiet_unraisable._relusim_quiet = True
    sys.unraisablehook = quiet_unraisable
    sys.excepthook = quiet_except


# --------------------------------------------------------- after a write on a full disk --
# HDF5's state in a process whose write failed on a full disk is not to be trusted: seen here, a
# worker whose shards 9 and 10 failed with ENOSPC then wrote shard 12 with zeroed datasets that
# passed their checksums (they are computed by reading the datasets back, through the same state),
# and small scripts segfault. So such a process writes nothing more: a worker refuses its next
# samples, the parent kills its pool and merges nothing, and a long-lived process (a notebook)
# refuses its next run until restarted.


def note_write_failure(exc: BaseException) -> None:
    """Remember that a write of this process failed on a full disk (no-op for other errors)."""
    global _write_failed
    from ..storage.results import is_disk_full

    if not _write_failed and is_disk_full(exc):
        _write_failed = " ".join(str(exc).split())[:160] or type(exc).__name__


def write_failed() -> str:
    return _write_failed


def check_writes_trusted(worker: bool = False) -> None:
    """Refuse to write in a process whose earlier write failed on a full disk: a worker raises
    ENOSPC (reported by the parent as the full disk it is), any other process a RunError."""
    if not _write_failed:
        return
    if worker:
        import errno

        raise OSError(errno.ENOSPC, f"No space left: an earlier write of this worker failed ({_write_failed}); "
                      "it writes nothing more")
    from ..errors import RunError

    raise RunError(f"an earlier write of this Python process failed on a full disk ({_write_failed}); HDF5's "
                   "state in it is no longer trusted: restart Python, then rerun (the command line starts "
                   "afresh each time)")


def in_worker() -> bool:
    """Whether this process is a worker of a :class:`Pool`."""
    return _in_worker


_in_worker = False


# ---------------------------------------------------------------------------- the pool --


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (if it is not running) without its "There appear to be
    N leaked semaphore objects" warning: after a SIGKILL of this process it cleans them up, as it
    should, and has nothing to tell the person who killed the run. Its command line takes
    ``sys.warnoptions`` at start; the option is removed right after, so workers do not inherit it."""
    from multiprocessing import resource_tracker

    option = "ignore:resource_tracker:UserWarning"
    sys.warnoptions.append(option)
    try:
        resource_tracker.ensure_running()
    except Exception:  # noqa: BLE001 - the pool starts it itself then, with the warning
        pass
    finally:
        sys.warnoptions.remove(option)


class Pool(ProcessPoolExecutor):
    """A ``spawn`` process pool whose workers die with this process (see the module docstring).

    ``updates``: give the workers a queue for progress updates (``worker_updates()`` in a worker,
    ``drain()`` here).

    As a context manager: on leaving normally or with an ordinary exception (a sample that failed),
    or when the generator using it is closed, samples not yet started are dropped and running ones
    finish (their shards are kept); on an interruption (``Interrupted``, KeyboardInterrupt,
    SystemExit, or anything once a signal of ``stop_on_signals`` arrived) every worker is killed.
    """

    def __init__(self, workers: int, *, updates: bool = False):
        _start_resource_tracker()
        ctx = mp.get_context("spawn")  # no forked numba/LLVM state; workers load the on-disk JIT cache
        self.updates = ctx.Queue() if updates else None
        self.killed: list[int] = []
        super().__init__(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                         initargs=(os.getpid(), self.updates))

    def pids(self) -> list[int]:
        return [p.pid for p in list((self._processes or {}).values()) if p.pid is not None]

    def drain(self):
        """The progress updates the workers sent since the last call."""
        import queue

        while self.updates is not None:
            try:
                yield self.updates.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return

    def kill(self) -> list[int]:
        """SIGKILL every worker and wait for them; returns their PIDs. What they were running is lost;
        what they finished (a shard, a returned result) is not."""
        procs = list((self._processes or {}).values())
        for p in procs:
            with contextlib.suppress(Exception):
                p.kill()
        deadline = time.monotonic() + KILL_WAIT_S
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(max(0.0, deadline - time.monotonic()))
        self.killed = [p.pid for p in procs if p.pid is not None]
        with contextlib.suppress(Exception):
            self.shutdown(wait=True, cancel_futures=True)
        self._close_updates()
        return self.killed

    def finish(self) -> None:
        """Drop the samples not yet started and wait for the running ones; killed if interrupted meanwhile."""
        try:
            self.shutdown(wait=True, cancel_futures=True)
        except BaseException:
            self.kill()
            raise
        self._close_updates()

    def _close_updates(self) -> None:
        if self.updates is not None:
            with contextlib.suppress(Exception):
                self.updates.close()
                self.updates.join_thread()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if stopping() or exc_type is not None and not issubclass(exc_type, (Exception, GeneratorExit)):
            self.kill()
        else:
            self.finish()
        return False


# ------------------------------------------------------------------------- in the parent --


@contextlib.contextmanager
def stop_on_signals(signals=STOP_SIGNALS):
    """Within: SIGTERM, SIGHUP and SIGINT raise ``Interrupted`` in the main thread (elsewhere: nothing
    changes), so that ``finally`` blocks run: pools are killed, finished samples merged, locks freed.
    The previous handlers are restored on leaving."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(signum, frame):
        global _stopping
        _stopping = signum
        raise Interrupted(signum)

    before = {}
    for sig in signals:
        with contextlib.suppress(OSError, ValueError):
            before[sig] = signal.signal(sig, raise_interrupted)
    try:
        yield
    finally:
        global _stopping
        _stopping = 0
        for sig, handler in before.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, handler)


def stopping() -> int:
    """The signal that is stopping this run (0: none): pools kill their workers from then on."""
    return _stopping


def killed_by_us(exc: BaseException) -> bool:
    """Whether leaving a pool with ``exc`` killed its workers (their temporary files are to be removed)."""
    return bool(stopping()) or not isinstance(exc, (Exception, GeneratorExit))


def note_kept(exc: BaseException, kept: str) -> None:
    """Say what a stopped run keeps, for the command line's one line (first layer to say it wins)."""
    if isinstance(exc, Interrupted) and not exc.kept:
        exc.kept = kept
