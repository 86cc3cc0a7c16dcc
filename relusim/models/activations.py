"""The activations a run can use: one list of names and one definition of g for the samplers and the theory.

A config names an activation as a string, ``relu``, ``tanh``, ``erf(scale=2)``,
``relu_shift(shift=0.5)``, or in YAML as a mapping ``{name: erf, scale: 2}``; ``parse`` turns either
into a :class:`Spec`, whose ``label`` (the canonical string: default parameters left out) is what a
config and a result file hold.

  name        g(x)                       parameter (default)   odd
  sign        sgn x, sgn 0 = 0           -                     yes
  relu        max(x, 0)                  -                     no
  linear      x                          -                     yes
  quadratic   x^2                        -                     no
  relu_shift  max(x - b, 0)              shift b (required)    no
  tanh        tanh x                     -                     yes
  erf         erf(a x)                   scale a (1)           yes
  logistic    1 / (1 + e^-x)             -                     no
  softplus    log(1 + e^x)               -                     no

Readout (docs/model.md §1): an odd g uses c_l = +1, as sign does; any other g uses the balanced
c_l = +1 for l < K/2 and -1 for the rest, as ReLU does, so K must be even and the output is not of
one sign whatever the weights.

The argument of g is the normalised field h_l = H_l / sqrt(n) (n the fan-in). sign and ReLU keep
their exact integer kernels (g is scale-free or homogeneous, so the integer field H can stand in for
h). Every other g runs on binary weights through a table over the n + 1 values the field can take
(``binary_table``), in fixed point: the margins are exact integers, so ties (an output exactly 0, an
error) are exact and a chain's bits do not depend on the order of its sums.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from ..errors import InputError

# Activation codes shared with the kernels (relusim.kernels.gfun uses the same numbers).
SIGN, RELU, LINEAR, QUADRATIC, RELU_SHIFT, TANH, ERF, LOGISTIC, SOFTPLUS = 0, 1, 3, 4, 5, 6, 7, 8, 9

# name: (code, odd, parameter name or None, default (None: required))
_TABLE: dict[str, tuple[int, bool, str | None, float | None]] = {
    "sign": (SIGN, True, None, None),
    "relu": (RELU, False, None, None),
    "linear": (LINEAR, True, None, None),
    "quadratic": (QUADRATIC, False, None, None),
    "relu_shift": (RELU_SHIFT, False, "shift", None),
    "tanh": (TANH, True, None, None),
    "erf": (ERF, True, "scale", 1.0),
    "logistic": (LOGISTIC, False, None, None),
    "softplus": (SOFTPLUS, False, None, None),
}
NAMES = tuple(_TABLE)
ALLOWED = "sign, relu, linear, quadratic, relu_shift(shift=B), tanh, erf or erf(scale=A), logistic, softplus"
_CALL = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*(?:([a-z_]+)\s*=\s*)?([^()=,\s]+)\s*\))?\s*$")


@dataclass(frozen=True)
class Spec:
    """One activation: its name, parameter (nan when it has none), kernel code and parity."""

    name: str
    param: float
    code: int
    odd: bool

    @property
    def label(self) -> str:
        """The canonical string: ``erf``, ``erf(scale=2)``, ``relu_shift(shift=0.5)``."""
        key, default = _TABLE[self.name][2], _TABLE[self.name][3]
        if key is None or self.param == default:
            return self.name
        return f"{self.name}({key}={number_text(self.param)})"

    @property
    def integer(self) -> bool:
        """sign and ReLU: the binary kernels' exact integer margins and class-change bitsets apply."""
        return self.code in (SIGN, RELU)

    def g(self, x) -> np.ndarray:
        """g(x) in float64 (the definition; ``relusim.kernels.gfun.g`` gives the same bits on every CPU)."""
        return evaluate(self.code, self.param, np.asarray(x, dtype=np.float64))


