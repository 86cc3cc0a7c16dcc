"""Class-change bitsets: the energy change of a flip in O(P / 64) word operations (ALGORITHMS.md §1).

Flipping W_i (unit l = i // n) moves H_l by +2 on the patterns where W_i xi_i = -1 ("up") and by -2
where W_i xi_i = +1 ("down"); the margin moves by c_l sigma (g(H_l +- 2) - g(H_l)). For the two
activations whose margin jumps are all +-2 c_l sigma, a pattern can change class only from one margin
value to the next one across the error threshold, lo -> lo + 2 or back:
  SIGN_ODD (n odd, K odd): margins are odd, lo = -1; g moves up iff H_l = -1, down iff H_l = +1.
  RELU with n even:        margins are even, lo = 0;  g moves up iff H_l >= 0, down iff H_l >= 2.
With s = c_l sigma^mu, an up move turns an error into a correct pattern where s = +1 and marg = lo,
and a correct pattern into an error where s = -1 and marg = lo + 2; a down move the other way round.
So with per-unit bitsets UD[a, l] = (moves g up, moves g down) and per-replica margin bitsets
M[a] = (lo & sigma > 0, lo & sigma < 0, hi & sigma > 0, hi & sigma < 0), hi = lo + 2, and U the
patterns where W_i xi_i = -1 (from the packed patterns XB):
  c_l = +1:  Delta E = |U & up & hi-| - |U & up & lo+| + |~U & dn & hi+| - |~U & dn & lo-|
  c_l = -1:  Delta E = |U & up & hi+| - |U & up & lo-| + |~U & dn & hi-| - |~U & dn & lo+|
An accepted flip changes H_l and the margins only, so it refreshes UD[a, l] and M[a] (``unit_bits``,
``margin_bits``): O(P / 64) compare-to-mask steps, no other unit. Other activations (sign with ties,
ReLU with n odd) keep the full pass; ``supported`` tells. ``metropolis.sweep_bits`` writes
``delta_energy`` and the refresh out in its loop; tests hold both to the full pass and to the model.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .fields import RELU, SIGN_ODD

WORD = 64


@njit(cache=True)
def supported(act, n):
    """True when every margin jump of a flip is +-2 c_l sigma (SIGN_ODD, or RELU with n = N/K even)."""
    return act == SIGN_ODD or (act == RELU and n % 2 == 0)


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
        """Bit k set iff ary.flat[off + k] <op> v, k < 64 (a C-contiguous int16 array; one compare-to-mask)."""
        if not (isinstance(ary, types.Array) and ary.dtype == types.int16 and ary.layout == "C"):
            return None
        sig = types.uint64(ary, types.intp, types.int16)

        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            vt = ir.VectorType(ir.IntType(16), WORD)
            x = builder.load(builder.bitcast(builder.gep(data, [args[1]]), vt.as_pointer()), align=2)
            splat = builder.insert_element(ir.Constant(vt, ir.Undefined), args[2], ir.Constant(ir.IntType(32), 0))
            splat = builder.shuffle_vector(splat, ir.Constant(vt, ir.Undefined),
                                           ir.Constant(ir.VectorType(ir.IntType(32), WORD), [0] * WORD))
            return builder.bitcast(builder.icmp_signed(op, x, splat), ir.IntType(WORD))

        return sig, codegen

    return mask


mask_eq = _mask64("==")
mask_ge = _mask64(">=")


@njit(cache=True)
def _pack_positive(x):
    """(R, Pp) -> uint64 (R, Pp / 64): bit mu % 64 of word mu // 64 of row r is x[r, mu] > 0."""
    R, Pp = x.shape
    out = np.zeros((R, Pp // WORD), np.uint64)
    for r in range(R):
        for mu in range(Pp):
            if x[r, mu] > 0:
                out[r, mu // WORD] |= np.uint64(1) << np.uint64(mu % WORD)
    return out


@njit(cache=True)
def problem_bits(XT, sig):
    """XB (N, Pp/64): xi^mu_i = +1; SG (Pp/64,): sigma^mu = +1 (padding bits are 0)."""
    return _pack_positive(XT), _pack_positive(sig.reshape(1, -1))[0]


@njit(cache=True)
def new_state(y, K, Pp):
    """Empty UD (y, K, 2, Pp/64) and M (y, 4, Pp/64), filled by ``build``."""
    return np.zeros((y, K, 2, Pp // WORD), np.uint64), np.zeros((y, 4, Pp // WORD), np.uint64)


@njit(inline="always")
def unit_bits(act, H, a, l, UD):
    """UD[a, l] from H[a, l]: (H = -1, H = +1) for SIGN_ODD, (H >= 0, H >= 2) for RELU."""
    K, Pp = H.shape[1], H.shape[2]
    base = (a * K + l) * Pp
    for j in range(Pp // WORD):
        off = base + WORD * j
        if act == SIGN_ODD:
            UD[a, l, 0, j] = mask_eq(H, off, np.int16(-1))
            UD[a, l, 1, j] = mask_eq(H, off, np.int16(1))
        else:
            UD[a, l, 0, j] = mask_ge(H, off, np.int16(0))
            UD[a, l, 1, j] = mask_ge(H, off, np.int16(2))


@njit(inline="always")
def margin_bits(act, marg, SG, a, M):
    """M[a] = (lo & sigma+, lo & sigma-, hi & sigma+, hi & sigma-) from marg[a]; lo = -1 (SIGN_ODD) or 0."""
    Pp = marg.shape[1]
    lo = np.int16(-1) if act == SIGN_ODD else np.int16(0)
    hi = np.int16(lo + 2)
    for j in range(Pp // WORD):
        off = a * Pp + WORD * j
        s = SG[j]
        bl = mask_eq(marg, off, lo)
        bh = mask_eq(marg, off, hi)
        M[a, 0, j] = bl & s
        M[a, 1, j] = bl & ~s
        M[a, 2, j] = bh & s
        M[a, 3, j] = bh & ~s


@njit(cache=True)
def build(act, H, marg, SG, UD, M):
    """Every bitset of every replica from H and marg (O(y K P / 64))."""
    y, K = H.shape[0], H.shape[1]
    for a in range(y):
        margin_bits(act, marg, SG, a, M)
        for l in range(K):
            unit_bits(act, H, a, l, UD)


@njit(cache=True)
def delta_energy(XB, UD, M, cl, w, a, i, l):
    """Delta E of flipping W^a_i from the bitsets (module docstring); cl = c_l."""
    flip = np.uint64(0xFFFFFFFFFFFFFFFF) if w[a, i] > 0 else np.uint64(0)
    # (up & lo, up & hi, down & lo, down & hi) rows of M for this unit's sign c_l
    ul, uh, dl, dh = (0, 3, 1, 2) if cl > 0 else (1, 2, 0, 3)
    d = np.int64(0)
    for k in range(XB.shape[1]):
        u = XB[i, k] ^ flip
        up = u & UD[a, l, 0, k]
        dn = ~u & UD[a, l, 1, k]
        d += (np.int64(popcount(up & M[a, uh, k])) - np.int64(popcount(up & M[a, ul, k]))
              + np.int64(popcount(dn & M[a, dh, k])) - np.int64(popcount(dn & M[a, dl, k])))
    return d
