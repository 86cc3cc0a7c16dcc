import numpy as np
import pytest

from relusim import instance, model
from relusim.kernels import fields


def make_machine(activation: str, N: int, K: int, P: int, seed: int, ties: bool = False):
    """A random instance, random weights w (1, N) and the kernels' caches built from scratch (y = 1)."""
    inst = instance.make(N, P, seed, 0)
    XT, sig, c = fields.problem_arrays(inst.xi, inst.sigma, model.output_weights(activation, K))
    w = (2 * np.random.default_rng(seed).integers(0, 2, (1, N)) - 1).astype(np.int8)
    H, marg = fields.new_caches(1, K, P)
    E = np.array([fields.build(XT, sig, c, N // K, fields.act_code(activation, N // K), w, H, marg, 0)])
    return inst, (XT, sig, c), w, H, marg, E


@pytest.fixture
def machine():
    return make_machine
