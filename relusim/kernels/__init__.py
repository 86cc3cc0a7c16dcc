"""numba kernels: plain arrays in and out, no Python objects. ``relusim.model`` is their slow twin."""
