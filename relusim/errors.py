"""Errors that the CLI turns into one line on stderr and exit status 2 (bad input) or 1 (run failure)."""
from __future__ import annotations

import math
import reprlib

SHOWN = 100  # characters of a value shown in a message: long ones keep their head and tail


def one_line(text: str) -> str:
    """``text`` with every control character (newline, tab, CR, DEL, ...) escaped: one printable line."""
    return "".join(c if " " <= c != "\x7f" else repr(c)[1:-1] for c in str(text))


def cut(text: str, limit: int = SHOWN) -> str:
    """``text`` shortened to about ``limit`` characters by dropping its middle (a path keeps its name)."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return f"{text[:limit - tail - 5]} ... {text[-tail:]}"


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = _REPR.maxdict = 6
_REPR.maxstring = SHOWN + 20
_REPR.maxother = SHOWN + 20
_REPR.maxlong = 40


def shown(value, limit: int = SHOWN) -> str:
    """``repr(value)`` for a message: bounded work whatever the value (a YAML alias bomb, a megabyte
    string, an integer of 10^5 digits), cut to about ``limit`` characters, on one line."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        return f"<an integer of about {digits} digits>"
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still named
        text = f"<a {type(value).__name__}>"
    return cut(one_line(text), limit)


class InputError(ValueError):
    """Bad user input: names the key, the value given and what is allowed.

    The message is one line whatever the input: the value is shown by :func:`shown` (cut to a
    readable length), and control characters in the key and the text are escaped.
    """

    def __init__(self, key: str, value, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{cut(one_line(key))}: got {shown(value)}; {cut(one_line(allowed), 1000)}")


class RunError(RuntimeError):
    """A run could not be carried out (e.g. an existing result file from another config)."""


class DataError(RuntimeError):
    """A result file (or shard) holds data that fails its checksum or cannot be read: never used."""


class Interrupted(BaseException):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP) that the command line turned into an
    exception (``relusim.execution.processes.stop_on_signals``): one line, exit status 128 + the signal.

    A BaseException, as KeyboardInterrupt is, so that no ``except Exception`` swallows it; not a
    KeyboardInterrupt, which click would turn into its own ``Aborted!``. ``kept`` says what the
    run keeps (set by the layer that knows: ``relusim.execution.runner``, ``relusim.capacity.grid``, ...).
    """

    def __init__(self, signum: int, kept: str = ""):
        self.signum, self.kept = int(signum), kept
        super().__init__(signum)

    @property
    def signame(self) -> str:
        import signal

        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def __str__(self) -> str:
        return f"stopped by {self.signame}" + (f"; {self.kept}" if self.kept else "")
