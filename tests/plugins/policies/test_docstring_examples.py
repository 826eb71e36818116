"""The examples in the policy and encoding docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["wlkit.plugins.policies.rni", "wlkit.plugins.policies.ego",
           "wlkit.plugins.policies.node_marking", "wlkit.plugins.encodings"]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
