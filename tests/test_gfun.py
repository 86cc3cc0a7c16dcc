"""The kernels' activations (``relusim.kernels.gfun``) and detmath's expm1/log1p: accuracy and bits.

Accuracy is measured in ulp of the exact value (mpmath at 200 bits) on a grid over |x| <= 40, a
log-spaced sweep of tiny |x| down to 1e-300, and subnormals: every smooth function within 2 ulp
(measured maxima on this grid: tanh 1.76, logistic 1.84, softplus 1.54, erf 0.79, expm1 0.74,
log1p 1.13), and within 3 ulp of NumPy/SciPy on a denser grid (those carry their own ~1 ulp). The bits
are those of plain IEEE arithmetic: the same from Python and from inside another kernel, and a hash
of the values on a fixed grid, recorded once, that any other code path (a libm call, an FMA, another
polynomial) would change.
"""
import hashlib
import math

import mpmath
import numpy as np
import pytest
from numba import njit
from scipy import special

from relusim.kernels import detmath, fields, gfun

mpmath.mp.prec = 200


def grid(seed=0):
    rng = np.random.default_rng(seed)
    tiny = np.sign(rng.uniform(-1, 1, 400)) * 10.0 ** rng.uniform(-300, 0, 400)
    return np.concatenate([np.linspace(-40, 40, 801), rng.uniform(-40, 40, 400), rng.uniform(-2, 2, 400), tiny,
                           [0.0, -0.0, 5e-324, -1e-310, 2.0**-28, 0.84375, 1.25, 1 / 0.35, 6.0, 22.0, -22.0]])


EXACT = {
    "tanh": (gfun.tanh, mpmath.tanh),
    "erf": (gfun.erf, mpmath.erf),
    "logistic": (gfun.logistic, lambda v: 1 / (1 + mpmath.exp(-v))),
    "softplus": (gfun.softplus, lambda v: mpmath.log1p(mpmath.exp(v))),
    "expm1": (detmath.expm1, mpmath.expm1),
}


def ulp_error(got, exact):
    """|got - exact| in units of the last place of exact (a double: the spacing at |exact|)."""
    e = float(exact)
    if e == 0.0:
        return 0.0 if got == 0.0 else math.inf
    return float(abs(mpmath.mpf(got) - exact) / np.spacing(abs(e)))


@pytest.mark.parametrize("name", sorted(EXACT))
def test_smooth_functions_are_within_2_ulp_of_the_exact_value(name):
    f, exact = EXACT[name]
    worst = max((ulp_error(f(float(v)), exact(mpmath.mpf(float(v)))), float(v)) for v in grid())
    assert worst[0] <= 2.0, worst


def test_log1p_is_within_2_ulp_of_the_exact_value():
    rng = np.random.default_rng(1)
    v = np.concatenate([np.abs(grid()), -rng.uniform(0, 0.999, 400), 10.0 ** rng.uniform(-20, 300, 200)])
    worst = max((ulp_error(detmath.log1p(float(x)), mpmath.log1p(mpmath.mpf(float(x)))), x) for x in v)
    assert worst[0] <= 2.0, worst


def ulps(a, b):
    return np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))


REFERENCE = {
    gfun.SIGN: np.sign,
    gfun.RELU: lambda x: np.maximum(x, 0.0),
    gfun.LINEAR: lambda x: x,
    gfun.QUADRATIC: lambda x: x * x,
    gfun.RELU_SHIFT: lambda x, p=0.5: np.maximum(x - p, 0.0),
    gfun.TANH: np.tanh,
    gfun.ERF: lambda x, p=2.0: special.erf(p * x),
    gfun.LOGISTIC: special.expit,
    gfun.SOFTPLUS: lambda x: np.logaddexp(0.0, x),
}
PARAM = {gfun.RELU_SHIFT: 0.5, gfun.ERF: 2.0}


@njit(cache=True)
def _g_grid(code, p, x):
    out = np.empty_like(x)
    for k in range(x.shape[0]):
        out[k] = gfun.g(code, p, x[k])
    return out


