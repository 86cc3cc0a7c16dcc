"""The figure of docs/results/capacity.md, "Spherical weights": from the JSON files of ``relusim capacity --json``.

Usage: python scripts/capacity_spherical_figure.py PERCEPTRON.json RELU.json SIGN.json [SIGN_K5.json ...]
       [--plot docs/capacity_spherical.png]

Panels: the spherical perceptron's solved fraction vs alpha per N (Gardner's 2); the ReLU and the
sign trees at their largest N per K; the 50% points vs K beside the theory (ReLU RS 2 pi/(pi - 1) and
1RSB; sign (16/pi) sqrt(ln K), a large-K form).
"""
from __future__ import annotations

import argparse
import json
import math


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("perceptron")
    ap.add_argument("relu")
    ap.add_argument("sign", nargs="+")
    ap.add_argument("--plot", default="docs/capacity_spherical.png")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def load(p):
        with open(p) as fh:
            return json.load(fh)

    per, relu = load(args.perceptron), load(args.relu)
    sign = {"by_K": {}}
    for p in args.sign:
        sign["by_K"].update(load(p)["by_K"])
    fig, ax = plt.subplots(2, 2, figsize=(10, 7.5))

    def curves(axis, a, Ns=None, label=lambda K, N: f"N = {N}"):
        for j, (K, k) in enumerate(sorted(a["by_K"].items(), key=lambda kv: int(kv[0]))):
            sizes = sorted({p["N"] for p in k["points"]})
            for N in (sizes if Ns is None else sizes[-1:]):
                sel = [p for p in k["points"] if p["N"] == N]
                x = [p["alpha"] for p in sel]
                y = [p["fraction"] for p in sel]
                lo = [p["fraction"] - p["wilson_lo"] for p in sel]
                hi = [p["wilson_hi"] - p["fraction"] for p in sel]
                axis.errorbar(x, y, yerr=[lo, hi], marker="o", ms=3, lw=1, capsize=2, label=label(K, N))
        axis.set_xlabel("alpha = P / weights")
        axis.set_ylabel("fraction solved by the anneal")

    curves(ax[0, 0], per)
    ax[0, 0].axvline(2.0, color="k", ls="--", lw=1, label="Gardner / Cover: 2")
    ax[0, 0].set_title("spherical perceptron (sign, K = 1)")
    curves(ax[0, 1], relu, Ns="largest", label=lambda K, N: f"K = {K}, N = {N}")
    ax[0, 1].set_title("spherical ReLU trees")
    curves(ax[1, 0], sign, Ns="largest", label=lambda K, N: f"K = {K}, N = {N}")
    ax[1, 0].set_title("spherical sign trees")
    b = ax[1, 1]
    for name, a, c in (("ReLU", relu, "C0"), ("sign", sign, "C3")):
        Ks, m, e = [], [], []
        for K, k in sorted(a["by_K"].items(), key=lambda kv: int(kv[0])):
            mp = k["midpoints"][-1]
            if mp["alpha50"] is not None:
                Ks.append(int(K)), m.append(mp["alpha50"]), e.append(mp["err"])
        b.errorbar(Ks, m, yerr=e, marker="o", capsize=3, color=c, label=f"{name}: anneal alpha_50 (largest N)")
    b.axhline(2 * math.pi / (math.pi - 1), color="C0", ls="--", lw=1, label="ReLU RS, K -> inf: 2.934")
    th = [k["theory"] for k in relu["by_K"].values() if k["theory"]]
    if th and "1RSB" in th[0]["label"]:
        b.axhline(float(th[0]["label"].split("1RSB ")[1]), color="C0", ls=":", lw=1, label="ReLU 1RSB, K -> inf")
    ks = sorted(int(K) for K in sign["by_K"])
    b.plot(ks, [16 / math.pi * math.sqrt(math.log(K)) for K in ks], "--", color="C3", lw=1,
           label="sign (16/pi) sqrt(ln K), K >> 1")
    b.set_xscale("log", base=2)
    b.set_xlabel("K")
    b.set_ylabel("alpha")
    b.set_title("50% points vs K (a lower bound: fixed budget)")
    for axis in ax.flat:
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