def parse(value: Any, key: str = "model.activation") -> Spec:
    """The Spec of a config's activation: a name, ``name(param=v)``, ``name(v)`` or a mapping
    ``{name: ..., <param>: v}``. Unknown names, unknown or missing parameters, bad values: InputError."""
    if isinstance(value, Spec):
        return value
    if isinstance(value, Mapping):
        raw = dict(value)
        name = raw.pop("name", None)
        if not isinstance(name, str):
            raise InputError(key, value, "a mapping needs name: one of " + ALLOWED)
        if len(raw) > 1:
            raise InputError(key, value, f"takes at most one parameter ({ALLOWED})")
        pkey, pval = next(iter(raw.items())) if raw else (None, None)
        if pval is not None and (isinstance(pval, (bool, np.bool_)) or not isinstance(pval, numbers.Real)):
            raise InputError(key, value, f"the {pkey} of {name} must be a number, not "
                             f"{'a boolean' if isinstance(pval, (bool, np.bool_)) else 'a ' + type(pval).__name__}")
        return _spec(name.strip().lower(), pkey, pval, value, key)
    if not isinstance(value, str):
        raise InputError(key, value, "allowed: " + ALLOWED)
    legacy = re.match(r"^relu_shift(-?[0-9.]+(?:e-?[0-9]+)?)$", value.strip().lower())
    if legacy:  # the theory's older spelling relu_shift<b>
        return _spec("relu_shift", "shift", legacy.group(1), value, key)
    mt = _CALL.match(value.strip().lower())
    if not mt:
        raise InputError(key, value, "allowed: " + ALLOWED)
    return _spec(mt.group(1), mt.group(2), mt.group(3), value, key)


def _spec(name: str, pkey, pval, value, key: str) -> Spec:
    if name not in _TABLE:
        raise InputError(key, value, "allowed: " + ALLOWED)
    code, odd, want, default = _TABLE[name]
    if pval is None:
        if want is not None and default is None:
            raise InputError(key, value, f"{name} needs its {want}, e.g. {name}({want}=0.5)")
        return Spec(name, float("nan") if want is None else float(default), code, odd)
    if want is None:
        raise InputError(key, value, f"{name} takes no parameter")
    if pkey is not None and str(pkey) != want:
        raise InputError(key, value, f"{name} takes the parameter {want}, not {pkey}")
    try:
        p = float(pval)
    except (TypeError, ValueError):
        raise InputError(key, value, f"the {want} of {name} must be a number") from None
    if not math.isfinite(p) or (name == "erf" and not p > 0):
        raise InputError(key, value, f"the {want} of {name} must be a finite number" + (" > 0" if name == "erf" else ""))
    return Spec(name, p, code, odd)


def number_text(p: float) -> str:
    """``p`` as a label writes it: ``%g`` (``2``, ``0.5``, ``1e-06``: the form result files have always
    held) when that reads back as ``p``, else the shortest text that does (``1.23456789``, not the
    ``1.23457`` that ``%g`` would silently make of it)."""
    text = f"{p:g}"
    return text if float(text) == p else repr(float(p))


# The fixed-point table of g (``binary_table``) must represent g: its entries fit int64 with room for
# K of them (S >= 0), and the range of g over the fields is resolved into at least 2^TABLE_STEPS_LOG2
# steps of 2^-S (about 9.6 significant digits), so that g is neither 0 everywhere nor a few coarse
# levels. Only activations with a parameter can fail this; checked at config time (``check_table``).
TABLE_STEPS_LOG2 = 32


def _table_steps(name: str, p: float, n: int, K: int) -> tuple[float, int, float] | None:
    """(max |g|, S, range of g in table steps) over the fields h in [-sqrt n, sqrt n] of binary
    weights, from g's closed form (g is monotone for every activation with a parameter); None when
    K max|g| is not even a finite float64."""
    r = math.sqrt(n)
    if name == "erf":
        hi = math.erf(p * r)
        gmax, spread = hi, 2 * hi
    else:  # relu_shift: max(h - b, 0)
        hi, lo = max(r - p, 0.0), max(-r - p, 0.0)
        gmax, spread = hi, hi - lo
    if not math.isfinite(K * gmax):
        return None
    S = fixed_point_shift(gmax, K)
    return gmax, S, math.ldexp(spread, S)


def table_ok(name: str, p: float, n: int, K: int) -> bool:
    """Whether the fixed-point table of g represents g for binary weights (see ``TABLE_STEPS_LOG2``)."""
    t = _table_steps(name, p, n, K)
    if t is None:
        return False
    gmax, S, steps = t
    return K * math.ldexp(gmax, S) < 2.0**61 and steps >= 2.0**TABLE_STEPS_LOG2


def _inside(x: float, ok, step: float) -> float:
    """A round number (3 significant digits) next to the bound ``x`` on the allowed side (``ok`` holds)."""
    for digits in (3, 4, 6, 17):
        v = float(f"{x:.{digits}g}")
        for _ in range(3):
            if ok(v):
                return v
            v = float(f"{v + step * abs(v or 1) * 10.0 ** (1 - digits):.{digits}g}")
    return x


