"""The machine: its activations, the NumPy twin of every kernel, training sets and measurements."""
