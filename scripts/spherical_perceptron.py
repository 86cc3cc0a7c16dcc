"""The spherical perceptron (sign, K = 1, real weights) annealed at alpha around its capacity 2 (Gardner 1988).

A standard check of a sampler on a convex problem: the fraction of samples the annealer solves at
each alpha, beside the exact probability that a solution exists (Cover's counting theorem for points
in general position; random +-1 patterns are in general position with probability near 1 at these N), in a stated budget (beta geometric over --sweeps sweeps, stop when solved, the default
rotation step), with the mean final error fraction E/P. The annealed energy is --energy: the
perceptron cost (default; beta 1 -> 10000) or the error count (beta 1 -> 50). Prints a Markdown table.
Usage:

    python scripts/spherical_perceptron.py [--N 200] [--alphas 1.5,1.8,2.0,2.2] [--samples 16]
                                           [--sweeps 20000] [--energy perceptron|errors] [--beta 1:10000]
                                           [--workers 2] [--out results/sph_perceptron]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import h5py
import numpy as np
from scipy import stats

from relusim.execution import runner
from relusim.config import from_dict


def cover_sat(N: int, P: int) -> float:
    """Cover (1965): the fraction of the 2^P labellings of P points in general position in R^N that a
    perceptron through the origin separates, 2^(1-P) sum_{k<N} C(P-1, k) = P(Bin(P-1, 1/2) <= N-1)."""
    return float(stats.binom.cdf(N - 1, P - 1, 0.5))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--N", type=int, default=200)
    ap.add_argument("--alphas", default="1.5,1.8,2.0,2.2")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--sweeps", type=int, default=20000)
    ap.add_argument("--energy", default="perceptron", choices=("perceptron", "errors"))
    ap.add_argument("--beta", default=None, help="start:stop (default 1:10000 perceptron, 1:50 errors)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="results/sph_perceptron")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    b0, b1 = map(float, (args.beta or ("1:10000" if args.energy == "perceptron" else "1:50")).split(":"))
    print(f"spherical perceptron, N = {args.N}, {args.samples} samples per alpha, anneal.energy {args.energy}, "
          f"beta {b0:g} -> {b1:g} geometric over {args.sweeps} sweeps, stop when solved\n")
    print("| alpha | P | solved | Cover P(SAT) | mean E/P | mean sweeps | wall s |")
    print("|---|---|---|---|---|---|---|")
    for alpha in map(float, args.alphas.split(",")):
        out = f"{args.out}/N{args.N}_a{alpha}_{args.energy}.h5"
        cfg = from_dict({"name": f"sph-perceptron-{alpha}", "seed": 1, "samples": args.samples,
                         "model": {"activation": "sign", "weights": "spherical", "N": args.N, "K": 1, "alpha": alpha},
                         "anneal": {"beta": {"start": b0, "stop": b1}, "sweeps": args.sweeps,
                                    "record_every": 100, "energy": args.energy},
                         "output": out})
        t0 = time.time()
        runner.run(cfg, workers=args.workers, overwrite=True, quiet=True)
        with h5py.File(out) as f:
            g = [f["samples"][k] for k in sorted(f["samples"])]
            E = np.array([s["energy"][0] for s in g])
            sw = np.array([s.attrs["sweeps_done"] for s in g])
        print(f"| {alpha} | {cfg.model.P} | {np.sum(E == 0)}/{len(E)} | {cover_sat(args.N, cfg.model.P):.3f} | "
              f"{E.mean() / cfg.model.P:.4f} | "
              f"{sw.mean():.0f} | {time.time() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
