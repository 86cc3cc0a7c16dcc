#!/usr/bin/env python3
"""relusim's spherical-weight Metropolis kernel side by side with the C reference (float64 and float32)
and the NumPy incremental baseline, in one run on the same instances and start weights (`cref dump`);
relusim with float64 and with float32 fields (`anneal.precision`).

Rows: sign tree (N = 999, K = 9), relu tree and relu fully connected (N = 1000 weights, K = 10),
alpha 0.3 and 0.6, beta 1 and 5, random and annealed starts; theta_max = min(pi, 15/sqrt(n)) in every
column (frozen: constant beta). relusim's time includes its rebuild every 8 sweeps; the C code's
includes its rebuild every sweep. Each cell is the median of --reps repetitions (after a JIT
warm-up for relusim); proposals/s with accepted/s in parentheses.

usage: python scripts/bench_spherical.py [--quick] [--reps 5] [--out docs/results/performance_spherical.md]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_kernels import build_cref, cpu_model, fmt, parse  # noqa: E402
import subprocess  # noqa: E402

from relusim.models import machine  # noqa: E402
from relusim.kernels import rng as krng  # noqa: E402
from relusim.kernels import spherical, spherical_mc  # noqa: E402
from relusim.priors import spherical as spherical_prior  # noqa: E402

CASES = [("sign", "tree", 999, 9), ("relu", "tree", 1000, 10), ("relu", "fc", 1000, 10)]


def dump(cref, act, arch, N, K, alpha, work: Path):
    """Patterns xi (P, Nx), labels, random and annealed start weights (Nw,) float64 from `cref dump`."""
    pre = work / f"sph_{act}_{arch}_{N}_{alpha}"
    out = subprocess.run([str(cref), "dump", act, str(N), str(K), str(alpha), "1", "0.5", str(pre), f"arch={arch}",
                          "weights=sph"], check=True, capture_output=True, text=True).stdout
    d = dict(kv.split("=", 1) for kv in out.strip().splitlines()[-1].split() if "=" in kv)
    Nx, Pp, P = int(d["Nx"]), int(d["Pp"]), int(d["P"])
    X = np.fromfile(str(pre) + ".X", dtype=np.int8).reshape(Nx, Pp)
    xi = np.ascontiguousarray(X[:, :P].T)
    sigma = np.fromfile(str(pre) + ".y", dtype=np.int8)
    wr = np.fromfile(str(pre) + ".wrand", dtype=np.float64)
    wa = np.fromfile(str(pre) + ".wann", dtype=np.float64)
    return xi, sigma, wr, wa


def ours(act, arch, K, xi, sigma, w0, beta, reps, target_s, precision="float64") -> dict:
    Nx = xi.shape[1]
    n = Nx if arch == "fc" else Nx // K
    prob = spherical_prior.problem_arrays(xi, sigma, machine.output_weights(act, K), n, act)
    theta = spherical_mc.default_theta(n)

    def run(sweeps):
        st = spherical.new_state(w0[None, :], np.zeros(0), xi.shape[0], K, krng.new_state(np.random.SeedSequence(4242)),
                                 precision)
        spherical_mc.rebuild(prob, st, spherical_mc.NONE)
        E0 = int(st.E[0])
        en = np.zeros((sweeps, 1), np.int64)
        acc = np.zeros(sweeps, np.int64)
        t0 = time.perf_counter()
        spherical_mc.run(prob, st, spherical_mc.NONE, np.full(sweeps, float(beta)), np.zeros(sweeps),
                         np.zeros(sweeps, np.bool_), np.array([theta]), 0.4, 0, False, np.nan, 0.0, en, acc,
                         np.zeros(sweeps), np.zeros(sweeps))
        return time.perf_counter() - t0, int(acc.sum()), sweeps * len(w0), E0, int(st.E[0])

    run(1)
    sweeps = 8
    while True:
        dt = run(sweeps)[0]
        if dt > 0.05:
            break
        sweeps *= 2
    sweeps = max(8, int(sweeps * target_s / dt))
    res = [run(sweeps) for _ in range(reps)]
    t = statistics.median(r[0] for r in res)
    return {"props_per_s": res[0][2] / t, "acc_per_s": res[0][1] / t, "acc_rate": res[0][1] / res[0][2],
            "E0": res[0][3], "E1": res[0][4]}


def c_bench(cref, act, arch, N, K, alpha, beta, start, prec, reps, target_s) -> dict:
    out = subprocess.run([str(cref), "bench", act, str(N), str(K), str(alpha), str(beta), start, "A", "1", "0.5",
                          str(reps), str(target_s), f"arch={arch}", "weights=sph", f"prec={prec}"],
                         check=True, capture_output=True, text=True).stdout
    return parse([ln for ln in out.splitlines() if ln.startswith("RESULT")][0])


def np_bench(cref, act, arch, N, K, alpha, beta, start, prec, reps, nprop) -> dict:
    out = subprocess.run([sys.executable, str(cref.parent / "np_baseline.py"), act, str(N), str(K), str(alpha),
                          str(beta), start, "incr", "1", "0.5", str(reps), str(nprop), f"arch={arch}", "weights=sph",
                          f"prec={prec}"], check=True, capture_output=True, text=True).stdout
    return parse([ln for ln in out.splitlines() if ln.startswith("RESULT")][0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short repetitions, the rand/beta-1 and ann/beta-5 rows")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "performance_spherical.md"))
    args = ap.parse_args()
    target = 0.15 if args.quick else 0.4
    work = Path(tempfile.mkdtemp(prefix="relusim_bench_sph_"))
    cref = build_cref(work)
    if cref is None:
        sys.exit("no C compiler or no C reference (../shared/bench/cref): nothing to compare with")
    load = os.getloadavg()
    L = ["# Spherical-weight kernel performance\n",
         f"Measured by `scripts/bench_spherical.py{' --quick' if args.quick else ''}` on "
         f"{time.strftime('%Y-%m-%d %H:%M')}, CPU: {cpu_model()}, {os.cpu_count()} cores, single-threaded, "
         f"load average {load[0]:.1f} at the start. Median of {args.reps} repetitions; proposals/s (accepted/s). "
         "Same instance and start weights in every column (`cref dump ... weights=sph`), theta_max = "
         "min(pi, 15/sqrt(n)). relusim runs with float64 fields and with float32 ones (`anneal.precision`; "
         "weights float64 in both); `f32/C f32` divides ours by the C code at the same precision, `best/best` "
         "our faster precision by the C code's faster one; np-incr is float64.\n",
         "| act | arch | P | beta | start | acc | E0->E1 | relusim f64 | relusim f32 | C f64 | C f32 | np-incr f64 | "
         "f64/C f64 | f32/C f32 | best/best | ours/np |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cell = lambda r: f"{fmt(r['props_per_s'])} ({fmt(r['acc_per_s'])})" if r else "-"
    for act, arch, N, K in CASES:
        for alpha in (0.3, 0.6):
            xi, sigma, wr, wa = dump(cref, act, arch, N, K, alpha, work)
            for beta in (1, 5):
                for start, w0 in (("rand", wr), ("ann", wa)):
                    if args.quick and (beta, start) not in ((1, "rand"), (5, "ann")):
                        continue
                    o = ours(act, arch, K, xi, sigma, w0, beta, args.reps, target)
                    o32 = ours(act, arch, K, xi, sigma, w0, beta, args.reps, target, "float32")
                    c64 = c_bench(cref, act, arch, N, K, alpha, beta, start, "f64", args.reps, target)
                    c32 = c_bench(cref, act, arch, N, K, alpha, beta, start, "f32", args.reps, target)
                    nps = None
                    if (beta, start) in ((1, "rand"), (5, "ann")):
                        nps = np_bench(cref, act, arch, N, K, alpha, beta, start, "f64", 3, 1000 if args.quick else 3000)
                    best_c = max(float(c64["props_per_s"]), float(c32["props_per_s"]))
                    best_o = max(o["props_per_s"], o32["props_per_s"])
                    row = (f"| {act} | {arch} | {xi.shape[0]} | {beta} | {start} | {o['acc_rate']:.2f} | "
                           f"{o['E0']}->{o['E1']} | {cell(o)} | {cell(o32)} | {cell(c64)} | {cell(c32)} | {cell(nps)} | "
                           f"{o['props_per_s'] / float(c64['props_per_s']):.2f} | "
                           f"{o32['props_per_s'] / float(c32['props_per_s']):.2f} | {best_o / best_c:.2f} | "
                           + (f"{best_o / float(nps['props_per_s']):.0f}x |" if nps else "- |"))
                    print(row, flush=True)
                    L.append(row)
    Path(args.out).write_text("\n".join(L) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
