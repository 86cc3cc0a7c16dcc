"""The least-action energy of binary weights and its Metropolis sampler (docs/algorithms.md §10).

L(W) = sum_mu L_mu(W), where L_mu is the least number of single weight flips, the other weights held,
after which pattern mu is classified correctly (sigma^mu out^mu > 0: a zero output is an error). It is
an integer, 0 exactly on the correct patterns, so L = 0 exactly when E = 0. A flip changes the Hamming
distance to any set by at most 1, so one flip changes each L_mu by -1, 0 or +1 and L by an integer in
[-P, P]: ``metropolis.fill_etab``'s table of exp(-beta dE) serves dL unchanged.

L_mu depends only on the label and the K unit fields H_l of the pattern, because a unit's field moves by
+-2 per flip of one of its own weights (each weight belongs to exactly one unit, tree or fully
connected) and reaches any H' of the parity of n in [-n, n] in |H' - H| / 2 flips (``pattern_cost``:
sign and ReLU; the derivation is docs/algorithms.md §10). The cache is C[a, mu] = L_mu of replica a and
L[a] = sum_mu C[a, mu]; the move is a flip of W^a_i, as for the error count (``fields``), whose fields and
margins the sampler keeps as ``fields.flip_fields`` does. Only patterns wrong after the move need a
cost evaluated: a right one costs 0.

The sampler is ``metropolis.sweep_loop`` over this module as its energy (``caches``, ``delta``,
``commit`` and their bitset forms: dL in place of dE; one machine, the explicit and the traced robust
ensemble), the same loop and draws as the error count's; ``driver`` runs it along a schedule like
``replicated.driver``. Committees take the full O(P) pass; the perceptron (sign, K = 1) also has class
bitsets (``flip_delta_bits``), used while the acceptance is low, as the error count does. No RRR.
"""
from __future__ import annotations

import functools
import sys
from collections import namedtuple

import numpy as np
from numba import njit

from . import bits as _bits
from . import stop
from .calls import apart
from . import fields as _fields
from .fields import RELU, SIGN, SIGN_ODD, _dg, is_fc, row
from .metropolis import EXPLICIT, TRACED, fill_ctab, fill_etab, sweep_loop
from .records import Point
from .replicated import mean_mutual_overlap

# C (y, Pp) int32 per-pattern costs; L (y,) int64 their sums; Cn (Pp,) int32 the costs after the proposed
# flip (scratch, copied into C[a] on acceptance); NM (Pp,) int16 the margins after it (scratch, committees);
# S (K,) int64 scratch of ``pattern_cost``. The perceptron's
# bitsets (``uses_bits``; empty otherwise): XB (N, words) input bits xi = +1 and SG (2, words) label bits
# sigma = +1 and sigma = -1 (padding in neither), both of the problem; CB (y, 3, words) the classes
# x <= 0, x <= 2, x <= -2 of x = sigma H of each replica
Costs = namedtuple("Costs", ["C", "L", "Cn", "NM", "S", "XB", "SG", "CB"])
SUPPORTED = (SIGN, SIGN_ODD, RELU)
INF = np.int64(1) << np.int64(40)
NO_TABLE = np.zeros(1, np.int64)  # fields.flip_delta's table of g, unused by sign and ReLU


@njit(inline="always")
def _insert_sorted(S, count, v):
    """Insert v into the ascending S[:count] (insertion sort, K entries at most); returns count + 1."""
    p = count
    while p > 0 and S[p - 1] > v:
        S[p] = S[p - 1]
        p -= 1
    S[p] = v
    return count + 1


