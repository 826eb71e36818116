"""wlkit: expressive, permutation-invariant graph neural networks as plugins.

The public API that built-in and third-party plugins use::

    from wlkit import hookimpl, AggregatorRecord, Aggregator, Param
"""

__version__ = "0.1.0"

import os as _os

# DGL prints a backend notice on first import unless the backend is chosen explicitly.
_os.environ.setdefault("DGLBACKEND", "pytorch")
# ogb (imported by DGL when installed) asks PyPI for a newer release in a non-daemon thread
# on import: a network call on every start, and a multi-second wait at exit when offline.
# wlkit never wants that nag, so the check is replaced by a no-op before ogb is imported.
_os.environ.setdefault("OUTDATED_IGNORE", "1")
try:
    import outdated as _outdated

    _outdated.check_outdated = lambda package, version, *args, **kwargs: (False, version)
except ImportError:  # ogb not installed: nothing to silence
    pass

from wlkit.components import (
    Aggregator,
    DatasetInfo,
    GraphDataset,
    LoadedDataset,
    ModelParts,
    PositionalEncoding,
    Readout,
    SubgraphPolicy,
    node_offsets,
)
from wlkit.errors import DatasetError, PipelineError, PluginError, Problem, WlkitError
from wlkit.hookspecs import hookimpl, hookspec
from wlkit.io import atomic_write_bytes, atomic_write_json, atomic_write_text, cache_root
from wlkit.manager import get_registry, registered_plugin
from wlkit.model.graph_model import MessagePassing, edge_index
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
    "MessagePassing",
    "ModelParts",
    "Param",
    "PipelineError",
    "PluginError",
    "PositionalEncoding",
    "PositionalEncodingRecord",
    "Problem",
    "Readout",
    "ReadoutRecord",
    "SubgraphPolicy",
    "SubgraphPolicyRecord",
    "WlkitError",
    "__version__",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "cache_root",
    "edge_index",
    "get_registry",
    "hookimpl",
    "hookspec",
    "node_offsets",
    "registered_plugin",
]
