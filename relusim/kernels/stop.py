"""When a driver stops: ``anneal.stop_when_solved`` and ``ensemble.solved_when`` as one small int code.

  NEVER  run every sweep of the block
  ALL    stop once every replica has E = 0 (relusim's rule before issue 30; a single machine: its E = 0)
  ANY    stop once some replica has E = 0: replicated simulated annealing reports a problem solved
         when any replica solves it (Baldassi et al., PNAS 113, E7655 (2016); docs/algorithms.md §12)

The drivers (``replicated``, ``least_action``, ``spherical_mc``, and ``rrr`` within a sweep) add the
target-overlap condition when one is set. A code, not a flag and a rule: one field of ``Control``,
one argument of ``spherical_mc.run``, and the same compiled driver for every value.
"""
from __future__ import annotations

from numba import njit

NEVER, ALL, ANY = 0, 1, 2


@njit(inline="always")
def solved(E, rule):
    """Whether the error counts E (y,) meet ``rule``: max_a E_a = 0 (ALL), min_a E_a = 0 (ANY); never for NEVER."""
    if rule == ALL:
        return E.max() == 0
    if rule == ANY:
        return E.min() == 0
    return False
