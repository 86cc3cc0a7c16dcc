"""The records that travel together through every kernel layer (numba takes a namedtuple of arrays as one argument).

A model (``fields`` for binary weights) fills these; a sampler (``metropolis``, ``rrr``, the driver
``replicated``) takes them whole and unpacks what its loop needs once per sweep, never per proposal.

  Problem  what a run never changes: the patterns as the kernels store them, labels, readout, fan-in,
           activation code, unit[i], the unit of weight i (a table lookup instead of a division
           per proposal), and gtab, the fixed-point table of g over the integer field (act TABLE;
           one unused entry otherwise)
  State    the chain: weights, cached fields and margins, energies, the reference and the replica sums,
           the random stream
  Point    one point of the schedule: the sampling mode, beta and gamma with their tables
  Control  the sampling mode (one machine, explicit or traced reference), how the driver chooses
           kernels, and when it stops (``stop``: a code of ``relusim.kernels.stop``, with the target overlap)
  Trace    per-sweep outputs of the driver
  Bitsets  the class-change bitsets of the binary model (``bits``): problem bits XB, SG (the label bits and
           their complement); state bits UD, M
"""
from __future__ import annotations

from collections import namedtuple

Problem = namedtuple("Problem", ["XT", "sig", "c", "n", "act", "unit", "gtab"])
State = namedtuple("State", ["w", "H", "marg", "E", "ref", "m", "rng"])
Point = namedtuple("Point", ["mode", "gamma", "etab", "ctab"])
Control = namedtuple("Control", ["mode", "use_rrr", "rrr_below", "bits_below", "stop", "q_target", "q_tol"])
Trace = namedtuple("Trace", ["energies", "accepted", "qbar", "rrr_used"])
Bitsets = namedtuple("Bitsets", ["XB", "SG", "UD", "M"])