@njit(inline="always")
def pattern_cost(act, n, s, c, H, a, mu, l, hn, S):
    """L_mu of a wrong pattern: the least number of flips after which s * out > 0 (docs/algorithms.md §10).

    s = sigma^mu, fields H[a, k, mu] for k != l and hn for unit l (the field after a proposed flip);
    S is scratch of length K. The caller has checked that the pattern is wrong (margin <= 0).

    sign (c_k = 1): x_k = s H_k. A unit with x_k < 0 becomes right after floor(-x_k / 2) + 1 flips, and
      (n even) becomes 0 after one flip fewer; a unit at x_k = 0 becomes right after 1 flip. With
      D = 1 - sum_k sgn(x_k) the deficit, zero units are used first (one flip per unit of D, never
      worse than a wrong unit), then the ceil(D'/2) cheapest wrong units are reversed, one of them only
      to 0 when D' is odd (one flip less).
    ReLU: a flip gains at most 2 in the margin: lowering a harmful unit (s c_k = -1) with H_k > 0 gains 2
      per flip (1 for its last flip from H = 1 to -1); raising a helpful unit (s c_k = +1) with H_k >= 0
      gains 2 per flip up to H = n; a helpful unit with H_k = -h < 0 must first be opened: h / 2 flips
      of no gain (n even), or (h + 1) / 2 flips whose last gains 1 (n odd), then 2 per flip up to n.
      Opened units are the cheapest (smallest h: all have cap n and parity n); for each number j of
      opened units the rest is ceil(D' / 2) flips of gain 2 while they last, then gain-1 flips.
    """
    K = c.shape[0]
    if act == RELU:
        odd = n & 1
        M = np.int64(0)
        for k in range(K):
            h = np.int64(hn if k == l else H[a, k, mu])
            if h > 0:
                M += s * c[k] * h
        D = 1 - M
        A2 = np.int64(0)
        A1 = np.int64(0)
        J = 0
        for k in range(K):
            h = np.int64(hn if k == l else H[a, k, mu])
            if s * c[k] < 0:
                if h > 0:
                    A2 += h >> 1
                    A1 += h & 1
            elif h >= 0:
                A2 += (n - h) >> 1
            else:  # the helpful negative units, sorted by -h
                J = _insert_sorted(S, J, -h)
        best = INF
        entry = np.int64(0)
        for j in range(J + 1):
            if j > 0:
                v = S[j - 1]
                if odd:
                    entry += (v + 1) >> 1
                    D -= 1
                    A2 += (n - 1) >> 1
                else:
                    entry += v >> 1
                    A2 += n >> 1
                if entry >= best:
                    break
            if D <= 0:
                f = np.int64(0)
            elif 2 * A2 >= D:
                f = (D + 1) >> 1
            elif D - 2 * A2 <= A1:
                f = D - A2
            else:
                f = INF
            if entry + f < best:
                best = entry + f
        return best
    # sign units
    if K == 1:
        x = np.int64(s * hn)
        return ((-x) >> 1) + 1
    Ssum = np.int64(0)
    z = np.int64(0)
    w = 0
    for k in range(K):
        x = np.int64(s * (hn if k == l else H[a, k, mu]))
        if x > 0:
            Ssum += 1
        elif x == 0:
            z += 1
        else:
            Ssum -= 1
            w = _insert_sorted(S, w, ((-x) >> 1) + 1)
    D = 1 - Ssum
    zu = z if z < D else D
    D -= zu
    cost = zu
    q = (D + 1) >> 1
    for j in range(q):
        cost += S[j]
    return cost - (D & 1)


