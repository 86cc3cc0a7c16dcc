"""The false-alarm rate and the power of the float32 two-sample test (tests/test_spherical_float32.py,
``test_float32_and_float64_chains_sample_the_same_energy_law_where_rounding_changes_the_chain``), measured.

The test runs one set of seeds; this runs the same design over ``--sets`` independent sets (other
seeds for every chain): each set compares a float32 arm with a float64 arm (the null: how often it
rejects, and the spread of the mean test's t, which should be 1) and a float32 arm at a 2% wrong
beta with the float64 arm (the power). Prints the test's own numbers first (its seeds), then the
rates. About 5 s of CPU per set. Usage:

    PYTHONPATH=. python scripts/float32_power.py [--sets 40]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import test_spherical_float32 as t  # noqa: E402


def welch_t(Ea, Eb):
    ba = Ea.reshape(-1, Ea.shape[1] // t.BATCHES).mean(1)
    bb = Eb.reshape(-1, Eb.shape[1] // t.BATCHES).mean(1)
    se = math.sqrt(ba.var(ddof=1) / len(ba) + bb.var(ddof=1) / len(bb))
    return (ba.mean() - bb.mean()) / se, se


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=40)
    args = ap.parse_args()
    b = t.TWO_SAMPLE["beta"]
    t0 = time.process_time()
    E64 = t.energy_chains("float64", b, [11, 12, 13, 14])
    E32 = t.energy_chains("float32", b, [21, 22, 23, 24])
    W = t.energy_chains("float32", 1.02 * b, [31, 32, 33, 34])
    tt, se = welch_t(E32, E64)
    print(f"the test's seeds: mean E float64 {E64.mean():.3f}, float32 {E32.mean():.3f}, beta x 1.02 {W.mean():.3f}; "
          f"se {se:.4f}; null p (mean, law) {t.two_sample(E32, E64)}; wrong beta p {t.two_sample(W, E64)}; "
          f"power at a 1% shift {stats.norm.cdf(0.01 * E64.mean() / se - stats.norm.isf(t.ALPHA_TWO_SAMPLE / 4)):.3f}")
    ts, null_rej, wrong_rej, shifts = [], 0, 0, []
    for k in range(args.sets):
        s = 1000 + 100 * k
        E64 = t.energy_chains("float64", b, [s + j for j in range(4)])
        E32 = t.energy_chains("float32", b, [s + 10 + j for j in range(4)])
        W = t.energy_chains("float32", 1.02 * b, [s + 20 + j for j in range(4)])
        ts.append(welch_t(E32, E64)[0])
        null_rej += t.rejects(*t.two_sample(E32, E64))
        wrong_rej += t.rejects(*t.two_sample(W, E64))
        shifts.append(W.mean() - E64.mean())
        print(f"set {k}: t {ts[-1]:+.2f}, null rejected {null_rej}, wrong beta rejected {wrong_rej} of {k + 1}",
              flush=True)
    n = args.sets
    lo = stats.beta.ppf(0.05, wrong_rej, n - wrong_rej + 1) if wrong_rej else 0.0
    print(f"{n} sets: null rejected {null_rej} (nominal {t.ALPHA_TWO_SAMPLE * n:.2f}); sd of t under the null "
          f"{np.std(ts, ddof=1):.2f}, mean {np.mean(ts):+.2f}; 2% wrong beta rejected {wrong_rej} of {n} "
          f"(power >= {lo:.2f} at 95% confidence); its mean shift {np.mean(shifts):+.3f} "
          f"({100 * np.mean(shifts) / 41.7:+.2f}%); CPU {time.process_time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