def dense_grid():
    rng = np.random.default_rng(2)
    tiny = np.sign(rng.uniform(-1, 1, 20000)) * 10.0 ** rng.uniform(-300, 0, 20000)
    return np.concatenate([np.linspace(-40, 40, 100001), rng.uniform(-3, 3, 50000), tiny, [0.0, 0.5, -0.5]])


@pytest.mark.parametrize("code", gfun.CODES)
def test_every_code_is_its_definition_within_3_ulp_of_numpy_and_scipy(code):
    x = dense_grid()
    p = PARAM.get(code, 0.0)
    got = _g_grid(code, p, x)
    want = REFERENCE[code](x)
    exact_codes = (gfun.SIGN, gfun.RELU, gfun.LINEAR, gfun.QUADRATIC, gfun.RELU_SHIFT)
    if code in exact_codes:  # one correctly rounded operation: bit for bit
        assert np.array_equal(got, want)
    else:
        assert ulps(got, want).max() <= 3.0, x[np.argmax(ulps(got, want))]
    assert got.dtype == np.float64 and np.isnan(gfun.g(code, p, np.nan)) == (code not in (gfun.SIGN, gfun.RELU,
                                                                                           gfun.RELU_SHIFT))


def test_sign_and_relu_are_the_binary_kernels_codes():
    assert (gfun.SIGN, gfun.RELU) == (fields.SIGN, fields.RELU)
    assert len(set(gfun.CODES)) == 9 and fields.SIGN_ODD not in gfun.CODES[2:]


@njit(cache=True)
def _inside_a_kernel(code, p, x):  # g inlined into a loop with other arithmetic around it
    s = np.empty_like(x)
    acc = 0.0
    for k in range(x.shape[0]):
        t = gfun.g(code, p, x[k])
        acc += t * x[k] + 1.0
        s[k] = t
    return s, acc


@pytest.mark.parametrize("code", gfun.CODES)
def test_the_same_bits_from_python_and_from_inside_a_kernel(code):
    x = grid(3)
    p = PARAM.get(code, 0.0)
    py = np.array([gfun.g(code, p, float(v)) for v in x])
    assert np.array_equal(py, _inside_a_kernel(code, p, x)[0], equal_nan=True)
    assert np.array_equal(py, _g_grid(code, p, x), equal_nan=True)


def bits_digest():
    x = grid(4)
    h = hashlib.sha256()
    for code in gfun.CODES:
        h.update(_g_grid(code, PARAM.get(code, 0.0), x).tobytes())
    h.update(np.array([detmath.expm1(v) for v in x]).tobytes())
    h.update(np.array([detmath.log1p(abs(v)) for v in x]).tobytes())
    return h.hexdigest()


def test_the_bits_are_those_recorded_once():
    # recorded compiled for the host (AVX-512), for a generic x86-64: identical
    assert bits_digest() == GOLDEN_DIGEST


GOLDEN_DIGEST = "f32fc224105f36c3d6dc88179cd49df2fa4e71659c3d329ce08e72fa295dda23"


def test_special_points():
    assert gfun.tanh(0.0) == 0.0 and math.copysign(1, gfun.tanh(-0.0)) == -1
    assert gfun.tanh(40.0) == 1.0 and gfun.tanh(-40.0) == -1.0 and gfun.tanh(np.inf) == 1.0
    assert gfun.erf(np.inf) == 1.0 and gfun.erf(-np.inf) == -1.0 and gfun.erf(1e-310) > 0
    assert gfun.logistic(0.0) == 0.5 and gfun.logistic(-800.0) == 0.0 and gfun.logistic(800.0) == 1.0
    assert gfun.softplus(800.0) == 800.0 and gfun.softplus(-800.0) == 0.0 and gfun.softplus(0.0) == math.log(2)
    assert detmath.expm1(0.0) == 0.0 and detmath.expm1(-800.0) == -1.0 and detmath.expm1(710.0) == np.inf
    assert detmath.log1p(0.0) == 0.0 and detmath.log1p(-1.0) == -np.inf and np.isnan(detmath.log1p(-2.0))
