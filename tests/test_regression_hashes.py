"""Existing configs keep their bits: every integer array of small runs equals the hashes stored before
the kernel redesign (tests/regression_cases.py says when and how they were made)."""
import json

import pytest

import regression_cases as rc


@pytest.mark.parametrize("name", sorted(rc.CASES))
def test_small_runs_keep_their_bits(name):
    stored = json.loads(rc.PATH.read_text())[name]
    now = rc.hashes(name)
    changed = sorted(k for k in stored if now.get(k) != stored[k])
    assert not changed, f"{name}: arrays changed since the stored run: {changed}"
    assert set(now) == set(stored)
