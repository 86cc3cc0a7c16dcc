"""How often the capacity's errors cover the truth: synthetic 50% points through
``relusim.capacity.fss.extrapolate_with_systematics`` (the numbers quoted in its docstring).

The sizes and errors of the sign K = 3 exact table (N = 9..33, errors 0.017..0.009), alpha_50(N) =
0.9 - 0.5/N + c/N^2 with Gaussian noise of those errors, c = 0, 4, 8; 2000 data sets each. Prints
the fraction in which the truth 0.9 lies within stat, within sys, within stat + sys, how often the
warning (sys > stat) fires, and the median sys/stat. Seconds of CPU. Usage:

    PYTHONPATH=. python scripts/capacity_systematics_calibration.py
"""
import numpy as np

from relusim.capacity import fss

Ns = np.array([9, 15, 21, 27, 33.0])
err = np.array([0.017, 0.014, 0.012, 0.010, 0.009])
rng = np.random.default_rng(0)
for c in (0.0, 4.0, 8.0):
    rows = []
    for _ in range(2000):
        s = fss.extrapolate_with_systematics(Ns, 0.9 - 0.5 / Ns + c / Ns ** 2 + rng.normal(0, err), err)
        d = abs(s.alpha_inf - 0.9)
        rows.append((s.disagree, d < s.stat, d < s.sys, d < s.stat + s.sys, s.sys / s.stat,
                     (s.alpha_inf - 0.9) / s.stat))
    r = np.array(rows)
    print(f"c = {c:g}: 1/N fit biased by {r[:, 5].mean():+.2f} stat; truth within stat {r[:, 1].mean():.2f}, "
          f"within sys {r[:, 2].mean():.2f}, within stat + sys {r[:, 3].mean():.2f}; warning {r[:, 0].mean():.2f}; "
          f"median sys/stat {np.median(r[:, 4]):.2f}")
