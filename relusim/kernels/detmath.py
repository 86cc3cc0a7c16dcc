"""exp and log with the same bits on every CPU: fdlibm's algorithms in plain IEEE-754 arithmetic.

The chain's acceptance tests compare a uniform draw with exp(-beta dH), and the schedules raise a
ratio to a power. libm and NumPy pick their code at run time by CPU: on one machine here NumPy's
AVX-512 ``exp``, ``log`` and ``power`` and glibc's FMA ``exp`` each gave different last bits from
the baseline code, so the same config could give other schedules (and, rarely, other accepted
moves) on another node. These functions use only +, -, *, / (correctly rounded by IEEE-754, and
never contracted into FMAs: numba does not ask LLVM for contraction without ``fastmath``), exact
float-to-int conversions and ``ldexp``/``frexp`` (exact), so their bits depend on nothing but the
argument, in numba kernels and in Python alike (the same compiled function serves both).

Algorithms: Sun's fdlibm ``e_exp.c`` (argument reduction by k ln 2 with ln 2 split in two, a
degree-5 minimax rational form on |r| <= ln(2)/2) and ``e_log.c`` (x = 2^k (1 + f) with
sqrt(2)/2 <= 1 + f < sqrt(2), s = f / (2 + f), a degree-14 polynomial in s). Both are below 1 ulp
(tested against ``math`` on random arguments).

``expm1`` is fdlibm's ``s_expm1.c`` (the same reduction, a degree-5 rational form for
r (e^r + 1)/(e^r - 1), the correction c of the rounded r; < 1 ulp by its error analysis); ``log1p``
is log(u) + d/u with u = 1 + v rounded and d = (1 + v) - u its rounding error, exact by Fast2Sum, so
the correction restores what the rounding of 1 + v lost (within 2 ulp, tested). Thresholds are the
doubles of fdlibm's high-word tests (``_hw``): |x| >= _hw(H) is exactly "high word of |x| >= H".
"""
from __future__ import annotations

import math
import struct

import numpy as np
from numba import njit

_O_THRESHOLD = 7.09782712893383973096e02
_U_THRESHOLD = -7.45133219101941108420e02
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT_HALF = 0.70710678118654752440
_Q1 = -3.33333333333331316428e-02
_Q2 = 1.58730158725481460165e-03
_Q3 = -7.93650757867487942473e-05
_Q4 = 4.00821782732936239552e-06
_Q5 = -2.01099218183624371326e-07


def _hw(high: int) -> float:
    """The double whose high 32 bits are ``high`` and low 32 bits 0."""
    return struct.unpack(">d", struct.pack(">II", high, 0))[0]


_X56LN2 = _hw(0x4043687A)  # 56 ln 2: beyond it (x < 0) e^x - 1 rounds to -1
_X709 = _hw(0x40862E42)
_HALF_LN2_UP = _hw(0x3FD62E43)  # |x| > 0.5 ln 2 (high word > 0x3fd62e42)
_THREE_HALF_LN2 = _hw(0x3FF0A2B2)
_TWO_M54 = _hw(0x3C900000)


@njit(cache=True)
def exp(x):
    """e^x (fdlibm e_exp.c): inf above 709.78, 0 below -745.13, nan for nan."""
    if x != x:
        return x
    if x > _O_THRESHOLD:
        return np.inf
    if x < _U_THRESHOLD:
        return 0.0
    ax = abs(x)
    if ax < 3.725290298461914e-09:  # 2^-28: e^x = 1 + x to within rounding
        return 1.0 + x
    k = 0
    hi, lo, r = x, 0.0, x
    if ax > 0.5 * _LN2_HI:
        if ax < 1.5 * _LN2_HI:
            k = 1 if x > 0 else -1
            hi = x - _LN2_HI if x > 0 else x + _LN2_HI
            lo = _LN2_LO if x > 0 else -_LN2_LO
        else:
            k = int(_INV_LN2 * x + (0.5 if x > 0 else -0.5))  # truncation toward zero, as C's (int)
            t = float(k)
            hi = x - t * _LN2_HI  # exact: _LN2_HI has 32 trailing zero bits
            lo = t * _LN2_LO
        r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    if k == 0:
        return 1.0 - ((r * c) / (c - 2.0) - r)
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return math.ldexp(y, k)


@njit(cache=True)
def log(x):
    """ln x (fdlibm e_log.c): -inf at 0, nan below 0 or for nan, inf at inf."""
    if x != x or x < 0.0:
        return np.nan
    if x == 0.0:
        return -np.inf
    if x == np.inf:
        return x
    m, k = math.frexp(x)  # x = m 2^k, 0.5 <= m < 1 (exact, subnormals included)
    if m < _SQRT_HALF:
        m *= 2.0
        k -= 1
    f = m - 1.0  # exact (Sterbenz)
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    R = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    if k == 0:
        return f - (hfsq - s * (hfsq + R))
    dk = float(k)
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f)


