"""The same config and seed give the same bits on every CPU: every dataset, floats included.

Small runs (an RRR explicit ensemble steered to a target overlap, a traced ensemble, a spherical
perceptron annealed on the perceptron cost: real fields, rotations and exp in the chain; a spherical
ReLU tree with float32 fields) are hashed in this process (numba compiled for the host: AVX-512 where
the CPU has it) and in two child processes, each with its own fresh numba cache directory so that
nothing compiled for the host is reused:
  * the oldest code path: numba compiled for a generic x86-64 (SSE2, no FMA), NumPy's SIMD dispatch
    off (NPY_DISABLE_CPU_FEATURES) and glibc's AVX/FMA variants off (GLIBC_TUNABLES), all at once;
  * numba compiled for Haswell (AVX2 and FMA, the common cluster node), on the float32 case, whose
    float sums are where a vector width could show.
Each must give identical hashes. The host and the generic build are the two extremes of vector width
and FMA; a chain whose bits depended on either would differ between them, so the Haswell child needs
only the case most exposed to it (each child compiles for about 40 s, which is why there are two).
Before the chain's exp and the schedules moved to ``relusim.kernels.detmath``, NumPy's AVX-512
power/exp and glibc's FMA exp gave other last bits than their baseline code on the machine this was
written on, and one ulp in an RRR acceptance table shifts the random stream.
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import regression_cases as rc

CASES = ["relu_y3_explicit_rrr_q1", "sign_y7_traced", "sign_spherical_perceptron_cost", "relu_spherical_float32"]
NPY_OFF = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"  # every feature NumPy dispatches above its baseline


def _npy_dispatch():
    from numpy._core._multiarray_umath import __cpu_dispatch__

    return set(__cpu_dispatch__)


def _hashes_in_child(env_changes: dict, cases: list[str]) -> dict:
    env = dict(os.environ, PYTHONHASHSEED="0", **env_changes)
    p = subprocess.run([sys.executable, str(Path(rc.__file__)), "--print", *cases], capture_output=True,
                       text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_dataset_has_the_same_bits_whatever_the_cpu_code_path(tmp_path):
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        pytest.skip("the switches below are those of x86-64 Linux")
    host = {name: rc.hashes(name, floats=True) for name in CASES}
    variants = {
        "numba generic x86-64, NumPy dispatch off, glibc AVX/FMA off": (
            {"NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path / "generic"),
             "NPY_DISABLE_CPU_FEATURES": " ".join(sorted(_npy_dispatch() & set(NPY_OFF.split()))),
             "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX"}, CASES),
        "numba haswell (AVX2, FMA)": (
            {"NUMBA_CPU_NAME": "haswell", "NUMBA_CACHE_DIR": str(tmp_path / "haswell")}, ["relu_spherical_float32"]),
    }
    with ThreadPoolExecutor(2) as pool:
        got = dict(zip(variants, pool.map(lambda v: _hashes_in_child(*v), variants.values())))
    for (what, result), (_, cases) in zip(got.items(), variants.values()):
        assert sorted(result) == sorted(cases), what
        for name in cases:
            changed = sorted(k for k in host[name] if result[name].get(k) != host[name][k])
            assert not changed, f"{what}: {name} differs in {changed}"


def test_detmath_exp_and_log_are_within_one_ulp_and_exact_at_the_special_points():
    import math

    from relusim.kernels import detmath

    rng = np.random.default_rng(1)
    xs = np.concatenate([rng.uniform(-745, 709, 3000), rng.uniform(-1, 1, 3000), [0.0, 0.34657, -0.34657, 1.0397]])
    ys = np.concatenate([np.exp(rng.uniform(-700, 700, 3000)), rng.uniform(0.5, 2.0, 3000), [2.0, 0.5, 5e-324]])

    def ulps(a, b):
        return abs(int(np.float64(a).view(np.int64)) - int(np.float64(b).view(np.int64)))

    assert max(ulps(detmath.exp(x), math.exp(x)) for x in xs) <= 1
    assert max(ulps(detmath.log(y), math.log(y)) for y in ys) <= 1
    assert detmath.exp(0.0) == 1.0 and detmath.log(1.0) == 0.0 and detmath.exp(-800.0) == 0.0
    assert detmath.exp(710.0) == np.inf and np.isnan(detmath.log(-1.0)) and detmath.log(0.0) == -np.inf
    g = detmath.geometric(0.5, 20.0, 101)
    assert g[0] == 0.5 and g[-1] == 20.0 and np.allclose(g, 0.5 * 40.0 ** (np.arange(101) / 100), rtol=1e-15)
