"""Activation functions g of the hidden units for numba kernels, the same bits on every CPU.

A unit's output is g(x) with x its normalised field (spherical weights: x = H / sqrt(n), n the
fan-in; docs/model.md §1). An activation is a code and one float parameter p:

  SIGN        sgn x (sgn 0 = 0)              RELU        max(x, 0)
  LINEAR      x                              QUADRATIC   x^2
  RELU_SHIFT  max(x - p, 0)  (p the shift)   TANH        tanh x
  ERF         erf(p x)  (p the input scale)  LOGISTIC    1 / (1 + e^-x)
  SOFTPLUS    log(1 + e^x)

SIGN and RELU are ``relusim.kernels.fields.SIGN`` / ``RELU`` (code 2 is the binary kernels'
SIGN_ODD). ``g(code, p, x)`` is inlined into the kernels, so a constant code folds to one branch;
``g_call`` is the same function not inlined, for loops that read the code at run time.

Same bits everywhere: only +, -, *, / (correctly rounded, never contracted into FMAs) and
``relusim.kernels.detmath``'s exp, expm1, log, log1p (fdlibm ports): libm and NumPy choose their code
by CPU. The smooth functions, each within a few ulp of the correctly rounded value (tests/test_gfun.py
measures against mpmath):
  tanh      fdlibm s_tanh.c: x for |x| < 2^-55; -t/(t + 2) with t = expm1(-2|x|) below 1 (no
            cancellation near 0); 1 - 2/(expm1(2|x|) + 2) below 22; +-1 beyond (tanh 22 = 1 - 1.5e-19)
  erf       fdlibm s_erf.c: rational forms on [0, 0.84375) and [0.84375, 1.25); beyond, 1 - erfc with
            erfc(x) = exp(-z^2 - 0.5625) exp((z - x)(z + x) + R/S) / x, z = x cut to 21 significant
            bits so that z^2 is exact; +-1 from 6 on (erfc 6 = 2e-17)
  logistic  1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below (no 1 - small; e^-x never overflows)
  softplus  max(x, 0) + log1p(e^-|x|)
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import detmath
from .fields import RELU, SIGN

LINEAR, QUADRATIC, RELU_SHIFT, TANH, ERF, LOGISTIC, SOFTPLUS = 3, 4, 5, 6, 7, 8, 9
CODES = (SIGN, RELU, LINEAR, QUADRATIC, RELU_SHIFT, TANH, ERF, LOGISTIC, SOFTPLUS)
ZERO_OUTPUT = (RELU, RELU_SHIFT)  # g is exactly 0 on a half-line: the output can be exactly 0
COSTLY = (TANH, ERF, LOGISTIC, SOFTPLUS)  # a call to exp or log per evaluation


@njit(cache=True, inline="always")
def g(code, p, x):
    """g(x) of activation ``code`` with parameter p (ignored by the codes without one)."""
    if code == RELU:
        return x if x > 0.0 else 0.0
    if code == SIGN:
        return np.float64((x > 0.0) - (x < 0.0))
    if code == LINEAR:
        return x
    if code == QUADRATIC:
        return x * x
    if code == RELU_SHIFT:
        d = x - p
        return d if d > 0.0 else 0.0
    if code == TANH:
        return tanh(x)
    if code == ERF:
        return erf(p * x)
    if code == LOGISTIC:
        return logistic(x)
    if code == SOFTPLUS:
        return softplus(x)
    return np.nan


g_call = njit(cache=True)(g.py_func)  # the same function, called rather than inlined (smaller loops to compile)


@njit(cache=True)
def tanh(x):
    """tanh x (fdlibm s_tanh.c on detmath.expm1)."""
    if x != x:
        return x
    ax = abs(x)
    if ax < 22.0:
        if ax < 2.7755575615628914e-17:  # 2^-55: tanh x = x to within rounding
            return x
        if ax >= 1.0:
            z = 1.0 - 2.0 / (detmath.expm1(2.0 * ax) + 2.0)
        else:
            t = detmath.expm1(-2.0 * ax)
            z = -t / (t + 2.0)
    else:
        z = 1.0
    return z if x >= 0.0 else -z


@njit(cache=True)
def logistic(x):
    """1 / (1 + e^-x)."""
    if x >= 0.0:
        return 1.0 / (1.0 + detmath.exp(-x))
    if x != x:
        return x
    e = detmath.exp(x)
    return e / (1.0 + e)


@njit(cache=True)
def softplus(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|) (no overflow, accurate for x << 0)."""
    if x != x:
        return x
    if x > 0.0:
        return x + detmath.log1p(detmath.exp(-x))
    return detmath.log1p(detmath.exp(x))


