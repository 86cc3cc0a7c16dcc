"""The error count E as an energy of the binary Metropolis sweep (``metropolis.sweep_loop``; docs/algorithms.md §1-2).

E[a] = #{mu : sigma^mu out^mu <= 0}; a flip of W^a_i moves H[a, l] by -2 W_i xi_i and E[a] to the errors
after it. The sweep's energy interface, on plain arrays (``metropolis.sweep_loop``): ``caches`` gives
the tuple of the energy's arrays once per sweep, ``delta`` / ``delta_bits`` give (dE, dE) from the full
O(P) pass (``fields.flip_delta``) or the class-change bitsets (``bits.flip_delta``), ``commit`` /
``commit_bits`` update the fields and margins (``fields.flip_fields``) and, on the bitset path,
``refresh_bits`` the bitsets.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import bits as _bits
from .fields import NO_MARGINS, flip_delta, flip_fields


@njit(inline="always")
def caches(pb, st, bt):
    """(gtab, XB, SG, UD, M): the table of g and the class-change bitsets."""
    return pb.gtab, bt.XB, bt.SG, bt.UD, bt.M


@njit(inline="always")
def delta(XT, sig, H, marg, E, act, n, c, lev, mv, cx):
    """(dE, dE): minus the count of ``fields.flip_delta`` is the errors after the flip."""
    a, l, r, t, cl, wi = mv
    gtab, XB, SG, UD, M = cx
    dE = -np.int64(flip_delta(XT, sig, H, marg, act, a, l, r, t, cl, gtab, NO_MARGINS, False)) - E[a]
    return dE, dE


@njit(inline="always")
def delta_bits(XT, sig, H, marg, E, act, n, c, lev, mv, cx):
    """(dE, dE) from the bitsets at level lev (``bits.flip_delta``)."""
    a, l, r, t, cl, wi = mv
    gtab, XB, SG, UD, M = cx
    dE = _bits.flip_delta(XB, SG, UD, M, lev, a, l, r, wi, cl)
    return dE, dE


@njit(inline="always")
def commit(XT, sig, H, marg, act, n, c, lev, mv, dH, cx):
    """The fields and margins of the committed flip (``fields.flip_fields``)."""
    a, l, r, t, cl, wi = mv
    gtab, XB, SG, UD, M = cx
    flip_fields(XT, sig, H, marg, act, a, l, r, t, cl, gtab)


@njit(inline="always")
def commit_bits(XT, sig, H, marg, act, n, c, lev, mv, dH, cx):
    """``commit``: the bitsets follow in ``refresh_bits``."""
    a, l, r, t, cl, wi = mv
    gtab, XB, SG, UD, M = cx
    flip_fields(XT, sig, H, marg, act, a, l, r, t, cl, gtab)


@njit(inline="always")
def refresh_bits(XT, sig, H, marg, act, n, c, lev, mv, dH, cx):
    """The bitsets of replica a and unit l from the committed fields and margins (``bits.refresh``)."""
    a, l, r, t, cl, wi = mv
    gtab, XB, SG, UD, M = cx
    _bits.refresh(act, lev, H, marg, a, l, UD, M)
