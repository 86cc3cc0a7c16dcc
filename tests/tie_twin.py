"""The true sign of a binary committee machine's output over every field combination: the twin of the
fixed-point table of g (``relusim.models.activations.binary_table``) for exact ties. Shares no code with it.

With binary weights unit l of fan-in n has an integer field H_l in {-n, -n + 2, ..., n} and the output
is out = sum_l c_l g(H_l / sqrt n) (docs/model.md §1): c_l = +1 for an odd g, balanced (+1 for the
first K/2 units, -1 for the rest) otherwise. out = 0 is an exact tie, an error. The output depends on
the fields only through their multiset (odd g) or the multisets of the two halves (balanced), so
``combinations`` enumerates those, not weight vectors.

The true output, by activation:
  linear, quadratic   exact integers: n^(1/2) out = sum c H, n out = sum c H^2
  relu_shift(b)       exact algebra: sqrt(n) out = A - B b sqrt(n), A = sum c H and B = sum c over the
                      active units (H > b sqrt n, decided exactly), whose sign compares A^2 with
                      B^2 b^2 n in rationals
  the others          mpmath at PREC bits: g of each field value to PREC bits, the sums in float64
                      first; wherever that float sum is within FLOAT_GUARD of 0 (its rounding is below
                      1e-14), the sum again in mpmath. |sum| < 2^-(PREC - 40) there is a tie.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np

PREC = 320
FLOAT_GUARD = 1e-9


def field_values(n: int) -> np.ndarray:
    return np.arange(-n, n + 1, 2, dtype=np.int64)


def _multisets(n: int, k: int) -> np.ndarray:
    """Every multiset of k fields of fan-in n as rows of field values (k = 0: one empty row)."""
    v = field_values(n)
    if k == 0:
        return np.zeros((1, 0), np.int64)
    idx = np.array(list(itertools.combinations_with_replacement(range(len(v)), k)), dtype=np.int64).reshape(-1, k)
    return v[idx]


def combinations(n: int, K: int, odd: bool):
    """(plus, minus): the field multisets of the units with c = +1 and with c = -1 (odd g: all K units
    have c = +1 and minus is one empty multiset). Every combination is one pair (i, j)."""
    if odd:
        return _multisets(n, K), _multisets(n, 0)
    return _multisets(n, K // 2), _multisets(n, K // 2)


def _parse(label: str):
    name, _, rest = label.partition("(")
    p = float(rest.split("=")[1].rstrip(")")) if rest else None
    return name, p


def _mp_g(name: str, p, x):
    if name == "tanh":
        return mpmath.tanh(x)
    if name == "erf":
        return mpmath.erf((1 if p is None else mpmath.mpf(p)) * x)
    if name == "logistic":
        return 1 / (1 + mpmath.exp(-x))
    if name == "softplus":
        return mpmath.log1p(mpmath.exp(x))
    raise ValueError(name)


def true_signs(label: str, n: int, K: int, odd: bool, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """sign(out) (-1, 0, +1) of every combination (i, j) of ``plus`` x ``minus``, shape (len plus, len minus)."""
    name, p = _parse(label)
    if name in ("linear", "quadratic"):
        e = 1 if name == "linear" else 2
        sp, sm = (plus ** e).sum(1), (minus ** e).sum(1)
        return np.sign(sp[:, None] - sm[None, :])
    if name == "relu_shift":
        return _relu_shift_signs(Fraction(p), n, plus, minus)
    with mpmath.workprec(PREC):
        r = mpmath.sqrt(n)
        gv = {int(h): _mp_g(name, p, mpmath.mpf(int(h)) / r) for h in field_values(n)}
        gf = {h: float(v) for h, v in gv.items()}
        fp = np.array([math.fsum(gf[int(h)] for h in row) for row in plus])
        fm = np.array([math.fsum(gf[int(h)] for h in row) for row in minus])
        d = fp[:, None] - fm[None, :]
        s = np.sign(d).astype(np.int64)
        close = np.argwhere(np.abs(d) < FLOAT_GUARD)
        if len(close):
            mp_p = {}
            mp_m = {}
            eps = mpmath.mpf(2) ** -(PREC - 40)
            for i, j in close:
                if i not in mp_p:
                    mp_p[i] = mpmath.fsum(gv[int(h)] for h in plus[i])
                if j not in mp_m:
                    mp_m[j] = mpmath.fsum(gv[int(h)] for h in minus[j])
                v = mp_p[i] - mp_m[j]
                s[i, j] = 0 if abs(v) < eps else (1 if v > 0 else -1)
    return s


def _relu_shift_signs(b: Fraction, n: int, plus, minus) -> np.ndarray:
    """sign(sum_active c (H - b sqrt n)) exactly: H > b sqrt n and A > B b sqrt n by squaring."""
    b2n = b * b * n

    def gt_s(x: int) -> bool:  # x > b sqrt(n), exactly
        if b >= 0:
            return x > 0 and x * x > b2n
        return x >= 0 or x * x < b2n

    def ab(rows):
        act = np.array([[gt_s(int(h)) for h in row] for row in rows], dtype=bool).reshape(rows.shape)
        return (rows * act).sum(1), act.sum(1)

    Ap, Bp = ab(plus)
    Am, Bm = ab(minus)
    A = Ap[:, None] - Am[None, :]
    B = Bp[:, None] - Bm[None, :]
    out = np.empty(A.shape, np.int64)
    cache = {}
    for (a, bb) in set(zip(A.ravel().tolist(), B.ravel().tolist())):
        cache[(a, bb)] = _sign_a_minus_bs(a, bb, b, b2n)
    for idx in np.ndindex(A.shape):
        out[idx] = cache[(int(A[idx]), int(B[idx]))]
    return out


def _sign_a_minus_bs(a: int, bb: int, b: Fraction, b2n: Fraction) -> int:
    """sign(a - bb b sqrt n) for integers a, bb, exactly."""
    if bb == 0 or b == 0:
        return (a > 0) - (a < 0)
    y_sign = (1 if bb > 0 else -1) * (1 if b > 0 else -1)  # sign of bb b sqrt n (nonzero)
    x_sign = (a > 0) - (a < 0)
    if x_sign != y_sign:
        return 1 if x_sign > y_sign else -1
    x2, y2 = Fraction(a * a), bb * bb * b2n  # |a| vs |bb b sqrt n|, same signs
    if x2 == y2:
        return 0
    return x_sign if x2 > y2 else -x_sign


def table_outputs(gq: np.ndarray, n: int, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """sum_l c_l gq[H_l + n] of every combination, in int64 (the kernels' margin before sigma)."""
    tp = gq[plus + n].sum(1) if plus.shape[1] else np.zeros(len(plus), np.int64)
    tm = gq[minus + n].sum(1) if minus.shape[1] else np.zeros(len(minus), np.int64)
    return tp[:, None] - tm[None, :]


ACTIVATIONS = ["linear", "quadratic", "relu_shift(shift=0.5)", "relu_shift(shift=1)", "relu_shift(shift=-0.25)",
               "tanh", "erf", "erf(scale=2)", "logistic", "softplus"]


def cases(max_K: int = 8, max_n: int = 9):
    """(label, n, K) of every tabled activation x K <= max_K x fan-in n <= max_n that a config allows:
    odd g any K, others K even; relu_shift only where its table represents g (shift < sqrt n)."""
    from relusim.models import activations
    for label in ACTIVATIONS:
        spec = activations.parse(label)
        for n in range(1, max_n + 1):
            for K in range(1, max_K + 1):
                if not spec.odd and K % 2:
                    continue
                if spec.name in ("erf", "relu_shift") and not activations.table_ok(spec.name, spec.param, n, K):
                    continue
                yield label, n, K


def census(max_K: int = 8, max_n: int = 9):
    """{label: (combinations, exact ties, ties the table gets wrong, non-ties of the wrong sign)}."""
    from relusim.models import activations
    out = {}
    for label, n, K in cases(max_K, max_n):
        spec = activations.parse(label)
        plus, minus = combinations(n, K, spec.odd)
        s = true_signs(label, n, K, spec.odd, plus, minus)
        t = np.sign(table_outputs(activations.binary_table(spec, n, K)[0], n, plus, minus))
        tie = s == 0
        c = out.setdefault(label, [0, 0, 0, 0])
        c[0] += s.size
        c[1] += int(tie.sum())
        c[2] += int((tie & (t != 0)).sum())
        c[3] += int((~tie & (t != s)).sum())
    return out


if __name__ == "__main__":
    import time
    t0 = time.time()
    for label, (m, ties, bad, wrong) in census().items():
        print(f"{label:26s} combinations {m:8d}  exact ties {ties:7d}  ties wrong {bad:6d}  non-ties wrong sign {wrong}")
    print(f"{time.time() - t0:.1f} s")
