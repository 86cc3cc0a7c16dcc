"""The binary-weight model: cached integer fields of a committee machine and the single-flip move (docs/algorithms.md §1).

The model interface (``relusim.kernels``): ``build(pb, st, a)``, ``delta_energy(pb, st, a, i)``,
``apply_flip(pb, st, a, i, dE)`` on the records ``Problem`` and ``State`` (``problem``, ``new_state``).

Layout (y machines, the replicas of a robust ensemble; a single system is y = 1):
  XT   (N, Pp) int8  patterns, input-major: the column of input j is contiguous over mu;
                     Pp = P rounded up to 64, padding columns are 0
  sig  (Pp,)  int16  labels sigma^mu (0 in padding)
  c    (K,)   int16  output weights c_l (docs/model.md §1)
  w    (y, Nw)    int8  weights, unit-major: unit l holds w[a, l*n:(l+1)*n], n its fan-in
  H    (y, K, Pp) int16 H[a, l, mu] = sum_j W^a_lj xi^mu_j over the inputs unit l sees
Two architectures share every kernel, told apart by the shapes: a tree (Nw = N, n = N/K, weight i
multiplies input i) and a fully connected net (Nw = K N, n = N, weight i multiplies input i - l n).
``row`` gives the input of a weight; with K = 1 the two are the same machine.
  marg (y, Pp)    int16 sigma^mu out^mu with out = sum_l c_l g(H_l): pattern mu is an error iff marg <= 0
act is SIGN (g = sgn, sgn(0) = 0), SIGN_ODD (the same when n is odd, so H is odd and never 0:
g(hn) - g(ho) = 2 ([hn > 0] - [ho > 0]), two operations fewer per pattern), RELU (g = max(., 0)) or
TABLE (any other g: gtab[H + n] ~ g(H / sqrt n) / unit, ``relusim.priors.binary.gtable``, built
so that every exact tie of g is an exact 0;
then marg is int64, sigma^mu sum_l c_l gtab[H_l + n], still an exact integer, and the same loops
read the table: two gathers per pattern). ``act_code`` picks it. ``relusim.models.machine`` is the brute-force twin.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .records import Problem, State

SIGN, RELU, SIGN_ODD, TABLE = 0, 1, 2, 10
PAD = np.int16(30000)  # margin of a padding lane: never an error, never reaches 0 (|marg| <= N/2 + 2)
PAD64 = np.int64(2**62)  # the same for the int64 margins of a tabled g (|marg| < 2^61)
NO_MARGINS = np.zeros(0, np.int16)  # flip_delta's margins out when it keeps none (the error count)


@njit(inline="always")
def row(i, l, n, fc):
    """The input (row of XT) that weight i of unit l multiplies: i for a tree, i - l n fully connected."""
    return i - l * n if fc else i


@njit(inline="always")
def is_fc(XT, w):
    """Fully connected when a replica holds more weights than a pattern has inputs."""
    return w.shape[1] != XT.shape[0]


@njit(cache=True)
def build(pb, st, a):
    """Fill H[a] and marg[a] of replica a from scratch (O(NP)) and return its energy #{mu: marg <= 0}.

    Padding lanes (sig = 0, all-zero pattern columns) get marg = PAD and never count.
    """
    XT, sig, c, n, act, gtab = pb.XT, pb.sig, pb.c, pb.n, pb.act, pb.gtab
    w, H, marg = st.w, st.H, st.marg
    Pp = XT.shape[1]
    K = c.shape[0]
    fc = is_fc(XT, w)
    H[a, :, :] = 0
    for i in range(w.shape[1]):
        l = i // n
        r = row(i, l, n, fc)
        wi = np.int16(w[a, i])
        for mu in range(Pp):
            H[a, l, mu] += wi * XT[r, mu]
    E = 0
    for mu in range(Pp):
        if sig[mu] == 0:
            marg[a, mu] = PAD64 if act == TABLE else PAD
            continue
        out = np.int64(0)
        for l in range(K):
            h = H[a, l, mu]
            if act == TABLE:
                out += c[l] * gtab[h + n]
            else:
                out += c[l] * (max(h, 0) if act == RELU else ((h > 0) - (h < 0)))
        marg[a, mu] = sig[mu] * out
        E += marg[a, mu] <= 0
    return E


@njit(inline="always")
def _dg(act, ho, hn):
    """g(hn) - g(ho) in int16 and branch-free (LLVM unswitches the test on act out of the loop)."""
    z = np.int16(0)
    if act == SIGN_ODD:
        return np.int16(np.int16(2) * np.int16(np.int16(hn > z) - np.int16(ho > z)))
    if act == SIGN:
        return np.int16(np.int16(np.int16(hn > z) - np.int16(hn < z)) - np.int16(np.int16(ho > z) - np.int16(ho < z)))
    return np.int16((hn if hn > z else z) - (ho if ho > z else z))


@njit(inline="always")
def flip_delta(XT, sig, H, marg, act, a, l, r, t, cl, gtab, NM, keep):
    """Minus the error count of replica a after a flip that moves H[a, l] by -t XT[r] (t = 2 W_i); with
    ``keep`` (a compile-time constant: the least-action energy) the margins after it in NM (Pp,).

    A full O(P) pass: everything is int16 and the error count is the sign bit of (marg' - 1), so the
    loop has no branch and no wide type and LLVM vectorises it 32 lanes per AVX-512 register. The
    arrays are indexed in place, never sliced: a view made per proposal costs numba two atomic
    reference-count updates. TABLE (act a compile-time constant in the samplers): int64 margins
    moved by cl sigma (gtab[hn + n] - gtab[ho + n]).
    """
    if act == TABLE:
        return _table_delta(XT, sig, H, marg, a, l, r, t, cl, gtab)
    one, sh = np.int16(1), np.int16(15)
    cnt = np.int16(0)
    for mu in range(XT.shape[1]):
        ho = H[a, l, mu]
        hn = np.int16(ho - t * XT[r, mu])
        nm = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))
        if keep:
            NM[mu] = nm
        cnt = np.int16(cnt + np.int16(np.int16(nm - one) >> sh))
    return cnt


@njit(inline="always")
def _table_delta(XT, sig, H, marg, a, l, r, t, cl, gtab):
    """flip_delta for a tabled g: the error count after the flip, negated, from exact int64 margins."""
    off = (gtab.shape[0] - 1) // 2
    cnt = np.int64(0)
    for mu in range(XT.shape[1]):
        ho = H[a, l, mu]
        hn = ho - t * XT[r, mu]
        nm = np.int64(marg[a, mu]) + np.int64(cl * sig[mu]) * (gtab[hn + off] - gtab[ho + off])
        cnt -= nm <= 0
    return cnt


@njit(inline="always")
def flip_fields(XT, sig, H, marg, act, a, l, r, t, cl, gtab):
    """Move H[a, l] by -t XT[r] and marg[a] with it (the O(P) update of a committed flip)."""
    if act == TABLE:
        off = (gtab.shape[0] - 1) // 2
        for mu in range(XT.shape[1]):
            ho = H[a, l, mu]
            hn = np.int16(ho - t * XT[r, mu])
            H[a, l, mu] = hn
            marg[a, mu] = np.int64(marg[a, mu]) + np.int64(cl * sig[mu]) * (gtab[hn + off] - gtab[ho + off])
        return
    for mu in range(XT.shape[1]):
        ho = H[a, l, mu]
        hn = np.int16(ho - t * XT[r, mu])
        H[a, l, mu] = hn
        marg[a, mu] = np.int16(marg[a, mu] + np.int16(cl * sig[mu]) * _dg(act, ho, hn))


@njit(inline="always")
def delta_energy(pb, st, a, i):
    """Delta E of flipping W^a_i: H'_l = H_l - 2 W_i xi_i changes only unit l = i // n (docs/algorithms.md §1).

    The model's energy change of a move (``flip_delta``: the errors after the flip minus E[a]).
    """
    l = i // pb.n
    r = row(i, l, pb.n, is_fc(pb.XT, st.w))
    cnt = flip_delta(pb.XT, pb.sig, st.H, st.marg, pb.act, a, l, r, np.int16(2 * st.w[a, i]), np.int16(pb.c[l]), pb.gtab,
                     NO_MARGINS, False)
    return -np.int64(cnt) - st.E[a]


@njit(inline="always")
def apply_flip(pb, st, a, i, dE):
    """Commit the flip of W^a_i with its energy change dE: H[a, l], marg[a], w, m and E in O(P) (docs/algorithms.md §1)."""
    l = i // pb.n
    r = row(i, l, pb.n, is_fc(pb.XT, st.w))
    t = np.int16(2 * st.w[a, i])
    flip_fields(pb.XT, pb.sig, st.H, st.marg, pb.act, a, l, r, t, np.int16(pb.c[l]), pb.gtab)
    st.m[i] -= t
    st.w[a, i] = -st.w[a, i]
    st.E[a] += dE


def padded(P: int) -> int:
    """P rounded up to a multiple of 64: whole words for the bitsets and whole 32-lane int16 vectors."""
    return (P + 63) // 64 * 64


def aligned_full(shape, dtype, value=0, align: int = 64) -> np.ndarray:
    """np.full(shape, value, dtype) starting on an ``align``-byte boundary (one cache line).

    numpy only promises 16 bytes; a 64-byte vector load from a misaligned row touches two cache
    lines, which costs up to a third of the full pass once the patterns no longer fit in L2.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + align, np.uint8)
    start = -raw.ctypes.data % align
    out = raw[start:start + nbytes].view(dtype).reshape(shape)
    out[...] = value
    return out


