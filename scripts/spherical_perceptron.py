"""The spherical perceptron (sign, K = 1, real weights) annealed at alpha around its capacity 2 (Gardner 1988).

A standard check of a sampler on a convex problem: the fraction of samples the annealer solves at
each alpha, in a stated budget (beta 1 -> 50 geometric over --sweeps sweeps, stop when solved, the
default rotation step), with the mean final error fraction E/P. Prints a Markdown table. Usage:

    python scripts/spherical_perceptron.py [--N 200] [--alphas 0.6,1.0,1.5,1.8,2.0,2.2] [--samples 8]
                                           [--sweeps 20000] [--workers 2] [--out results/sph_perceptron]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import h5py
import numpy as np

from relusim import runner
from relusim.config import from_dict


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--N", type=int, default=200)
    ap.add_argument("--alphas", default="0.6,1.0,1.5,1.8,2.0,2.2")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--sweeps", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="results/sph_perceptron")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    print(f"spherical perceptron, N = {args.N}, {args.samples} samples per alpha, beta 1 -> 50 geometric over "
          f"{args.sweeps} sweeps, stop when solved\n")
    print("| alpha | P | solved | mean E/P | mean sweeps | wall s |")
    print("|---|---|---|---|---|---|")
    for alpha in map(float, args.alphas.split(",")):
        out = f"{args.out}/N{args.N}_a{alpha}.h5"
        cfg = from_dict({"name": f"sph-perceptron-{alpha}", "seed": 1, "samples": args.samples,
                         "model": {"activation": "sign", "weights": "spherical", "N": args.N, "K": 1, "alpha": alpha},
                         "anneal": {"beta": {"start": 1.0, "stop": 50.0}, "sweeps": args.sweeps,
                                    "record_every": 100},
                         "output": out})
        t0 = time.time()
        runner.run(cfg, workers=args.workers, overwrite=True, quiet=True)
        with h5py.File(out) as f:
            g = [f["samples"][k] for k in sorted(f["samples"])]
            E = np.array([s["energy"][0] for s in g])
            sw = np.array([s.attrs["sweeps_done"] for s in g])
        print(f"| {alpha} | {cfg.model.P} | {np.sum(E == 0)}/{len(E)} | {E.mean() / cfg.model.P:.4f} | "
              f"{sw.mean():.0f} | {time.time() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