@njit(inline="always")
def delta(XT, sig, H, marg, E, act, n, c, lev, mv, cx):
    """(dL, dE), the changes of the cost and of the errors E[a], of the flip of a weight of unit l that moves
    H[a, l] by -t XT[r], the sweep's energy change (``metropolis.sweep_loop``; lev, wi and the bitsets
    unused); writes Cn (the costs
    after the flip: the perceptron every pattern's, committees the wrong ones') and, for committees, NM
    (the margins after it)."""
    a, l, r, t, cl, wi = mv
    C, L, Cn, NM, S, XB, SG, CB = cx
    nerr = np.int64(0)
    dL = np.int64(0)
    z = np.int16(0)
    if act != RELU and c.shape[0] == 1:
        # the perceptron: L_mu = floor(-x / 2) + 1 on an error, x = sigma H; branch-free so that LLVM
        # vectorises the loop (the padding lanes have marg = PAD > 0, hence cost 0)
        one = np.int32(1)
        for mu in range(XT.shape[1]):
            hn = np.int16(H[a, l, mu] - t * XT[r, mu])
            x = np.int32(sig[mu] * hn)
            wrong = np.int32(x <= 0) * np.int32(sig[mu] != 0)
            cn = wrong * (((-x) >> one) + one)
            Cn[mu] = cn
            nerr += wrong
            dL += cn - C[a, mu]
        return dL, nerr - E[a]
    # committees, in two passes: the margins after the flip (``fields.flip_delta``, kept in NM), then the
    # costs of the patterns wrong after it (few, near a solution; a right pattern costs 0, so dL = (sum of
    # those costs) - L[a], and Cn is written for the wrong ones only: ``commit`` reads it where NM <= 0)
    cnt = _fields.flip_delta(XT, sig, H, marg, act, a, l, r, t, cl, NO_TABLE, NM, True)
    one = np.int16(1)
    tot = np.int64(0)
    for j in range(XT.shape[1] // _bits.WORD):  # the wrong patterns of each word, lowest bit first
        wrong = ~_bits.mask_ge(NM, _bits.WORD * j, one)  # padding has NM = PAD >= 1
        while wrong:
            low = wrong & (~wrong + np.uint64(1))
            mu = _bits.WORD * j + np.int64(_bits.popcount(low - np.uint64(1)))
            wrong ^= low
            hn = np.int64(H[a, l, mu] - t * XT[r, mu])
            cn = np.int32(pattern_cost(act, n, np.int64(sig[mu]), c, H, a, mu, l, hn, S))
            Cn[mu] = cn
            tot += cn
    return tot - L[a], -np.int64(cnt) - E[a]


@njit(cache=True)
def build(pb, st, la, a):
    """C[a] and L[a] of replica a from its cached fields and margins (``fields.build``), O(KP)."""
    XT, sig, c, n, act = pb.XT, pb.sig, pb.c, pb.n, pb.act
    H, marg = st.H, st.marg
    tot = np.int64(0)
    for mu in range(XT.shape[1]):
        cost = np.int32(0)
        if sig[mu] != 0 and marg[a, mu] <= 0:
            cost = np.int32(pattern_cost(act, n, np.int64(sig[mu]), c, H, a, mu, 0, np.int64(H[a, 0, mu]), la.S))
        la.C[a, mu] = cost
        tot += cost
    la.L[a] = tot
    return tot


@njit(cache=True)
def delta_cost(pb, st, la, a, i):
    """(errors after flipping W^a_i, dL of the flip), nothing committed but la.Cn (the model's energy change:
    the sweep's ``delta``)."""
    l = pb.unit[i]
    r = row(i, l, pb.n, is_fc(pb.XT, st.w))
    mv = (a, l, r, np.int16(2 * st.w[a, i]), np.int16(pb.c[l]), st.w[a, i])
    dL, dE = delta(pb.XT, pb.sig, st.H, st.marg, st.E, pb.act, pb.n, pb.c, 0, mv, caches(pb, st, la))
    return st.E[a] + dE, dL


@njit(cache=True)
def apply_flip(pb, st, la, a, i, nerr, dL):
    """Commit the flip of W^a_i whose ``delta_cost`` (nerr, dL) was the last computed: fields, margins, costs
    (the sweep's ``commit``), the weight, the replica sum and E[a]."""
    l = pb.unit[i]
    r = row(i, l, pb.n, is_fc(pb.XT, st.w))
    t = np.int16(2 * st.w[a, i])
    commit(pb.XT, pb.sig, st.H, st.marg, pb.act, pb.n, pb.c, 0, (a, l, r, t, np.int16(pb.c[l]), st.w[a, i]), dL,
           caches(pb, st, la))
    st.m[i] -= t
    st.w[a, i] = -st.w[a, i]
    st.E[a] = nerr


def uses_bits(act: int, K: int) -> bool:
    """Whether the perceptron's bitset path applies: sign units with K = 1 (``flip_delta_bits``)."""
    return int(act) in (SIGN, SIGN_ODD) and int(K) == 1


@njit(cache=True)
def problem_bits(pb):
    """(XB, SG) of ``Costs``: the input bits of ``bits.new`` and the label bits, padding in neither row."""
    bt = _bits.new(pb, 0)
    SG = np.zeros_like(bt.SG)
    for j in range(pb.XT.shape[1] // _bits.WORD):
        neg = ~_bits.mask_ge(pb.sig, _bits.WORD * j, np.int16(0))
        SG[0, j] = bt.SG[0, j]
        SG[1, j] = neg
    return bt.XB, SG


@njit(inline="always")
def refresh(H, SG, a, CB):
    """CB[a] = the classes x <= 0, x <= 2, x <= -2 of x = sigma H[a, 0] (K = 1), padding in none."""
    Pp = H.shape[2]
    for j in range(Pp // _bits.WORD):
        off = a * Pp + _bits.WORD * j
        sp, sn = SG[0, j], SG[1, j]
        CB[a, 0, j] = (sp & ~_bits.mask_ge(H, off, np.int16(1))) | (sn & _bits.mask_ge(H, off, np.int16(0)))
        CB[a, 1, j] = (sp & ~_bits.mask_ge(H, off, np.int16(3))) | (sn & _bits.mask_ge(H, off, np.int16(-2)))
        CB[a, 2, j] = (sp & ~_bits.mask_ge(H, off, np.int16(-1))) | (sn & _bits.mask_ge(H, off, np.int16(2)))


@njit(cache=True)
def build_bits(st, la):
    """Every replica's CB from its fields."""
    for a in range(st.H.shape[0]):
        refresh(st.H, la.SG, a, la.CB)


@njit(inline="always")
def flip_delta_bits(XB, SG, CB, a, r, wi):
    """(Delta E, Delta L) of flipping weight wi (input r) of a perceptron, from the class bitsets.

    x = sigma H moves down by 2 on V = {W_i xi_i sigma = +1} and up by 2 elsewhere. L_mu = floor(-x/2) + 1
    on an error, so Delta L = |V & {x <= 2}| - |~V & {x <= 0}|; an error is x <= 0, so
    Delta E = |V & {0 < x <= 2}| - |~V & {-2 < x <= 0}|. The padding is in no class.
    """
    flip = np.uint64(0xFFFFFFFFFFFFFFFF) if wi > 0 else np.uint64(0)
    dE = np.int64(0)
    dL = np.int64(0)
    for k in range(XB.shape[1]):
        v = XB[r, k] ^ flip ^ SG[0, k]
        A, B, Cc = CB[a, 0, k], CB[a, 1, k], CB[a, 2, k]
        dL += np.int64(_bits.popcount(v & B)) - np.int64(_bits.popcount(~v & A))
        dE += np.int64(_bits.popcount(v & B & ~A)) - np.int64(_bits.popcount(~v & A & ~Cc))
    return dE, dL


@njit(cache=True)
def delta_cost_bits(pb, st, la, a, i):
    """(errors after flipping W^a_i, dL) of a perceptron from the bitsets: the numbers of ``delta_cost``."""
    dE, dL = flip_delta_bits(la.XB, la.SG, la.CB, a, i, st.w[a, i])
    return st.E[a] + dE, dL


def new(pb, st) -> Costs:
    """The least-action caches of every replica of the chain st (its fields and margins built); the
    perceptron's bitsets too (``uses_bits``)."""
    if int(pb.act) not in SUPPORTED:
        raise ValueError("the least-action energy is implemented for sign and ReLU units")
    y, Pp = st.marg.shape
    if uses_bits(pb.act, pb.c.shape[0]):
        XB, SG = problem_bits(pb)
        CB = np.zeros((y, 3, XB.shape[1]), np.uint64)
    else:
        XB, SG, CB = np.zeros((0, 0), np.uint64), np.zeros((2, 0), np.uint64), np.zeros((0, 3, 0), np.uint64)
    la = Costs(np.zeros((y, Pp), np.int32), np.zeros(y, np.int64), np.zeros(Pp, np.int32), np.zeros(Pp, np.int16),
               np.zeros(max(1, pb.c.shape[0]), np.int64), XB, SG, CB)
    for a in range(y):
        build(pb, st, la, a)
    if CB.shape[0]:
        build_bits(st, la)
    return la


@njit(inline="always")
def caches(pb, st, la):
    """The arrays of ``Costs``, in its order: the sweep's energy interface (``metropolis.sweep_loop``)."""
    return la.C, la.L, la.Cn, la.NM, la.S, la.XB, la.SG, la.CB


@njit(inline="always")
def delta_bits(XT, sig, H, marg, E, act, n, c, lev, mv, cx):
    """(dL, dE) of the perceptron from the class bitsets (``flip_delta_bits``)."""
    a, l, r, t, cl, wi = mv
    C, L, Cn, NM, S, XB, SG, CB = cx
    dE, dL = flip_delta_bits(XB, SG, CB, a, r, wi)
    return dL, dE


@njit(inline="always")
def commit(XT, sig, H, marg, act, n, c, lev, mv, dL, cx):
    """Fields, margins and C[a] after the flip scored by ``delta``, in one pass; L[a] += dL. C[a, mu] = Cn[mu]
    (the perceptron's ``delta`` writes every pattern's), for committees Cn[mu] where the pattern is wrong
    after it (NM <= 0), else 0; the perceptron test is taken out of the loop, which then holds no reference
    count of the inlined arguments (numba kept nine incref/decref pairs around it per accepted flip)."""
    a, l, r, t, cl, wi = mv
    C, L, Cn, NM, S, XB, SG, CB = cx
    perc = act != RELU and c.shape[0] == 1
    for mu in range(XT.shape[1]):  # fields.flip_fields with the cost copy
        ho = H[a, l, mu]
        hn = np.int16(ho - t * XT[r, mu])
        H[a, l, mu] = hn
        marg[a, mu] = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))
        C[a, mu] = Cn[mu] if perc or NM[mu] < np.int16(1) else np.int32(0)
    L[a] += dL


@njit(inline="always")
def commit_bits(XT, sig, H, marg, act, n, c, lev, mv, dL, cx):
    """``commit`` for the perceptron on the bitset path: each pattern's cost from its new field (no Cn was
    computed), then the class bitsets of replica a (``refresh``)."""
    a, l, r, t, cl, wi = mv
    C, L, Cn, NM, S, XB, SG, CB = cx
    for mu in range(XT.shape[1]):
        ho = H[a, l, mu]
        hn = np.int16(ho - t * XT[r, mu])
        H[a, l, mu] = hn
        marg[a, mu] = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))
        x = np.int32(sig[mu] * hn)
        C[a, mu] = np.int32(x <= 0) * np.int32(sig[mu] != 0) * (((-x) >> np.int32(1)) + np.int32(1))
    refresh(H, SG, a, CB)
    L[a] += dL


