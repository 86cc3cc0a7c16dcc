"""Replica theory of the tree committee machine at K -> infinity (scipy only).

Formulas: docs/theory.md (reconstructed from App. B-E of arXiv:1907.07578).

Glossary (the paper's symbols, spelled for Python):
    alpha         patterns per weight, P/N
    q, qhat       RS overlap between typical solutions and its conjugate
    Q_eff, q_eff  effective variance / covariance of the output field; rho = q_eff/Q_eff (docs/theory.md §1)
    q0, q1, m     1RSB overlaps between / inside groups and the Parisi parameter (docs/theory.md §5)
    y             number of replicas in the large-deviation analysis (m = y, docs/theory.md §7)
    d             distance (1 - overlap)/2; p is the Franz-Parisi overlap with the reference (docs/theory.md §6)
    phi           free entropy per weight (per replica in the LD analysis); V the Franz-Parisi entropy
    Delta         stability sigma*lambda, docs/model.md §4 normalisation (not divided by sqrt(Q_eff))

Modules: activations, rs, rsb, franz_parisi, stabilities, cli (``relusim theory ...``).
The fully connected network at large K: fully_connected (docs/theory_fully_connected.md).
Solvers raise :class:`ConvergenceError` (a ``relusim.errors.RunError``) rather than return an
unconverged value.

As a library (every public function has its own example; ``tests/test_theory_doctests.py`` runs them)::

    >>> from relusim import theory
    >>> round(theory.capacity_rs("relu", "spherical"), 5), round(theory.at_threshold("relu", "spherical").alpha, 4)
    (2.93388, 1.7212)
    >>> round(theory.rs_saddle("sign", "binary", 0.5).q, 5)
    0.17819
"""

from relusim.theory.activations import Activation, REGISTRY, from_function, get_activation
from relusim.theory.franz_parisi import FPPoint, franz_parisi_curve, franz_parisi_entropy
from relusim.theory.fully_connected import (at_threshold_fc, capacity_fc, fc_saddle, transition,
                                            uniform_mode, unit_correlation)
from relusim.theory.rs import (ConvergenceError, at_threshold, capacity_rs, capacity_rs_binary,
                               capacity_rs_spherical, capacity_rs_spherical_limit, phi_rs_binary,
                               phi_rs_spherical, rs_saddle)
from relusim.theory.rsb import (capacity_1rsb_spherical, local_entropy, local_entropy_extrapolated)
from relusim.theory.stabilities import (sign_lattice_edges, stability_bin_probs, stability_density)

__all__ = [
    "Activation", "REGISTRY", "from_function", "get_activation",
    "ConvergenceError", "rs_saddle", "phi_rs_binary", "phi_rs_spherical", "capacity_rs",
    "capacity_rs_binary", "capacity_rs_spherical", "capacity_rs_spherical_limit", "at_threshold",
    "capacity_1rsb_spherical", "local_entropy", "local_entropy_extrapolated",
    "FPPoint", "franz_parisi_entropy", "franz_parisi_curve",
    "stability_density", "stability_bin_probs", "sign_lattice_edges",
    "fc_saddle", "unit_correlation", "uniform_mode", "transition", "capacity_fc", "at_threshold_fc",
]
