"""Parallel tempering against simulated annealing at equal sweeps (so about equal CPU): fraction solved.

For each alpha, ``--samples`` instances (seed ``--seed``, sample indices 0 ..) of a binary machine
are annealed (``anneal.beta`` start -> stop geometric over ``--sweeps`` sweeps, stop when solved)
and tempered (``--rungs`` rungs at the geometric ladder of the same beta range, ``--sweeps /
--rungs`` sweeps each, a swap round every ``--swap-every`` sweeps, stop at the first solution).
Prints one row per alpha and method: solved, CPU seconds (``time.process_time`` of the samples,
compilation excluded by a warm-up sample), final error counts. docs/results/tempering.md.

    python scripts/tempering_vs_anneal.py --N 201 --K 1 --activation sign --alphas 0.6,0.65 --samples 12
"""
from __future__ import annotations

import argparse
import time

from relusim import anneal, config


def cfg_of(args, alpha: float, rungs: int, sweeps: int) -> config.Config:
    return config.from_dict({
        "name": "pt-vs-sa", "seed": args.seed, "samples": args.samples, "output": "/tmp/pt-vs-sa.h5",
        "model": {"activation": args.activation, "weights": "binary", "N": args.N, "K": args.K, "alpha": alpha},
        "anneal": {"energy": args.energy, "sweeps": sweeps, "record_every": args.record_every,
                   "beta": {"start": args.beta[0], "stop": args.beta[1]},
                   "tempering": {"rungs": rungs, "swap_every": args.swap_every}}})


def run(cfg: config.Config, samples: int) -> tuple[int, float, list]:
    anneal.compile_run(cfg)
    solved, cpu, finals = 0, 0.0, []
    for i in range(samples):
        t0 = time.process_time()
        r = anneal.run_sample(cfg, i)
        cpu += time.process_time() - t0
        solved += r.solved
        finals.append(int(r.energy[0]))
    return solved, cpu, finals


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--N", type=int, default=201)
    p.add_argument("--K", type=int, default=1)
    p.add_argument("--activation", default="sign")
    p.add_argument("--energy", default="least_action")
    p.add_argument("--alphas", default="0.6,0.65")
    p.add_argument("--samples", type=int, default=12)
    p.add_argument("--seed", type=int, default=40)
    p.add_argument("--sweeps", type=int, default=20000)
    p.add_argument("--rungs", type=int, default=10)
    p.add_argument("--swap-every", type=int, default=10)
    p.add_argument("--record-every", type=int, default=500)
    p.add_argument("--beta", type=lambda s: tuple(float(x) for x in s.split(",")), default=(0.5, 10.0))
    p.add_argument("--methods", default="anneal,tempering")
    args = p.parse_args()
    print("alpha method solved CPU_s final_E")
    for alpha in (float(a) for a in args.alphas.split(",")):
        for method in args.methods.split(","):
            rungs = args.rungs if method == "tempering" else 1
            s, cpu, finals = run(cfg_of(args, alpha, rungs, args.sweeps // rungs), args.samples)
            print(f"{alpha} {method} {s}/{args.samples} {cpu:.1f} {','.join(map(str, finals))}", flush=True)


if __name__ == "__main__":
    main()
