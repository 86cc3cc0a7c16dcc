"""Small runs whose bits must never change: the sha256 of every integer array of each sample.

The hashes in ``tests/data/regression_hashes.json`` were written by ``python -m tests.regression_cases --write``
at commit e87d1e8, before the kernel redesign for fully connected networks (issue 14); the test
``test_regression_hashes`` recomputes them. A change that alters any of them changes the chain of an
existing config, which a redesign must never do.

The four spherical cases were added at commit b784a39 (the perceptron cost); their hashes were made
with the code of 3459765, before it, and the new code gives the same bits. The perceptron-cost case
(a mode that did not exist before) was hashed when it was added, at ea53b67's successor. The two
float32 cases (``anneal.precision``, new) were hashed when it was added; making the kernels generic
over the field dtype left every float64 case's bits unchanged.

The RRR explicit ensemble steered to a target overlap (``relu_y3_explicit_rrr_q1``, the
CPU-independence test's binary case) and the two least-action cases (``anneal.energy: least_action``,
new) were hashed when they were added.

One deliberate change since: ``sign_y3_explicit_rrr`` was rewritten when exp in the chain became
CPU-independent (``relusim.kernels.detmath``, issue 12). Its etab entries moved by one ulp, and an
RRR move whose z' equals z up to rounding draws a uniform (z' > z) or not (z' <= z), so the random
stream shifted; the other seven cases kept their bits.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

BASE = {"name": "reg", "seed": 11, "samples": 2,
        "anneal": {"sweeps": 120, "record_every": 10, "beta": {"start": 0.8, "stop": 6.0}}}
CASES = {
    "relu_y1_metropolis": {"model": {"activation": "relu", "N": 40, "K": 4, "alpha": 0.4}},
    "sign_y1_metropolis": {"model": {"activation": "sign", "N": 45, "K": 3, "alpha": 0.5}},
    "relu_nodd_bits2_y1": {"model": {"activation": "relu", "N": 360, "K": 4, "alpha": 0.4},
                           "anneal": {"sweeps": 40}},
    "sign_ties_y1": {"model": {"activation": "sign", "N": 24, "K": 3, "alpha": 0.4, "allow_ties": True}},
    "relu_y7_explicit_q1": {"model": {"activation": "relu", "N": 40, "K": 4, "alpha": 0.3},
                            "ensemble": {"replicas": 7, "reference": "explicit", "target_overlap": 0.8,
                                         "gamma": {"start": 0.1, "stop": 2.0}},
                            "anneal": {"extra_sweeps": 60}},
    "relu_y3_explicit_rrr_q1": {"model": {"activation": "relu", "N": 40, "K": 4, "alpha": 0.3},
                                "ensemble": {"replicas": 3, "reference": "explicit", "target_overlap": 0.8,
                                             "gamma": {"start": 0.1, "stop": 2.0}},
                                "anneal": {"sampler": "rrr", "rrr_below": 2.0, "sweeps": 60, "extra_sweeps": 30}},
    "sign_y7_traced": {"model": {"activation": "sign", "N": 45, "K": 3, "alpha": 0.4},
                       "ensemble": {"replicas": 7, "reference": "traced", "gamma": {"start": 0.1, "stop": 2.0}}},
    "relu_y1_rrr": {"model": {"activation": "relu", "N": 40, "K": 4, "alpha": 0.4},
                    "anneal": {"sampler": "rrr", "rrr_below": 2.0, "sweeps": 40}},
    "sign_y3_explicit_rrr": {"model": {"activation": "sign", "N": 27, "K": 3, "alpha": 0.4},
                             "ensemble": {"replicas": 3, "reference": "explicit"},
                             "anneal": {"sampler": "rrr", "rrr_below": 2.0, "sweeps": 30}},
    "relu_y3_traced_least_action": {"model": {"activation": "relu", "N": 40, "K": 4, "alpha": 0.4},
                                    "ensemble": {"replicas": 3, "reference": "traced",
                                                 "gamma": {"start": 0.1, "stop": 2.0}},
                                    "anneal": {"energy": "least_action"}},
    "sign_y1_least_action_perceptron": {"model": {"activation": "sign", "N": 101, "K": 1, "alpha": 0.5},
                                        "anneal": {"energy": "least_action"}},
    "relu_spherical_y1": {"model": {"activation": "relu", "weights": "spherical", "N": 40, "K": 4, "alpha": 0.8}},
    "sign_spherical_fc_y1": {"model": {"activation": "sign", "weights": "spherical", "N": 12, "K": 3, "alpha": 0.6,
                                       "architecture": "fully_connected"}},
    "tanh_spherical_y1": {"model": {"activation": "tanh", "weights": "spherical", "N": 30, "K": 3, "alpha": 0.8}},
    "relu_spherical_y3_explicit": {"model": {"activation": "relu", "weights": "spherical", "N": 40, "K": 4,
                                             "alpha": 0.6},
                                   "ensemble": {"replicas": 3, "reference": "explicit",
                                                "gamma": {"start": 0.1, "stop": 2.0}}},
    "sign_spherical_perceptron_cost": {"model": {"activation": "sign", "weights": "spherical", "N": 60, "K": 1,
                                                 "alpha": 1.7},
                                       "anneal": {"energy": "perceptron", "beta": {"start": 1.0, "stop": 300.0}}},
    "relu_spherical_float32": {"model": {"activation": "relu", "weights": "spherical", "N": 40, "K": 4, "alpha": 0.8},
                               "anneal": {"precision": "float32"}},
    "sign_spherical_fc_float32_perceptron": {"model": {"activation": "sign", "weights": "spherical", "N": 12, "K": 3,
                                                       "alpha": 0.6, "architecture": "fully_connected"},
                                             "anneal": {"precision": "float32", "energy": "perceptron"}},
}
PATH = Path(__file__).parent / "data" / "regression_hashes.json"


def config_dict(name: str) -> dict:
    d = json.loads(json.dumps(BASE))
    for key, value in CASES[name].items():
        d.setdefault(key, {}).update(value) if isinstance(value, dict) else d.__setitem__(key, value)
    d["anneal"] = {**BASE["anneal"], **CASES[name].get("anneal", {})}
    return d


def hashes(name: str, floats: bool = False) -> dict:
    """{sample/array: sha256} of every integer array (and sweeps_done) of each sample of case ``name``;
    with ``floats`` also of every float array (stabilities, the beta/gamma/overlap traces)."""
    from relusim import anneal, config

    cfg = config.from_dict(config_dict(name) | {"output": "unused.h5"})
    out = {}
    for i in range(cfg.samples):
        r = anneal.run_sample(cfg, i)
        arrays = {"patterns": r.patterns, "labels": r.labels, "weights": r.weights, "energy": r.energy,
                  "sweeps_done": np.array([r.sweeps_done])}
        if r.reference is not None:
            arrays["reference"] = r.reference
        for k in ("sweep", "energy", "accepted"):
            arrays["trace_" + k] = r.trace[k]
        if floats:
            arrays["stabilities"] = r.stabilities
            if r.reference_stabilities is not None:
                arrays["reference_stabilities"] = r.reference_stabilities
            for k, v in r.trace.items():
                if v.dtype.kind == "f":
                    arrays["trace_" + k] = v
        for k, a in arrays.items():
            a = np.ascontiguousarray(a)
            out[f"{i}/{k}"] = hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()
    return out


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--print"]:  # the hashes of the named cases, floats included, as JSON
        print(json.dumps({name: hashes(name, floats=True) for name in sys.argv[2:]}))
        raise SystemExit
    if sys.argv[1:] != ["--write"]:  # rewriting the reference hashes is never a side effect of a typo
        raise SystemExit(f"usage: python -m tests.regression_cases --print NAME... | --write (rewrites {PATH.name}); "
                         f"cases: {' '.join(CASES)}")
    PATH.write_text(json.dumps({name: hashes(name) for name in CASES}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {PATH}")