@njit(cache=True)
def expm1(x):
    """e^x - 1 (fdlibm s_expm1.c): accurate near 0, -1 below -56 ln 2, inf above 709.78, nan for nan."""
    if x != x:
        return x
    ax = abs(x)
    if ax >= _X56LN2:
        if ax >= _X709:
            if ax == np.inf:
                return x if x > 0 else -1.0
            if x > _O_THRESHOLD:
                return np.inf
        if x < 0:
            return -1.0
    c = 0.0
    k = 0
    if ax >= _HALF_LN2_UP:
        if ax < _THREE_HALF_LN2:
            if x > 0:
                hi, lo, k = x - _LN2_HI, _LN2_LO, 1
            else:
                hi, lo, k = x + _LN2_HI, -_LN2_LO, -1
        else:
            k = int(_INV_LN2 * x + (0.5 if x > 0 else -0.5))  # truncation toward zero, as C's (int)
            t = float(k)
            hi = x - t * _LN2_HI  # exact: _LN2_HI has 32 trailing zero bits
            lo = t * _LN2_LO
        x = hi - lo
        c = (hi - x) - lo
    elif ax < _TWO_M54:
        return x
    hfx = 0.5 * x
    hxs = x * hfx
    r1 = 1.0 + hxs * (_Q1 + hxs * (_Q2 + hxs * (_Q3 + hxs * (_Q4 + hxs * _Q5))))
    t = 3.0 - r1 * hfx
    e = hxs * ((r1 - t) / (6.0 - x * t))
    if k == 0:
        return x - (x * e - hxs)
    e = x * (e - c) - c
    e -= hxs
    if k == -1:
        return 0.5 * (x - e) - 0.5
    if k == 1:
        if x < -0.25:
            return -2.0 * (e - (x + 0.5))
        return 1.0 + 2.0 * (x - e)
    if k <= -2 or k > 56:  # e^x - 1 = 2^k e^r - 1 loses nothing to the subtraction
        return math.ldexp(1.0 - (e - x), k) - 1.0
    if k < 20:
        return math.ldexp((1.0 - math.ldexp(1.0, -k)) - (e - x), k)  # 1 - 2^-k exact
    return math.ldexp((x - (e + math.ldexp(1.0, -k))) + 1.0, k)


@njit(cache=True)
def log1p(v):
    """ln(1 + v), accurate near 0: log(u) + d/u with u = 1 + v rounded and d = 1 + v - u exactly."""
    if v != v or v < -1.0:
        return np.nan
    if v == -1.0:
        return -np.inf
    u = 1.0 + v
    if u == 1.0:
        return v
    d = v - (u - 1.0) if v <= 1.0 else 1.0 - (u - v)  # Fast2Sum: the larger addend first
    return log(u) + d / u


@njit(cache=True)
def logcosh(x):
    """log cosh x = |x| + log(1 + e^{-2|x|}) - log 2 (no overflow)."""
    x = abs(x)
    return x + log(1.0 + exp(-2.0 * x)) - log(2.0)


@njit(cache=True)
def geometric(start, stop, steps):
    """start (stop / start)^(s / (steps - 1)), s = 0..steps-1, as start exp(t log(stop / start))."""
    out = np.empty(steps)
    if steps == 1:
        out[0] = start
        return out
    lr = log(stop / start)
    for s in range(steps):
        out[s] = start * exp((s / (steps - 1)) * lr)
    out[steps - 1] = stop  # exactly what the config says
    return out


_INV_FACT = tuple(1.0 / math.factorial(k) for k in range(26))


@njit(cache=True)
def sincos(x):
    """(sin x, cos x) for |x| <= pi in plain IEEE arithmetic (the rotation angles of spherical moves).

    Taylor series of sin and cos at x/2 (|x/2| <= pi/2: the terms fall below 2^-60 by degree 25),
    then sin x = 2 s c and cos x = 1 - 2 s^2. Within a few ulp of libm (tested), and the same bits on
    every CPU, which glibc's FMA-dispatched sin/cos are not.
    """
    h = 0.5 * x
    h2 = h * h
    s = _INV_FACT[25]
    c = _INV_FACT[24]
    s = _INV_FACT[23] - h2 * s
    c = _INV_FACT[22] - h2 * c
    s = _INV_FACT[21] - h2 * s
    c = _INV_FACT[20] - h2 * c
    s = _INV_FACT[19] - h2 * s
    c = _INV_FACT[18] - h2 * c
    s = _INV_FACT[17] - h2 * s
    c = _INV_FACT[16] - h2 * c
    s = _INV_FACT[15] - h2 * s
    c = _INV_FACT[14] - h2 * c
    s = _INV_FACT[13] - h2 * s
    c = _INV_FACT[12] - h2 * c
    s = _INV_FACT[11] - h2 * s
    c = _INV_FACT[10] - h2 * c
    s = _INV_FACT[9] - h2 * s
    c = _INV_FACT[8] - h2 * c
    s = _INV_FACT[7] - h2 * s
    c = _INV_FACT[6] - h2 * c
    s = _INV_FACT[5] - h2 * s
    c = _INV_FACT[4] - h2 * c
    s = _INV_FACT[3] - h2 * s
    c = _INV_FACT[2] - h2 * c
    s = h * (1.0 - h2 * s)
    c = 1.0 - h2 * c
    return 2.0 * s * c, 1.0 - 2.0 * s * s
