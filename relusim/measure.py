"""Measurements on finished configurations (docs/algorithms.md §7). Pure NumPy; robustness is in relusim.robustness."""
from __future__ import annotations

import numpy as np

from . import model


def stabilities(W: np.ndarray, xi: np.ndarray, sigma: np.ndarray, activation: str, K: int) -> np.ndarray:
    """Delta^mu for every row of W (y, N): shape (y, P), docs/model.md §4 / App. E of arXiv:1907.07578."""
    return np.stack([model.stabilities(w, xi, sigma, activation, K) for w in W])

