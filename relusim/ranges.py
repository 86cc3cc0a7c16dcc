"""Grids typed on the command line: one syntax with one meaning for every command.

``start:stop:step`` is NumPy's ``arange`` with its stop included when a step lands on it:

    x_i = start + i * step,   i = 0, 1, ..., n - 1,   n = floor((stop - start) / step + 1e-9) + 1,

so ``0:0.5:0.1`` is 0, 0.1, ..., 0.5 (six points) and ``0:0.5:0.2`` is 0, 0.2, 0.4. A range needs
``0 < step <= stop - start``. Each point is rounded to 13 significant digits of the grid's largest
value (never coarser than 1e-9 of a step), so that ``0.1 + 2 * 0.1`` is the 0.3 the user typed, and the
last is ``stop`` itself when it lies within 1e-9 of a step of it. When start, stop and step are all
integers (``100:400:100``) the points are exact integers. ``v1,v2,...`` is those values, in the order
given. docs/CONTRACT.md, "Command line".

Every limit on the number of points is checked from (start, stop, step) before a point exists. Until
issue 28 the robustness and theory grids read ``a:b:n`` as n points from a to b: such a range (its third
number larger than stop - start, e.g. ``0:0.5:6``) is refused with the range that means it.
"""
from __future__ import annotations

import math
import re

from .errors import InputError

RANGE_HELP = "start:stop:step (start, start+step, ... up to stop, stop included when a step lands on it)"
HELP = RANGE_HELP + " or a comma list"
TOLERANCE = 1e-9  # of a step: how near stop the last step may land and still count as stop
_SYNTAX = "expected start:stop:step or a comma list of numbers (e.g. 0.5:1.0:0.05 or 0.5,0.7)"
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def is_range(text: str) -> bool:
    """Whether ``text`` is written as a range (holds a ``:``) rather than a list."""
    return ":" in str(text)


def count(start: float, stop: float, step: float) -> int | float:
    """Points of ``start:stop:step`` (``math.inf`` when they cannot be counted in a float), without
    listing them; ``0 < step <= stop - start`` assumed."""
    ratio = (stop - start) / step
    return math.floor(ratio + TOLERANCE) + 1 if math.isfinite(ratio) else math.inf


def parse(key: str, text: str, max_points: int) -> tuple[float, ...] | tuple[int, ...]:
    """``text`` as a range ``start:stop:step`` or a comma list; at most ``max_points`` points, each finite.

    Refusals (:class:`relusim.errors.InputError`, naming ``key``): not a range or a list of numbers, an
    empty item, a non-finite value, ``step <= 0`` or ``step > stop - start`` (a count-style ``a:b:n``
    among them, with the range that gives those n points), more than ``max_points`` points.
    """
    text = str(text).strip()
    if is_range(text):
        return _parse_range(key, text, max_points)
    items = text.split(",")
    if len(items) > max_points:  # counted before a value is made
        raise InputError(key, text, f"gives {len(items)} points; at most {max_points}")
    if any(not item.strip() for item in items):
        raise InputError(key, text, "has an empty value; " + _SYNTAX)
    try:
        values = tuple(float(item) for item in items)
    except ValueError:
        raise InputError(key, text, _SYNTAX) from None
    if not all(map(math.isfinite, values)):
        raise InputError(key, text, "every value must be a finite number")
    return values


def _parse_range(key: str, text: str, max_points: int) -> tuple[float, ...] | tuple[int, ...]:
    parts = [p.strip() for p in text.split(":")]
    try:
        if len(parts) != 3:
            raise ValueError
        start, stop, step = (float(p) for p in parts)
    except ValueError:
        raise InputError(key, text, _SYNTAX) from None
    if not all(map(math.isfinite, (start, stop, step))):
        raise InputError(key, text, "start, stop and step must be finite numbers")
    integers = all(_INTEGER.match(p) for p in parts)
    if integers:  # exact, also past 2^53 (seeds)
        start, stop, step = (int(p) for p in parts)
    if not (step > 0 and stop > start and step - (stop - start) <= TOLERANCE * step):
        raise InputError(key, text, "start:stop:step needs 0 < step <= stop - start" + _count_hint(parts))
    n = (stop - start) // step + 1 if integers else count(start, stop, step)
    if n > max_points:  # before any point exists (0:0.5:1e-12 would be 4 TB)
        shown = f"{n}" if math.isfinite(n) else "too many"
        raise InputError(key, text, f"gives {shown} points; at most {max_points}")
    if integers:
        return tuple(start + i * step for i in range(n))
    digits = max(13 - math.floor(math.log10(max(abs(start), abs(stop)))), 9 - math.floor(math.log10(step)))
    points = [round(start + i * step, digits) for i in range(n)]
    if abs(points[-1] - stop) <= TOLERANCE * step:
        points[-1] = stop
    return tuple(points)


def _count_hint(parts: list[str]) -> str:
    """What a count-style ``a:b:n`` (n points from a to b, the old reading) is written as now."""
    try:
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        return ""
    if n < 1 or not start < stop or not all(map(math.isfinite, (start, stop))):
        return ""
    if n == 1:
        return f" (for the single point {parts[0]} write {parts[0]})"
    step = (stop - start) / (n - 1)
    short = float(f"{step:.12g}")  # the short spelling when its n-th point still lands on stop
    shown = f"{step:.12g}" if abs(start + (n - 1) * short - stop) <= TOLERANCE * step else repr(step)
    return f" (for {n} points from {parts[0]} to {parts[1]} write {parts[0]}:{parts[1]}:{shown})"


__all__ = ["HELP", "RANGE_HELP", "count", "is_range", "parse"]