_ERX = 8.45062911510467529297e-01
_EFX = 1.28379167095512586316e-01
_EFX8 = 1.02703333676410069053e00
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e01,
       -6.23753324503260060396e01, -1.62396669462573470355e02, -1.84605092906711035994e02,
       -8.12874355063065934246e01, -9.81432934416914548592e00)
_SA = (1.96512716674392571292e01, 1.37657754143519042600e02, 4.34565877475229228821e02,
       6.45387271733267880336e02, 4.29008140027567833386e02, 1.08635005541779435134e02,
       6.57024977031928170135e00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e01,
       -1.60636384855821916062e02, -6.37566443368389627722e02, -1.02509513161107724954e03,
       -4.83519191608651397019e02)
_SB = (3.03380607434824582924e01, 3.25792512996573918826e02, 1.53672958608443695994e03,
       3.19985821950859553908e03, 2.55305040643316442583e03, 4.74528541206955367215e02,
       -2.24409524465858183362e01)
_TINY = 3.725290298461914e-09  # 2^-28
_SUBN = 2.0**-1015  # high word 0x00800000: below it x + efx x would lose bits to underflow
_ERFC_SPLIT = detmath._hw(0x4006DB6E)  # 1/0.35


@njit(cache=True)
def erf(x):
    """erf x (fdlibm s_erf.c, its erf half)."""
    if x != x:
        return x
    ax = abs(x)
    if ax < 0.84375:
        if ax < _TINY:
            if ax < _SUBN:
                return 0.125 * (8.0 * x + _EFX8 * x)
            return x + _EFX * x
        z = x * x
        r = _PP[0] + z * (_PP[1] + z * (_PP[2] + z * (_PP[3] + z * _PP[4])))
        s = 1.0 + z * (_QQ[0] + z * (_QQ[1] + z * (_QQ[2] + z * (_QQ[3] + z * _QQ[4]))))
        return x + x * (r / s)
    if ax < 1.25:
        s = ax - 1.0
        P = _PA[0] + s * (_PA[1] + s * (_PA[2] + s * (_PA[3] + s * (_PA[4] + s * (_PA[5] + s * _PA[6])))))
        Q = 1.0 + s * (_QA[0] + s * (_QA[1] + s * (_QA[2] + s * (_QA[3] + s * (_QA[4] + s * _QA[5])))))
        return _ERX + P / Q if x >= 0.0 else -_ERX - P / Q
    if ax >= 6.0:
        return 1.0 if x >= 0.0 else -1.0
    s = 1.0 / (ax * ax)
    if ax < _ERFC_SPLIT:
        R = _RA[0] + s * (_RA[1] + s * (_RA[2] + s * (_RA[3] + s * (_RA[4] + s * (_RA[5] + s * (_RA[6]
                                                                                          + s * _RA[7]))))))
        S = 1.0 + s * (_SA[0] + s * (_SA[1] + s * (_SA[2] + s * (_SA[3] + s * (_SA[4] + s * (_SA[5] + s * (
            _SA[6] + s * _SA[7])))))))
    else:
        R = _RB[0] + s * (_RB[1] + s * (_RB[2] + s * (_RB[3] + s * (_RB[4] + s * (_RB[5] + s * _RB[6])))))
        S = 1.0 + s * (_SB[0] + s * (_SB[1] + s * (_SB[2] + s * (_SB[3] + s * (_SB[4] + s * (_SB[5]
                                                                                          + s * _SB[6]))))))
    m, e = math.frexp(ax)
    z = math.ldexp(np.floor(math.ldexp(m, 21)), e - 21)  # the low 32 bits of ax cleared (exact)
    r = detmath.exp(-z * z - 0.5625) * detmath.exp((z - ax) * (z + ax) + R / S)
    return 1.0 - r / ax if x >= 0.0 else r / ax - 1.0


@njit(cache=True)
def evaluate_array(code, p, x):
    """g(code, p, x) elementwise over a float64 array: the same bits as the kernels, on every CPU."""
    out = np.empty_like(x)
    flat, res = x.ravel(), out.ravel()
    for k in range(flat.shape[0]):
        res[k] = g(code, p, flat[k])
    return out