def problem_arrays(xi: np.ndarray, sigma: np.ndarray, c: np.ndarray):
    """The kernels' view of a training set: XT (N, Pp) int8 weight-major, sig (Pp,) int16, c (K,) int16.

    Pattern columns P..Pp-1 are padding: zero inputs and label 0.
    """
    P, N = xi.shape
    Pp = padded(P)
    XT = aligned_full((N, Pp), np.int8)
    XT[:, :P] = xi.T
    sig = aligned_full(Pp, np.int16)
    sig[:P] = sigma
    return XT, sig, c.astype(np.int16)


def new_caches(y: int, K: int, P: int, act: int = SIGN):
    """Empty H (y, K, Pp) int16 and marg (y, Pp) for y machines (filled by ``build``): int16 margins,
    int64 for a tabled g (act TABLE)."""
    Pp = padded(P)
    if act == TABLE:
        return aligned_full((y, K, Pp), np.int16), aligned_full((y, Pp), np.int64, PAD64)
    return aligned_full((y, K, Pp), np.int16), aligned_full((y, Pp), np.int16, PAD)


@njit(cache=True)
def unit_delta_energies(pb, st, a, l, out):
    """out[k] = Delta E of flipping W^a_k for every weight k of unit l (n full O(P) passes, one call)."""
    XT, n, w = pb.XT, pb.n, st.w
    cl = np.int16(pb.c[l])
    fc = is_fc(XT, w)
    for k in range(l * n, (l + 1) * n):
        cnt = flip_delta(XT, pb.sig, st.H, st.marg, pb.act, a, l, row(k, l, n, fc), np.int16(2 * w[a, k]), cl, pb.gtab,
                         NO_MARGINS, False)
        out[k] = -np.int64(cnt) - st.E[a]


