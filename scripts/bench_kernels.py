#!/usr/bin/env python3
"""relusim's Metropolis kernels side by side with the C reference and the NumPy baselines, in one run.

The C reference (../shared/bench/cref: variants A, B, L) is built if a C compiler is present; its
`dump` command writes the very problem instances and start configurations (random, or after a short
anneal) that every column then uses. Each cell is the median of --reps repetitions after a JIT
warm-up; ratios are measured in this run, on this machine. Writes a Markdown table to
docs/results/performance.md (or --out).

usage: python scripts/bench_kernels.py [--quick] [--rows main,re,scale] [--reps 5] [--out F]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relusim.models import machine  # noqa: E402
from relusim.kernels import bits, fields, metropolis, replicated  # noqa: E402
from relusim.kernels import rng as krng  # noqa: E402
from relusim.priors import binary  # noqa: E402

CREF_SRC = ROOT.parent / "shared" / "bench" / "cref"
GAMMA = 0.5
MAIN = {"sign": (999, 9), "relu": (1000, 10)}
SCALE = {"sign": [(243, 9), (495, 9), (999, 9), (2007, 9), (4005, 9)],
         "relu": [(250, 10), (500, 10), (1000, 10), (2000, 10), (4000, 10)]}


def cpu_model() -> str:
    """The CPU's model name and LLVM's name for its microarchitecture (the code numba generates for)."""
    from llvmlite import binding

    name = platform.processor() or "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({binding.get_host_cpu_name()})"


def build_cref(workdir: Path) -> Path | None:
    if not CREF_SRC.is_dir() or shutil.which("gcc") is None and shutil.which("cc") is None:
        return None
    dst = workdir / "cref"
    shutil.copytree(CREF_SRC, dst)
    r = subprocess.run(["make", "-C", str(dst), "-s", "cref"], capture_output=True, text=True)
    return dst / "cref" if r.returncode == 0 else None


def parse(line: str) -> dict:
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def _opts(arch: str) -> list[str]:
    """The C reference's trailing options: none for a tree (its output is then the old one)."""
    return ["arch=fc"] if arch == "fc" else []


def c_bench(cref, act, N, K, alpha, beta, start, var, Y, reps, target_s, arch="tree") -> dict | None:
    """One C measurement; None when the variant does not apply (X: sign, or ReLU with n even)."""
    out = subprocess.run([str(cref), "bench", act, str(N), str(K), str(alpha), str(beta), start, var, str(Y),
                          str(GAMMA), str(reps), str(target_s), *_opts(arch)], capture_output=True, text=True)
    if out.returncode:
        if var == "X":
            return None
        raise RuntimeError(out.stderr)
    return parse([ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][0])


