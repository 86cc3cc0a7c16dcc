"""Hidden units of a committee machine: overlaps between networks up to the permutation symmetry, and
the correlations of the units within one network (Nishiyama & Ohzeki, arXiv:2404.13404).

Weights are flat and unit-major (docs/model.md §1): a network is w[K L], unit l holds w[l L:(l+1) L],
with fan-in L = N/K (tree) or N (fully connected). Every function takes such flat vectors (or the
(K, L) matrices) and returns arrays or frozen dataclasses; nothing here reads a file.

**Overlaps.** Between two networks a and b (two replicas, or a replica and the reference),

.. math::  Q_{kl} = \\frac{1}{L} \\sum_j W^a_{kj} W^b_{lj}, \\qquad k, l = 1..K.

**Symmetry.** Relabelling the hidden units by a permutation pi that keeps every c_l
(c_{pi(l)} = c_l) leaves the output sum_l c_l g(h_l) unchanged, so a and a∘pi are the same function:
overlaps are only meaningful once b is aligned to a, Q -> Q[:, pi] with pi maximising the trace
(scipy.optimize.linear_sum_assignment). The group depends on the model:

* fully connected sign (c_l = +1): all K! permutations. The sign flip of one unit, W_l -> -W_l, is
  *not* a symmetry: with c_l fixed to +1, sgn(-h_l) = -sgn(h_l) changes the output (the flip is only
  a gauge when c_l is free, where c_l W_l can absorb it; docs/model.md §1). Aligning over flips would
  turn an anti-aligned unit (a genuinely different network) into an aligned one, so we do not.
* fully connected ReLU (c = +1 on the first K/2 units, -1 on the rest): permutations within each half;
  the constrained assignment is two independent assignments, one per half. W_l -> -W_l is no symmetry
  either (max(-h, 0) != max(h, 0)), nor is exchanging the halves (it negates the output).
* tree: unit l sees its own block of inputs, so no relabelling is a symmetry and the alignment is the
  identity (the off-diagonal Q then compares weights on different inputs and is ~0).

**Invariants** (independent of any alignment, so a check on it): Q -> P_a Q P_b^T for the
permutation matrices of a relabelling of a and of b, which are orthogonal. So the singular values of Q
(the square roots of the eigenvalues of Q Q^T), sorted, and their sum of squares ||Q||_F^2 =
sum_kl Q_kl^2 are invariant under *independent* relabellings of the two networks, and need no choice
of group. We use these rather than the eigenvalues of the symmetric part (Q + Q^T)/2, which are only
invariant under the *same* permutation of both networks.

**Correlations within a network.** C_kl = W_k . W_l / L (C_ll = 1). Nishiyama & Ohzeki find the
units of a fully connected solution negatively correlated, the "division of labour"; we report
D = -mean_{k != l} C_kl. For independent random +-1 units each C_kl (k != l) has mean 0 and variance
1/L, and distinct pairs are uncorrelated, so the mean over the K(K-1)/2 pairs has the null standard
error 1/sqrt(L K (K-1)/2) (``null_sem``). For ReLU the means over pairs with equal and with opposite
c are given apart, since the two kinds of pair need not behave alike, and so is the mean of the
sign-absorbed correlation c_k c_l C_kl (k != l), the quantity of the fully connected replica theory
(docs/theory_fully_connected.md: the order parameter C of the weights c_k W_k): for sign units it is
the plain off-diagonal mean; for ReLU it counts opposite-c pairs with the opposite sign.

Note: the aligned diagonal is a maximum over the group, so even for independent networks its mean is
positive, of order sqrt(ln K / L); compare with the value on independent random networks of the same
size, not with 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import machine


# --- one pair of networks ------------------------------------------------------------------------

def unit_matrix(w: np.ndarray, K: int) -> np.ndarray:
    """The (K, L) float64 matrix of a flat unit-major network w[K L] (or a (K, L) matrix, unchanged)."""
    w = np.asarray(w)
    if w.ndim == 2 and w.shape[0] == K:
        return w.astype(np.float64)
    if w.ndim != 1 or w.size % K:
        raise ValueError(f"a network of K={K} units is a flat vector of length K L or a (K, L) matrix, got {w.shape}")
    return w.reshape(K, -1).astype(np.float64)


def overlaps(wa: np.ndarray, wb: np.ndarray, K: int) -> np.ndarray:
    """Q_kl = W^a_k . W^b_l / L, shape (K, K): unit k of a against unit l of b."""
    A, B = unit_matrix(wa, K), unit_matrix(wb, K)
    if A.shape != B.shape:
        raise ValueError(f"networks of different shapes {A.shape} and {B.shape}")
    return A @ B.T / A.shape[1]


def correlations(w: np.ndarray, K: int) -> np.ndarray:
    """C_kl = W_k . W_l / L within one network, shape (K, K), C_ll = 1 for binary weights."""
    return overlaps(w, w, K)


def permutation_groups(activation: str, K: int, architecture: str = "tree") -> tuple[np.ndarray, ...]:
    """The blocks of units that a symmetry may permute among themselves (see the module doc).

    tree: K singletons; fully connected sign: one block of all K; fully connected ReLU: the c = +1
    half and the c = -1 half.
    """
    if architecture not in machine.ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r}: allowed {', '.join(machine.ARCHITECTURES)}")
    if architecture == "tree":
        return tuple(np.array([l]) for l in range(K))
    c = machine.output_weights(activation, K)
    return tuple(np.flatnonzero(c == v) for v in (1, -1) if np.any(c == v))


@dataclass(frozen=True)
class Alignment:
    """``perm[k]``: the unit of b matched with unit k of a; ``Q`` the aligned overlaps ``raw[:, perm]``."""

    perm: np.ndarray  # (K,) int
    Q: np.ndarray  # (K, K)
    raw: np.ndarray  # (K, K), before alignment


def align(Q: np.ndarray, groups) -> Alignment:
    """The permutation within ``groups`` maximising trace Q[:, perm]: one linear assignment per group.

    A permutation of a product of blocks maximises the total trace iff it maximises each block's, so
    the constrained problem is exactly the independent assignments.
    """
    Q = np.asarray(Q, dtype=np.float64)
    perm = np.arange(Q.shape[0])
    for g in groups:
        g = np.asarray(g)
        rows, cols = linear_sum_assignment(Q[np.ix_(g, g)], maximize=True)
        perm[g[rows]] = g[cols]
    return Alignment(perm, Q[:, perm], Q)


def aligned_overlaps(wa, wb, activation: str, K: int, architecture: str = "tree") -> Alignment:
    """Q between networks a and b, with b's units relabelled by the best symmetry of the model."""
    return align(overlaps(wa, wb, K), permutation_groups(activation, K, architecture))


