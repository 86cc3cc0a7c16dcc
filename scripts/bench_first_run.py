#!/usr/bin/env python3
"""The first run of a config, cold and warm, here and at another commit, side by side in one run.

For each config: ``relusim anneal --config CONFIG`` run by the command line in a fresh process,
(1) with an empty numba cache (``NUMBA_CACHE_DIR`` a new temporary folder: the cold first run of a
fresh install) and (2) again with the cache that run left (warm). Each is timed (wall clock) and,
in the cold run, numba's compilations are timed kernel by kernel (exclusive seconds: a kernel's
time without that of the kernels it compiled on the way), through numba's event API. With a base
commit (checked out into a temporary git worktree), its runs alternate with this checkout's.

usage: python scripts/bench_first_run.py [--base COMMIT] [--config configs/default.yaml ...]
       [--reps 1] [--workers N] [--top 12] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# run in the child: numba's compile events, exclusive time per kernel, then the command line itself
CHILD = r"""
import collections, json, sys, time
from numba.core import event
spent, count, stack = collections.defaultdict(float), collections.Counter(), []
def name(d):
    return f"{d.py_func.__module__}.{d.py_func.__qualname__}".replace(".<locals>", "")
class Timer(event.Listener):
    def on_start(self, ev):
        stack.append((ev.data["dispatcher"], time.perf_counter()))
    def on_end(self, ev):
        d, t0 = stack.pop()
        dt = time.perf_counter() - t0
        spent[name(d)] += dt
        count[name(d)] += 1
        if stack:
            spent[name(stack[-1][0])] -= dt
event.register("numba:compile", Timer())
from relusim.cli.main import main
sys.argv = ["relusim", *sys.argv[2:]]
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
with open(OUT, "w") as fh:
    json.dump({"code": code, "kernels": {k: [v, count[k]] for k, v in spent.items()}}, fh)
"""


def one_run(src: Path, config: str, cache: Path, workers: int, tmp: Path) -> dict:
    """``relusim anneal`` of ``config`` at ``src`` with numba's cache in ``cache``: wall time and compiles."""
    out_h5 = tmp / f"run_{time.monotonic_ns()}.h5"
    report = tmp / f"report_{time.monotonic_ns()}.json"
    env = {**os.environ, "PYTHONPATH": str(src), "NUMBA_CACHE_DIR": str(cache), "MPLBACKEND": "Agg"}
    code = CHILD.replace("OUT", repr(str(report)))
    args = ["anneal", "--config", str(src / config), "--out", str(out_h5), "--overwrite", "--quiet"]
    if workers:
        args += ["--workers", str(workers)]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, "--", *args], env=env, cwd=src, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode or not report.exists():
        raise SystemExit(f"{src}: {config} failed:\n{p.stderr[-3000:]}")
    rep = json.loads(report.read_text())
    return {"wall": wall, "kernels": rep["kernels"], "compile": sum(v for v, _ in rep["kernels"].values())}


def cold_and_warm(src: Path, config: str, workers: int, tmp: Path) -> tuple[dict, dict]:
    cache = Path(tempfile.mkdtemp(dir=tmp, prefix="numba_"))
    return one_run(src, config, cache, workers, tmp), one_run(src, config, cache, workers, tmp)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="a commit to run beside this checkout")
    ap.add_argument("--config", action="append", help="configs to run (default: configs/default.yaml)")
    ap.add_argument("--reps", type=int, default=1, help="cold+warm pairs per config and checkout (medians)")
    ap.add_argument("--workers", type=int, default=0, help="--workers of the runs (0: relusim's default)")
    ap.add_argument("--top", type=int, default=12, help="kernels listed per run")
    ap.add_argument("--json", help="write every measurement here")
    args = ap.parse_args()
    configs = args.config or ["configs/default.yaml"]
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}; "
          f"{time.strftime('%Y-%m-%d')}; workers {args.workers or 'default'}")
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        sources = {"this": ROOT}
        if args.base:
            sources = {f"base {args.base[:8]}": tmp / "base", "this": ROOT}
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tmp / "base"), args.base],
                           check=True, capture_output=True)
        try:
            for config in configs:
                for _ in range(args.reps):
                    for label, src in sources.items():
                        cold, warm = cold_and_warm(src, config, args.workers, tmp)
                        results.setdefault(config, {}).setdefault(label, []).append({"cold": cold, "warm": warm})
        finally:
            if args.base:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "base")],
                               capture_output=True)
    for config, by in results.items():
        print(f"\n## {config}\n")
        print("| checkout | cold run, wall (s) | of which compiling (s) | warm run, wall (s) |")
        print("|---|---|---|---|")
        for label, runs in by.items():
            print(f"| {label} | {statistics.median(r['cold']['wall'] for r in runs):.1f} | "
                  f"{statistics.median(r['cold']['compile'] for r in runs):.1f} | "
                  f"{statistics.median(r['warm']['wall'] for r in runs):.1f} |")
        for label, runs in by.items():
            kernels = runs[0]["cold"]["kernels"]
            print(f"\n{label}, compile time per kernel (exclusive s, first cold run; x: specialisations):\n")
            print("| kernel | s | x |\n|---|---|---|")
            for k, (s, n) in sorted(kernels.items(), key=lambda kv: -kv[1][0])[:args.top]:
                print(f"| {k} | {s:.2f} | {n} |")
            rest = sorted(kernels.items(), key=lambda kv: -kv[1][0])[args.top:]
            if rest:
                print(f"| {len(rest)} more | {sum(v[0] for _, v in rest):.2f} | |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
