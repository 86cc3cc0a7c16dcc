"""Shared test helpers.

Every process of the suite (pytest's workers, the command lines they start, the job scripts a sweep
writes) compiles into one numba cache inside this checkout, so that a kernel is compiled once per
suite and not once more by every job script (whose default cache is per user, outside the checkout).
"""
import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent / ".numba-cache"))

import numpy as np
import pytest

from relusim.models import instance, machine as model
from relusim.kernels import fields
from relusim.kernels import rng as krng
from relusim.priors import binary


def make_problem(inst, activation: str, K: int, n: int):
    """The kernels' Problem record of an instance (fan-in n: N // K for a tree, N fully connected)."""
    return fields.problem(inst.xi, inst.sigma, model.output_weights(activation, K), n, binary.act_code(activation, n),
                          binary.gtable(activation, n, K))


def make_state(pb, w, ref=None, seed: int = 0):
    """The kernels' State record for weights w (y, Nw) (copied), built from scratch."""
    ref = np.zeros(0, np.int8) if ref is None else ref
    return fields.new_state(pb, np.array(w, np.int8), ref, krng.new_state(np.random.SeedSequence(seed)))


def make_machine(activation: str, N: int, K: int, P: int, seed: int, ties: bool = False):
    """A random instance, its Problem record and the State of random weights w (1, N), caches built (y = 1)."""
    inst = instance.make(N, P, seed, 0)
    pb = make_problem(inst, activation, K, N // K)
    w = (2 * np.random.default_rng(seed).integers(0, 2, (1, N)) - 1).astype(np.int8)
    return inst, pb, make_state(pb, w)


@pytest.fixture
def machine():
    return make_machine


def pytest_collection_modifyitems(config, items):
    """Files that hold a test marked slow first, then the rest, each group in its usual order and
    every file kept whole. pytest-xdist hands out whole files in collection order (``--dist loadfile
    --no-loadscope-reorder`` in pyproject.toml), so the long files start early and a run does not end
    with one worker on a long file while the other idles (xdist's own order, by number of tests, put
    the two-test CPU-independence file last: a tail of two minutes)."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
