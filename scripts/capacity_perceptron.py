"""The full binary-perceptron capacity check: exact P(SAT) at N = 13..29, 200 instances per point.

Runs ``relusim capacity --method exact`` (sign, K = 1) and compares the N -> infinity estimates with
Krauth-Mezard's alpha_c = 0.8331 (RS zero entropy, ``relusim theory capacity``). Prints the summary
table and whether each estimate is within 0.03. About 40 CPU minutes on a shared 2-core machine;
the CI-sized version is tests/test_capacity.py. Usage:

    python scripts/capacity_perceptron.py [--out results/capacity_perceptron.h5] [--workers 2]
"""
from __future__ import annotations

import argparse
import sys
import time

from relusim import capacity as cap
from relusim.capacity_analysis import plot, table
from relusim.config import from_dict

KRAUTH_MEZARD = 0.8331


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="results/capacity_perceptron.h5")
    ap.add_argument("--plot", default="results/capacity_perceptron.png")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--N", default="13,17,21,25,29")
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    base = from_dict({"name": "perceptron", "seed": 1, "model": {"activation": "sign", "K": 1, "N": 13, "alpha": 0.5},
                      "output": args.out})
    plan = cap.make_plan(base, "exact", "0.6:1.15:0.05", args.N, None, args.samples)
    t0 = time.time()
    s = cap.run(plan, args.out, workers=args.workers, command=" ".join(sys.argv))
    a = s.analysis
    print(table(a))
    plot(a, args.plot)
    k = a["by_K"][1]
    fit, ex = k["fit"], k["midpoint_extrapolation"]
    for name, val, err in (("Nadler-Fink alpha_c", fit["alpha_c"], fit["alpha_c_err"]),
                           ("50% points + b/N", ex["alpha_inf"], ex["err"])):
        ok = abs(val - KRAUTH_MEZARD) < 0.03
        print(f"{name}: {val:.4f} +- {err:.4f}  vs 0.8331: {'within' if ok else 'NOT within'} 0.03")
    print(f"wall {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
