"""numba kernels: plain arrays grouped in records (``records``), no Python objects. ``relusim.models.machine`` is their slow twin.

One interface, every model (compare RRRMC.jl's ``delta_cost`` / ``apply_move!`` per graph). A model
module holds the cached state of its machines and answers three questions about a move:

  build(problem, state, a) -> E          the caches of replica a from scratch, and its energy
  delta_energy(problem, state, move)     the energy change of a move, nothing written
  apply(problem, state, move)            commit it: weights, caches, energy (and the replica sums)

  fields.py       binary weights: the move is the flip of weight i of replica a
                  (``delta_energy(pb, st, a, i)``, ``apply_flip(pb, st, a, i, dE)``); ``bits.py`` gives the
                  same energy change from class-change bitsets (``bits.delta_energy(pb, st, bt, a, i)``)
  least_action.py the least-action cost of binary weights over ``fields``' caches: the same flip move,
                  its cost change ``delta_cost(pb, st, la, a, i)`` and ``apply_flip`` (the sweep's own
                  ``delta`` and ``commit``)
  spherical.py    spherical weights: the move is a rotation of two coordinates of one unit
                  (``rotation_delta``, ``rotation_apply`` on plain arrays, called by ``spherical_mc``;
                  ``delta_energy(problem, state, move)``, ``apply`` on the records, the same functions)

The samplers are written once over a model's records: ``metropolis`` (a sweep of single-variable
proposals, the machine alone or a robust ensemble), ``rrr`` (reduced-rejection-rate steps) and the
driver ``replicated.run`` (blocks of sweeps along a schedule, the Metropolis/RRR hybrid, the bitset
or the full pass) for binary weights; ``spherical_mc`` for spherical ones. A sampler unpacks the
records once per sweep and calls the model's energy change and update on plain arrays
(``fields.flip_delta`` / ``flip_fields``, ``bits.flip_delta``, inlined): numba would wrap a
non-inlined call with array arguments in atomic reference-count updates costing as much as the loop.

Compile-time specialisation, per config: every Metropolis loop is compiled per activation (and
bitset level, or annealed energy) as a module-level kernel (``metropolis.KERNELS``,
``spherical_mc.KERNELS``), compiled the first time a run calls it. The drivers
(``replicated.driver``, ``spherical_mc.driver``) are factories whose arguments (the activation, the
bitset level, RRR or not, the annealed energy) are closure constants: numba prunes the branches on
them before typing, so a config types and compiles only its own kernels, and caches one driver per
value (a closure over plain ints or a module is cacheable; one over a compiled function is not, hence
branches to module-level kernels rather than kernels in the closure). The binary Metropolis loop is
written once (``metropolis.sweep_loop``) over an energy module, ``error_count`` or ``least_action``,
whose inlined ``delta`` and ``commit`` are the move: a new binary energy adds a module, not a loop. The
architecture (tree or fully connected) is told from the shapes and costs one select per proposal
(the row of the pattern matrix that weight i multiplies, ``fields.row``): the fully connected rows of
docs/results/performance.md run at the speed of the tree rows of the same number of weights, within their spread.

Compiled code is cached on disk (``cache=True``) under ``CACHE_DIR``: the user's NUMBA_CACHE_DIR (else
``$XDG_CACHE_HOME/relusim/numba``, by default ``~/.cache/relusim/numba``), in a folder named for a
digest of the kernel sources (``source_digest``). numba checks a cached function against its own
file only, not against the functions it calls from other files, so after an edit of, say,
``metropolis.fill_etab`` a cached ``replicated`` driver would still run the old one, silently; a new
digest starts a fresh cache instead.
"""
import hashlib as _hashlib
import os as _os
from pathlib import Path as _Path

import numba as _numba


def source_digest(folder: _Path | None = None) -> str:
    """The first 16 hex digits of the sha256 of every ``*.py`` of ``folder`` (the kernels) and of
    ``relusim/models/activations.py``, whose tables the kernels compile against, each with its name."""
    folder = _Path(__file__).parent if folder is None else _Path(folder)
    h = _hashlib.sha256()
    for path in sorted(folder.glob("*.py")) + [folder.parent / "models" / "activations.py"]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _cache_root() -> str:
    if _numba.config.CACHE_DIR:
        return _numba.config.CACHE_DIR
    xdg = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    return _os.path.join(xdg, "relusim", "numba")


CACHE_DIR = _os.path.join(_cache_root(), "relusim-" + source_digest())
_numba.config.CACHE_DIR = CACHE_DIR  # read when each kernel is decorated (its cache locator), below

