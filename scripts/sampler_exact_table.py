"""G-test p-values of every sampler mode against exact enumeration (the cases of tests/test_hybrid_exact.py).

Usage: python scripts/sampler_exact_table.py   (prints a markdown table; about a minute)
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_hybrid_exact as t  # noqa: E402
from exact_oracle import boltzmann_energy_law, energies_of_all, g_test  # noqa: E402


def main():
    tmp = Path(tempfile.mkdtemp())
    print("| system | sampler | rrr_below | record_every | law tested | RRR sweeps | p-value |")
    print("|---|---|---|---|---|---|---|")
    for sampler, rb, rec in t.SINGLE:
        inst, tr = t.run_trace(tmp, "relu", 12, 4, 10, 2.0, sampler, rb, rec, thin=10)
        ex = boltzmann_energy_law(energies_of_all(inst.xi, inst.sigma, "relu", 4), 2.0, 10)
        p = g_test(np.bincount(tr["energy"][:, 0], minlength=11), ex)
        print(f"| ReLU N=12 K=4 P=10 beta=2, y=1 | {sampler} | {rb} | {rec} | E | {tr['rrr'].mean():.2f} | {p:.2g} |")
    for sampler, rb, rec in t.EXPLICIT:
        N, tr, joint, mutual, E, pr, q12 = t.explicit_trace(tmp, sampler, rb, rec)
        counts = np.zeros_like(joint)
        np.add.at(counts, (E, (pr + N) // 2), 1)
        keep = joint.ravel() > 0
        p1 = g_test(counts.ravel()[keep], joint.ravel()[keep])
        mc = np.bincount((q12 + N) // 2, minlength=N + 1)
        p2 = g_test(mc[mutual > 0], mutual[mutual > 0])
        print(f"| ReLU N=8 K=2 P=6 beta=2 gamma=0.5, explicit y=2 | {sampler} | {rb} | {rec} | (E, p_a) / q12 | "
              f"{tr['rrr'].mean():.2f} | {p1:.2g} / {p2:.2g} |")

if __name__ == "__main__":
    main()
