"""One owner per result file: OS-level locks that die with their process.

Two sidecar lock files per result file, each locked with ``flock(2)`` (the kernel drops the lock when
its process ends, however it ends, so a kill never leaves a stale lock):

* ``<output>.lock``, exclusive: whoever rewrites the result file (``anneal``, ``sweep``, ``merge``,
  ``robustness``). Two of them on one file could lose each other's copy-on-write updates.
* ``<output>.tasks.lock``: whoever computes samples for it. ``anneal`` and ``sweep`` hold it
  exclusively; the array tasks of a SLURM sweep (``run-task``) share it. So a second run (or an
  ``--overwrite`` while the old run lives) is refused, array tasks run side by side, and ``merge``
  may join the shards of a running array.

The holder writes its PID, host and command into the lock file, so a refused process can say who
holds it. A released lock file is removed when nobody else holds it (checked by taking it
exclusively, and by the inode on acquiring: a file removed between ``open`` and ``flock`` is retried).
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import platform
import sys
from pathlib import Path

from .errors import InputError

FILE, TASKS = ".lock", ".tasks.lock"
_HELD: dict[tuple[str, str], int] = {}  # (absolute output, kind) -> fd, held by this process


def lock_path(output: str | os.PathLike, kind: str = FILE) -> Path:
    return Path(str(output) + kind)


def holder(output: str | os.PathLike, kind: str = FILE) -> dict:
    """What the lock file says about its holder ({} if nothing readable)."""
    try:
        return json.loads(lock_path(output, kind).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe(h: dict) -> str:
    if not h.get("pid"):
        return "another relusim process"
    cmd = f", {h['command']}" if h.get("command") else ""
    since = f", since {h['since']}" if h.get("since") else ""
    return f"PID {h['pid']} on {h.get('host', '?')}{cmd}{since}"


def acquire(output: str | os.PathLike, kind: str = FILE, *, shared: bool = False, key: str = "output",
            command: str | None = None) -> None:
    """Lock ``output`` for this process (no-op if it already holds it); InputError naming the holder."""
    ident = (os.path.abspath(output), kind)
    if ident in _HELD:
        return
    path = lock_path(output, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            what = "its array tasks are running" if kind == TASKS else "it is in use"
            raise InputError(key, str(output), f"{what}: held by {describe(holder(output, kind))}; "
                             "wait for it to end (or stop it), or use another output") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # removed by its last holder between our open and flock: take the new one
    info = {"pid": os.getpid(), "host": platform.node(),
            "command": command if command is not None else "relusim " + " ".join(sys.argv[1:]),
            "since": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    _HELD[ident] = fd


def held(output: str | os.PathLike, kind: str = FILE) -> bool:
    return (os.path.abspath(output), kind) in _HELD


def release(output: str | os.PathLike, kind: str = FILE) -> None:
    """Give the lock up; remove its file if no other process holds it."""
    fd = _HELD.pop((os.path.abspath(output), kind), None)
    if fd is None:
        return
    path = lock_path(output, kind)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # only when no one shares it
        if os.fstat(fd).st_ino == os.stat(path).st_ino:
            path.unlink()
    except OSError:
        pass
    os.close(fd)


def release_all() -> None:
    for output, kind in list(_HELD):
        release(output, kind)
