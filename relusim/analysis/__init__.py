"""Finished result files measured further: robustness, the comparison with theory, figures."""