@njit(inline="always")
def refresh_bits(XT, sig, H, marg, act, n, c, lev, mv, dL, cx):
    """Nothing: ``commit_bits`` already refreshed the class bitsets (before the sweep's bookkeeping, as
    the loop of this energy always did; its compiled code is unchanged)."""


def _compiled(act: int, use_bits: bool, name: str):
    """``metropolis.sweep_loop`` on the least-action cost (this module's ``caches``, ``delta``, ``commit``),
    compiled for one activation code and path (compile-time constants, as ``metropolis._compiled``)."""

    sweep_ = sweep_loop(sys.modules[__name__], act, int(use_bits))
    sweep_.__name__ = sweep_.__qualname__ = name
    return njit(cache=True)(sweep_)


sweep_sign = _compiled(SIGN, False, "la_sweep_sign")
sweep_sign_odd = _compiled(SIGN_ODD, False, "la_sweep_sign_odd")
sweep_relu = _compiled(RELU, False, "la_sweep_relu")
sweep_bits_sign = _compiled(SIGN, True, "la_sweep_bits_sign")  # the perceptron, n even
sweep_bits_sign_odd = _compiled(SIGN_ODD, True, "la_sweep_bits_sign_odd")  # the perceptron, n odd
KERNELS = {(SIGN, False): sweep_sign, (SIGN_ODD, False): sweep_sign_odd, (RELU, False): sweep_relu,
           (SIGN, True): sweep_bits_sign, (SIGN_ODD, True): sweep_bits_sign_odd}


