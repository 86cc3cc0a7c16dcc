"""relusim: statistical physics of learning in tree committee machines with sign or ReLU hidden units.

From Python: ``relusim.run(config)`` runs an experiment (a dict or a YAML path) and
``relusim.load(path)`` opens a result file (``relusim.api``); ``relusim.theory`` holds the replica theory.

Reproduces and extends Baldassi, Malatesta & Zecchina, PRL 123, 170602 (2019), arXiv:1907.07578.

Glossary (the paper's symbols, spelled for Python): ``N`` inputs, ``K`` hidden units, ``n = N/K``
inputs per unit, ``P = round(alpha*N)`` patterns ``xi`` with labels ``sigma``, ``w``/``W`` weights,
``H`` integer unit fields, ``beta`` inverse temperature, ``y`` replicas, ``gamma`` replica-reference
coupling, ``q1`` target mutual overlap, ``Delta`` stabilities.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relusim")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0+src"

__all__ = ["run", "load", "run_sweep", "__version__"]


def __getattr__(name: str):
    """``relusim.run`` and ``relusim.load`` (``relusim.api``), imported on first use: the command
    line does not pay for them."""
    if name in ("run", "load", "run_sweep", "Results", "Sample", "SweepResults"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'relusim' has no attribute {name!r}")
