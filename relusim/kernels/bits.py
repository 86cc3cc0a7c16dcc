"""Class-change bitsets: the energy change of a flip in O(P / 64) word operations (docs/algorithms.md §1).

Flipping W_i (unit l = i // n) moves H_l by +2 on the patterns where W_i xi_i = -1 ("up", the set U)
and by -2 where W_i xi_i = +1 ("down", ~U); the margin moves by c_l sigma Dg, Dg = g(H_l +- 2) - g(H_l).
Up moves have Dg in {0, 1, 2} and down moves Dg in {0, -1, -2}, a function of H_l alone:
  sign:  up 2 iff H = -1, up 1 iff H in {-2, 0};  down -2 iff H = 1, down -1 iff H in {0, 2}
  ReLU:  up 2 iff H >= 0, up 1 iff H = -1;        down -2 iff H >= 2, down -1 iff H = 1
and a pattern (an error iff marg <= 0) changes class only if its margin sits next to the threshold:
with s = c_l sigma, Dmarg = s Dg, and
  Dmarg = +1 fixes marg = 0,  Dmarg = +2 fixes marg in {-1, 0}   (Delta E -1 each),
  Dmarg = -1 breaks marg = 1, Dmarg = -2 breaks marg in {1, 2}   (Delta E +1 each).
So per unit UD[a, l] = (up 2, down 2, up 1, down 1) and per replica M[a] = (L, T, Z, O), with
L = {marg in {-1, 0}}, T = {marg in {1, 2}}, Z = {marg = 0}, O = {marg = 1}, and the label bits SG,
give, with X+ = X & (s = +1) and X- = X & (s = -1) (s = +1: sigma = c_l):
  Delta E = |U & up2 & T-| - |U & up2 & L+| + |~U & dn2 & T+| - |~U & dn2 & L-|
          + |U & up1 & O-| - |U & up1 & Z+| + |~U & dn1 & O+| - |~U & dn1 & Z-|
The positive terms are disjoint sets (up and down, up 1 and up 2 never meet), as are the negative
ones: two popcounts per 64 patterns, of the unions.
The second line vanishes when every jump is 2 (sign with n odd: H odd; ReLU with n even: H even):
``levels`` is then 1 and only the first two sets of M and of UD are kept. An accepted flip
changes H_l and the margins only, so it refreshes UD[a, l] and M[a] (``refresh``): O(P / 64)
compare-to-mask steps, no other unit. Every bitset has ``words(Pp)`` words, Pp / 64 rounded up to a
multiple of 4 with the extra words 0, so that the popcount loop runs in whole vectors. ``metropolis.sweep_bits`` writes ``delta_energy`` out in its
loop; tests hold both to the full pass and to the brute-force model.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, register_jitable

from .fields import RELU, SIGN_ODD, is_fc, row
from .records import Bitsets

WORD = 64


@register_jitable  # plain Python where called from Python: choosing a driver starts no numba target
def levels(act, n):
    """1 when every margin jump of a flip is +-2 (sign with n odd, ReLU with n even), else 2."""
    return 1 if act == SIGN_ODD or (act == RELU and n % 2 == 0) else 2


@register_jitable
def pays(act, n, Pp):
    """Whether the bitsets beat the full pass (measured, docs/results/performance.md): always with one jump size;
    with two, from 3 words (Pp >= 192) on; at 2 words the two were within noise (0.87-1.17x)."""
    return levels(act, n) == 1 or Pp // WORD >= 3


@intrinsic
def popcount(typingctx, x):
    """Number of set bits of a uint64 (llvm.ctpop: one popcnt, or vpopcntq when vectorised)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [args[0].type])
        return builder.call(fn, args)

    return sig, codegen