def sweep(pb, st, pt, la, use_bits: bool = False):
    """One sweep on exp(-beta L) for the chain st with least-action caches la; returns the accepted moves.
    ``use_bits`` (the perceptron only) needs la.CB in sync with the fields (``build_bits``)."""
    if use_bits and not uses_bits(pb.act, pb.c.shape[0]):
        raise ValueError("the least-action bitsets are for sign units with K = 1")
    return KERNELS[(int(pb.act), bool(use_bits))](pb, st, pt, la)


def run(pb, st, la, betas, gammas, ctl, out, costs, hyb):
    """len(betas) sweeps at (betas[s], gammas[s]), as ``replicated.run`` with Metropolis on exp(-beta L).

    After sweep s: out.energies[s, :] = E (errors), costs[s, :] = L, out.accepted[s], out.qbar[s]
    (nan for y = 1), out.rrr_used[s] = False. Stops early as ``replicated.run`` (ctl.stop: every
    E[a] == 0, or some; E[a] == 0 iff L[a] == 0; at the target overlap if any). The perceptron takes dL
    from the bitsets while the acceptance of the sweep before is below ctl.bits_below (< 0: never,
    > 1: always), as the error count does; both paths are the same chain. hyb[0]
    (``replicated.hybrid_state``) carries that acceptance from one call to the next. Returns the number of sweeps done.
    """
    if int(pb.act) not in SUPPORTED:
        raise ValueError("the least-action energy is implemented for sign and ReLU units")
    return driver(int(pb.act), uses_bits(pb.act, pb.c.shape[0]))(pb, st, la, betas, gammas, ctl, out, costs, hyb)


