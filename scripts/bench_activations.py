"""Kernel throughput of every activation on binary weights: the tabled g against ReLU's integer kernel.

One problem (tree, N weights, K units, P = alpha N patterns, random start, constant beta), the same
for every activation: proposals per second of relusim's driver with the full O(P) pass (ReLU also with
the driver's choice, bitsets), and of a NumPy incremental baseline of the same Metropolis (per proposal:
the unit's new fields, the margins from the table, the error count: vectorised over patterns). The
ratios are taken within one run, side by side, on a shared machine: read them, not the absolute rates.

Run: PYTHONPATH=. python scripts/bench_activations.py [--N 1000] [--K 10] [--alpha 0.6] [--beta 5] [--reps 3]
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import numpy as np

from relusim.models import activations, instance, machine
from relusim.kernels import fields, metropolis, replicated
from relusim.kernels import rng as krng
from relusim.priors import binary

ACTS = ["relu", "relu_shift(shift=0.5)", "quadratic", "tanh", "erf(scale=2)", "softplus"]


def ours(act, xi, sigma, w0, K, beta, reps, bits_below, target_s=0.6):
    N = w0.shape[1]
    n = N // K
    pb = fields.problem(xi, sigma, machine.output_weights(act, K), n, binary.act_code(act, n), binary.gtable(act, n, K))
    ctl = replicated.control(metropolis.NONE, bits_below=bits_below)

    def run(sweeps):
        st = fields.new_state(pb, w0.copy(), np.zeros(0, np.int8), krng.new_state(np.random.SeedSequence(1)))
        tr = replicated.new_trace(sweeps, 1)
        t0 = time.perf_counter()
        replicated.run(pb, st, np.full(sweeps, beta), np.zeros(sweeps), ctl, tr, replicated.hybrid_state())
        return time.perf_counter() - t0

    run(1)
    sweeps = max(1, int(target_s / max(run(4) / 4, 1e-6)))
    return statistics.median(sweeps * N / run(sweeps) for _ in range(reps))


def numpy_incremental(act, xi, sigma, w0, K, beta, nprop=3000):
    """Metropolis in NumPy with cached fields: per proposal O(P) vectorised work, as the kernel does."""
    P, N = xi.shape
    n = N // K
    spec = activations.parse(act)
    gq = activations.binary_table(spec, n, K)[0] if not spec.integer else None
    c = machine.output_weights(act, K)
    w = w0[0].astype(np.int64).copy()
    H = machine.unit_fields(w, xi, K).astype(np.int64)
    g = (lambda h: gq[h + n]) if gq is not None else (lambda h: np.maximum(h, 0))
    G = np.stack([g(H[l]) for l in range(K)])
    out = c @ G
    E = int(np.count_nonzero(sigma * out <= 0))
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(nprop):
        i = int(rng.integers(N))
        l = i // n
        hn = H[l] - 2 * w[i] * xi[:, i]
        gn = g(hn)
        on = out + c[l] * (gn - G[l])
        En = int(np.count_nonzero(sigma * on <= 0))
        if En <= E or rng.random() < math.exp(-beta * (En - E)):
            H[l], G[l], out, E = hn, gn, on, En
            w[i] = -w[i]
    return nprop / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--N", type=int, default=1000)
    ap.add_argument("--K", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=0.6)
    ap.add_argument("--beta", type=float, default=5.0)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    P = int(a.alpha * a.N + 0.5)
    inst = instance.make(a.N, P, 7, 0)
    w0 = (2 * np.random.default_rng(3).integers(0, 2, (1, a.N)) - 1).astype(np.int8)
    print(f"CPU: {platform.processor() or platform.machine()}; tree N={a.N} K={a.K} P={P} beta={a.beta}, random start, "
          f"median of {a.reps}")
    print("| activation | relusim full pass (props/s) | relusim driver | NumPy incremental | ours/ReLU (full pass) | ours/np |")
    print("|---|---|---|---|---|---|")
    base = None
    for act in ACTS:
        K = a.K
        full = ours(act, inst.xi, inst.sigma, w0, K, a.beta, a.reps, -1.0)
        drv = ours(act, inst.xi, inst.sigma, w0, K, a.beta, a.reps, replicated.BITS_BELOW)
        npr = numpy_incremental(act, inst.xi, inst.sigma, w0, K, a.beta)
        base = base or full
        print(f"| {act} | {full:.3g} | {drv:.3g} | {npr:.3g} | {full / base:.2f} | {full / npr:.0f} |")


if __name__ == "__main__":
    main()
