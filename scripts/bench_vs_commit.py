#!/usr/bin/env python3
"""The sampler rows of this checkout against another commit's, alternated in one run ("never slower").

Each row is a fixed-length run at constant beta through the library's stable face
(``config.from_dict``, ``anneal.init_chain``, ``anneal.anneal``), so it times the kernels of whatever
version is imported, whatever their internal signatures. The base commit is checked out into a
temporary git worktree; every repetition runs base and current in turn in fresh subprocesses (numba
cache warm), and the ratio is taken pair by pair, so the shared machine's drift cancels.

usage: python scripts/bench_vs_commit.py BASE_COMMIT [--reps 5] [--rows all|name,name]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROWS = {  # name: (model, ensemble, anneal), all at constant beta from a random start
    "relu_y1_metropolis": ({"activation": "relu", "N": 1000, "K": 10, "alpha": 0.6},
                           {"replicas": 1}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 6000}),
    "sign_y1_metropolis": ({"activation": "sign", "N": 999, "K": 9, "alpha": 0.6},
                           {"replicas": 1}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 6000}),
    "relu_y1_hot": ({"activation": "relu", "N": 1000, "K": 10, "alpha": 0.3},
                    {"replicas": 1}, {"sampler": "metropolis", "beta": 0.5, "sweeps": 1500}),
    "relu_y1_rrr": ({"activation": "relu", "N": 400, "K": 4, "alpha": 0.4},
                    {"replicas": 1}, {"sampler": "rrr", "rrr_below": 2.0, "beta": 5.0, "sweeps": 40}),
    "relu_y7_traced": ({"activation": "relu", "N": 400, "K": 4, "alpha": 0.5},
                       {"replicas": 7, "reference": "traced", "gamma": 0.5}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 4000}),
    "sign_y7_explicit": ({"activation": "sign", "N": 399, "K": 3, "alpha": 0.5},
                         {"replicas": 7, "reference": "explicit", "gamma": 0.5}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 4000}),
    "sign_y3_explicit_rrr": ({"activation": "sign", "N": 201, "K": 3, "alpha": 0.5},
                             {"replicas": 3, "reference": "explicit", "gamma": 0.5},
                             {"sampler": "rrr", "rrr_below": 2.0, "beta": 5.0, "sweeps": 150}),
    "fc_relu_y1": ({"activation": "relu", "N": 100, "K": 10, "alpha": 0.6, "architecture": "fully_connected"},
                   {"replicas": 1}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 6000}),
    # the least-action cost (anneal.energy: least_action): committees on the full pass, the perceptron on its bitsets
    "la_sign_y1": ({"activation": "sign", "N": 999, "K": 9, "alpha": 0.6},
                   {"replicas": 1}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 500, "energy": "least_action"}),
    "la_relu_y3_explicit": ({"activation": "relu", "N": 400, "K": 4, "alpha": 0.5},
                            {"replicas": 3, "reference": "explicit", "gamma": 0.5},
                            {"sampler": "metropolis", "beta": 5.0, "sweeps": 2000, "energy": "least_action"}),
    "la_sign_perceptron": ({"activation": "sign", "N": 401, "K": 1, "alpha": 0.6},
                           {"replicas": 1}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 60000, "energy": "least_action"}),
    # spherical weights (relusim.priors.spherical): rotations, float64 and float32 fields, the perceptron cost
    "sph_relu_y1": ({"activation": "relu", "weights": "spherical", "N": 400, "K": 4, "alpha": 1.0},
                    {"replicas": 1}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 300}),
    "sph_sign_y1_f32": ({"activation": "sign", "weights": "spherical", "N": 399, "K": 3, "alpha": 1.0},
                        {"replicas": 1}, {"sampler": "metropolis", "beta": 5.0, "sweeps": 300, "precision": "float32"}),
    "sph_sign_perceptron": ({"activation": "sign", "weights": "spherical", "N": 200, "K": 1, "alpha": 1.8},
                            {"replicas": 1}, {"sampler": "metropolis", "beta": 50.0, "sweeps": 600,
                                              "energy": "perceptron"}),
}

def worker(spec: str) -> None:
    """Run one row in this process and print {'seconds': ...} (kernel time only)."""
    import importlib
    import importlib.util
    import time

    import numpy as np

    from relusim import anneal, config
    from relusim.kernels import fields

    if importlib.util.find_spec("relusim.models"):  # the package layout (rooms) since ba6b6b6
        from relusim.models import instance, machine
    else:
        instance, machine = (importlib.import_module(f"relusim.{m}") for m in ("instance", "model"))

    name = spec
    m, e, a = ROWS[name]
    e = dict(e)
    gamma = e.pop("gamma", None)
    spherical = m.get("weights") == "spherical"
    extra = {k: a[k] for k in ("precision", "energy") if k in a}
    raw = {"name": name, "seed": 7, "samples": 1, "model": {"weights": "binary", **m},
           "ensemble": {**e, **({"gamma": {"start": gamma, "stop": gamma}} if gamma else {})},
           "anneal": {"sampler": a["sampler"], "beta": {"start": a["beta"], "stop": a["beta"]},
                      "sweeps": a["sweeps"], "stop_when_solved": False, "record_every": a["sweeps"],
                      **({"rrr_below": a["rrr_below"]} if "rrr_below" in a else {}), **extra},
           "output": str(Path(tempfile.gettempdir()) / "relusim_bench_unused.h5")}
    cfg = config.from_dict(raw)
    mc = cfg.model
    inst = instance.make(mc.N, mc.P, cfg.seed, 0)
    face = anneal  # every prior through relusim.anneal (since the prior registry, relusim.priors)
    if spherical and importlib.util.find_spec("relusim.anneal_spherical"):  # before it: a module of its own
        face = importlib.import_module("relusim.anneal_spherical")
        face.init_chain = face.init_state
    if hasattr(face, "make_problem"):  # the record form (after the kernel redesign)
        problem = face.make_problem(cfg, inst.xi, inst.sigma)
    else:
        problem = fields.problem_arrays(inst.xi, inst.sigma, machine.output_weights(mc.activation, mc.K))
    times = []
    for rep in range(3):  # the first is the warm-up (JIT cache load)
        stream = instance.stream(cfg.seed, 0, instance.DYNAMICS)
        chain = face.init_chain(cfg, problem, stream)
        t0 = time.perf_counter()
        face.anneal(cfg, problem, chain)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": min(times[1:]), "E": int(chain.E.sum())}))


def run_row(src: Path, name: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", name], env=env,
                         capture_output=True, text=True, cwd=src)
    if out.returncode:
        raise SystemExit(f"{src}: row {name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", nargs="?")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rows", default="all")
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    names = list(ROWS) if args.rows == "all" else args.rows.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
                       check=True, capture_output=True)
        try:
            print(f"| row | base {args.base[:8]} (s) | this checkout (s) | base / this (median of {args.reps} pairs) | same final E |")
            print("|---|---|---|---|---|")
            for name in names:
                run_row(base, name), run_row(ROOT, name)  # compile both caches first
                pairs, same = [], True
                for _ in range(args.reps):
                    b, t = run_row(base, name), run_row(ROOT, name)
                    pairs.append((b["seconds"], t["seconds"]))
                    same &= b["E"] == t["E"]
                ratio = statistics.median(b / t for b, t in pairs)
                print(f"| {name} | {statistics.median(p[0] for p in pairs):.3f} | "
                      f"{statistics.median(p[1] for p in pairs):.3f} | {ratio:.3f} | {same} |", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)


if __name__ == "__main__":
    main()