def table_range(name: str, n: int, K: int) -> str:
    """The allowed parameter range for binary weights at fan-in n and K units, in words."""
    r = math.sqrt(n)
    if name == "erf":
        a = 2.0**-(TABLE_STEPS_LOG2 - 3) * math.sqrt(math.pi) / 2 / r  # erf(a sqrt n) >= 2^-29
        lo = _inside(a, lambda v: table_ok("erf", v, n, K), +1)
        return f"scale >= {lo:g}"
    S_min = math.ceil(TABLE_STEPS_LOG2 - math.log2(2 * r))  # a spread of 2 sqrt n in 2^32 steps
    lo = _inside(r - 2.0 ** (61 - S_min) / K, lambda v: table_ok("relu_shift", v, n, K), +1)
    gap = 2.0 ** (TABLE_STEPS_LOG2 - 60)  # the largest shift leaving 2^32 steps of 2^-60: sqrt(n) - 2^-28
    return (f"{lo:g} <= shift < sqrt(n) = {r:.6g} (to within {gap:.0e}; from sqrt(n) on, g is 0 on every "
            "field)")


def check_table(spec: Spec, n: int, K: int, spherical: bool, key: str = "model.activation") -> None:
    """Refuse (InputError, saying the range) a parameter for which this model's g degenerates.

    Binary weights: the fixed-point table of g (``binary_table``) must represent g (``table_ok``):
    ``erf(scale=1e-300)`` makes every entry 0 (every sample ends E = P), ``relu_shift(shift=-1e300)``
    overflows int64, ``relu_shift(shift=100)`` at n = 10 is 0 on every field. Spherical weights have no
    table (g in float64): g must not be 0 on every field (shift < sqrt n) and float64 must resolve the
    range 2 sqrt n of the fields next to a large shift (to 2^-32 of it, as the table does).
    """
    if spec.name not in ("erf", "relu_shift"):
        return
    r = math.sqrt(n)
    if spherical:
        if spec.name == "relu_shift":
            lo = r - r * 2.0 ** (53 - TABLE_STEPS_LOG2)
            if not lo <= spec.param < r:
                raise InputError(key, spec.label, f"g degenerates for spherical weights with fan-in n = {n}: "
                                 f"allowed {lo:.4g} <= shift < sqrt(n) = {r:.6g} (from sqrt(n) on, g is 0 on "
                                 "every field; below, float64 cannot resolve the fields next to the shift)")
        return
    if not table_ok(spec.name, spec.param, n, K):
        t = _table_steps(spec.name, spec.param, n, K)
        why = ("its values overflow the int64 table" if t is None or K * math.ldexp(t[0], t[1]) >= 2.0**61 else
               "g is 0 on every field" if t[2] == 0 else
               f"g rounds to 0 on every field (|g| <= {t[0]:.3g}, below the table's resolution 2^-{t[1]})"
               if t[2] < 2 else
               f"the table resolves g's range into only {t[2]:.3g} steps of 2^-{t[1]} (needs 2^{TABLE_STEPS_LOG2})")
        raise InputError(key, spec.label, f"{why}: binary weights use a fixed-point table of g over the fields "
                         f"|h| <= sqrt(n) (n = {n}, K = {K}); allowed here {table_range(spec.name, n, K)}")


def evaluate(code: int, p: float, x: np.ndarray) -> np.ndarray:
    """g(x) for a kernel code and parameter, elementwise in NumPy: the theory's own definition
    (``relusim.theory.activations.g_numpy``), so the samplers and the theory hold one g."""
    from ..theory.activations import g_numpy
    name = _BY_CODE[code]
    key = _TABLE[name][2]
    return np.asarray(g_numpy(name, **({} if key is None else {key: p}))(x), dtype=np.float64)


_BY_CODE = {v[0]: k for k, v in _TABLE.items()}