@dataclass(frozen=True)
class Invariants:
    """Relabelling-invariant summaries of Q: ||Q||_F^2 and the singular values of Q, descending."""

    sum_squares: float
    singular_values: np.ndarray


def invariants(Q: np.ndarray) -> Invariants:
    """sum_kl Q_kl^2 and the sorted singular values of Q (sqrt of the eigenvalues of Q Q^T)."""
    Q = np.asarray(Q, dtype=np.float64)
    return Invariants(float(np.sum(Q * Q)), np.linalg.svd(Q, compute_uv=False))


def diagonal_mean(Q: np.ndarray) -> float:
    return float(np.trace(Q) / Q.shape[0])


def offdiagonal_mean(Q: np.ndarray) -> float:
    """The mean of Q_kl over k != l; nan for K = 1."""
    K = Q.shape[0]
    return float((Q.sum() - np.trace(Q)) / (K * (K - 1))) if K > 1 else float("nan")


@dataclass(frozen=True)
class UnitCorrelations:
    """C of one network and its off-diagonal means (module doc): D = -offdiag_mean is the division of labour."""

    C: np.ndarray  # (K, K)
    offdiag_mean: float
    same_c_mean: float  # pairs k != l with c_k = c_l
    opposite_c_mean: float  # pairs with c_k = -c_l (nan for sign)
    null_sem: float  # standard error of offdiag_mean for independent random units
    absorbed_mean: float  # mean_(k != l) c_k c_l C_kl: the theory's C (sign-absorbed weights c_k W_k)

    @property
    def division_of_labour(self) -> float:
        return -self.offdiag_mean


def unit_correlations(w, activation: str, K: int) -> UnitCorrelations:
    """C_kl = W_k . W_l / L and the means of its off-diagonal entries, overall and by the sign of c_k c_l."""
    C = correlations(w, K)
    L = unit_matrix(w, K).shape[1]
    c = machine.output_weights(activation, K)
    off = ~np.eye(K, dtype=bool)
    same, opp = off & (c[:, None] == c[None, :]), off & (c[:, None] != c[None, :])
    null = 1.0 / np.sqrt(L * K * (K - 1) / 2) if K > 1 else float("nan")
    return UnitCorrelations(C, _masked_mean(C, off), _masked_mean(C, same), _masked_mean(C, opp), float(null),
                            _masked_mean(C * np.outer(c, c), off))


def _masked_mean(C: np.ndarray, mask: np.ndarray) -> float:
    return float(C[mask].mean()) if mask.any() else float("nan")


# --- one sample ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleUnits:
    """The unit measurements of one sample with replicas weights (y, K L) and an optional reference.

    ``replica_replica[i]`` aligns replica ``pairs[i, 1]`` to replica ``pairs[i, 0]`` (a < b);
    ``replica_reference[a]`` aligns replica a to the reference (Q rows: reference units).
    """

    pairs: np.ndarray  # (y(y-1)/2, 2)
    replica_replica: list[Alignment]
    replica_reference: list[Alignment]  # empty without a reference
    replicas: list[UnitCorrelations]  # one per replica
    reference: UnitCorrelations | None


