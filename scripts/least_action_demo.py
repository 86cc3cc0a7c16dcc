#!/usr/bin/env python3
"""Binary machines annealed on the error count and on the least-action cost (default: the perceptron, N = 1001).

Writes one config per (alpha, energy) under --dir, runs ``relusim anneal`` on it with one worker, and
prints a Markdown row per config: solved samples, final errors E and cost L of each sample, CPU seconds
(of the subprocess: compile included the first time). docs/results/least_action.md holds its output.

usage: python scripts/least_action_demo.py [--alphas 0.5,0.6,0.65] [--sweeps 200000] [--samples 4]
                                           [--energies errors,least_action] [--replicas 1] [--dir DIR]
                                           [--activation sign] [--N 1001] [--K 1] [--beta 0.5,20]
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

import h5py
import yaml


def config(alpha: float, energy: str, sweeps: int, samples: int, y: int, out: Path, activation: str = "sign",
           N: int = 1001, K: int = 1, beta: tuple[float, float] = (0.5, 20.0)) -> dict:
    d = {"name": "demo", "seed": 30, "samples": samples,
         "model": {"activation": activation, "weights": "binary", "N": N, "K": K, "alpha": alpha},
         "ensemble": {"replicas": 1},
         "anneal": {"sampler": "metropolis", "energy": energy,
                    "beta": {"start": beta[0], "stop": beta[1], "schedule": "geometric"},
                    "sweeps": sweeps, "stop_when_solved": True, "record_every": 1000},
         "output": str(out)}
    if y > 1:  # replicated simulated annealing, traced reference, gamma 0.05 -> 20 geometric
        d["ensemble"] = {"replicas": y, "reference": "traced",
                         "gamma": {"start": 0.05, "stop": 20.0, "schedule": "geometric"}}
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alphas", default="0.5,0.6,0.65")
    ap.add_argument("--energies", default="errors,least_action")
    ap.add_argument("--sweeps", type=int, default=200000)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--dir", default="results/least_action_demo")
    ap.add_argument("--activation", default="sign")
    ap.add_argument("--N", type=int, default=1001)
    ap.add_argument("--K", type=int, default=1)
    ap.add_argument("--beta", default="0.5,20", help="start,stop of the geometric beta schedule")
    a = ap.parse_args()
    beta = tuple(map(float, a.beta.split(",")))
    folder = Path(a.dir)
    folder.mkdir(parents=True, exist_ok=True)
    print("| alpha | energy | y | sweeps | solved | final E | final L | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for alpha in map(float, a.alphas.split(",")):
        for energy in a.energies.split(","):
            tag = f"{a.activation}_K{a.K}_N{a.N}_a{alpha}_{energy}_y{a.replicas}_s{a.sweeps}"
            cfg = folder / f"{tag}.yaml"
            cfg.write_text(yaml.safe_dump(config(alpha, energy, a.sweeps, a.samples, a.replicas, folder / f"{tag}.h5",
                                                 a.activation, a.N, a.K, beta)))
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "relusim", "anneal", "--config", str(cfg), "--workers", "1",
                            "--overwrite", "--quiet"], check=True, stdout=subprocess.DEVNULL)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
            solved, Es, Ls = 0, [], []
            with h5py.File(folder / f"{tag}.h5") as f:
                for s in sorted(f["samples"]):
                    g = f["samples"][s]
                    solved += bool(g.attrs["solved"])
                    Es.append("/".join(map(str, g["energy"][:])))
                    Ls.append("/".join(map(str, g["trace/cost"][-1])) if "trace/cost" in g else "-")
            print(f"| {alpha} | {energy} | {a.replicas} | {a.sweeps} | {solved}/{a.samples} | {', '.join(Es)} | "
                  f"{', '.join(Ls)} | {cpu:.0f} |", flush=True)


if __name__ == "__main__":
    main()