def x_applies(act: str, N: int, K: int) -> bool:
    """Variant X of the C reference exists for sign, and for ReLU with n = N/K even."""
    return act == "sign" or (N // K) % 2 == 0


def np_bench(cref, act, N, K, alpha, beta, start, style, Y, reps, nprop, arch="tree") -> dict:
    out = subprocess.run([sys.executable, str(cref.parent / "np_baseline.py"), act, str(N), str(K), str(alpha),
                          str(beta), start, style, str(Y), str(GAMMA), str(reps), str(nprop), *_opts(arch)],
                         check=True, capture_output=True, text=True).stdout
    return parse([ln for ln in out.splitlines() if ln.startswith("RESULT")][0])


def instance(cref, act, N, K, alpha, Y, workdir: Path, arch="tree"):
    """Patterns, labels and start weights: from `cref dump` when available, else our own.

    N counts weights; fully connected the patterns have N_in = N / K inputs (the C reference's convention)."""
    P = int(alpha * N + 0.5)
    Pp = (P + 63) // 64 * 64  # the C reference pads patterns to 64
    Nx = N // K if arch == "fc" else N
    if cref is not None:
        pre = workdir / f"inst_{act}_{N}_{alpha}_{Y}_{arch}"
        subprocess.run([str(cref), "dump", act, str(N), str(K), str(alpha), str(Y), str(GAMMA), str(pre),
                        *_opts(arch)], check=True, stdout=subprocess.DEVNULL)
        X = np.fromfile(str(pre) + ".X", dtype=np.int8).reshape(Nx, Pp)
        xi = np.ascontiguousarray(X[:, :P].T)
        sigma = np.fromfile(str(pre) + ".y", dtype=np.int8)
        wr = np.fromfile(str(pre) + ".wrand", dtype=np.int8).reshape(Y, N)
        wa = np.fromfile(str(pre) + ".wann", dtype=np.int8).reshape(Y, N)
        return xi, sigma, wr, wa
    from relusim.models import instance as inst_mod

    inst = inst_mod.make(Nx, P, 12345, 0)
    g = np.random.default_rng(777)
    wr = (2 * g.integers(0, 2, (Y, N)) - 1).astype(np.int8)
    return inst.xi, inst.sigma, wr, None


def ours(act, xi, sigma, w0, K, beta, Y, reps, target_s, bits_below=replicated.BITS_BELOW) -> dict:
    """Median proposals/s and accepted/s of relusim's kernel from the state w0 (Y, N weights) at constant beta.

    Fully connected when w0 holds K times as many weights as a pattern has inputs. ``bits_below`` < 0
    forces the full O(P) pass; the default lets the driver pick, as a run does.
    """
    N = w0.shape[1]
    n = N // K
    a = binary.act_code(act, n)
    pb = fields.problem(xi, sigma, machine.output_weights(act, K), n, a, binary.gtable(act, n, K))
    XT = pb.XT
    # y = 1: a single machine; y > 1: the traced-reference ensemble, as the C reference's (docs/algorithms.md §3)
    ctl = replicated.control(metropolis.NONE if Y == 1 else metropolis.TRACED, bits_below=bits_below)

    def run(sweeps: int):
        st = fields.new_state(pb, np.array(w0, np.int8), np.zeros(0, np.int8),
                              krng.new_state(np.random.SeedSequence(4242)))
        tr = replicated.new_trace(sweeps, Y)
        t0 = time.perf_counter()
        replicated.run(pb, st, np.full(sweeps, float(beta)), np.full(sweeps, GAMMA), ctl, tr, replicated.hybrid_state())
        return time.perf_counter() - t0, int(tr.accepted.sum()), sweeps * N * Y

    run(1)  # JIT warm-up
    sweeps = 1
    while True:
        dt, _, _ = run(sweeps)
        if dt > 0.05:
            break
        sweeps *= 4
    sweeps = max(1, int(sweeps * target_s / dt))
    times, accs = [], []
    for _ in range(reps):
        dt, acc, nprop = run(sweeps)
        times.append(dt)
        accs.append(acc)
    t = statistics.median(times)
    path = "bits" if bits.pays(a, n, XT.shape[1]) and accs[0] / nprop < bits_below else "full"
    return {"props_per_s": nprop / t, "acc_per_s": accs[0] / t, "nprop": nprop, "acc_rate": accs[0] / nprop,
            "path": path}


def memory_note(N: int, K: int, P: int, y: int) -> str:
    """Bytes a run holds per pattern and per weight (kernel arrays; no per-proposal allocation)."""
    Pp = fields.padded(P)
    patterns = N * Pp  # XT int8
    words = Pp // 64
    per_replica = 2 * K * Pp + 2 * Pp + N + 8 * words * (4 * K + 4)  # H int16, marg int16, w int8, bitsets UD, M
    total = patterns + 8 * N * words + 2 * Pp + 8 * words + y * per_replica + 2 * N + N  # + XB, sig, SG, m, ref
    return (f"N = {N}, K = {K}, P = {P} (padded {Pp}), y = {y}: {total / 1024:.0f} KiB in kernel arrays, "
            f"{total / P:.0f} B per pattern, {total / (N * y):.0f} B per replica weight")


def fmt(x) -> str:
    x = float(x)
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short repetitions, fewer rows")
    ap.add_argument("--rows", default="main,re,scale")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "performance.md"))
    args = ap.parse_args()
    rows = args.rows.split(",")
    target = 0.1 if args.quick else 0.3
    np_incr, np_naive = (300, 30) if args.quick else (3000, 200)
    work = Path(tempfile.mkdtemp(prefix="relusim_bench_"))
    cref = build_cref(work)
    L = ["# Kernel performance\n",
         f"Measured by `scripts/bench_kernels.py{' --quick' if args.quick else ''}` on {time.strftime('%Y-%m-%d')}, "
         f"CPU: {cpu_model()}, {os.cpu_count()} cores, single-threaded. Median of {args.reps} repetitions after "
         "JIT warm-up; proposals/s with accepted moves/s in parentheses. Every column of a row uses the same "
         "patterns and start weights (`cref dump`). `relusim` is the driver as a run uses it (Delta E from "
         "class-change bitsets where `bits.pays` and while the acceptance is below "
         f"{replicated.BITS_BELOW:.0%}, else the full pass); `full pass` forces the O(P) pass. `ours/C` is "
         "relusim over the best C variant, `ours/np` relusim over the NumPy incremental baseline.\n"]
    if cref is None:
        L.append("**No C compiler or no C reference found: the C columns are skipped.**\n")
    cell = lambda r: f"{fmt(r['props_per_s'])} ({fmt(r['acc_per_s'])})" if r else "n/a"
    ourcell = lambda r: f"{cell(r)} {r['path']}"

    def row(act, N, K, alpha, beta, start, Y, variants=("A", "B", "L", "X"), naive=True, arch="tree"):
        xi, sigma, wr, wa = instance(cref, act, N, K, alpha, Y, work, arch)
        w0 = wa if start == "ann" else wr
        if w0 is None:
            return None
        us = ours(act, xi, sigma, w0, K, beta, Y, args.reps, target)
        full = ours(act, xi, sigma, w0, K, beta, Y, args.reps, target, bits_below=-1.0)
        variants = [v for v in variants if v != "X" or x_applies(act, N, K)]
        cs = {v: c_bench(cref, act, N, K, alpha, beta, start, v, Y, args.reps, target, arch) for v in variants} if cref else {}
        cs = {v: c for v, c in cs.items() if c is not None}
        npi = np_bench(cref, act, N, K, alpha, beta, start, "incr", Y, args.reps, np_incr, arch) if cref else None
        npn = np_bench(cref, act, N, K, alpha, beta, start, "naive", Y, args.reps, np_naive, arch) if cref and naive else None
        best = max((float(c["props_per_s"]) for c in cs.values()), default=float("nan"))
        E = (cs.get("A") or {}).get("E0", "?")
        r = {"us": us, "full": full, "cs": cs, "npi": npi, "npn": npn, "best": best, "E0": E, "P": xi.shape[0]}
        print(act, N, alpha, beta, start, Y, fmt(us["props_per_s"]), "full", fmt(full["props_per_s"]), {v: fmt(c["props_per_s"]) for v, c in cs.items()},
              f"ours/C={us['props_per_s'] / best:.2f}", flush=True)
        return r

    alphas = (0.3, 0.6)
    if "main" in rows:
        L.append("## Single machine (y = 1)\n")
        L.append("Tree rows (N inputs, N weights) and fully connected rows (`fc`: N weights, N/K inputs, the C "
                 "reference's `arch=fc`) at the same number of weights and patterns.\n")
        L.append("| arch | act | N | P | beta | start | E0 | relusim | full pass | C-A | C-B | C-L | C-X | np-incr | np-naive | ours/C | ours/np |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for arch in ("tree", "fc"):
          for act, (N, K) in MAIN.items():
            for alpha in alphas:
                for beta in (1, 5):
                    for start in ("rand", "ann"):
                        r = row(act, N, K, alpha, beta, start, 1, arch=arch)
                        if r is None:
                            continue
                        L.append(f"| {arch} | {act} | {N} | {r['P']} | {beta} | {start} | {r['E0']} | {ourcell(r['us'])} | {fmt(r['full']['props_per_s'])} | "
                                 f"{cell(r['cs'].get('A'))} | {cell(r['cs'].get('B'))} | {cell(r['cs'].get('L'))} | {cell(r['cs'].get('X'))} | "
                                 f"{cell(r['npi'])} | {cell(r['npn'])} | {r['us']['props_per_s'] / r['best']:.2f}x | "
                                 + (f"{r['us']['props_per_s'] / float(r['npi']['props_per_s']):.0f}x |" if r['npi'] else "n/a |"))
    if "re" in rows:
        L.append(f"\n## Robust ensemble, reference traced out (gamma = {GAMMA})\n")
        L.append("| act | N | P | beta | start | y | relusim | full pass | C-A | C-B | C-X | np-incr | ours/C | ours/np |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for act, (N, K) in MAIN.items():
            for alpha in alphas:
                for beta, start in ((1, "rand"), (5, "ann")):
                    for Y in (3, 7):
                        r = row(act, N, K, alpha, beta, start, Y, ("A", "B", "X"), naive=False)
                        if r is None:
                            continue
                        L.append(f"| {act} | {N} | {r['P']} | {beta} | {start} | {Y} | {ourcell(r['us'])} | {fmt(r['full']['props_per_s'])} | "
                                 f"{cell(r['cs'].get('A'))} | {cell(r['cs'].get('B'))} | {cell(r['cs'].get('X'))} | {cell(r['npi'])} | "
                                 f"{r['us']['props_per_s'] / r['best']:.2f}x | "
                                 + (f"{r['us']['props_per_s'] / float(r['npi']['props_per_s']):.0f}x |" if r['npi'] else "n/a |"))
    if "scale" in rows:
        L.append("\n## Scaling with N at alpha = 0.5 (proposals/s)\n")
        L.append("| act | N | K | P | beta/start | relusim | full pass | C-A | C-B | C-X | np-incr | ours/C | ours/np |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for act in ("sign", "relu"):
            for N, K in SCALE[act]:
                for beta, start in ((1, "rand"), (5, "ann")):
                    r = row(act, N, K, 0.5, beta, start, 1, ("A", "B", "X"), naive=False)
                    if r is None:
                        continue
                    L.append(f"| {act} | {N} | {K} | {r['P']} | {beta}/{start} | {fmt(r['us']['props_per_s'])} {r['us']['path']} | {fmt(r['full']['props_per_s'])} | "
                             f"{fmt(r['cs']['A']['props_per_s']) if 'A' in r['cs'] else 'n/a'} | "
                             f"{fmt(r['cs']['B']['props_per_s']) if 'B' in r['cs'] else 'n/a'} | "
                             f"{fmt(r['cs']['X']['props_per_s']) if 'X' in r['cs'] else 'n/a'} | "
                             f"{fmt(r['npi']['props_per_s']) if r['npi'] else 'n/a'} | "
                             f"{r['us']['props_per_s'] / r['best']:.2f}x | "
                             + (f"{r['us']['props_per_s'] / float(r['npi']['props_per_s']):.0f}x |" if r['npi'] else "n/a |"))
    L.append("\n## Memory\n")
    for act, (N, K) in MAIN.items():
        for y in (1, 7):
            L.append(f"- {act}: {memory_note(N, K, int(0.6 * N + 0.5), y)}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(L) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
