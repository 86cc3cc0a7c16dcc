"""The examples in relusim.theory's docstrings run and print what they claim."""

import doctest
import importlib

import pytest

MODULES = ["relusim.theory", "relusim.theory.activations", "relusim.theory.rs", "relusim.theory.rsb",
           "relusim.theory.franz_parisi", "relusim.theory.stabilities"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE, report=True)
    assert res.attempted > 0, f"{name} has no examples"
    assert res.failed == 0


def test_every_prediction_has_an_example():
    import relusim.theory as th
    for fn in ["capacity_rs", "capacity_rs_binary", "capacity_rs_spherical", "at_threshold", "rs_saddle",
               "capacity_1rsb_spherical", "local_entropy", "local_entropy_extrapolated",
               "franz_parisi_entropy", "stability_density", "stability_bin_probs", "get_activation"]:
        assert ">>> " in (getattr(th, fn).__doc__ or ""), fn
