"""An append-only journal of JSON lines: what a long run finished since its file was last written.

One process writes it (the owner of the file it belongs to: ``relusim.storage.lock``), one whole line
per finished unit of work, flushed at once and fsynced at most every second. A kill can tear only the
last line: ``read`` skips any line that is not a complete JSON object, and the unit it held is run
again; the next writer starts a new line first, so its own first line is never glued to the torn
one. ``remove`` drops the journal once its lines are in the file it belongs to.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator

FSYNC_EVERY_S = 1.0


class Journal:
    """``path``: the journal file (its folder is created with the first line)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fh = None
        self._synced = time.monotonic()

    def read(self) -> Iterator[dict]:
        """Every complete line, as a mapping, in the order written; torn or foreign lines are skipped."""
        if not self.path.exists():
            return
        for line in self.path.read_text(errors="replace").splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill: that unit runs again
            if isinstance(d, dict):
                yield d

    def append(self, line: str) -> None:
        """Add one line (a JSON object without a newline) whole."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a")
            if _torn(self.path):  # a line torn by a kill: end it, or our first line would join it
                self._fh.write("\n")
        self._fh.write(line + "\n")
        self._fh.flush()
        if time.monotonic() - self._synced > FSYNC_EVERY_S:
            os.fsync(self._fh.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        """Close and delete the journal, and its folder when nothing else is in it."""
        self.close()
        self.path.unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()
        except OSError:
            pass


def _torn(path: Path) -> bool:
    """Whether ``path`` ends inside a line (its last byte is not a newline)."""
    with open(path, "rb") as fh:
        if fh.seek(0, os.SEEK_END) == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"