def sample_units(weights, reference, activation: str, K: int, architecture: str = "tree") -> SampleUnits:
    """Every aligned overlap matrix and every unit correlation of one sample."""
    W = np.atleast_2d(np.asarray(weights))
    groups = permutation_groups(activation, K, architecture)
    pairs = np.array(list(combinations(range(len(W)), 2)), dtype=np.int64).reshape(-1, 2)
    rr = [align(overlaps(W[a], W[b], K), groups) for a, b in pairs]
    rf = [] if reference is None else [align(overlaps(reference, w, K), groups) for w in W]
    return SampleUnits(pairs, rr, rf, [unit_correlations(w, activation, K) for w in W],
                       None if reference is None else unit_correlations(reference, activation, K))


# --- a result file -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """Mean over samples and its standard error (nan with one sample)."""

    mean: float
    sem: float
    n_samples: int

    def __str__(self) -> str:
        if not np.isfinite(self.mean):
            return "n/a"
        return f"{self.mean:+.4f}" + (f" ± {self.sem:.4f}" if np.isfinite(self.sem) else "")


def _estimate(values) -> Estimate:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return Estimate(float("nan"), float("nan"), 0)
    sem = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
    return Estimate(float(v.mean()), sem, int(v.size))


def _mean_or_nan(values) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


@dataclass(frozen=True)
class Summary:
    """Per-file means over samples of the per-sample means (over pairs, replicas), with errors over samples."""

    replica_replica_diagonal: Estimate
    replica_replica_offdiagonal: Estimate
    replica_reference_diagonal: Estimate
    replica_reference_offdiagonal: Estimate
    division_of_labour: Estimate  # replicas
    division_of_labour_reference: Estimate
    absorbed_correlation: Estimate  # replicas: mean_(k != l) c_k c_l W_k.W_l/L, the theory's C
    absorbed_correlation_reference: Estimate
    null_sem: float  # one network's division-of-labour error for independent random units
    aligned: bool  # False for a tree: no symmetry, the identity alignment

    def lines(self) -> list[str]:
        """Human-readable lines for ``relusim info`` / ``relusim compare``."""
        how = "aligned by the best unit permutation" if self.aligned else "tree: no unit symmetry, not aligned"
        rows = [f"  {name:18s} diagonal {d}   off-diagonal {o}"
                for name, d, o in (("replica-replica", self.replica_replica_diagonal, self.replica_replica_offdiagonal),
                                   ("replica-reference", self.replica_reference_diagonal,
                                    self.replica_reference_offdiagonal)) if d.n_samples]
        out = [f"unit overlaps Q_kl = W_k.W_l/L ({how}; mean ± error over samples)"] + rows if rows else []
        out.append(f"division of labour -mean_(k!=l) W_k.W_l/L: replicas {self.division_of_labour}"
                   + (f", reference {self.division_of_labour_reference}"
                      if self.division_of_labour_reference.n_samples else "")
                   + f"  (random units: 0 ± {self.null_sem:.4f} per network)")
        if self.absorbed_correlation.n_samples:
            out.append(f"sign-absorbed unit correlation C = mean_(k!=l) c_k c_l W_k.W_l/L: replicas "
                       f"{self.absorbed_correlation}"
                       + (f", reference {self.absorbed_correlation_reference}"
                          if self.absorbed_correlation_reference.n_samples else ""))
        return out


def summarise(samples, activation: str, K: int, architecture: str = "tree") -> Summary:
    """Summary of a result file from its samples: an iterable of ``(weights (y, K L), reference (K L) | None)``.

    Per sample: the diagonal and off-diagonal means of every aligned Q, averaged over the replica pairs
    (or over the replicas, against the reference), -offdiag_mean(C) and the sign-absorbed mean
    ``absorbed_mean`` averaged over the replicas (and the reference's own);
    then mean and standard error over samples.
    """
    rows = []
    for weights, reference in samples:
        s = sample_units(weights, reference, activation, K, architecture)
        rows.append((
            _mean_or_nan([diagonal_mean(a.Q) for a in s.replica_replica]),
            _mean_or_nan([offdiagonal_mean(a.Q) for a in s.replica_replica]),
            _mean_or_nan([diagonal_mean(a.Q) for a in s.replica_reference]),
            _mean_or_nan([offdiagonal_mean(a.Q) for a in s.replica_reference]),
            _mean_or_nan([r.division_of_labour for r in s.replicas]),
            s.reference.division_of_labour if s.reference is not None else float("nan"),
            _mean_or_nan([r.absorbed_mean for r in s.replicas]),
            s.reference.absorbed_mean if s.reference is not None else float("nan"),
            s.replicas[0].null_sem,
        ))
    if not rows:
        raise ValueError("no samples to summarise")
    cols = list(zip(*rows))
    return Summary(*(_estimate(c) for c in cols[:8]), null_sem=float(cols[8][0]),
                   aligned=architecture != "tree")
