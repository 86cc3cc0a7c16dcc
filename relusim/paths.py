"""Every path a command writes is checked before any work, with one rule for missing folders.

The rule (docs/CONTRACT.md): a missing folder of an output is created, as ``anneal`` always did,
but only once the whole command line has been checked, just before the file is written. Refused,
with one line and exit 2, before anything runs: a path whose folder cannot be created (a file
stands in its way, or the nearest existing folder is not writable), a path that is a directory, an
existing file that is read-only, a file system that is read-only or virtual (``/proc``, ``/sys``),
and for plots an extension matplotlib cannot write.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import InputError

VIRTUAL_FS = {"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs",
              "securityfs", "pstore", "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "efivarfs",
              "autofs", "binfmt_misc", "rpc_pipefs", "nsfs"}


def control_characters(text: str) -> list[str]:
    """The control characters in ``text`` (any code below 0x20, and DEL), escaped: ``['\\n', '\\t']``."""
    return sorted({repr(c)[1:-1] for c in str(text) if c < " " or c == "\x7f"})


def check_plain(key: str, text, what: str = "") -> str:
    """Refuse (InputError) a value with a control character: a newline, tab, carriage return, escape or
    DEL. Every path, name and option that reaches a file name or a job script goes through here: a
    newline there ends an ``#SBATCH`` line or a quote, and what follows becomes a shell command."""
    bad = control_characters(text)
    if bad:
        why = what or "it reaches file names and job scripts, where one could end a line"
        raise InputError(key, text, f"holds control characters ({' '.join(bad)}); {why}: use printable "
                         "characters only")
    return text


def _mount_of(path: Path) -> tuple[str, str, bool]:
    """(mount point, file system type, read-only) of the mount holding ``path`` (from /proc/mounts)."""
    best = ("/", "", False)
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return best
    text = str(path)
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        mnt = parts[1].replace("\\040", " ")
        if (text == mnt or text.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
            best = (mnt, parts[2], "ro" in parts[3].split(","))
    return best


def existing_ancestor(path: Path) -> Path:
    probe = path.parent if str(path.parent) else Path(".")
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    return probe


def check_writable(key: str, path: str | os.PathLike, *, what: str = "file") -> Path:
    """Refuse (InputError) a path this command could not write; create nothing."""
    text = str(path)
    if not text.strip():
        raise InputError(key, text, f"expected a {what} path")
    check_plain(key, text)
    p = Path(os.path.abspath(text))
    if p.exists():
        if p.is_dir():
            raise InputError(key, text, "is a directory; give a file path")
        if not p.is_file():
            raise InputError(key, text, "is not a regular file (a device or a pipe)")
        mode = p.stat().st_mode
        if not os.access(p, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise InputError(key, text, "is read-only (chmod u+w it to let relusim write it)")
    probe = existing_ancestor(p)
    if not probe.is_dir():
        raise InputError(key, text, f"is not writable: {probe} is a file, not a folder")
    mnt, fstype, read_only = _mount_of(probe.resolve())
    if fstype in VIRTUAL_FS:
        raise InputError(key, text, f"is on {mnt}, a virtual file system ({fstype}) that holds no files")
    if read_only or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(key, text, f"directory {probe} is not writable")
    return p


def check_folder(key: str, path: str | os.PathLike) -> Path:
    """A folder that will hold outputs: an existing writable folder, or one that can be created."""
    text = str(path)
    check_plain(key, text)
    p = Path(os.path.abspath(text))
    if p.exists() and not p.is_dir():
        raise InputError(key, text, "is a file, not a folder")
    check_writable(key, p / "probe", what="folder")
    return p


def plot_formats() -> dict[str, str]:
    """The file extensions matplotlib can write here (``png``, ``pdf``, ``svg``, ...)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def check_plot(key: str, path: str | os.PathLike) -> Path:
    """A figure path: writable, and with an extension matplotlib can write."""
    ext = Path(str(path)).suffix.lstrip(".").lower()
    formats = plot_formats()
    if ext not in formats:
        raise InputError(key, str(path), "needs an extension matplotlib can write: "
                         + ", ".join(sorted(formats)))
    return check_writable(key, path)


def make_parent(path: str | os.PathLike) -> None:
    """The one rule for missing folders: create them (after every check has passed)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
