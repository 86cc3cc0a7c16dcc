"""Annealing driver for one machine or a robust ensemble, with Metropolis or RRR (docs/model.md §7-8).

``run`` does a block of sweeps at given (beta, gamma) per sweep. With the RRR sampler and
``rrr_below`` <= 1 it is a hybrid: RRR pays for its bookkeeping only when most Metropolis proposals
would be rejected, so a sweep is RRR when the acceptance of the sweep before it (measured, or z / nv
after an RRR sweep: the mean Metropolis acceptance of the state) was below ``rrr_below``.

Exactness of the hybrid. A *stage* is a run of sweeps at the same (beta, gamma). A stage starts
with Metropolis unless the sweep before it had an acceptance below ``rrr_below``; within the stage
the sampler may switch from Metropolis to RRR once, after the first sweep whose acceptance is below
``rrr_below``, and never back. So at constant (beta, gamma) the kernel changes at most once: from
then on the chain is time-homogeneous, with one of two kernels that each satisfy detailed balance
for exp(-beta H), and it converges to the Boltzmann law (an adaptation that stops after a finite
time keeps the chain ergodic for its target: Roberts & Rosenthal, J. Appl. Prob. 44, 458 (2007)).
During an annealing schedule, where (beta, gamma) change from sweep to sweep, the choice follows
the acceptance sweep by sweep, as it did before. Choosing every sweep from the previous sweep's
acceptance at constant beta (the earlier rule) makes the kernel a function of the state and biases
the stationary law: measured, mean energy 2.5% high on a 12-weight ReLU machine at beta = 2, G-test
p ~ 1e-8 (tests/test_hybrid_exact.py). The hybrid state lives in the chain (``hybrid_state``), so
a block of sweeps (``record_every``) continues the stage of the block before it.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit

from . import bits, metropolis, rrr, stop
from .calls import apart
from .fields import RELU, SIGN_ODD
from .fields import TABLE as TABLE_ACT
from .metropolis import TRACED
from .records import Control, Point, Trace

BITS_BELOW = 0.5  # bitsets while the acceptance is below this (measured: they lose only near 100%)
NO_RRR, HYBRID, RRR_ONLY = 0, 1, 2  # the RRR steps a driver holds (``kernel_key``)


@njit(cache=True)
def replica_sums(w, m):
    """m_i = sum_a W^a_i."""
    y, N = w.shape
    for i in range(N):
        s = 0
        for a in range(y):
            s += w[a, i]
        m[i] = s


@njit(cache=True)
def mean_mutual_overlap(m, y):
    """q-bar = 2/(y(y-1)) sum_{a<b} W^a.W^b / N = (sum_i m_i^2 - y N) / (N y (y - 1)) (docs/model.md §7)."""
    N = m.shape[0]
    s = 0
    for i in range(N):
        s += np.int64(m[i]) * m[i]
    return (s - y * N) / (N * y * (y - 1.0))


def hybrid_state() -> np.ndarray:
    """A fresh hybrid state: [acceptance of the last sweep (nan: none yet), RRR chosen (0/1),
    the stage's beta, its gamma]."""
    return np.array([np.nan, 0.0, -1.0, -1.0])


def control(mode: int, use_rrr: bool = False, rrr_below: float = 0.0, bits_below: float = BITS_BELOW,
            stop_rule: int = stop.NEVER, q_target: float = np.nan, q_tol: float = 0.0) -> Control:
    """A ``Control`` record with the field types ``run`` is compiled for (one compilation for all callers).
    ``stop_rule``: ``stop.NEVER``, ``ALL`` or ``ANY`` (False and True read as NEVER and ALL)."""
    return Control(int(mode), bool(use_rrr), float(rrr_below), float(bits_below), int(stop_rule),
                   float(q_target), float(q_tol))


def new_trace(S: int, y: int) -> Trace:
    """Zeroed per-sweep outputs for S sweeps of y replicas."""
    return Trace(np.zeros((S, y), np.int64), np.zeros(S, np.int64), np.full(S, np.nan), np.zeros(S, np.bool_))


def kernel_key(act: int, n: int, Pp: int, mode: int, use_rrr: bool, bits_below: float = BITS_BELOW,
               rrr_below: float = 0.0):
    """What ``run`` compiles for: (activation code, bitset level or 0 for the full pass only, RRR: NO_RRR,
    HYBRID or RRR_ONLY).

    The bitsets are used where ``bits.pays`` (or forced with bits_below > 1), never for a tabled g;
    RRR only when the sampler asks for it and the mode supports it (not the traced reference). RRR
    forced (rrr_below > 1: no acceptance reaches it) never runs a Metropolis sweep, so its driver
    holds none (RRR_ONLY, no bitset level), 3-4 s less to compile and the same chain.
    """
    rrr_mode = NO_RRR if not use_rrr or int(mode) == TRACED else RRR_ONLY if rrr_below > 1.0 else HYBRID
    with_bits = act != TABLE_ACT and rrr_mode != RRR_ONLY and (bits_below > 1.0 or bool(bits.pays(act, n, Pp)))
    lev = int(bits.levels(act, n)) if with_bits else 0
    return int(act), lev, rrr_mode


def run(pb, st, betas, gammas, ctl, out, hyb):
    """len(betas) sweeps of the chain st on problem pb, sweep s at (betas[s], gammas[s]); returns the
    number of sweeps done.

    The sampling mode is the chain's (``mode_of``). After sweep s: out.energies[s, :] = E,
    out.accepted[s], out.qbar[s] (nan for y = 1), out.rrr_used[s]. ``hyb`` (``hybrid_state``) carries
    the RRR/Metropolis choice across calls (module docstring); RRR is forced with ctl.rrr_below > 1.
    Stops early when the errors meet ctl.stop (``stop.solved``: every E[a] == 0 for ALL, some for
    ANY) and (ctl.q_target is nan or |qbar - q_target| <= q_tol). Metropolis sweeps take Delta E
    from class-change bitsets (``metropolis.sweep_bits``) where ``bits.pays`` and while the acceptance
    is below ctl.bits_below (BITS_BELOW; a benchmark or test forces the full pass with bits_below < 0,
    the bitsets with > 1), else the full pass; both are the same chain, so the choice never changes a result.

    Runs the driver compiled for this problem and control only (``driver``, ``kernel_key``).
    """
    key = kernel_key(int(pb.act), int(pb.n), pb.XT.shape[1], int(ctl.mode), bool(ctl.use_rrr), float(ctl.bits_below),
                     float(ctl.rrr_below))
    return driver(*key)(pb, st, betas, gammas, ctl, out, hyb)


@functools.cache
def driver(act: int, lev: int, rrr_mode: int):
    """The driver compiled for one activation code, bitset level (0: the full pass only) and sampler
    (``kernel_key``: no RRR, the hybrid, or RRR only).

    A config compiles only what it runs: its own activation's Metropolis sweeps (``metropolis.KERNELS``:
    the full pass, and the bitsets at its level where they pay), and the RRR steps only when it
    samples with RRR, and no Metropolis sweep when RRR is forced. The arguments are compile-time constants of the closure: numba prunes the
    branches on them before typing, so the sweeps of other activations are never typed nor compiled,
    and caches one entry per value (a closure over plain ints is cacheable; one over a compiled
    function is not, hence the branches to module-level kernels). The sweeps are shared by every
    driver that runs them (with or without RRR, any ensemble).
    """

    use_rrr = rrr_mode != NO_RRR
    with_metropolis = rrr_mode != RRR_ONLY

    @njit(cache=True)
    def run_(pb, st, betas, gammas, ctl, out, hyb):
        mode = ctl.mode
        w, E, m = st.w, st.E, st.m
        y, N = w.shape
        P = pb.XT.shape[1]
        nv = N * (y + 1) if mode == metropolis.EXPLICIT else N * y
        etab = np.empty(2 * P + 1)
        ctab = np.zeros((2 * y + 1, 2))
        sc = rrr.alloc(y, N, P, mode) if use_rrr else rrr.alloc(0, 0, 0, mode)
        bt = bits.new(pb, y)
        in_bits = False
        last_beta, last_gamma = -1.0, -1.0
        in_rrr = False
        for s in range(betas.shape[0]):
            beta, gamma = betas[s], gammas[s]
            changed = beta != last_beta or gamma != last_gamma
            if beta != last_beta:
                metropolis.fill_etab(etab, beta, P)
            if mode == TRACED and gamma != last_gamma:
                metropolis.fill_ctab(ctab, gamma, y)
            last_beta, last_gamma = beta, gamma
            pt = Point(mode, gamma, etab, ctab)
            if beta != hyb[2] or gamma != hyb[3]:  # a new stage starts with Metropolis
                hyb[1], hyb[2], hyb[3] = 0.0, beta, gamma
            if hyb[0] < ctl.rrr_below:  # nan (no sweep yet) compares False; one way within a stage
                hyb[1] = 1.0
            rate = hyb[0] if not np.isnan(hyb[0]) else 1.0
            rrr_now = False
            if use_rrr:  # a closure constant: without RRR numba never types (nor compiles) this block
                if mode != TRACED and (ctl.rrr_below > 1.0 or hyb[1] == 1.0):
                    if not in_rrr:
                        rrr.rebuild_delta(pb, st, sc.dEd)
                    if not in_rrr or changed:
                        rrr.rebuild_p(st, pt, sc)
                    acc, rate = rrr.sweep(pb, st, pt, sc, ctl.stop)
                    in_rrr, in_bits, rrr_now = True, False, True
                    out.rrr_used[s] = True
            if with_metropolis:  # a closure constant, tested alone: numba prunes the block for RRR_ONLY (and LLVM
                # keeps the Metropolis code of the other drivers as before; "with_metropolis and not rrr_now" cost 2-4%)
                if not rrr_now:
                    acc = -1
                    if lev > 0:  # a closure constant: a full-pass driver holds no bitset code
                        if rate < ctl.bits_below:
                            if not in_bits:
                                bits.build(pb, st, bt)
                            in_rrr, in_bits = False, True
                            if act == RELU:
                                if lev == 1:
                                    acc = apart(metropolis.sweep_bits_relu1, (pb, st, pt, bt))
                                else:
                                    acc = apart(metropolis.sweep_bits_relu2, (pb, st, pt, bt))
                            elif act == SIGN_ODD:
                                acc = apart(metropolis.sweep_bits_sign_odd, (pb, st, pt, bt))
                            else:
                                acc = apart(metropolis.sweep_bits_sign, (pb, st, pt, bt))
                    if acc < 0:
                        in_rrr, in_bits = False, False
                        if act == RELU:
                            acc = apart(metropolis.sweep_relu, (pb, st, pt, bt))
                        elif act == SIGN_ODD:
                            acc = apart(metropolis.sweep_sign_odd, (pb, st, pt, bt))
                        elif act == TABLE_ACT:
                            acc = apart(metropolis.sweep_table, (pb, st, pt, bt))
                        else:
                            acc = apart(metropolis.sweep_sign, (pb, st, pt, bt))
                    rate = acc / nv
                    out.rrr_used[s] = False
            hyb[0] = rate
            for a in range(y):  # not a slice assignment: its shape check compiles numba's error formatting
                out.energies[s, a] = E[a]
            out.accepted[s] = acc
            q = mean_mutual_overlap(m, y) if y > 1 else np.nan
            out.qbar[s] = q
            if stop.solved(E, ctl.stop) and (np.isnan(ctl.q_target) or abs(q - ctl.q_target) <= ctl.q_tol):
                return s + 1
        return betas.shape[0]

    return run_
