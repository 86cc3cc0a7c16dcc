"""Exact ties of binary committee machines with a tabled g (issue 29 item 1, docs/model.md §1).

An output exactly 0 is an error. The fixed-point table of g (``activations.binary_table``) must give an
exact 0 at every field combination where the true g does, and the true sign elsewhere; the twin
(tests/tie_twin.py: exact integers, exact algebra, mpmath) shares no code with it. Then the kernels, the
brute-force model, the stabilities and the robustness measurement all count those ties as errors.
"""
import itertools

import numpy as np
import pytest

import tie_twin as tw
from relusim.models import activations, machine
from relusim.analysis import robustness
from relusim.kernels import fields
from relusim.kernels import rng as krng
from relusim.priors import binary


@pytest.mark.parametrize("label", tw.ACTIVATIONS)
def test_the_table_is_exactly_zero_at_every_exact_tie_and_has_the_true_sign_elsewhere(label):
    """Every field multiset (odd g: c = +1, any K <= 8; otherwise balanced, K even <= 8) at fan-in n <= 9."""
    spec = activations.parse(label)
    ties = 0
    for lab, n, K in tw.cases():
        if lab != label:
            continue
        plus, minus = tw.combinations(n, K, spec.odd)
        true = tw.true_signs(label, n, K, spec.odd, plus, minus)
        table = np.sign(tw.table_outputs(activations.binary_table(spec, n, K)[0], n, plus, minus))
        bad = np.argwhere(table != true)
        assert not len(bad), (f"n={n} K={K}: {len(bad)} combinations, e.g. +{plus[bad[0][0]].tolist()} "
                              f"-{minus[bad[0][1]].tolist()} true {true[tuple(bad[0])]} table {table[tuple(bad[0])]}")
        ties += int((true == 0).sum())
    assert ties > 0  # the census has ties to check for every activation


def _symmetric(values) -> bool:
    v = sorted(values)
    return v == sorted(-x for x in v)


@pytest.mark.parametrize("label", ["tanh", "logistic", "softplus"])
def test_the_ties_of_the_transcendental_g_are_exactly_the_ones_the_identities_give(label):
    """binary_table's docstring proves which combinations tie (tanh: symmetric fields; logistic: symmetric
    signed fields c_l H_l; softplus: the same |H| in both halves and sum c H = 0); mpmath agrees."""
    spec = activations.parse(label)
    for n, K in itertools.product(range(1, 8), range(1, 7)):
        if not spec.odd and K % 2:
            continue
        plus, minus = tw.combinations(n, K, spec.odd)
        true = tw.true_signs(label, n, K, spec.odd, plus, minus)
        for i, j in np.ndindex(true.shape):
            p, m = plus[i].tolist(), minus[j].tolist()
            if label == "tanh":
                expect = _symmetric(p)
            elif label == "logistic":
                expect = _symmetric(p + [-x for x in m])
            else:
                expect = sorted(map(abs, p)) == sorted(map(abs, m)) and sum(p) == sum(m)
            assert (true[i, j] == 0) == expect, (n, K, p, m)


def _tie_patterns(label, n, K):
    """Patterns xi (P, K n) whose fields under the all-+1 tree weights are the exact ties at (n, K)."""
    spec = activations.parse(label)
    plus, minus = tw.combinations(n, K, spec.odd)
    true = tw.true_signs(label, n, K, spec.odd, plus, minus)
    rows = []
    for i, j in np.argwhere(true == 0):
        H = list(plus[i]) + list(minus[j])  # c = +1 for the first units (odd g: all of them)
        rows.append(np.concatenate([np.where(np.arange(n) < (n + h) // 2, 1, -1) for h in H]))
    return np.array(rows, np.int8)


@pytest.mark.parametrize("label", ["linear", "quadratic", "relu_shift(shift=0.5)", "relu_shift(shift=1)",
                                   "tanh", "logistic", "softplus"])
@pytest.mark.parametrize("n", [4, 7])
@pytest.mark.slow
def test_every_exact_tie_is_an_error_for_the_kernels_the_model_and_the_measurements(label, n):
    """Patterns that are exact ties (including the issue's quadratic fields (5, 5, 7, 1) at n = 7) are
    errors for either label: the kernels' build, model.energy, stabilities 0 and input-flip error 1 at
    f = 0."""
    K = 4
    xi = _tie_patterns(label, n, K)
    P = len(xi)
    assert P > 0
    if label == "quadratic" and n == 7:
        fields_of = xi.reshape(P, K, n).sum(2).tolist()
        assert [5, 5, 1, 7] in fields_of  # minus multiset sorted: 25 + 25 - 1 - 49 = 0
    w = np.ones((1, K * n), np.int8)
    for s in (1, -1):
        sigma = np.full(P, s, np.int8)
        assert machine.energy(w[0], xi, sigma, label, K) == P
        assert np.all(machine.stabilities(w[0], xi, sigma, label, K) == 0.0)
        pb = fields.problem(xi, sigma, machine.output_weights(label, K), n, binary.act_code(label, n),
                            binary.gtable(label, n, K))
        st = fields.new_state(pb, w.copy(), np.zeros(0, np.int8), krng.new_state(np.random.SeedSequence(0)))
        assert st.E[0] == P
        err = robustness.input_flip_error(w, xi, sigma, label, K, [0.0], trials=1, seed=0)
        assert err[0, 0] == 1.0
