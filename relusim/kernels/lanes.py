"""Arithmetic in the lane width of the cached fields, chosen at compile time from their dtype.

The spherical kernels keep their fields in float64 or float32 (``anneal.precision``). A pattern loop
vectorises at the width of its widest value, so every value in it must have the fields' dtype: a float64
literal, a sign computed as an int64, or numba's int64 error counter would make a float32 loop run at
float64 width (measured on rocketlake: the sign loop at 175 ns per 320 patterns with an int64 counter,
76 ns with an int32 one; float64: 149 ns). Each helper gives the same values in both dtypes (the
counts, signs and zeros are exact in either), so the choice changes speed, never a result.

  as_field(like, x)    x in the dtype of ``like`` (an array or a scalar)
  sgn(z, h)            sgn(h) in z's dtype (sgn(0) = 0), a select of copysign (vectorises in both dtypes)
  counter(z)           a zero error counter: int32 for float32 fields, int64 for float64
  count(cnt, flag)     cnt + flag in cnt's type
  madd(a, b, c)        a * b + c, fused where the CPU has FMA; only for an exact product a * b (a
                       pattern entry or a label, +-1 or 0, times a field step; docs/algorithms.md §4.2),
                       where one rounding and two give the same bits
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload


def as_field(like, x):
    return np.asarray(like).dtype.type(x)


# not inline="always": numba 0.68 compiled spherical.apply without its store to w when this was inlined
@overload(as_field)
def _as_field(like, x):
    ft = like if isinstance(like, (types.Float, types.Integer)) else like.dtype
    return lambda like, x: ft(x)


def sgn(z, h):
    return np.sign(h)


@overload(sgn)
def _sgn(z, h):
    # a select, not a difference of converted compares: LLVM turns each bool -> float conversion into
    # three vector instructions, copysign and the select into one or two (znver4, float32: a pattern loop
    # of rotation_delta in 67 ns per 320 patterns instead of 110). (h > z) | (h < z) is false for 0 and nan,
    # as the difference of compares was.
    return lambda z, h: np.copysign(as_field(z, 1.0), h) if (h > z) | (h < z) else z


def counter(z):
    return 0


@overload(counter)
def _counter(z):
    if z == types.float32:
        return lambda z: np.int32(0)
    return lambda z: 0


def count(cnt, flag):
    return cnt + flag


@intrinsic
def _add32(typingctx, cnt, flag):
    """cnt + flag as an int32 add (numba's own + would widen to int64)."""
    def codegen(context, builder, signature, args):
        c, f = args
        return builder.add(c, builder.zext(f, c.type))
    return types.int32(types.int32, types.boolean), codegen


@overload(count)
def _count(cnt, flag):
    if cnt == types.int32:
        return lambda cnt, flag: _add32(cnt, flag)
    return lambda cnt, flag: cnt + flag


def madd(a, b, c):
    return a * b + c


@intrinsic
def _fmuladd(typingctx, a, b, c):
    """llvm.fmuladd: a * b + c, fused or not as the target prefers (it vectorises as one instruction)."""
    if not isinstance(a, types.Float) or not a == b == c:
        return None

    def codegen(context, builder, signature, args):
        t = args[0].type
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(t, [t, t, t]),
                                            "llvm.fmuladd.f32" if a == types.float32 else "llvm.fmuladd.f64")
        return builder.call(fn, args)
    return a(a, b, c), codegen


@overload(madd)
def _madd(a, b, c):
    return lambda a, b, c: _fmuladd(a, b, c)
