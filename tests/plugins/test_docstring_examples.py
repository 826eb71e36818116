"""The examples in the aggregator, readout and set-dataset docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    *(f"wlkit.plugins.aggregators.{m}"
      for m in ("_segments", "basic", "pna", "deepsets", "genpool", "lcm", "recurrent")),
    *(f"wlkit.plugins.readouts.{m}"
      for m in ("basic", "sets", "attention", "set_attention", "target")),
    "wlkit.datasets.sets",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    import torch

    torch.manual_seed(0)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
