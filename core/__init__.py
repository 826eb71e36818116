"""wlkit: expressive, permutation-invariant graph neural networks as plugins.

The public API that built-in and third-party plugins use::

    from wlkit import hookimpl, AggregatorRecord, Aggregator, Param

Public modules (:data:`PUBLIC_MODULES`; a plugin imports only their ``__all__`` names, never
a name starting with ``_`` nor another module of the kernel, engine or tools):

``wlkit``
    the plugin contract: hooks, records, base classes, ``Param``, errors, I/O helpers;
``wlkit.wl``
    exact WL oracles (1-WL, 2-FWL, subgraph WL, bag oracles) and their registration;
``wlkit.graphs``
    ``SimpleGraph`` and the classic graphs (CSL, CFI, strongly regular, ...);
``wlkit.suites``
    WL-separation suites (``WLSuite``, ``SuitePair``, ``load_suite``);
``wlkit.testing``
    the conformance kit (probes, ``assert_*`` helpers, pytest fixtures).
"""

__version__ = "0.1.0"

import os as _os
from typing import TYPE_CHECKING as _TYPE_CHECKING

from wlkit.errors import DatasetError, PipelineError, PluginError, Problem, WlkitError
from wlkit.hookspecs import hookimpl, hookspec

#: The modules plugins may import from (their ``__all__``); tests/test_public_api.py checks
#: the built-in plugins against it and docs/reference.md documents each.
PUBLIC_MODULES: tuple[str, ...] = ("wlkit", "wlkit.wl", "wlkit.graphs", "wlkit.suites",
                                   "wlkit.testing")

# DGL prints a backend notice on first import unless the backend is chosen explicitly.
_os.environ.setdefault("DGLBACKEND", "pytorch")
# ogb (imported by DGL) calls the package `outdated`, which asks PyPI for newer releases -
# of ogb and of itself, on import - in non-daemon threads: a network call on every start and
# a ~2 s wait at exit when offline (this was most of pytest's start-up cost with wlkit
# installed). wlkit never wants that nag: `outdated`'s background check is made a no-op.
_os.environ.setdefault("OUTDATED_IGNORE", "1")


def _silence_outdated() -> None:
    import importlib.abc
    import importlib.util
    import sys
    import threading

    class _NoCheck(threading.Thread):
        def start(self) -> None:  # the only threads `outdated` starts are its PyPI checks
            pass

    def _quiet(module) -> None:
        module.Thread = _NoCheck  # warn_if_outdated's threads
        # ogb.version imports check_outdated itself and runs it in a thread of its own
        module.check_outdated = lambda package, version, *args, **kwargs: (False, version)

    if "outdated" in sys.modules:  # imported before wlkit: its own check already started
        _quiet(sys.modules["outdated"])
        return

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "outdated":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                return spec
            real_exec = spec.loader.exec_module

            def exec_module(module):
                original, threading.Thread = threading.Thread, _NoCheck
                try:  # `outdated` binds Thread at import time: it keeps _NoCheck
                    real_exec(module)
                finally:
                    threading.Thread = original
                _quiet(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Finder())


_silence_outdated()

# The kernel's light modules load with the package; the names whose modules import torch
# and DGL load on first use (PEP 562), so that ``import wlkit`` - and with it the pytest
# plugin ``wlkit.testing.fixtures`` that pytest imports in every run - stays cheap.

_LAZY: dict[str, str] = {
    "Aggregator": "wlkit.components",
    "DatasetInfo": "wlkit.components",
    "GraphDataset": "wlkit.components",
    "LoadedDataset": "wlkit.components",
    "ModelParts": "wlkit.components",
    "PositionalEncoding": "wlkit.components",
    "Readout": "wlkit.components",
    "SubgraphPolicy": "wlkit.components",
    "ComponentError": "wlkit.components",
    "node_offsets": "wlkit.components",
    "atomic_write_bytes": "wlkit.io",
    "atomic_write_json": "wlkit.io",
    "atomic_write_text": "wlkit.io",
    "cache_root": "wlkit.io",
    "content_key": "wlkit.io",
    "mlp": "wlkit.blocks",
    "get_registry": "wlkit.manager",
    "registered_plugin": "wlkit.manager",
    "MessagePassing": "wlkit.blocks",
    "LAYER_ACTIVATIONS": "wlkit.blocks",
    "layer_activation": "wlkit.blocks",
    "edge_index": "wlkit.blocks",
    "segment_ids": "wlkit.blocks",
    "segment_reduce": "wlkit.blocks",
    "sigmoid": "wlkit.blocks",
    "gru_cell": "wlkit.blocks",
    "REQUIRED": "wlkit.params",
    "Param": "wlkit.params",
    "FAMILIES": "wlkit.records",
    "AggregatorRecord": "wlkit.records",
    "ComponentRecord": "wlkit.records",
    "DatasetRecord": "wlkit.records",
    "LayerRecord": "wlkit.records",
    "PositionalEncodingRecord": "wlkit.records",
    "ReadoutRecord": "wlkit.records",
    "SubgraphPolicyRecord": "wlkit.records",
    "OracleFamilyRecord": "wlkit.records",
    "OracleRecord": "wlkit.records",
    "WLSuiteRecord": "wlkit.records",
    "SuitePair": "wlkit.suites",
    "WLSuite": "wlkit.suites",
    "one_hot_labels": "wlkit.suites",
    "to_dgl_input": "wlkit.suites",
}

if _TYPE_CHECKING:
    from wlkit.blocks import (
        LAYER_ACTIVATIONS,
        MessagePassing,
        edge_index,
        gru_cell,
        layer_activation,
        mlp,
        segment_ids,
        segment_reduce,
        sigmoid,
    )
    from wlkit.components import (
        Aggregator,
        ComponentError,
        DatasetInfo,
        GraphDataset,
        LoadedDataset,
        ModelParts,
        PositionalEncoding,
        Readout,
        SubgraphPolicy,
        node_offsets,
    )
    from wlkit.io import (
        atomic_write_bytes,
        atomic_write_json,
        atomic_write_text,
        cache_root,
        content_key,
    )
    from wlkit.manager import get_registry, registered_plugin
    from wlkit.params import REQUIRED, Param
    from wlkit.records import (
        FAMILIES,
        AggregatorRecord,
        ComponentRecord,
        DatasetRecord,
        LayerRecord,
        OracleFamilyRecord,
        OracleRecord,
        PositionalEncodingRecord,
        ReadoutRecord,
        SubgraphPolicyRecord,
        WLSuiteRecord,
    )
    from wlkit.suites import SuitePair, WLSuite, one_hot_labels, to_dgl_input


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wlkit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "FAMILIES",
    "LAYER_ACTIVATIONS",
    "PUBLIC_MODULES",
    "REQUIRED",
    "Aggregator",
    "AggregatorRecord",
    "ComponentError",
    "ComponentRecord",
    "DatasetError",
    "DatasetInfo",
    "DatasetRecord",
    "GraphDataset",
    "LayerRecord",
    "LoadedDataset",
    "MessagePassing",
    "ModelParts",
    "OracleFamilyRecord",
    "OracleRecord",
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
    "SuitePair",
    "WLSuite",
    "WLSuiteRecord",
    "WlkitError",
    "__version__",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "cache_root",
    "content_key",
    "edge_index",
    "segment_ids",
    "segment_reduce",
    "get_registry",
    "gru_cell",
    "hookimpl",
    "layer_activation",
    "mlp",
    "hookspec",
    "node_offsets",
    "one_hot_labels",
    "registered_plugin",
    "sigmoid",
    "to_dgl_input",
]
