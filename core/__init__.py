"""wlkit: expressive, permutation-invariant graph neural networks as plugins.

The public API that built-in and third-party plugins use::

    from wlkit import hookimpl, AggregatorRecord, Aggregator, Param
"""

__version__ = "0.1.0"

import os as _os

# DGL prints a backend notice on first import unless the backend is chosen explicitly.
_os.environ.setdefault("DGLBACKEND", "pytorch")
# ogb (imported by DGL when installed) checks PyPI for a newer release in a background
# thread on import; that is a network call and a warning on every run.
_os.environ.setdefault("OUTDATED_IGNORE", "1")

from wlkit.components import (
    Aggregator,
    DatasetInfo,
    GraphDataset,
    LoadedDataset,
    PositionalEncoding,
    Readout,
)
from wlkit.errors import DatasetError, PipelineError, PluginError, Problem, WlkitError
from wlkit.hookspecs import hookimpl, hookspec
from wlkit.manager import get_registry, registered_plugin
from wlkit.params import REQUIRED, Param
from wlkit.records import (
    FAMILIES,
    AggregatorRecord,
    ComponentRecord,
    DatasetRecord,
    LayerRecord,
    PositionalEncodingRecord,
    ReadoutRecord,
    SubgraphPolicyRecord,
)

__all__ = [
    "FAMILIES",
    "REQUIRED",
    "Aggregator",
    "AggregatorRecord",
    "ComponentRecord",
    "DatasetError",
    "DatasetInfo",
    "DatasetRecord",
    "GraphDataset",
    "LayerRecord",
    "LoadedDataset",
    "Param",
    "PipelineError",
    "PluginError",
    "PositionalEncoding",
    "PositionalEncodingRecord",
    "Problem",
    "Readout",
    "ReadoutRecord",
    "SubgraphPolicyRecord",
    "WlkitError",
    "__version__",
    "get_registry",
    "hookimpl",
    "hookspec",
    "registered_plugin",
]
