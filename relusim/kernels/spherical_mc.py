"""Metropolis sweeps for spherical weights, one machine or an explicit robust ensemble (docs/algorithms.md §4).

A proposal picks a machine a (a replica, or in EXPLICIT mode the reference), a unit l, two of its
coordinates i != j and theta ~ U(-theta_max, theta_max), and rotates (W_li, W_lj) by theta: the norm
is kept, and theta and -theta are equally likely, so the proposal is symmetric with respect to the
uniform measure on the product of spheres and the acceptance is min(1, e^{-Delta}):
  NONE      Delta = beta Delta E_a
            (``anneal.energy: perceptron``: beta Delta L_a, L the perceptron cost of
            ``relusim.kernels.spherical``, in place of E_a here and below; E_a is still kept, and
            decides when the machine is solved)
  EXPLICIT  weight exp(-beta sum_a E_a + gamma sum_a sum_l Wt_l . W^a_l / n) (the reference Wt on
            its own spheres, docs/model.md §7):
              replica move:    Delta = beta Delta E_a - gamma (Wt_i dW_i + Wt_j dW_j) / n
              reference move:  Delta = -gamma (m_i dWt_i + m_j dWt_j) / n,  m = sum_a W^a
A sweep is Nw (y + 1) proposals (Nw y without a reference).

Drift. Every accepted move adds its rounding to the cached fields and norms (~1e-16 relative per
move). ``run`` therefore renormalises every unit and rebuilds H, marg, nact, E and m from the
weights every REBUILD_EVERY sweeps, counted from the start of the run (so a record block, a resume
or a worker never shifts them), and when the energy reaches 0, before trusting it. The rebuild is
O(N P), about one sweep's cost: every 8 sweeps is about 1/8 of the time at rand/beta-1 acceptance and
keeps the cached fields within ~1e-13 of a fresh computation (``tests/test_spherical_kernels.py``
measures; for the smooth activations, whose margins and cached g (``G``) are float sums of g
differences, 400 sweeps without a rebuild leave them within 1e-12 of a fresh computation).
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit

from . import detmath, gfun, stop
from . import rng as _rng
from .fields import RELU, SIGN
from .calls import apart
from .spherical import (GENERIC, PERCEPTRON, build, costly, normalise, normalise_rows, rotation_apply, rotation_delta,
                        rotation_steps)

NONE, EXPLICIT = 0, 1
REBUILD_EVERY = 8
THETA_MIN = 1e-4


def default_theta(n: int) -> float:
    """min(pi, 15 / sqrt(n)): h_l moves by ~theta per rotation while |h_l| ~ sqrt(n) (as the C reference)."""
    return float(min(np.pi, 15.0 / np.sqrt(n)))


def loop_key(act: int, cost: int) -> tuple[int, bool]:
    """The copy of the sweep loop an activation code and annealed energy run: (activation constant,
    perceptron cost).

    Sign and ReLU have a loop each with the activation a compile-time constant, and one more each
    for the perceptron cost (``spherical.PERCEPTRON``); so do linear, quadratic and shifted ReLU;
    every other code shares one loop that reads it at run time (GENERIC: g's branches are predicted,
    its cost is exp's).
    """
    if cost == PERCEPTRON:
        return (RELU if act == RELU else SIGN), True
    if act in (RELU, SIGN, gfun.LINEAR, gfun.QUADRATIC, gfun.RELU_SHIFT):
        return int(act), False
    return GENERIC, False


def sweep(problem, state, mode, etab, gamma, theta, beta):
    """One sweep at inverse temperature ``beta`` (``etab``: ``fill_etab`` at that beta, read by the
    error-count energy); returns the accepted moves (the compiled copy of ``loop_key``: ``KERNELS``)."""
    return KERNELS[loop_key(int(problem.act), int(problem.cost))](problem, state, mode, etab, gamma, theta, beta)


def sweep_loop(act: int, pc: int):
    """One sweep of rotation proposals (module docstring), written over the model's move
    (``spherical.rotation_steps``, ``rotation_delta``, ``rotation_apply``; act and pc compile-time constants).

    A factory: the returned loop closes over the constants, which numba prunes before typing, and is
    compiled by ``_compiled``. It is not an ``inline="always"`` function called by a wrapper: numba
    copies an inlined function's IR block by block, which cost 2-4 s of compile per copy of this loop
    (docs/ARCHITECTURE.md, "Compile time").
    """

    def sweep_(problem, state, mode, etab, gamma, theta, beta):
        XT, sig, c, n, code, p, _ = problem
        w, H, marg, nact, E, ref, m, st, G, S, L = state
        if act != GENERIC:
            code = act
        gbuf = np.empty(XT.shape[1] if costly(code) else 0)  # g of the proposed fields, kept for the update
        y, Nw = w.shape
        K = c.shape[0]
        P = XT.shape[1]
        fc = Nw != XT.shape[0]
        ny = y + 1 if mode == EXPLICIT else y
        gamma_n = gamma / n
        brn = beta / np.sqrt(n)
        acc = 0
        s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
        m32 = np.uint64(0xFFFFFFFF)
        for _ in range(Nw * ny):
            r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
            a = np.int64(((r >> np.uint64(32)) * np.uint64(ny)) >> np.uint64(32))
            l = np.int64(((r & m32) * np.uint64(K)) >> np.uint64(32))
            r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
            i = np.int64(((r >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))
            j = np.int64(((r & m32) * np.uint64(n - 1)) >> np.uint64(32))
            j += j >= i
            r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
            sn, cs = detmath.sincos((2.0 * _rng.to_unit(r) - 1.0) * theta)
            ri = i if fc else l * n + i  # the rows of XT the two weights read
            rj = j if fc else l * n + j
            i += l * n
            j += l * n
            if a < y:
                di, dj = rotation_steps(w[a, i], w[a, j], cs, sn)
                cnt, dL = rotation_delta(XT, sig, c, n, p, H, marg, nact, G, S, gbuf, act, code, pc, a, l, ri, rj, di, dj)
                dE = cnt - E[a]
                if pc:
                    arg = -brn * dL
                    if mode == EXPLICIT:
                        arg += gamma_n * (ref[i] * di + ref[j] * dj)
                    x = detmath.exp(min(arg, 700.0))
                else:
                    x = etab[dE + P]
                    if mode == EXPLICIT:
                        x *= detmath.exp(gamma_n * (ref[i] * di + ref[j] * dj))
                take = x >= 1.0
                if not take:
                    r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
                    take = _rng.to_unit(r) < x
                if take:
                    rotation_apply(XT, sig, c, n, p, w, H, marg, nact, G, S, gbuf, act, code, pc, a, l, i, j, ri, rj, di, dj)
                    if mode == EXPLICIT:
                        m[i] += di
                        m[j] += dj
                    E[a] += dE
                    if pc:
                        L[a] += dL / np.sqrt(n)
                    acc += 1
            else:
                di, dj = rotation_steps(ref[i], ref[j], cs, sn)
                x = detmath.exp(gamma_n * (m[i] * di + m[j] * dj))
                take = x >= 1.0
                if not take:
                    r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
                    take = _rng.to_unit(r) < x
                if take:
                    ref[i] += di
                    ref[j] += dj
                    acc += 1
        st[0], st[1], st[2], st[3] = s0, s1, s2, s3
        return acc

    return sweep_


def _compiled(act: int, pc: bool, name: str):
    """``sweep_loop`` compiled for one activation constant and energy, when a run first calls it
    (module-level names, so that the drivers call them from compiled code and stay cacheable)."""

    sweep_ = sweep_loop(act, pc)
    sweep_.__name__ = sweep_.__qualname__ = name
    return njit(cache=True)(sweep_)


sweep_relu = _compiled(RELU, False, "sweep_relu")
sweep_sign = _compiled(SIGN, False, "sweep_sign")
sweep_relu_cost = _compiled(RELU, True, "sweep_relu_cost")
sweep_sign_cost = _compiled(SIGN, True, "sweep_sign_cost")
sweep_linear = _compiled(gfun.LINEAR, False, "sweep_linear")
sweep_quadratic = _compiled(gfun.QUADRATIC, False, "sweep_quadratic")
sweep_relu_shift = _compiled(gfun.RELU_SHIFT, False, "sweep_relu_shift")
sweep_generic = _compiled(GENERIC, False, "sweep_generic")
KERNELS = {(RELU, False): sweep_relu, (SIGN, False): sweep_sign, (RELU, True): sweep_relu_cost,
           (SIGN, True): sweep_sign_cost, (gfun.LINEAR, False): sweep_linear,
           (gfun.QUADRATIC, False): sweep_quadratic, (gfun.RELU_SHIFT, False): sweep_relu_shift,
           (GENERIC, False): sweep_generic}


@njit(cache=True)
def rebuild(problem, state, mode):
    """Renormalise every unit (replicas and reference) and recompute every cache from the weights."""
    w, m = state.w, state.m
    y, Nw = w.shape
    for a in range(y):
        normalise(problem, state, a)
        state.E[a] = build(problem, state, a)
    if mode == EXPLICIT:
        normalise_rows(state.ref.reshape((1, Nw)), problem.n)
        for i in range(Nw):
            s = 0.0
            for a in range(y):
                s += w[a, i]
            m[i] = s


@njit(cache=True)
def coupling(state, n):
    """sum_a sum_l Wt_l . W^a_l / n (sequential: the same bits on every CPU)."""
    s = 0.0
    for a in range(state.w.shape[0]):
        for i in range(state.w.shape[1]):
            s += state.ref[i] * state.w[a, i]
    return s / n


@njit(cache=True)
def mean_mutual_overlap(state):
    """q-bar = 2/(y(y-1)) sum_{a<b} W^a . W^b / Nw (sequential sums)."""
    w = state.w
    y, Nw = w.shape
    s = 0.0
    for a in range(y):
        for b in range(a + 1, y):
            d = 0.0
            for i in range(Nw):
                d += w[a, i] * w[b, i]
            s += d
    return 2.0 * s / (Nw * y * (y - 1.0))


@njit(cache=True)
def fill_etab(etab, beta, P):
    """etab[k] = exp(-beta (k - P)): exp(-beta dE) at index dE + P (capped at e^700)."""
    for k in range(2 * P + 1):
        etab[k] = detmath.exp(min(-beta * (k - P), 700.0))


def run(problem, state, mode, betas, gammas, adapt, theta, target, sweep0, stop_rule, q_target, q_tol,
        energies, accepted, qbar, thetas):
    """len(betas) sweeps at (betas[s], gammas[s]); returns the sweeps done (fewer only when solved).

    ``theta`` (1,) is the current theta_max, changed in place after sweep s when ``adapt[s]``
    (theta *= exp(acceptance - target), within [THETA_MIN, pi]); ``sweep0`` is the number of sweeps
    of the run before this block (the rebuild clock). After sweep s: energies[s, :], accepted[s],
    qbar[s] (nan for y = 1), thetas[s] (the theta_max the sweep used).
    Stops after the sweep whose errors meet ``stop_rule`` (``relusim.kernels.stop``: every E_a = 0, or
    some) at the target overlap q_target (nan: any overlap), |q-bar - q_target| <= q_tol.
    A zero energy is trusted only after a rebuild confirms it. Runs the driver compiled for this
    problem's loop only (``driver``).
    """
    return driver(*loop_key(int(problem.act), int(problem.cost)))(problem, state, mode, betas, gammas, adapt, theta, target, sweep0,
                                      stop_rule, q_target, q_tol, energies, accepted, qbar, thetas)


@functools.cache
def driver(act: int, pc: bool):
    """``run`` compiled for one copy of the sweep loop (``loop_key``): a config compiles only its own
    sweep (``KERNELS``; the arguments are closure constants, the branches on them pruned before typing)."""

    @njit(cache=True)
    def run_(problem, state, mode, betas, gammas, adapt, theta, target, sweep0, stop_rule, q_target, q_tol,
             energies, accepted, qbar, thetas):
        y, Nw = state.w.shape
        P = problem.XT.shape[1]
        nv = Nw * (y + 1) if mode == EXPLICIT else Nw * y
        etab = np.empty(2 * P + 1)
        last_beta = -1.0
        for s in range(betas.shape[0]):
            if betas[s] != last_beta:
                fill_etab(etab, betas[s], P)
                last_beta = betas[s]
            thetas[s] = theta[0]
            gamma, beta = gammas[s], betas[s]
            if pc:  # closure constants: only this config's sweep is typed and compiled
                if act == RELU:
                    acc = apart(sweep_relu_cost, (problem, state, mode, etab, gamma, theta[0], beta))
                else:
                    acc = apart(sweep_sign_cost, (problem, state, mode, etab, gamma, theta[0], beta))
            elif act == RELU:
                acc = apart(sweep_relu, (problem, state, mode, etab, gamma, theta[0], beta))
            elif act == SIGN:
                acc = apart(sweep_sign, (problem, state, mode, etab, gamma, theta[0], beta))
            elif act == gfun.LINEAR:
                acc = apart(sweep_linear, (problem, state, mode, etab, gamma, theta[0], beta))
            elif act == gfun.QUADRATIC:
                acc = apart(sweep_quadratic, (problem, state, mode, etab, gamma, theta[0], beta))
            elif act == gfun.RELU_SHIFT:
                acc = apart(sweep_relu_shift, (problem, state, mode, etab, gamma, theta[0], beta))
            else:
                acc = apart(sweep_generic, (problem, state, mode, etab, gamma, theta[0], beta))
            if (sweep0 + s + 1) % REBUILD_EVERY == 0:
                rebuild(problem, state, mode)
            if adapt[s]:
                theta[0] = min(np.pi, max(THETA_MIN, theta[0] * detmath.exp(acc / nv - target)))
            q = mean_mutual_overlap(state) if y > 1 else np.nan
            if stop.solved(state.E, stop_rule) and (np.isnan(q_target) or abs(q - q_target) <= q_tol):
                rebuild(problem, state, mode)
                q = mean_mutual_overlap(state) if y > 1 else np.nan
            for a in range(y):  # not a slice assignment: its shape check compiles numba's error formatting
                energies[s, a] = state.E[a]
            accepted[s] = acc
            qbar[s] = q
            if stop.solved(state.E, stop_rule) and (np.isnan(q_target) or abs(q - q_target) <= q_tol):
                return s + 1
        return betas.shape[0]

    return run_
