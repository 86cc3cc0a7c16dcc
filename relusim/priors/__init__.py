"""Weight priors: one module per value of ``model.weights``, each the same small interface.

``relusim.anneal`` runs the protocol (docs/model.md §8) once, over any prior; ``relusim.capacity.grid``,
``relusim.execution.runner``, ``relusim.analysis.robustness`` and ``relusim.capacity.analysis`` ask the prior of a config
(``prior_of``) instead of testing its name. A prior module provides:

  problem(cfg, xi, sigma) -> record        the kernels' record of a training set
  start(cfg, problem, dynamics) -> state   replicas (and reference) at the start, from the dynamics stream;
                                           the state has .w (y, weights), .E (y,) int64 and .ref
  Blocks(cfg, problem, state, betas, gammas)  its side of one anneal:
      .run(s, betas, gammas, energies, accepted, qbar) -> sweeps done   one block of the schedule
      .trace                               its own trace entries per record, {name: dtype} in file order
      .record(s, done) -> [values]         those entries after a block
      .annealed() -> U (y,)                the energy the sampler anneals, per replica (parallel
                                           tempering's swaps, ``relusim.tempering``)
      .finish(index, log_c)                the final check or rebuild of its caches
  reference(state) -> (ref, kind)          the centre of the ensemble (y > 1) and what it is
  overlaps(W, ref) -> p_a                  the overlaps of the replicas with it, the same bits on every CPU
  driver(cfg)                              the compiled numba driver cfg runs (the runner's cache check)
  equilibrate(cfg, problem, state, inst, index)  equilibrium sampling over solutions (binary only)
  witness(w)                               what ``relusim capacity`` keeps of a solution (or None)
  default_alpha(activation, Ks, architecture), capacity_theory(activation, K)   ``relusim capacity``'s grid
                                           and the theory beside its table (trees and K = 1)
  EXACT_SEARCH                             whether ``relusim capacity --method exact`` applies
  NOISE                                    the weight noise of ``relusim robustness`` (its NOISE_MODELS)

The config rules of each prior (its samplers, energies, precisions, ...) are ``relusim.config.PRIORS``,
which ``relusim validate`` reads without loading the kernels; the names here are the same.
"""
from __future__ import annotations

from types import ModuleType

from ..config import PRIORS as RULES
from ..config import Config
from . import binary, spherical

PRIORS: dict[str, ModuleType] = {"binary": binary, "spherical": spherical}
assert set(PRIORS) == set(RULES), "every prior has its config rules (relusim.config.PRIORS) and a module here"


def prior_of(cfg: Config) -> ModuleType:
    """The prior module of ``cfg`` (``model.weights``)."""
    return PRIORS[cfg.model.weights]

