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

A lock file is never followed through a symbolic link: it is created with ``O_CREAT | O_EXCL |
O_NOFOLLOW`` or, when it exists, opened with ``O_NOFOLLOW`` after ``lstat``, and written only once
``fstat`` shows a regular file of this user with one link. Anything else in its place (a symlink,
dangling or not, a hard link to another file, a directory, a FIFO, a device, another user's file) is
refused with one line (``InputError``, exit 2) and left as it is, so a planted ``<output>.lock ->
victim`` never truncates ``victim``.
"""
from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import platform
import stat
import sys
from pathlib import Path

from ..errors import InputError

FILE, TASKS = ".lock", ".tasks.lock"
_HELD: dict[tuple[str, str], int] = {}  # (absolute output, kind) -> fd, held by this process


def lock_path(output: str | os.PathLike, kind: str = FILE) -> Path:
    return Path(str(output) + kind)


_OPEN = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


def holder(output: str | os.PathLike, kind: str = FILE) -> dict:
    """What the lock file says about its holder ({} if nothing readable; never read through a symlink)."""
    try:
        fd = os.open(lock_path(output, kind), os.O_RDONLY | _OPEN)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        info = json.loads(os.read(fd, 4096) or b"{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}
    finally:
        os.close(fd)


def _refuse(path: Path, st: os.stat_result | None, key: str, output) -> None:
    """InputError if ``st`` (an lstat or fstat of the lock file) is not a regular file of this user with
    one link; None if it is."""
    if st is None:
        what = "is a symbolic link"
    elif stat.S_ISLNK(st.st_mode):
        try:
            what = f"is a symbolic link (to {os.readlink(path)})"
        except OSError:
            what = "is a symbolic link"
    elif stat.S_ISDIR(st.st_mode):
        what = "is a directory"
    elif not stat.S_ISREG(st.st_mode):
        what = "is a FIFO" if stat.S_ISFIFO(st.st_mode) else "is a device or a socket, not a regular file"
    elif st.st_uid != os.geteuid():
        what = f"belongs to another user (uid {st.st_uid})"
    elif st.st_nlink != 1:
        what = f"has {st.st_nlink} hard links (it would write through to another file)"
    else:
        return
    raise InputError(key, str(output), f"its lock file {path} {what}: relusim locks only a regular file of "
                     "its own; remove it if no relusim process is using this output, then run again")


def _open(path: Path, key: str, output) -> int | None:
    """A descriptor of the lock file, created if missing, never through a symlink; None if it vanished
    meanwhile (the caller retries); InputError if something else stands in its place."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN, 0o644)
    except FileExistsError:
        pass
    try:
        _refuse(path, os.lstat(path), key, output)  # refused before it is even opened
        return os.open(path, os.O_RDWR | _OPEN)
    except FileNotFoundError:
        return None  # removed by its last holder since: try again
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # a symlink planted since the lstat
            _refuse(path, None, key, output)
        raise InputError(key, str(output), f"its lock file {path} cannot be opened ({exc.strerror})") from None


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
        fd = _open(path, key, output)
        if fd is None:
            continue
        try:
            _refuse(path, os.fstat(fd), key, output)  # what was opened, whatever the path says now
        except InputError:
            os.close(fd)
            raise
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            what = "its array tasks are running" if kind == TASKS else "it is in use"
            raise InputError(key, str(output), f"{what}: held by {describe(holder(output, kind))}; "
                             "wait for it to end (or stop it), or use another output") from None
        if _same(fd, path):
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
        if _same(fd, path):
            path.unlink()
    except OSError:
        pass
    os.close(fd)


def _same(fd: int, path: Path) -> bool:
    """Whether ``path`` (not followed if a symlink) is still the file open as ``fd``."""
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def release_all() -> None:
    for output, kind in list(_HELD):
        release(output, kind)