def problem(xi: np.ndarray, sigma: np.ndarray, c: np.ndarray, n: int, act: int,
            gtab: np.ndarray | None = None) -> Problem:
    """The kernels' record of a training set (``problem_arrays``), unit fan-in n, activation code act
    and, for act TABLE, the fixed-point table of g (``gtable``)."""
    XT, sig, c16 = problem_arrays(xi, sigma, c)
    if act == TABLE and (gtab is None or gtab.shape[0] != 2 * n + 1):
        raise ValueError("a tabled activation needs its table over the 2 n + 1 fields")
    g = np.zeros(1, np.int64) if gtab is None else np.ascontiguousarray(gtab, np.int64)
    return Problem(XT, sig, c16, int(n), int(act), np.arange(c16.shape[0] * n) // n, g)


def new_state(pb: Problem, w: np.ndarray, ref: np.ndarray, rng: np.ndarray) -> State:
    """The chain record for weights w (y, Nw) int8 (owned by the state), reference ref, random stream rng:
    fields, margins and energies built (``build``), m = sum of the replicas."""
    y = w.shape[0]
    H, marg = new_caches(y, pb.c.shape[0], pb.XT.shape[1], pb.act)
    m = w.astype(np.int16).sum(axis=0).astype(np.int16) if y else np.zeros(w.shape[1], np.int16)
    st = State(w, H, marg, np.zeros(y, np.int64), ref, m, rng)
    for a in range(y):
        st.E[a] = build(pb, st, a)
    return st
