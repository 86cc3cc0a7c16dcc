"""``relusim capacity``: solved fractions over (K, N, alpha), complete search, finite-size fits."""
