"""Single-flip Metropolis sweeps of one machine or of a robust ensemble (docs/algorithms.md §2-3, [R] standardMC).

Each proposal picks one variable uniformly at random and accepts with probability min(1, exp(-beta dH));
a sweep is one proposal per variable. With gamma dimensionless (docs/model.md §7):
  NONE      y independent machines (a single system is y = 1):  beta dH = beta dE_a
  EXPLICIT  replicas and the reference are variables (N (y + 1) of them):
              replica flip (a, i):  beta dH = beta dE_a + 2 gamma ref_i W^a_i
              reference flip i:     beta dH = 2 gamma ref_i m_i,     m_i = sum_a W^a_i
  TRACED    the reference summed out ([R] RE.jl), N y variables; flipping W^a_i = s:
              beta dH = beta dE_a - [log cosh gamma (m_i - 2s) - log cosh gamma m_i]
E_a is any integer energy of binary weights with its flip move (``sweep_loop``): the error count
(``error_count``) or the least-action cost (``least_action``, docs/algorithms.md §10); one loop serves both.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit

from . import bits as _bits
from . import detmath, error_count
from . import rng as _rng
from .calls import apart
from .fields import RELU, SIGN, SIGN_ODD, TABLE, is_fc, row
from .records import Bitsets, Point

NONE, EXPLICIT, TRACED = 0, 1, 2


@njit(cache=True)
def fill_etab(etab, beta, P):
    """etab[k] = exp(-beta (k - P)) for k = 0..2P: exp(-beta dE) at index dE + P (capped at e^700).

    beta = inf is allowed (errors forbidden: 0 for dE > 0, 1 for dE = 0, e^700 for dE < 0); dE = 0
    is set to 1 directly, since inf * 0 is nan (for finite beta exp(-0.0) = 1 is the same value)."""
    for k in range(2 * P + 1):
        etab[k] = 1.0 if k == P else detmath.exp(min(-beta * (k - P), 700.0))


@njit(cache=True)
def fill_ctab(ctab, gamma, y):
    """Traced coupling factors ctab[m + y, (s + 1) // 2] = exp(logcosh gamma (m - 2s) - logcosh gamma m)."""
    for mm in range(-y, y + 1):
        for si in range(2):
            mn = mm - 2 * (2 * si - 1)
            ctab[mm + y, si] = detmath.exp(detmath.logcosh(gamma * mn) - detmath.logcosh(gamma * mm)) if abs(mn) <= y else 0.0


def sweep(pb, st, pt):
    """One Metropolis sweep with the full O(P) pass; returns the number of accepted moves (``sweep_loop``)."""
    return KERNELS[(int(pb.act), 0)](pb, st, pt, NO_BITS)


def sweep_bits(pb, st, pt, bt):
    """The same sweep (same draws, same chain) with Delta E from class-change bitsets (``relusim.kernels.bits``).

    bt.UD and bt.M must match (H, marg) on entry (``bits.build``) and are kept so; not for a tabled g.
    """
    act = int(pb.act)
    if act == TABLE:
        raise ValueError("a tabled g has no class-change bitsets")
    return KERNELS[(act, int(_bits.levels(act, pb.n)))](pb, st, pt, bt)


def sweep_loop(energy, act: int, use_bits: int):
    """One Metropolis sweep on exp(-beta H) of a binary energy H, plus the ensemble's coupling (module
    docstring); returns the number of accepted moves.

    ``energy`` is a module (``error_count``: E; ``least_action``: L) that provides, as ``inline="always"``
    functions on plain arrays (the loop unpacks the records once, at its top):
      caches(pb, st, aux) -> cx
          the tuple of exactly the arrays the energy needs (aux: the sweep's last argument), built once
          per sweep and unpacked inside the functions below (``gtab, XB, SG, UD, M = cx``)
      delta(XT, sig, H, marg, E, act, n, c, lev, mv, cx) -> (dH, dE)
          the changes of replica a's energy and of its errors E[a] by the proposed flip (E[a] += dE
          when it is accepted; returning E[a] + dE kept it live across the acceptance test and cost
          the proposal loop stack reloads); writes only the energy's scratch
      commit(XT, sig, H, marg, act, n, c, lev, mv, dH, cx)
          the fields H, margins marg and the energy's caches after the accepted flip
      delta_bits, commit_bits   the same on class-change bitsets, used instead when ``use_bits`` (the
                                bitset level lev; 0: the full pass, and these are never compiled)
      refresh_bits(XT, sig, H, marg, act, n, c, lev, mv, dH, cx)
          the bitsets after the accepted flip, from its new fields and margins, once the loop has
          kept w, m, E and the count (the bitset path only)
    where mv = (a, l, r, t, cl, wi) is the move: replica a, unit l, pattern row r (``fields.row``),
    t = 2 W^a_i (H[a, l] moves by -t XT[r]), cl = c[l], wi = W^a_i; ``act`` and ``lev`` are
    compile-time constants. Tuples of arrays and of scalars are SSA values in numba: once inlined, the
    loop compiles to the same code as with every array passed alone (reference counts taken once, at
    the sweep's start and end). The loop keeps w, m (sum of the replicas), ref and E. ``pt.etab`` from
    ``fill_etab`` at this beta serves every integer dH in [-P, P]; ``pt.ctab`` from ``fill_ctab`` at
    this gamma (TRACED). A new binary energy is one module with these six functions
    (docs/ARCHITECTURE.md, "Why the kernels look as they do").

    A factory: the returned loop closes over the energy module and the constants, which numba prunes
    before typing, and is compiled by ``_compiled``. It is not an ``inline="always"`` function called by
    a wrapper: numba copies an inlined function's IR block by block, which cost 2-4 s of compile per
    copy of this loop (docs/ARCHITECTURE.md, "Compile time"). A module, not its compiled functions, is
    the closure constant: numba's cache keys a closure by its pickled cells, and a module pickles as
    its name, a compiled function with a per-process id.
    """

    def sweep_(pb, st, pt, aux):
        XT, sig, c, n, unit = pb.XT, pb.sig, pb.c, pb.n, pb.unit
        w, H, marg, E, ref, m, state = st.w, st.H, st.marg, st.E, st.ref, st.m, st.rng
        mode, gamma, etab, ctab = pt.mode, pt.gamma, pt.etab, pt.ctab
        cx = energy.caches(pb, st, aux)
        y, N = w.shape
        P = XT.shape[1]
        e_up, e_dn = detmath.exp(-2.0 * gamma), detmath.exp(2.0 * gamma)
        ny = y + 1 if mode == EXPLICIT else y  # "replica" y is the reference
        nvar = N * ny
        fc = is_fc(XT, w)
        acc = 0
        s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
        for _ in range(nvar):
            # one 64-bit draw gives both coordinates: (replica, weight) uniform over ny x N
            r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
            a = np.int64(((r >> np.uint64(32)) * np.uint64(ny)) >> np.uint64(32))
            i = np.int64(((r & np.uint64(0xFFFFFFFF)) * np.uint64(N)) >> np.uint64(32))
            if a < y:
                l = unit[i]
                ri = row(i, l, n, fc)
                t = np.int16(2 * w[a, i])
                cl = np.int16(c[l])
                mv = (a, l, ri, t, cl, w[a, i])
                if use_bits:
                    dH, dE = energy.delta_bits(XT, sig, H, marg, E, act, n, c, use_bits, mv, cx)
                else:
                    dH, dE = energy.delta(XT, sig, H, marg, E, act, n, c, use_bits, mv, cx)
                x = etab[dH + P]
                if mode == EXPLICIT:
                    x *= e_up if ref[i] == w[a, i] else e_dn
                elif mode == TRACED:
                    x *= ctab[m[i] + y, (w[a, i] + 1) // 2]
                take = x >= 1.0
                if not take:
                    r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
                    take = _rng.to_unit(r) < x
                if take:
                    if use_bits:
                        energy.commit_bits(XT, sig, H, marg, act, n, c, use_bits, mv, dH, cx)
                    else:
                        energy.commit(XT, sig, H, marg, act, n, c, use_bits, mv, dH, cx)
                    m[i] -= t
                    w[a, i] = -w[a, i]
                    E[a] += dE
                    acc += 1
                    if use_bits:
                        energy.refresh_bits(XT, sig, H, marg, act, n, c, use_bits, mv, dH, cx)
            else:
                x = 2.0 * gamma * ref[i] * m[i]
                take = x <= 0.0
                if not take:
                    r, s0, s1, s2, s3 = _rng.step(s0, s1, s2, s3)
                    take = _rng.to_unit(r) < detmath.exp(-x)
                if take:
                    ref[i] = -ref[i]
                    acc += 1
        state[0], state[1], state[2], state[3] = s0, s1, s2, s3
        return acc

    return sweep_


def _compiled(act: int, lev: int, name: str):
    """``sweep_loop`` on the error count compiled for one activation code and bitset level (0: the full pass).

    Each activation gets its own copy of the loop with ``act`` a compile-time constant (left as a
    run-time value, LLVM kept the test on it inside the vectorised pattern loop: two compare-and-
    branches per 128 patterns), compiled only when a run first calls it. Module-level names, so
    that the drivers call them from compiled code and stay cacheable (numba cannot cache a function
    that closes over another compiled function).
    """

    sweep_ = sweep_loop(error_count, act, lev)
    sweep_.__name__ = sweep_.__qualname__ = name
    return njit(cache=True)(sweep_)


sweep_sign = _compiled(SIGN, 0, "sweep_sign")
sweep_sign_odd = _compiled(SIGN_ODD, 0, "sweep_sign_odd")
sweep_relu = _compiled(RELU, 0, "sweep_relu")
sweep_table = _compiled(TABLE, 0, "sweep_table")
sweep_bits_sign = _compiled(SIGN, 2, "sweep_bits_sign")  # sign with n even: two jump sizes
sweep_bits_sign_odd = _compiled(SIGN_ODD, 1, "sweep_bits_sign_odd")
sweep_bits_relu1 = _compiled(RELU, 1, "sweep_bits_relu1")  # n even
sweep_bits_relu2 = _compiled(RELU, 2, "sweep_bits_relu2")  # n odd
KERNELS = {(SIGN, 0): sweep_sign, (SIGN_ODD, 0): sweep_sign_odd, (RELU, 0): sweep_relu, (TABLE, 0): sweep_table,
           (SIGN, 2): sweep_bits_sign, (SIGN_ODD, 1): sweep_bits_sign_odd, (RELU, 1): sweep_bits_relu1,
           (RELU, 2): sweep_bits_relu2}


NO_BITS = Bitsets(np.zeros((0, 0), np.uint64), np.zeros((2, 0), np.uint64), np.zeros((0, 0, 4, 0), np.uint64),
                  np.zeros((0, 4, 0), np.uint64))  # the bitsets argument of a full-pass sweep


def sweeps(pb, st, betas, stop_when_solved, energies, accepted):
    """Single machine (st.w (1, N)): len(betas) sweeps at betas[s], full pass.

    After sweep s, energies[s] = E and accepted[s] = accepted flips. Returns the sweeps done: fewer
    than len(betas) only when ``stop_when_solved`` and E reached 0.
    """
    return _sweeps_for(int(pb.act))(pb, st, betas, stop_when_solved, energies, accepted)


@functools.cache
def _sweeps_for(act: int):
    """``sweeps`` compiled for one activation code (a closure constant: only its sweep is compiled)."""

    @njit(cache=True)
    def sweeps_(pb, st, betas, stop_when_solved, energies, accepted):
        P = pb.XT.shape[1]
        pt = Point(NONE, 0.0, np.empty(2 * P + 1), np.zeros((1, 2)))
        bt = Bitsets(np.zeros((0, 0), np.uint64), np.zeros((2, 0), np.uint64), np.zeros((0, 0, 4, 0), np.uint64),
                     np.zeros((0, 4, 0), np.uint64))
        last_beta = -1.0
        for s in range(betas.shape[0]):
            if betas[s] != last_beta:
                fill_etab(pt.etab, betas[s], P)
                last_beta = betas[s]
            if act == RELU:
                accepted[s] = apart(sweep_relu, (pb, st, pt, bt))
            elif act == SIGN_ODD:
                accepted[s] = apart(sweep_sign_odd, (pb, st, pt, bt))
            elif act == TABLE:
                accepted[s] = apart(sweep_table, (pb, st, pt, bt))
            else:
                accepted[s] = apart(sweep_sign, (pb, st, pt, bt))
            energies[s] = st.E[0]
            if stop_when_solved and st.E[0] == 0:
                return s + 1
        return betas.shape[0]

    return sweeps_