def readout(spec: Spec, K: int) -> np.ndarray:
    """c_l: +1 for an odd g; balanced, +1 for the first K/2 units and -1 for the rest, otherwise."""
    if spec.odd:
        return np.ones(K, dtype=np.int64)
    return np.where(np.arange(K) < K // 2, 1, -1).astype(np.int64)


def fixed_point_shift(gmax: float, K: int) -> int:
    """S of the fixed-point table: the largest S <= 60 with K 2^S gmax < 2^61, so that every margin
    sigma sum_l c_l round(2^S g) and the margin after one update (|change| <= 2^62 / K) fit in int64."""
    if not gmax > 0:
        return 60
    return int(max(0, min(60, 60 - math.floor(math.log2(K * gmax)))))


def binary_table(spec: Spec, n: int, K: int) -> tuple[np.ndarray, float]:
    """(gq, unit): the int64 table gq[H + n] ~ g(H / sqrt n) / unit for the integer fields H = -n..n of
    binary weights, unit > 0 the value of one step (``relusim.models.machine.output_scale``).

    Only the sign of an output sum_l c_l gq[H_l + n] decides anything (a zero is an error, docs/model.md
    §1), and a common positive scale leaves it alone; sums of entries are exact, so a margin is the same
    integer whatever the order of updates. Each table is built so that every exact tie of the true g (an
    output exactly 0) is exactly 0 in the table too, per activation:

    linear      gq = 2^T H, unit 2^-T / sqrt n: exact integers, out = 2^T sum c H.
    quadratic   gq = 2^T H^2, unit 2^-T / n: exact, out = 2^T sum c H^2.
    relu_shift  s = b sqrt n: gq = M H - t for H > s (compared exactly, in integers), else 0, with M
                an integer (``_relu_shift_table``) and t = round(M s) computed exactly (an integer square
                root), unit 1 / (M sqrt n). Over the active units, out = M A - t B with A = sum c H,
                B = sum c, against the true sqrt(n) out = A - s B. A true tie has B = 0 and A = 0 (then
                the table gives M A = 0), or s = A / B: then s is rational, so n is a square (or b = 0)
                and s = b sqrt n a dyadic rational whose denominator 2^e divides B, |B| <= K / 2; M is a
                multiple of a power of two >= K wherever |s| <= K n (the only place s = A / B can hold:
                |A| <= K n), so M s is an integer, t = M s and out = M (A - s B) = 0. Off ties the only
                rounding is t's, |out - M (A - s B)| <= K / 4.
    tanh, erf   odd: gq[H] = round(2^S g) for H >= 0 and gq[-H] = -gq[H] exactly, unit 2^-S. Ties:
                sum_l tanh(x_l) = 0 for x_l = H_l / sqrt n (c = +1) holds iff the fields pair off as
                +-H (and zeros): tanh x = (q^H - 1) / (q^H + 1) with q = e^(2 / sqrt n) transcendental
                (Lindemann), so a tie is an identity in q, i.e. for every scale u of the fields; its
                Taylor coefficients say every odd power sum of the H_l vanishes, so the multiset is
                symmetric. The table sums those to 0 exactly. erf: the symmetric ties are exact the same
                way; that no other combination is exactly 0 is not known (no transcendence theorem
                covers erf at these points); tests/test_exact_ties.py finds none with 320-bit mpmath
                for K <= 8, n <= 9.
    logistic    g(x) + g(-x) = 1: gq[H] = round(2^S g) for H >= 0, gq[-H] = 2^S - gq[H] (gq[0] = 2^(S-1)
                exactly), unit 2^-S. With balanced c, sum c g(x_l) = (1/2) sum c tanh(x_l / 2), so (as
                for tanh, with q = e^(1 / sqrt n)) a tie holds iff the signed fields {c_l H_l} pair off
                as +-v; each pair is a g(v) + g(-v) = 1 across the halves or a g(v) - g(v) within one,
                both exact in the table, and the constants cancel (sum c = 0).
    softplus    g(x) - g(-x) = x: gq[H] = round(2^S g) for H >= 0, gq[-H] = gq[H] - M H with
                M = round(2^S / sqrt n) an integer, unit 2^-S. A tie: prod_+ (1 + p^H) = prod_- (1 + p^H)
                for p = e^(1 / sqrt n) transcendental, an identity of Laurent polynomials; 1 + p^a (a > 0)
                has the cyclotomic factor Phi_2a that no 1 + p^a' with a' < a has, so the halves hold the
                same |H| with the same multiplicity, and the powers of p say sum c H = 0. The output is
                then sum over |H| = v of (#(+v, +half) - #(+v, -half)) (g(v) - g(-v)), which the table
                holds as M (sum c H) = 0, exactly.

    Accuracy (gq unit against g): within 1/2 unit for linear, quadratic and H >= 0 of the others (the
    deterministic g of ``relusim.kernels.gfun``), within 1/2 unit of t for relu_shift, within 1 unit for
    tanh/erf/logistic at H < 0, within (|H| + 1) / 2 units for softplus at H < 0 (the rounding of M).
    A sign off a tie can only differ from the true g's where the true output is within a few units of 0
    (the units are about 2^-58 of |g| for K = 8): such near ties are not ties and are not decided exactly.
    """
    H = np.arange(-n, n + 1, dtype=np.int64)
    if spec.code in (LINEAR, QUADRATIC):
        e = 1 if spec.code == LINEAR else 2
        T = fixed_point_shift(float(n) ** e, K)
        return H ** e << T, math.ldexp(1.0, -T) / math.sqrt(n) ** e
    if spec.code == RELU_SHIFT:
        return _relu_shift_table(spec.param, n, K, H)
    h = H.astype(np.float64) / math.sqrt(n)
    gv = _deterministic_g(spec, h)
    S = fixed_point_shift(float(np.max(np.abs(gv))), K)
    q = np.rint(np.ldexp(gv[n:], S)).astype(np.int64)  # H = 0..n
    if spec.odd:  # tanh, erf
        q[0] = 0
        neg = -q[:0:-1]
    elif spec.code == LOGISTIC:
        q[0] = 1 << (S - 1)
        neg = (1 << S) - q[:0:-1]
    elif spec.code == SOFTPLUS:
        M = _round_sqrt(Fraction(4**S, n))
        neg = q[:0:-1] - M * H[2 * n:n:-1]
    else:
        raise ValueError(f"no fixed-point table for {spec.label}")
    return np.concatenate([neg, q]), math.ldexp(1.0, -S)


def _round_sqrt(x: Fraction) -> int:
    """round(sqrt x) for a rational x >= 0, exactly (half up)."""
    k = math.isqrt(x.numerator // x.denominator)  # floor(sqrt x) = floor(sqrt(floor x))
    return k + 1 if (2 * k + 1) ** 2 <= 4 * x else k


def _relu_shift_table(b: float, n: int, K: int, H: np.ndarray) -> tuple[np.ndarray, float]:
    """binary_table of max(x - b, 0): gq = M H - round(M b sqrt n) on H > b sqrt n (exactly), else 0.

    M is the largest integer with K M (n - s) < 2^61 (s = b sqrt n), rounded down to a multiple of
    2^k >= K where s = A / B can hold (|s| <= K n), so that M s is an integer whenever s is a dyadic
    rational with denominator <= K / 2. M >= 1 wherever ``table_ok`` allows the shift: there
    K (sqrt n - b) < sqrt(n) 2^30, so K (n - s) < n 2^30 < 2^61 (n < 2^15, the fields are int16).
    """
    fb = Fraction(b)
    s2 = fb * fb * n  # s^2, s = b sqrt n

    def above(x: int) -> bool:  # x > s, exactly
        if fb >= 0:
            return x > 0 and x * x > s2
        return x >= 0 or x * x < s2

    act = np.array([above(int(x)) for x in H])
    s = b * math.sqrt(n)
    span = n - s
    if not span > 0:  # g is 0 on every field (check_table refuses it)
        return np.zeros(len(H), np.int64), 1.0 / math.sqrt(n)
    M = math.floor(2.0**61 / (K * span) * (1 - 2.0**-40))  # float rounding of s and the quotient: < 1e-15
    if abs(s) <= K * n:
        step = 1 << max(K - 1, 1).bit_length()  # a power of two >= K
        M = M // step * step
        if M < step:
            raise AssertionError(f"relu_shift table: M = {M} < {step}, ties would not be exact")
    if M < 1:
        raise AssertionError(f"relu_shift(shift={b}) overflows the int64 table at n = {n}, K = {K}")
    t = _round_sqrt(M * M * s2) * (1 if fb >= 0 else -1)
    gq = np.array([M * int(x) - t if a else 0 for x, a in zip(H, act)], dtype=np.int64)
    return gq, 1.0 / (M * math.sqrt(n))


def _deterministic_g(spec: Spec, h: np.ndarray) -> np.ndarray:
    """g on a grid with the same bits on every CPU: relusim.kernels.gfun when it is there, else NumPy."""
    try:
        from ..kernels import gfun
    except ImportError:
        return spec.g(h)
    return gfun.evaluate_array(spec.code, 0.0 if math.isnan(spec.param) else spec.param, h)


def theory(spec: Spec):
    """The theory's effective order parameters for this activation (``relusim.theory.activations``)."""
    from ..theory import activations as ta
    if spec.name == "erf":
        return ta.erf_(spec.param)
    if spec.name == "relu_shift":
        return ta.shifted_relu(spec.param)
    return ta.get_activation("perceptron" if spec.name == "linear" else spec.name)
