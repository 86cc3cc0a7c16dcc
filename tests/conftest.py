import numpy as np
import pytest

from relusim import instance, model
from relusim.kernels import fields


def make_machine(activation: str, N: int, K: int, P: int, seed: int, ties: bool = False):
    """A random instance and random weights with the kernels' caches built from scratch."""
    inst = instance.make(N, P, seed, 0)
    XT, sig, c = fields.problem_arrays(inst.xi, inst.sigma, model.output_weights(activation, K))
    w = (2 * np.random.default_rng(seed).integers(0, 2, N) - 1).astype(np.int8)
    H, marg = fields.new_caches(K, P)
    E = fields.build(XT, sig, c, N // K, fields.ACT_CODES[activation], w, H, marg)
    return inst, (XT, sig, c), w, H, marg, E


@pytest.fixture
def machine():
    return make_machine