def _mask64(op):
    @intrinsic
    def mask(typingctx, ary, off, v):
        """Bit k set iff ary.flat[off + k] <op> v, k < 64 (a C-contiguous int8/int16 array; one compare-to-mask)."""
        if not (isinstance(ary, types.Array) and ary.dtype in (types.int8, types.int16) and ary.layout == "C"):
            return None
        sig = types.uint64(ary, types.intp, ary.dtype)
        bits_ = ary.dtype.bitwidth

        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            vt = ir.VectorType(ir.IntType(bits_), WORD)
            x = builder.load(builder.bitcast(builder.gep(data, [args[1]]), vt.as_pointer()), align=bits_ // 8)
            splat = builder.insert_element(ir.Constant(vt, ir.Undefined), args[2], ir.Constant(ir.IntType(32), 0))
            splat = builder.shuffle_vector(splat, ir.Constant(vt, ir.Undefined),
                                           ir.Constant(ir.VectorType(ir.IntType(32), WORD), [0] * WORD))
            return builder.bitcast(builder.icmp_signed(op, x, splat), ir.IntType(WORD))

        return sig, codegen

    return mask


mask_eq = _mask64("==")
mask_ge = _mask64(">=")


@njit(cache=True)
def _pack_positive(x, one):
    """(R, Pp) -> uint64 (R, Pp / 64): bit mu % 64 of word mu // 64 of row r is x[r, mu] > 0."""
    R, Pp = x.shape
    out = np.empty((R, Pp // WORD), np.uint64)
    for r in range(R):
        for j in range(Pp // WORD):
            out[r, j] = mask_ge(x, r * Pp + WORD * j, one)
    return out


@njit(cache=True)
def problem_bits(XT, sig):
    """XB (N, Pp/64): xi^mu_i = +1; SG (Pp/64,): sigma^mu = +1 (padding bits are 0)."""
    SG = np.empty(XT.shape[1] // WORD, np.uint64)
    for j in range(SG.shape[0]):
        SG[j] = mask_ge(sig, WORD * j, np.int16(1))
    return _pack_positive(XT, np.int8(1)), SG


@njit(cache=True)
def words(Pp):
    """Words of every bitset: Pp / 64 rounded up to a multiple of 4, the extra words 0. The Delta E loop
    then runs whole 4-word vectors with no scalar remainder (measured per call: 5 words 7.3 -> 5.5 ns,
    10 words 9.1 -> 7.1 ns); a zero word of M counts nothing."""
    return (Pp // WORD + 3) // 4 * 4


@njit(cache=True)
def new_state(y, K, Pp):
    """Empty UD (y, K, 4, words) and M (y, 4, words), filled by ``build`` (``words``: padded with 0)."""
    return np.zeros((y, K, 4, words(Pp)), np.uint64), np.zeros((y, 4, words(Pp)), np.uint64)


@njit(inline="always")
def refresh(act, lev, H, marg, a, l, UD, M):
    """UD[a, l] from H[a, l] and M[a] from marg[a] (after a flip in unit l of replica a; module docstring)."""
    K, Pp = H.shape[1], H.shape[2]
    base, mbase = (a * K + l) * Pp, a * Pp
    m1, z, p1, p2 = np.int16(-1), np.int16(0), np.int16(1), np.int16(2)
    for j in range(Pp // WORD):
        off, moff = base + WORD * j, mbase + WORD * j
        if act == RELU:
            UD[a, l, 0, j] = mask_ge(H, off, z)
            UD[a, l, 1, j] = mask_ge(H, off, p2)
            if lev == 2:
                UD[a, l, 2, j] = mask_eq(H, off, m1)
                UD[a, l, 3, j] = mask_eq(H, off, p1)
        else:
            UD[a, l, 0, j] = mask_eq(H, off, m1)
            UD[a, l, 1, j] = mask_eq(H, off, p1)
            if lev == 2:
                hz = mask_eq(H, off, z)
                UD[a, l, 2, j] = mask_eq(H, off, np.int16(-2)) | hz
                UD[a, l, 3, j] = mask_eq(H, off, p2) | hz
        ge1 = mask_ge(marg, moff, p1)
        M[a, 0, j] = mask_ge(marg, moff, m1) & ~ge1
        M[a, 1, j] = ge1 & ~mask_ge(marg, moff, np.int16(3))
        if lev == 2:
            M[a, 2, j] = mask_eq(marg, moff, z)
            M[a, 3, j] = mask_eq(marg, moff, p1)


@njit(cache=True)
def build_arrays(act, n, H, marg, UD, M):
    """Every bitset of every replica from H and marg (O(y K P / 64))."""
    lev = levels(act, n)
    for a in range(H.shape[0]):
        for l in range(H.shape[1]):
            refresh(act, lev, H, marg, a, l, UD, M)


@njit(cache=True)
def new(pb, y):
    """Bitsets for y replicas of problem pb: the problem's bits filled, the state's empty (``build``).

    Element loops, no reshape or slice assignment: their shape checks compile numba's error
    formatting (about 2 s of the first run's compile, for code that never runs).
    """
    XB0, SG = problem_bits(pb.XT, pb.sig)
    Pp = pb.XT.shape[1]
    UD, M = new_state(y, pb.c.shape[0], Pp)
    W, nw = Pp // WORD, words(Pp)
    XB = np.zeros((XB0.shape[0], nw), np.uint64)
    SGc = np.zeros((2, nw), np.uint64)  # row 0: sigma = +1; row 1: sigma = -1 (for c_l = -1)
    for j in range(W):
        for i in range(XB0.shape[0]):
            XB[i, j] = XB0[i, j]
        SGc[0, j] = SG[j]
        SGc[1, j] = ~SG[j]
    return Bitsets(XB, SGc, UD, M)


@njit(cache=True)
def build(pb, st, bt):
    """The state's bitsets (bt.UD, bt.M) from the chain's fields and margins."""
    build_arrays(pb.act, pb.n, st.H, st.marg, bt.UD, bt.M)


@njit(inline="always")
def flip_delta(XB, SG, UD, M, lev, a, l, r, wi, cl):
    """Delta E of flipping a weight of value wi of unit l that multiplies input r (module docstring);
    SG[0] holds the bits sigma = +1 and SG[1] their complement, so that SG[c_l < 0] is s = +1."""
    flip = np.uint64(0xFFFFFFFFFFFFFFFF) if wi > 0 else np.uint64(0)
    cs = 0 if cl > 0 else 1
    d = np.int64(0)
    for k in range(XB.shape[1]):
        u = XB[r, k] ^ flip
        # G: the patterns whose margin moves (U & up | ~U & dn, disjoint, as one select); it moves
        # down (can break) on V = U ^ S+ and up (can fix) on ~V
        v = u ^ SG[cs, k]
        up, dn = UD[a, l, 0, k], UD[a, l, 1, k]
        g = dn ^ ((up ^ dn) & u)
        brk = M[a, 1, k] & g & v
        fix = M[a, 0, k] & g & ~v
        if lev == 2:
            up, dn = UD[a, l, 2, k], UD[a, l, 3, k]
            g = dn ^ ((up ^ dn) & u)
            brk |= M[a, 3, k] & g & v
            fix |= M[a, 2, k] & g & ~v
        d += np.int64(popcount(brk)) - np.int64(popcount(fix))
    return d


@njit(cache=True)
def delta_energy(pb, st, bt, a, i):
    """Delta E of flipping W^a_i from the bitsets: the same number as ``fields.delta_energy``."""
    l = i // pb.n
    r = row(i, l, pb.n, is_fc(pb.XT, st.w))
    return flip_delta(bt.XB, bt.SG, bt.UD, bt.M, levels(pb.act, pb.n), a, l, r, st.w[a, i], pb.c[l])
