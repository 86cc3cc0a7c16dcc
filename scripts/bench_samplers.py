#!/usr/bin/env python3
"""Metropolis vs RRR, side by side in one run, at the paper's sizes (issue 4).

For each system (a single machine, and the explicit-reference robust ensemble with y = 7; ReLU
N = 1000, K = 10 and sign N = 999, K = 9; alpha = 0.5):
  * proposals/s and accepted moves/s at a high temperature (beta = 1, random start) and at a low
    temperature (beta = 5, from a state annealed with Metropolis to low energy);
  * wall time of the paper protocol (annealing of the robust ensemble, y = 7, q1 = 0.9) until every
    replica is a solution, over several seeds, capped at --cap seconds.
RRR is run forced (every sweep RRR) and as the hybrid the configs use (RRR below 1% acceptance).
Writes a Markdown table to docs/samplers.md (or --out).

usage: python scripts/bench_samplers.py [--quick] [--seeds 4] [--cap 60] [--out F]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relusim import config
from relusim.models import machine  # noqa: E402
from relusim.models import instance as inst_mod  # noqa: E402
from relusim.anneal import init_chain, make_problem  # noqa: E402
from relusim.kernels import fields, replicated  # noqa: E402

SAMPLERS = {"metropolis": (False, 0.0), "rrr": (True, 2.0), "hybrid": (True, 0.01)}


def system(act: str, y: int, seed: int):
    N, K = (1000, 10) if act == "relu" else (999, 9)
    cfg = config.from_dict({"model": {"activation": act, "N": N, "K": K, "alpha": 0.5},
                            "ensemble": {"replicas": y, "reference": "explicit"}, "output": "/tmp/unused.h5"})
    inst = inst_mod.make(N, cfg.model.P, seed, 0)
    problem = make_problem(cfg, inst.xi, inst.sigma)
    chain = init_chain(cfg, problem, inst_mod.stream(seed, 0, inst_mod.DYNAMICS))
    return cfg, problem, chain


def run(cfg, problem, chain, sampler, betas, gammas, stop):
    y = chain.w.shape[0]
    tr = replicated.new_trace(len(betas), y)
    use_rrr, below = SAMPLERS[sampler]
    mode = 1 if y > 1 else 0
    ctl = replicated.control(mode, use_rrr, below, replicated.BITS_BELOW, stop)
    done = replicated.run(problem, chain.state, betas, gammas, ctl, tr, replicated.hybrid_state())
    return done, int(tr.accepted[:done].sum())


def copy_chain(ch):
    from dataclasses import replace

    return replace(ch, w=ch.w.copy(), H=ch.H.copy(), marg=ch.marg.copy(), E=ch.E.copy(), ref=ch.ref.copy(),
                   m=ch.m.copy(), rng=ch.rng.copy())


def annealed(act, y, seed, sweeps):
    """A low-energy state: Metropolis annealing beta 0.5 -> 5 (gamma = 0.6 beta for the ensemble)."""
    cfg, problem, chain = system(act, y, seed)
    betas = np.geomspace(0.5, 5.0, sweeps)
    run(cfg, problem, chain, "metropolis", betas, 0.6 * betas if y > 1 else np.zeros(sweeps), False)
    return cfg, problem, chain


def rates(cfg, problem, chain0, sampler, beta, gamma, target_s):
    """Median proposals/s and accepted/s over 3 repetitions from the same state."""
    y, N = chain0.w.shape
    nv = N * (y + 1) if y > 1 else N
    out = []
    sweeps = 1
    while True:
        ch = copy_chain(chain0)
        t = time.perf_counter()
        run(cfg, problem, ch, sampler, np.full(sweeps, beta), np.full(sweeps, gamma), False)
        dt = time.perf_counter() - t
        if dt > 0.1 or sweeps > 10 ** 6:
            break
        sweeps *= 4
    sweeps = max(1, int(sweeps * target_s / dt))
    for _ in range(3):
        ch = copy_chain(chain0)
        t = time.perf_counter()
        _, acc = run(cfg, problem, ch, sampler, np.full(sweeps, beta), np.full(sweeps, gamma), False)
        dt = time.perf_counter() - t
        out.append((sweeps * nv / dt, acc / dt))
    return statistics.median(o[0] for o in out), statistics.median(o[1] for o in out)


def time_to_solution(act, N, K, alpha, y, sweeps, sampler, seed, cap_s):
    """Wall time of the annealing protocol of the paper configs (docs/model.md §8) until every replica is a
    solution at q1 = 0.9, or inf past ``cap_s``. ``sampler``: metropolis, rrr (forced) or hybrid."""
    from relusim.anneal import anneal as run_protocol

    use_rrr, below = SAMPLERS[sampler]
    cfg = config.from_dict({
        "seed": seed, "model": {"activation": act, "N": N, "K": K, "alpha": alpha},
        "ensemble": {"replicas": y, "reference": "explicit", "gamma": {"start": 0.5, "stop": 15.0},
                     "target_overlap": 0.9, "overlap_tolerance": 0.01},
        "anneal": {"sampler": "rrr" if use_rrr else "metropolis", "rrr_below": below if use_rrr else 0.01,
                   "beta": {"start": 0.5, "stop": 15.0}, "sweeps": sweeps, "extra_sweeps": sweeps // 5,
                   "record_every": 50},
        "output": "/tmp/unused.h5"})
    inst = inst_mod.make(N, cfg.model.P, seed, 0)
    problem = make_problem(cfg, inst.xi, inst.sigma)
    chain = init_chain(cfg, problem, inst_mod.stream(seed, 0, inst_mod.DYNAMICS))
    t = time.perf_counter()
    deadline = [t + cap_s]

    def stop_at_cap(index, sweep, energy):
        if time.perf_counter() > deadline[0]:
            raise TimeoutError

    try:
        trace = run_protocol(cfg, problem, chain, 0, stop_at_cap)
    except TimeoutError:
        return float("inf"), None
    q = replicated.mean_mutual_overlap(chain.m, y)
    ok = chain.E.max() == 0 and abs(q - 0.9) <= 0.01
    return (time.perf_counter() - t if ok else float("inf")), int(trace["sweep"][-1])


def fmt(x):
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--cap", type=float, default=60.0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "samplers.md"))
    args = ap.parse_args()
    target = 0.2 if args.quick else 0.5
    ann_sweeps = 1000 if args.quick else 3000
    L = ["# Metropolis vs RRR\n",
         f"Measured by `scripts/bench_samplers.py{' --quick' if args.quick else ''}` on {time.strftime('%Y-%m-%d')} "
         "(single thread each, one run). `rrr` forces RRR on every sweep; `hybrid` is what `anneal.sampler: rrr` "
         "does (Metropolis sweeps while their acceptance is above 1%). A proposal of RRR is one step (an attempted "
         "move chosen with probability p_j / z).\n",
         "## Throughput\n",
         "| act | y | beta | start (E per replica) | sampler | proposals/s | accepted/s |",
         "|---|---|---|---|---|---|---|"]
    T = ["\n## Wall time to solutions with the paper protocol\n",
         "The annealing of the paper configs (y = 7 replicas + reference, q1 = 0.9, beta and gamma 0.5 -> 15) "
         f"until every replica is a solution at q1; cap {args.cap:.0f} s; one seed per column. inf = not "
         "solved within the cap (or the schedule ended unsolved).\n",
         "| act | N | alpha | sampler | times [s] per seed (sweeps) | median | speed-up vs metropolis |",
         "|---|---|---|---|---|---|---|"]
    for act in ("relu", "sign"):
        for y in (1, 7):
            gamma_low = 3.0 if y > 1 else 0.0
            cfg, problem, hot = system(act, y, 1)
            cfg, problem, cold = annealed(act, y, 1, ann_sweeps)
            for beta, gamma, start, ch in ((1.0, 0.6 if y > 1 else 0.0, "random", hot),
                                           (5.0, gamma_low, "annealed", cold)):
                for sampler in SAMPLERS:
                    if sampler == "rrr" and beta == 1.0 and y > 1 and args.quick:
                        continue
                    p, a = rates(cfg, problem, ch, sampler, beta, gamma, target)
                    Es = "/".join(str(e) for e in ch.E[:3]) + ("..." if y > 3 else "")
                    L.append(f"| {act} | {y} | {beta:g} | {start} ({Es}) | {sampler} | {fmt(p)} | {fmt(a)} |")
                    print(L[-1], flush=True)
    for act, N, K, alpha, sweeps in (("relu", 200, 4, 0.35, 20000), ("relu", 1000, 10, 0.4, 100000)):
        times = {}
        for sampler in SAMPLERS:
            times[sampler] = [time_to_solution(act, N, K, alpha, 7, sweeps, sampler, seed, args.cap)
                              for seed in range(1, args.seeds + 1)]
        base = statistics.median(t for t, _ in times["metropolis"])
        for sampler, ts in times.items():
            med = statistics.median(t for t, _ in ts)
            cells = ", ".join(f"{t:.2f} ({sw})" if np.isfinite(t) else "inf" for t, sw in ts)
            ratio = base / med if np.isfinite(med) and med > 0 else 0.0
            T.append(f"| {act} | {N} | {alpha} | {sampler} | {cells} | {med:.2f} | {ratio:.2f}x |")
            print(T[-1], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(L + T) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