@functools.cache
def driver(act: int, with_bits: bool = False):
    """The schedule driver compiled for one activation code and, for the perceptron, with its bitset path
    (closure constants, as ``replicated.driver``)."""

    @njit(cache=True)
    def run_(pb, st, la, betas, gammas, ctl, out, costs, hyb):
        mode = ctl.mode
        w, E, m = st.w, st.E, st.m
        y, N = w.shape
        P = pb.XT.shape[1]
        nv = N * (y + 1) if mode == EXPLICIT else N * y
        etab = np.empty(2 * P + 1)
        ctab = np.zeros((2 * y + 1, 2))
        last_beta, last_gamma = -1.0, -1.0
        rate = hyb[0] if not np.isnan(hyb[0]) else 1.0
        in_bits = False
        for s in range(betas.shape[0]):
            beta, gamma = betas[s], gammas[s]
            if beta != last_beta:
                fill_etab(etab, beta, P)
            if mode == TRACED and gamma != last_gamma:
                fill_ctab(ctab, gamma, y)
            last_beta, last_gamma = beta, gamma
            pt = Point(mode, gamma, etab, ctab)
            acc = -1
            if with_bits:
                if rate < ctl.bits_below:
                    if not in_bits:
                        build_bits(st, la)
                        in_bits = True
                    if act == SIGN_ODD:
                        acc = apart(sweep_bits_sign_odd, (pb, st, pt, la))
                    else:
                        acc = apart(sweep_bits_sign, (pb, st, pt, la))
            if acc < 0:
                in_bits = False
                if act == RELU:
                    acc = apart(sweep_relu, (pb, st, pt, la))
                elif act == SIGN_ODD:
                    acc = apart(sweep_sign_odd, (pb, st, pt, la))
                else:
                    acc = apart(sweep_sign, (pb, st, pt, la))
            rate = acc / nv
            hyb[0] = rate
            for a in range(y):
                out.energies[s, a] = E[a]
                costs[s, a] = la.L[a]
            out.accepted[s] = acc
            out.rrr_used[s] = False
            q = mean_mutual_overlap(m, y) if y > 1 else np.nan
            out.qbar[s] = q
            if stop.solved(E, ctl.stop) and (np.isnan(ctl.q_target) or abs(q - ctl.q_target) <= ctl.q_tol):
                return s + 1
        return betas.shape[0]

    return run_
