"""Reduced-rejection-rate Monte Carlo (Baldassi 2017, J. Stat. Mech. 033301; docs/algorithms.md §5).

The variable to flip is drawn with probability p_j / z, p_j = min(1, exp(-beta dH_j)), z = sum_j p_j,
and the move is accepted with probability min(1, z(x) / z(x')). This is exact because
p_j(x) / p_j(x') = exp(-beta dH_j(x)) (dH changes sign under the flip), provided every p_k is
computed exactly in both states. Here the p_j include both the data term and the coupling (for a
single machine, NONE mode, and for the explicit-reference ensemble).

Bookkeeping that keeps a step cheap:
* dEd[a, k], the data energy change of every replica weight, is kept incrementally: after a flip in
  unit l of replica a, the n weights of unit l are recomputed (their fields changed), and the other
  weights change only through the patterns whose margin changed *and* lies in the window
  [-1, 2] where one flip can change their error status (|Delta out| <= 2): the marginal-pattern
  sets of docs/algorithms.md §1.
* p is held in blocks of 64 whose sums are recomputed (not updated) after every change, so z never
  drifts; picking j scans the block sums, then one block.
* A proposed move is applied, the affected p recomputed, and reverted on rejection.
A sweep is nv RRR steps (each an attempted move), the convention of [R]. At low temperature a step
costs far more than a Metropolis proposal but is almost always a move: compare samplers by wall time.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from . import detmath
from . import rng as _rng
from . import stop
from .fields import TABLE, _dg, apply_flip, is_fc, row, unit_delta_energies
from .metropolis import EXPLICIT

B = 64  # block size of the two-level sampler


Scratch = namedtuple("Scratch", ["dEd", "p", "bsum", "hsave", "msave", "dsave"])


def scratch_arrays(y: int, N: int, P: int, mode: int):
    """RRR scratch: dEd (y, N), p (nv,) in blocks, bsum, and save buffers for a staged move."""
    nv = y * N + (N if mode == EXPLICIT else 0)
    nb = (nv + B - 1) // B
    # msave int64: it holds the int16 margins of sign and ReLU and the int64 ones of a tabled g
    return Scratch(np.zeros((y, N), np.int64), np.zeros(nb * B), np.zeros(nb), np.zeros(P, np.int16),
                   np.zeros(P, np.int64), np.zeros(N, np.int64))


alloc = njit(cache=True)(scratch_arrays)  # the same, inside kernels (returning it to Python trips numba's cache)


@njit(cache=True)
def rebuild_delta(pb, st, dEd):
    """dEd[a, k] from scratch for every replica weight (O(y N P))."""
    for a in range(st.w.shape[0]):
        for l in range(pb.c.shape[0]):
            unit_delta_energies(pb, st, a, l, dEd[a])


@njit(inline="always")
def _p_rep(dEd, w, ref, mode, etab, P, e_up, e_dn, a, i):
    x = etab[dEd[a, i] + P]
    if mode == EXPLICIT:
        x *= e_up if ref[i] == w[a, i] else e_dn
    return x if x < 1.0 else 1.0


@njit(inline="always")
def _p_ref(ref, m, gamma, i):
    x = 2.0 * gamma * ref[i] * m[i]
    return 1.0 if x <= 0.0 else detmath.exp(-x)


@njit(inline="always")
def _block_sum(p, bsum, b):
    s = 0.0
    for k in range(b * B, (b + 1) * B):
        s += p[k]
    bsum[b] = s


@njit(cache=True)
def rebuild_p(st, pt, sc):
    """Every p_j and block sum from dEd and the current couplings (after beta or gamma changed)."""
    dEd, p, bsum, w, ref, m = sc.dEd, sc.p, sc.bsum, st.w, st.ref, st.m
    mode, etab, gamma = pt.mode, pt.etab, pt.gamma
    y, N = w.shape
    P = (etab.shape[0] - 1) // 2
    e_up, e_dn = detmath.exp(-2.0 * gamma), detmath.exp(2.0 * gamma)
    for a in range(y):
        for i in range(N):
            p[a * N + i] = _p_rep(dEd, w, ref, mode, etab, P, e_up, e_dn, a, i)
    if mode == EXPLICIT:
        for i in range(N):
            p[y * N + i] = _p_ref(ref, m, gamma, i)
    for b in range(bsum.shape[0]):
        _block_sum(p, bsum, b)


@njit(inline="always")
def _refresh_replica(dEd, w, ref, m, mode, etab, gamma, p, bsum, a, i):
    """Recompute p of replica a (and of reference weight i) and their block sums."""
    y, N = w.shape
    P = (etab.shape[0] - 1) // 2
    e_up, e_dn = detmath.exp(-2.0 * gamma), detmath.exp(2.0 * gamma)
    for k in range(N):
        p[a * N + k] = _p_rep(dEd, w, ref, mode, etab, P, e_up, e_dn, a, k)
    for b in range((a * N) // B, (a * N + N - 1) // B + 1):
        _block_sum(p, bsum, b)
    if mode == EXPLICIT:
        p[y * N + i] = _p_ref(ref, m, gamma, i)
        _block_sum(p, bsum, (y * N + i) // B)


@njit(inline="always")
def _refresh_site(dEd, w, ref, m, mode, etab, gamma, p, bsum, i):
    """Recompute p of every replica weight at site i and of reference weight i (a reference move)."""
    y, N = w.shape
    P = (etab.shape[0] - 1) // 2
    e_up, e_dn = detmath.exp(-2.0 * gamma), detmath.exp(2.0 * gamma)
    for a in range(y):
        p[a * N + i] = _p_rep(dEd, w, ref, mode, etab, P, e_up, e_dn, a, i)
        _block_sum(p, bsum, (a * N + i) // B)
    p[y * N + i] = _p_ref(ref, m, gamma, i)
    _block_sum(p, bsum, (y * N + i) // B)


@njit(inline="always")
def _pick(p, bsum, u):
    """Index j with probability p_j / sum(p), u uniform in [0, 1)."""
    z = 0.0
    for b in range(bsum.shape[0]):
        z += bsum[b]
    r = u * z
    nb = bsum.shape[0]
    b = 0
    while b < nb - 1 and r >= bsum[b]:
        r -= bsum[b]
        b += 1
    j = b * B
    last = j
    for k in range(b * B, (b + 1) * B):
        if p[k] > 0.0:
            last = k
            if r < p[k]:
                return k
            r -= p[k]
    return last  # rounding: r fell just past the block's end


@njit(inline="always")
def _z(bsum):
    z = 0.0
    for b in range(bsum.shape[0]):
        z += bsum[b]
    return z


@njit(inline="always")
def _status_change(mo, mn, d):
    """Change, between margins mo and mn, of the error-count change caused by adding d to the margin."""
    z = 0
    return (np.int64(mn + d <= z) - np.int64(mn <= z)) - (np.int64(mo + d <= z) - np.int64(mo <= z))


@njit(inline="always")
def _add_jumps(dEd, a, w, XT, mu, l2, n, fc, cm, cp):
    """Add to dEd[a, k] of every weight k of unit l2 its change cm (W_k xi_k = +1) or cp (-1) on pattern mu."""
    if cp == 0 and cm == 0:
        return
    for k in range(l2 * n, (l2 + 1) * n):
        dEd[a, k] += cm if w[a, k] * XT[row(k, l2, n, fc), mu] > 0 else cp


@njit(cache=True)
def _update_other_units(pb, st, dEd, a, l, msave):
    """dEd[a, k] for k outside unit l, after marg[a] changed from msave: only window patterns count.

    Flipping W_k (unit l2) moves H_l2 by -2 W_k xi_k, i.e. by +2 or -2: per pattern and unit there
    are only two possible margin changes, so each unit costs two tests and, when either matters,
    one vectorisable pass over its weights. A tabled g (act TABLE) has no window (its margin jumps
    are any integers), so every pattern whose margin changed is tested, with jumps read from the table.
    """
    XT, sig, c, n, act = pb.XT, pb.sig, pb.c, pb.n, pb.act
    w, H, marg = st.w, st.H, st.marg
    K = c.shape[0]
    fc = is_fc(XT, w)
    two = np.int16(2)
    if act == TABLE:
        _update_other_units_table(pb, st, dEd, a, l, msave)
        return
    for mu in range(XT.shape[1]):
        mo, mn = np.int64(msave[mu]), np.int64(marg[a, mu])
        if mo == mn or ((mo < -1 or mo > 2) and (mn < -1 or mn > 2)):
            continue
        s = sig[mu]
        for l2 in range(K):
            if l2 == l:
                continue
            cl = np.int64(c[l2] * s)
            ho = H[a, l2, mu]
            cp = _status_change(mo, mn, cl * _dg(act, ho, np.int16(ho + two)))  # W_k xi_k = -1
            cm = _status_change(mo, mn, cl * _dg(act, ho, np.int16(ho - two)))  # W_k xi_k = +1
            _add_jumps(dEd, a, w, XT, mu, l2, n, fc, cm, cp)


@njit(cache=True)
def _update_other_units_table(pb, st, dEd, a, l, msave):
    """``_update_other_units`` for a tabled g: jumps cl (gtab[H +- 2 + n] - gtab[H + n]) (none beyond +-n)."""
    XT, sig, c, n, gtab = pb.XT, pb.sig, pb.c, pb.n, pb.gtab
    w, H, marg = st.w, st.H, st.marg
    K = c.shape[0]
    fc = is_fc(XT, w)
    for mu in range(XT.shape[1]):
        mo, mn = np.int64(msave[mu]), np.int64(marg[a, mu])
        if mo == mn:
            continue
        s = sig[mu]
        for l2 in range(K):
            if l2 == l:
                continue
            cl = np.int64(c[l2] * s)
            ho = np.int64(H[a, l2, mu])
            go = gtab[ho + n]
            cp = _status_change(mo, mn, cl * (gtab[ho + 2 + n] - go)) if ho + 2 <= n else 0  # W_k xi_k = -1
            cm = _status_change(mo, mn, cl * (gtab[ho - 2 + n] - go)) if ho - 2 >= -n else 0  # W_k xi_k = +1
            _add_jumps(dEd, a, w, XT, mu, l2, n, fc, cm, cp)


@njit(cache=True)
def step(pb, st, pt, sc):
    """One RRR move. Returns (accepted, z before the move)."""
    dEd, p, bsum, hsave, msave, dsave = sc
    w, H, marg, E, ref, m, state = st.w, st.H, st.marg, st.E, st.ref, st.m, st.rng
    mode, gamma, etab = pt.mode, pt.gamma, pt.etab
    y, N = w.shape
    z0 = _z(bsum)
    j = _pick(p, bsum, _rng.uniform(state))
    if j < y * N:
        a = j // N
        i = j - a * N
        l = pb.unit[i]
        # loops, not slice assignments: a slice's shape check compiles numba's error formatting
        for mu in range(hsave.shape[0]):
            hsave[mu] = H[a, l, mu]
            msave[mu] = marg[a, mu]
        for k in range(N):
            dsave[k] = dEd[a, k]
        dE = dEd[a, i]
        apply_flip(pb, st, a, i, dE)
        unit_delta_energies(pb, st, a, l, dEd[a])
        _update_other_units(pb, st, dEd, a, l, msave)
        _refresh_replica(dEd, w, ref, m, mode, etab, gamma, p, bsum, a, i)
        z1 = _z(bsum)
        if z1 <= z0 or _rng.uniform(state) * z1 < z0:
            return True, z0
        for mu in range(hsave.shape[0]):
            H[a, l, mu] = hsave[mu]
            marg[a, mu] = msave[mu]
        for k in range(N):
            dEd[a, k] = dsave[k]
        w[a, i] = -w[a, i]
        m[i] += 2 * w[a, i]
        E[a] -= dE
        _refresh_replica(dEd, w, ref, m, mode, etab, gamma, p, bsum, a, i)
        return False, z0
    i = j - y * N
    ref[i] = -ref[i]
    _refresh_site(dEd, w, ref, m, mode, etab, gamma, p, bsum, i)
    z1 = _z(bsum)
    if z1 <= z0 or _rng.uniform(state) * z1 < z0:
        return True, z0
    ref[i] = -ref[i]
    _refresh_site(dEd, w, ref, m, mode, etab, gamma, p, bsum, i)
    return False, z0


@njit(cache=True)
def sweep(pb, st, pt, sc, stop_rule):
    """One RRR sweep: nv steps, as [R] counts iterations; returns (accepted, mean z / nv).

    The number of steps is fixed: ending a sweep on a state-dependent clock (nv / z per step, as a
    rejection-free method would) weights states by 1 / z and biases the recorded samples.
    ``sc`` must hold dEd and p consistent with the state (``rebuild_delta`` + ``rebuild_p``).
    Ends early at the step after which the errors meet ``stop_rule`` (``stop.solved``; the driver
    then checks the target overlap).
    """
    y, N = st.w.shape
    nv = y * N + (N if pt.mode == EXPLICIT else 0)
    acc = 0
    zsum = 0.0
    steps = 0
    for _ in range(nv):
        ok, z0 = step(pb, st, pt, sc)
        acc += ok
        zsum += z0
        steps += 1
        if stop.solved(st.E, stop_rule):
            break
    return acc, zsum / steps / nv
