"""The conformance kit: graph fixtures and ``assert_*`` helpers for wlkit components.

A plugin author tests a component the way wlkit's own checks do::

    from wlkit.testing import aggregator_probe, assert_permutation_invariant, graph_zoo

    def test_my_aggregator_is_invariant():
        probe = aggregator_probe(MyAggregator, dim=8)   # MyAggregator(8, **params)
        assert_permutation_invariant(probe, graph_zoo())

or runs every check at once on a registered component (this is what ``wlkit check`` runs)::

    from wlkit.testing import assert_conforms

    def test_conforms():
        assert_conforms("aggregator", "my_aggregator")

A **probe** wraps one component so every assertion can drive it the same way: it attaches
the component's inputs to a graph (random messages for an aggregator, node states for a
readout or layer, node and edge features for a policy), runs the component on a batched
graph and knows whether the output is per node or per graph. The probes are
:func:`aggregator_probe`, :func:`readout_probe`, :func:`layer_probe`,
:func:`encoding_probe` and :func:`policy_probe` (the model half of a policy on a tiny
batch, through the policy's ``prepare`` and ``collate``); :func:`probe_for` builds one from
a registered component.

Every assertion takes a probe and graphs (default: :func:`graph_zoo`, the edge cases:
random graphs, isolated nodes, empty neighbourhoods, a single node, a multigraph, ...).
Invariance is checked up to float rounding (``rtol``/``atol``, scaled by the output's
magnitude) in eval mode. Stochastic components are held to the same standard with their
noise permuted along with the nodes: every graph the kit builds carries
``ndata["_node_key"]`` (int64, each node's index before any relabelling, the convention of
``wlkit separate``), and a stochastic component in eval mode must draw its noise as a
function of that key.

This module is also a pytest plugin, registered through the entry point ``pytest11``
(``wlkit = wlkit.testing``), so in any environment where wlkit is installed these fixtures
exist in every test suite: ``wlkit_register`` (register a plugin for one test),
``wlkit_registry``, ``wlkit_graphs`` (the zoo, fresh per test), ``wlkit_batch`` (the zoo as
one mixed batch list) and ``wlkit_device`` (each available device: the CPU, and CUDA when
torch and DGL can use it). ``pytest -p no:wlkit`` switches the plugin off. Importing it does
no work beyond ``import wlkit``: no plugin discovery, no graphs, no Lightning.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dgl
import torch
from torch import Tensor, nn

from wlkit.components import (
    Aggregator,
    DatasetInfo,
    GraphDataset,
    LoadedDataset,
    PositionalEncoding,
    Readout,
    SubgraphPolicy,
)
from wlkit.errors import WlkitError
from wlkit.params import REQUIRED, Param
from wlkit.records import RECORD_TYPES, ComponentRecord

try:  # the fixtures need pytest; the helpers (and ``wlkit check``) do not
    import pytest
except ImportError:  # pragma: no cover - pytest is in the test extra
    pytest = None  # type: ignore[assignment]

__all__ = [
    "NODE_KEY",
    "ComponentRefused",
    "Probe",
    "aggregator_probe",
    "assert_batch_independent",
    "assert_conforms",
    "assert_deterministic",
    "assert_device_placement",
    "assert_gradient_flow",
    "assert_output_contract",
    "assert_permutation_equivariant",
    "assert_permutation_invariant",
    "assert_record",
    "assert_state_dict_roundtrip",
    "available_devices",
    "encoding_probe",
    "graph_zoo",
    "layer_probe",
    "policy_probe",
    "probe_for",
    "random_graph",
    "readout_probe",
    "relabel",
    "usable_graphs",
]

#: ``ndata`` key of each node's relabelling-invariant id (see the module docstring).
NODE_KEY = "_node_key"
_NODE_INPUT = "_wlkit_h"  # node states fed to readouts, layers and aggregators
_EDGE_INPUT = "_wlkit_m"  # messages fed to aggregators
_EDGE_FEAT = "_wlkit_e"  # edge features fed to layers that read them
POLICY_NODE_FEATS = 3
POLICY_EDGE_FEATS = 2
LAYER_EDGE_FEATS = 3

Graphs = Mapping[str, dgl.DGLGraph] | Sequence[dgl.DGLGraph] | None


class ComponentRefused(Exception):
    """The component refused (with a :class:`wlkit.WlkitError`) every graph it was given."""


# ============================================================================ graphs


def random_graph(num_nodes: int, num_edges: int, *, seed: int = 0,
                 bidirected: bool = True) -> dgl.DGLGraph:
    """A random simple graph: ``num_edges`` distinct node pairs, no self-loops.

    With ``bidirected`` (the default, as datasets store undirected graphs) each pair is an
    edge in both directions (``2 * num_edges`` edges); otherwise one direction each.

    Examples
    --------
    >>> g = random_graph(5, 4, seed=1)
    >>> g.num_nodes(), g.num_edges()
    (5, 8)
    """
    pairs = num_nodes * (num_nodes - 1) // 2
    if num_edges > pairs:
        raise ValueError(f"random_graph: {num_edges} edges do not fit {num_nodes} nodes")
    gen = torch.Generator().manual_seed(seed)
    u, v = torch.triu_indices(num_nodes, num_nodes, offset=1)
    pick = torch.randperm(pairs, generator=gen)[:num_edges]
    src, dst = u[pick], v[pick]
    flip = torch.rand(num_edges, generator=gen) < 0.5  # no orientation bias
    src, dst = torch.where(flip, dst, src), torch.where(flip, src, dst)
    if bidirected:
        src, dst = torch.cat([src, dst]), torch.cat([dst, src])
    return dgl.graph((src, dst), num_nodes=num_nodes)


def _graph(num_nodes: int, edges: list[tuple[int, int]]) -> dgl.DGLGraph:
    src = torch.tensor([e[0] for e in edges], dtype=torch.int64)
    dst = torch.tensor([e[1] for e in edges], dtype=torch.int64)
    return dgl.graph((src, dst), num_nodes=num_nodes)


def _both(edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return edges + [(v, u) for u, v in edges]


def graph_zoo(seed: int = 0) -> dict[str, dgl.DGLGraph]:
    """The kit's graphs, by name: ordinary graphs and the edge cases components get wrong.

    ``random`` (12 nodes) and ``random_large`` (30 nodes) are random bidirected graphs;
    ``isolated_nodes`` has three nodes without any edge; ``empty_neighbourhoods`` is
    directed and four nodes have out-edges but no in-edges; ``single_node`` has one node
    and no edge; ``no_edges`` has five nodes and no edge; ``multigraph`` has parallel edges
    and self-loops; ``star`` and ``cycle`` are symmetric (many ties to break). Fresh graphs
    on every call, without features.

    Examples
    --------
    >>> zoo = graph_zoo()
    >>> zoo["single_node"].num_nodes(), zoo["isolated_nodes"].in_degrees()[-3:].tolist()
    (1, [0, 0, 0])
    """
    isolated = random_graph(7, 8, seed=seed + 1)
    isolated.add_nodes(3)
    directed = random_graph(9, 14, seed=seed + 2, bidirected=False)
    src, dst = directed.edges()
    sources = torch.arange(9, 13)  # nodes 9..12 only send
    directed = dgl.graph((torch.cat([src, sources]), torch.cat([dst, sources % 9])),
                         num_nodes=13)
    return {
        "random": random_graph(12, 20, seed=seed),
        "random_large": random_graph(30, 60, seed=seed + 3),
        "isolated_nodes": isolated,
        "empty_neighbourhoods": directed,
        "single_node": dgl.graph(([], []), num_nodes=1),
        "no_edges": dgl.graph(([], []), num_nodes=5),
        "multigraph": _graph(5, [(0, 1), (0, 1), (1, 0), (1, 2), (2, 1), (2, 1), (2, 2),
                                 (3, 3), (3, 4), (4, 3), (0, 4), (4, 0), (4, 0)]),
        "star": _graph(6, _both([(0, k) for k in range(1, 6)])),
        "cycle": _graph(8, _both([(k, (k + 1) % 8) for k in range(8)])),
    }


def _cases(graphs: Graphs) -> list[tuple[str, dgl.DGLGraph]]:
    if graphs is None:
        return list(graph_zoo().items())
    if isinstance(graphs, Mapping):
        return list(graphs.items())
    if isinstance(graphs, dgl.DGLGraph):
        return [("graph", graphs)]
    return [(f"graph {i}", g) for i, g in enumerate(graphs)]


def _copy(graph: dgl.DGLGraph) -> dgl.DGLGraph:
    src, dst = graph.edges()
    out = dgl.graph((src, dst), num_nodes=graph.num_nodes())
    for key, value in graph.ndata.items():
        out.ndata[key] = value
    for key, value in graph.edata.items():
        out.edata[key] = value
    return out


def relabel(graph: dgl.DGLGraph, perm: Tensor | None = None, *, seed: int = 0,
            shuffle_edges: bool = True) -> tuple[dgl.DGLGraph, Tensor]:
    """The same graph with node ``i`` renamed ``perm[i]`` and the edges reordered.

    ``ndata`` and ``edata`` move with their nodes and edges; ``ndata["_node_key"]`` is kept
    (or created: each node's index in ``graph``), so noise keyed by it moves too. Returns
    the new graph and ``perm`` (random from ``seed`` unless given).

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [1, 2]))
    >>> new, perm = relabel(g, torch.tensor([2, 0, 1]), shuffle_edges=False)
    >>> new.edges()[0].tolist(), new.ndata["_node_key"].tolist()
    ([2, 0], [1, 2, 0])
    """
    n, m = graph.num_nodes(), graph.num_edges()
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen) if perm is None else torch.as_tensor(perm).long()
    order = torch.randperm(m, generator=gen) if shuffle_edges else torch.arange(m)
    src, dst = (t.long() for t in graph.edges())
    new = dgl.graph((perm[src[order]], perm[dst[order]]), num_nodes=n)
    ndata = dict(graph.ndata)
    ndata.setdefault(NODE_KEY, torch.arange(n))
    for key, value in ndata.items():
        moved = torch.empty_like(value)
        moved[perm] = value
        new.ndata[key] = moved
    for key, value in graph.edata.items():
        new.edata[key] = value[order]
    return new, perm


# ============================================================================ probes


class Probe:
    """One component driven the way the kit's assertions need it.

    Subclasses set :attr:`family` and :attr:`level` (``"node"``: one output row per node,
    ``"graph"``: one per graph) and implement :meth:`build`, :meth:`attach` and
    :meth:`__call__`. Build probes with :func:`aggregator_probe` and friends.

    Attributes
    ----------
    component : Any
        The component (built by :meth:`build` when the probe is made).
    module : nn.Module or None
        The part with weights (the component, or a policy's model half).
    stochastic : bool
        Whether outputs are random (the kit then relies on ``ndata["_node_key"]``).
    """

    family = ""
    level = "node"

    def __init__(self, factory: Callable[..., Any], params: Mapping[str, Any] | None = None,
                 *, name: str | None = None, stochastic: bool = False, dim: int = 8):
        self.factory = factory
        self.params = dict(params or {})
        self.name = name or getattr(factory, "__name__", type(factory).__name__)
        self.stochastic = stochastic
        self.dim = dim
        self.component = self.build()

    def build(self) -> Any:
        """A new component (weights drawn from torch's global generator)."""
        raise NotImplementedError

    @property
    def module(self) -> nn.Module | None:
        return self.component if isinstance(self.component, nn.Module) else None

    @property
    def out_dim(self) -> int:
        return int(getattr(self.component, "out_dim", self.dim))

    def fresh(self) -> Probe:
        """The same probe with a newly built component."""
        other = copy.copy(self)
        other.component = other.build()
        return other

    def attach(self, graph: dgl.DGLGraph, seed: int) -> dgl.DGLGraph:
        """A copy of ``graph`` carrying ``_node_key`` and the component's random inputs."""
        out = _copy(graph)
        if NODE_KEY not in out.ndata:
            out.ndata[NODE_KEY] = torch.arange(out.num_nodes())
        return out

    def input_keys(self) -> list[tuple[str, str]]:
        """``("ndata" | "edata", key)`` of the float inputs gradients must reach."""
        return []

    def rows(self, graph: dgl.DGLGraph) -> int:
        return graph.num_nodes() if self.level == "node" else graph.batch_size

    def __call__(self, graph: dgl.DGLGraph) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.family} {self.name!r}>"


def _randn(shape: tuple[int, ...], seed: int) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


class _AggregatorProbe(Probe):
    family = "aggregator"
    level = "node"

    def build(self) -> Aggregator:
        obj = self.factory(self.dim, **self.params)
        _expect(obj, Aggregator, self)
        return obj

    def attach(self, graph: dgl.DGLGraph, seed: int) -> dgl.DGLGraph:
        out = super().attach(graph, seed)
        out.edata[_EDGE_INPUT] = _randn((out.num_edges(), self.dim), seed)
        out.ndata[_NODE_INPUT] = _randn((out.num_nodes(), self.dim), seed + 1)
        return out

    def input_keys(self) -> list[tuple[str, str]]:
        return [("edata", _EDGE_INPUT)]

    def __call__(self, graph: dgl.DGLGraph) -> Tensor:
        return self.component(graph, graph.edata[_EDGE_INPUT])


class _ReadoutProbe(Probe):
    family = "readout"
    level = "graph"

    def build(self) -> Readout:
        obj = self.factory(self.dim, **self.params)
        _expect(obj, Readout, self)
        return obj

    def attach(self, graph: dgl.DGLGraph, seed: int) -> dgl.DGLGraph:
        out = super().attach(graph, seed)
        out.ndata[_NODE_INPUT] = _randn((out.num_nodes(), self.dim), seed)
        return out

    def input_keys(self) -> list[tuple[str, str]]:
        return [("ndata", _NODE_INPUT)]

    def __call__(self, graph: dgl.DGLGraph) -> Tensor:
        return self.component(graph, graph.ndata[_NODE_INPUT])


class _KitSum(Aggregator):
    """Sum aggregation: the aggregator the kit hands to layers."""

    def reduce(self, graph: Any, messages: Tensor) -> Tensor:
        return dgl.ops.copy_e_sum(graph, messages)


class _FloatLinear(nn.Linear):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.to(self.weight.dtype))


class _LayerProbe(Probe):
    family = "layer"
    level = "node"

    def __init__(self, factory: Callable[..., Any], params: Mapping[str, Any] | None = None,
                 *, uses_edge_features: bool = False, **kwargs: Any):
        self.uses_edge_features = uses_edge_features
        super().__init__(factory, params, **kwargs)

    def build(self) -> nn.Module:
        extra: dict[str, Any] = {}
        if self.uses_edge_features:
            dim = self.dim
            extra["edge_encoder"] = lambda: _FloatLinear(LAYER_EDGE_FEATS, dim)
        obj = self.factory(self.dim, _KitSum(self.dim), **self.params, **extra)
        _expect(obj, nn.Module, self)
        return obj

    def attach(self, graph: dgl.DGLGraph, seed: int) -> dgl.DGLGraph:
        out = super().attach(graph, seed)
        out.ndata[_NODE_INPUT] = _randn((out.num_nodes(), self.dim), seed)
        out.edata[_EDGE_FEAT] = _randn((out.num_edges(), LAYER_EDGE_FEATS), seed + 1)
        return out

    def input_keys(self) -> list[tuple[str, str]]:
        keys = [("ndata", _NODE_INPUT)]
        return keys + ([("edata", _EDGE_FEAT)] if self.uses_edge_features else [])

    def __call__(self, graph: dgl.DGLGraph) -> Tensor:
        edges = graph.edata[_EDGE_FEAT] if self.uses_edge_features else None
        return self.component(graph, graph.ndata[_NODE_INPUT], edges)


class _EncodingProbe(Probe):
    """``compute`` on every graph (as wlkit caches it), then the encoding's model-side
    ``input_module`` if it has one."""

    family = "positional_encoding"
    level = "node"

    def build(self) -> PositionalEncoding:
        obj = self.factory(**self.params)
        _expect(obj, PositionalEncoding, self)
        if not isinstance(getattr(obj, "dim", None), int) or obj.dim < 1:
            raise AssertionError(f"{self}: dim must be a positive int, got "
                                 f"{getattr(obj, 'dim', None)!r}")
        self.input_module = obj.input_module()
        return obj

    @property
    def module(self) -> nn.Module | None:
        return self.input_module

    @property
    def out_dim(self) -> int:
        if self.input_module is not None:
            return int(self.input_module.out_dim)
        return int(self.component.dim)

    def compute(self, graph: dgl.DGLGraph) -> Tensor:
        """The encoding of every graph of a (batched) graph, computed on the CPU."""
        parts = [self.component.compute(g) for g in dgl.unbatch(graph.cpu())]
        for g, pe in zip(dgl.unbatch(graph), parts):
            if (not isinstance(pe, Tensor) or not pe.is_floating_point()
                    or tuple(pe.shape) != (g.num_nodes(), self.component.dim)):
                raise AssertionError(
                    f"{self}: compute() must return a float tensor of shape "
                    f"({g.num_nodes()}, {self.component.dim}), got "
                    f"{getattr(pe, 'dtype', type(pe))} {tuple(getattr(pe, 'shape', ()))}")
        return torch.cat(parts).float().to(graph.device)

    def __call__(self, graph: dgl.DGLGraph) -> Tensor:
        pe = self.compute(graph)
        if self.input_module is None:
            return pe
        weight = next(self.input_module.parameters(), None)
        return self.input_module(graph, pe if weight is None else pe.to(weight.dtype))


class _PolicyInputs(GraphDataset):
    """What the kit builds a policy's model half against: 3 node and 2 edge features."""

    name = "wlkit-testing"

    def info(self) -> DatasetInfo:
        return DatasetInfo(task="regression", num_tasks=1, metric="rmse",
                           higher_is_better=False, node_feat_dim=POLICY_NODE_FEATS,
                           edge_feat_dim=POLICY_EDGE_FEATS)

    def load(self) -> LoadedDataset:  # pragma: no cover - never loaded
        raise NotImplementedError


class _PolicyProbe(Probe):
    """A policy's model half on the pipeline ``gin`` + ``sum`` aggregator + ``sum`` readout
    (``hidden`` = ``dim``), fed through the policy's ``prepare`` and ``collate``."""

    family = "subgraph_policy"
    level = "graph"

    def __init__(self, factory: Callable[..., Any], params: Mapping[str, Any] | None = None,
                 *, num_layers: int | None = None, registry: Any = None, **kwargs: Any):
        self.num_layers = num_layers
        self.registry = registry
        self.used_layers: int | None = None
        super().__init__(factory, params, **kwargs)

    def build(self) -> nn.Module:
        from wlkit.model.build import build_parts

        policy = self.factory(**self.params)
        _expect(policy, SubgraphPolicy, self)
        self.policy = policy
        # Some policies fix the depth (PathNN: one layer per path length); use the first
        # depth the policy accepts.
        tries = [self.num_layers] if self.num_layers else [3, 2, 4, 1]
        error: WlkitError | None = None
        for layers in tries:
            pipeline = {"encodings": [], "model": {
                "layer": {"name": "gin"}, "aggregator": {"name": "sum"},
                "readout": {"name": "sum"}, "num_layers": layers, "hidden": self.dim,
                "dropout": 0.0, "residual": False, "virtual_node": False, "norm": "batch",
                "head_layers": 1}}
            parts = build_parts(pipeline, _PolicyInputs(), [], self.registry)
            try:
                body = policy.build(parts)
            except WlkitError as exc:
                error = exc
                continue
            if not isinstance(body, nn.Module) or not isinstance(getattr(body, "out_dim", None),
                                                                  int):
                raise AssertionError(f"{self}: build(parts) must return an nn.Module with an "
                                     f"int out_dim, got {type(body).__name__}")
            self.used_layers = layers
            return body
        assert error is not None
        raise error

    def attach(self, graph: dgl.DGLGraph, seed: int) -> dgl.DGLGraph:
        out = super().attach(graph, seed)
        out.ndata["feat"] = _randn((out.num_nodes(), POLICY_NODE_FEATS), seed)
        out.edata["feat"] = _randn((out.num_edges(), POLICY_EDGE_FEATS), seed + 1)
        return out

    def input_keys(self) -> list[tuple[str, str]]:
        return [("ndata", "feat")]

    def policy_batch(self, graph: dgl.DGLGraph) -> Any:
        """``collate`` of the ``prepare`` outputs of every graph in ``graph`` (on the CPU)."""
        graphs = dgl.unbatch(graph.cpu())
        prepared = [self.policy.prepare(g) if self.policy.has_prepare else {} for g in graphs]
        for p in prepared:
            if not isinstance(p, dict) or not all(isinstance(v, Tensor) for v in p.values()):
                raise AssertionError(f"{self}: prepare() must return a dict of tensors, got "
                                     f"{type(p).__name__}")
        return _to_device(self.policy.collate(graphs, prepared), graph.device)

    def __call__(self, graph: dgl.DGLGraph) -> Tensor:
        return self.component(graph, self.policy_batch(graph))


def _to_device(obj: Any, device: torch.device) -> Any:
    if device.type == "cpu":
        return obj
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj.to(device) if hasattr(obj, "to") else obj


def _expect(obj: Any, kind: type, probe: Probe) -> None:
    if not isinstance(obj, kind):
        raise AssertionError(f"{probe}: the factory returned {type(obj).__name__}, expected a "
                             f"{kind.__module__}.{kind.__name__}")


def aggregator_probe(factory: Callable[..., Any], dim: int = 8, *, name: str | None = None,
                     stochastic: bool = False, **params: Any) -> Probe:
    """Probe of an aggregator: ``factory(dim, **params)``, random messages per edge.

    Examples
    --------
    >>> from wlkit.plugins.aggregators import MeanAggregator
    >>> probe = aggregator_probe(MeanAggregator)
    >>> assert_permutation_invariant(probe)  # silent when it holds
    """
    return _AggregatorProbe(factory, params, name=name, stochastic=stochastic, dim=dim)


def readout_probe(factory: Callable[..., Any], dim: int = 8, *, name: str | None = None,
                  stochastic: bool = False, **params: Any) -> Probe:
    """Probe of a readout: ``factory(dim, **params)``, random node states."""
    return _ReadoutProbe(factory, params, name=name, stochastic=stochastic, dim=dim)


def layer_probe(factory: Callable[..., Any], dim: int = 8, *, uses_edge_features: bool = False,
                name: str | None = None, stochastic: bool = False, **params: Any) -> Probe:
    """Probe of a layer: ``factory(dim, aggregator, **params)`` with a sum aggregator and,
    for layers that read edge features, an ``edge_encoder`` (a linear map of 3 features)."""
    return _LayerProbe(factory, params, uses_edge_features=uses_edge_features, name=name,
                       stochastic=stochastic, dim=dim)


def encoding_probe(factory: Callable[..., Any], *, name: str | None = None,
                   stochastic: bool = False, **params: Any) -> Probe:
    """Probe of a positional encoding: ``factory(**params)``; the output is ``compute`` per
    graph followed by the encoding's ``input_module`` (when it has one)."""
    return _EncodingProbe(factory, params, name=name, stochastic=stochastic)


def policy_probe(factory: Callable[..., Any], hidden: int = 8, *, num_layers: int | None = None,
                 name: str | None = None, stochastic: bool = False, registry: Any = None,
                 **params: Any) -> Probe:
    """Probe of a subgraph policy: ``factory(**params)``, its model half built on the layer
    stack gin + sum + sum readout (width ``hidden``; depth ``num_layers``, by default the
    first of 3, 2, 4, 1 the policy accepts), graphs with 3 node and 2 edge features."""
    return _PolicyProbe(factory, params, num_layers=num_layers, registry=registry, name=name,
                        stochastic=stochastic, dim=hidden)


_PROBES: dict[str, Callable[..., Probe]] = {
    "aggregator": aggregator_probe,
    "readout": readout_probe,
    "layer": layer_probe,
    "positional_encoding": encoding_probe,
    "subgraph_policy": policy_probe,
}


def probe_for(family: str, name: str, params: Mapping[str, Any] | None = None,
              registry: Any = None) -> Probe:
    """Probe of the registered component ``name`` with its default parameters (updated by
    ``params``, validated against the record's schema).

    Examples
    --------
    >>> probe = probe_for("readout", "sum")
    >>> probe.level, probe.out_dim
    ('graph', 8)
    """
    from wlkit.manager import get_registry
    from wlkit.params import check_params

    registry = registry or get_registry()
    if family not in _PROBES:
        raise WlkitError(f"the kit has no probe for the {family} family; families: "
                         f"{', '.join(_PROBES)}")
    record = registry.get(family, name)
    resolved, problems = check_params(record.params, dict(params or {}))
    if problems:
        raise WlkitError(f"{family} {name!r}: " + "; ".join(f"{k}: {m}" for k, m, _ in problems))
    extra: dict[str, Any] = {"name": name, "stochastic": record.stochastic}
    if family == "layer":
        extra["uses_edge_features"] = bool(getattr(record, "uses_edge_features", False))
    if family == "subgraph_policy":
        extra["registry"] = registry
    return _PROBES[family](record.factory, **extra, **resolved)


# ============================================================================ helpers


@contextlib.contextmanager
def _mode(probe: Probe, training: bool) -> Iterator[None]:
    module = probe.module
    before = module.training if module is not None else None
    if module is not None:
        module.train(training)
    try:
        yield
    finally:
        if module is not None:
            module.train(bool(before))


def _attached(probe: Probe, cases: list[tuple[str, dgl.DGLGraph]],
              seed: int) -> list[tuple[str, dgl.DGLGraph]]:
    return [(name, probe.attach(g, seed + 7919 * i)) for i, (name, g) in enumerate(cases)]


def _split(probe: Probe, out: Tensor, graphs: list[dgl.DGLGraph]) -> list[Tensor]:
    if probe.level == "graph":
        return list(out.unbind(0))
    return list(torch.split(out, [g.num_nodes() for g in graphs]))


def _run(probe: Probe, graphs: list[dgl.DGLGraph]) -> list[Tensor]:
    """Per-graph outputs of one batched call (eval mode, no gradients)."""
    batch = dgl.batch(graphs)
    with torch.no_grad(), _mode(probe, False):
        out = probe(batch)
    _check_rows(probe, out, batch)
    return _split(probe, out, graphs)


def _check_rows(probe: Probe, out: Any, batch: dgl.DGLGraph) -> None:
    rows = probe.rows(batch)
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != rows:
        raise AssertionError(f"{probe}: expected an output of shape [{rows}, out_dim] "
                             f"({'nodes' if probe.level == 'node' else 'graphs'} x width), got "
                             f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))}")


def _difference(a: Tensor, b: Tensor, rtol: float, atol: float) -> str | None:
    """None when ``a`` and ``b`` agree (tolerances scaled by their magnitude), else why."""
    if a.shape != b.shape:
        return f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"
    if a.numel() == 0:
        return None
    a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()
    finite = torch.isfinite(a64) & torch.isfinite(b64)
    if not torch.equal(torch.isfinite(a64), torch.isfinite(b64)) or not torch.equal(
            a64[~finite].nan_to_num(), b64[~finite].nan_to_num()):
        return "non-finite values differ"
    if not bool(finite.any()):
        return None
    scale = max(float(a64[finite].abs().max()), float(b64[finite].abs().max()), 1.0)
    diff = (a64 - b64)[finite].abs()
    limit = atol * scale + rtol * b64[finite].abs()
    bad = diff > limit
    if not bool(bad.any()):
        return None
    return (f"max |difference| {float(diff.max()):.3g} (output scale {scale:.3g}; "
            f"{int(bad.sum())} of {bad.numel()} values off)")


def _fail(probe: Probe, what: str, failures: list[str]) -> None:
    if failures:
        lines = "\n  ".join(failures)
        raise AssertionError(f"{probe}: {what}\n  {lines}")


def usable_graphs(probe: Probe, graphs: Graphs = None, *,
                  seed: int = 0) -> tuple[dict[str, dgl.DGLGraph], dict[str, str]]:
    """The graphs ``probe`` accepts, and why it refuses the others.

    A component may refuse a graph with a :class:`wlkit.WlkitError` (a clear, documented
    limit: e.g. ``lappe`` asks for ``k`` eigenvectors of a graph with fewer nodes). Any other
    exception propagates. Raises :class:`ComponentRefused` when every graph is refused.
    """
    usable: dict[str, dgl.DGLGraph] = {}
    refused: dict[str, str] = {}
    for name, graph in _cases(graphs):
        try:
            _run(probe, [probe.attach(graph, seed)])
        except WlkitError as exc:
            refused[name] = str(exc).split("\n")[0]
            continue
        usable[name] = graph
    if not usable:
        first = next(iter(refused.values()), "no graphs given")
        raise ComponentRefused(f"{probe} refuses every graph ({first})")
    return usable, refused


# ============================================================================ assertions


def assert_permutation_invariant(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                                 rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Relabelling nodes (and reordering edges) leaves the output unchanged.

    For graph-level outputs the rows must be equal; for node-level outputs (aggregators,
    layers, encodings) row ``perm[i]`` of the relabelled graph's output must equal row ``i``
    (equivariance). Checked in eval mode on each graph alone and on all of them as one
    batch, up to rounding: ``|a - b| <= atol * scale + rtol * |b|`` with ``scale`` the
    larger output magnitude (at least 1). Noise of stochastic components must follow
    ``ndata["_node_key"]``, which moves with the nodes.

    Raises
    ------
    AssertionError
        Naming the graph and the size of the difference.
    """
    cases = _attached(probe, _cases(graphs), seed)
    moved = [(name, *relabel(g, seed=seed + 101 * i)) for i, (name, g) in enumerate(cases)]
    failures: list[str] = []
    for (name, g), (_, new, perm) in zip(cases, moved):
        (before,) = _run(probe, [g])
        (after,) = _run(probe, [new])
        if probe.level == "node":
            after = after[perm]
        why = _difference(after, before, rtol, atol)
        if why:
            failures.append(f"graph {name!r}: {why}")
    if len(cases) > 1 and not failures:
        before = _run(probe, [g for _, g in cases])
        after = _run(probe, [new for _, new, _ in moved])
        for (name, _), (_, _, perm), b, a in zip(cases, moved, before, after):
            why = _difference(a[perm] if probe.level == "node" else a, b, rtol, atol)
            if why:
                failures.append(f"graph {name!r} in a batch: {why}")
    kind = "equivariant" if probe.level == "node" else "invariant"
    _fail(probe, f"output is not permutation {kind}", failures)


def assert_permutation_equivariant(probe: Probe, graphs: Graphs = None, **kwargs: Any) -> None:
    """Alias of :func:`assert_permutation_invariant` for node-level outputs."""
    if probe.level != "node":
        raise ValueError(f"{probe} has graph-level outputs; use assert_permutation_invariant")
    assert_permutation_invariant(probe, graphs, **kwargs)


def assert_batch_independent(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                             rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """A graph's output does not depend on the other graphs of its batch or its position.

    Each graph alone is compared with the same graph inside one batch of all the graphs,
    and inside the reversed batch (eval mode).
    """
    cases = _attached(probe, _cases(graphs), seed)
    graphs_only = [g for _, g in cases]
    alone = [_run(probe, [g])[0] for g in graphs_only]
    together = _run(probe, graphs_only)
    reverse = _run(probe, graphs_only[::-1])[::-1]
    failures = []
    for (name, _), a, t, r in zip(cases, alone, together, reverse):
        for label, other in (("in a batch", t), ("in the reversed batch", r)):
            why = _difference(other, a, rtol, atol)
            if why:
                failures.append(f"graph {name!r} {label} vs alone: {why}")
                break
    _fail(probe, "outputs depend on the rest of the batch", failures)


def _state(module: nn.Module | None) -> dict[str, Tensor]:
    return {} if module is None else module.state_dict()


def _keeps_rng(function: Callable[..., None]) -> Callable[..., None]:
    """Run ``function`` without changing torch's global random state."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with torch.random.fork_rng(devices=[]):
            function(*args, **kwargs)

    return wrapper


@_keeps_rng
def assert_deterministic(probe: Probe, graphs: Graphs = None, *, seed: int = 0) -> None:
    """Under one seed, two builds are identical and give identical outputs, bit for bit.

    Checks that (1) two components built after ``torch.manual_seed(seed)`` have equal
    ``state_dict``s, (2) in eval mode two calls agree, and (3) in training mode two calls,
    each after ``torch.manual_seed``, agree (dropout, sampling and fresh noise drawn from
    torch's generator are then reproducible).
    """
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    torch.manual_seed(seed)
    first = probe.fresh()
    torch.manual_seed(seed)
    second = probe.fresh()
    failures = []
    a_state, b_state = _state(first.module), _state(second.module)
    if a_state.keys() != b_state.keys():
        failures.append("two builds have different state_dict keys")
    else:
        for key in a_state:
            if not torch.equal(a_state[key], b_state[key]):
                failures.append(f"two builds under seed {seed} differ in {key!r}")
                break
    with torch.no_grad(), _mode(first, False), _mode(second, False):
        outs = [first(batch), first(batch), second(batch)]
    if not (torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])):
        failures.append("eval mode: repeated calls differ"
                        + (" (stochastic: draw eval noise from ndata['_node_key'])"
                           if probe.stochastic else ""))
    if first.module is not None:
        with torch.no_grad(), _mode(first, True), _mode(second, True):
            torch.manual_seed(seed)
            a = first(batch)
            torch.manual_seed(seed)
            b = second(batch)
        if not torch.equal(a, b):
            failures.append("training mode: two calls after torch.manual_seed(seed) differ")
    _fail(probe, "not deterministic under a seed", failures)


def _float_params(module: nn.Module | None) -> list[tuple[str, nn.Parameter]]:
    if module is None:
        return []
    return [(n, p) for n, p in module.named_parameters() if p.requires_grad]


@_keeps_rng
def assert_gradient_flow(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                         require_all: bool = False, inputs: bool = True) -> None:
    """A loss on the output (training mode) gives finite gradients that reach the weights
    and the float inputs.

    At least one trainable parameter must get a non-zero gradient (if there are any), and
    with ``inputs`` the probe's inputs (messages, node states or node features) too. With
    ``require_all`` every trainable parameter must get a gradient; off by default, since
    some parameters are legitimately unused by a batch (e.g. weights tied per subgraph size
    for sizes the batch lacks).
    """
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    leaves = []
    for frame, key in probe.input_keys():
        data = batch.ndata if frame == "ndata" else batch.edata
        leaf = data[key].detach().clone().requires_grad_(True)
        data[key] = leaf
        leaves.append((f"{frame}[{key!r}]", leaf))
    params = _float_params(probe.module)
    for _, p in params:
        p.grad = None
    failures = []
    with _mode(probe, True):
        torch.manual_seed(seed)
        out = probe(batch)
        if not out.requires_grad:
            if params or (inputs and leaves):
                failures.append("the output does not require grad (detached computation?)")
        else:
            weights = _randn(tuple(out.shape), seed).to(out.device, out.dtype)
            (out * weights).sum().backward()
    unused = [n for n, p in params if p.grad is None]
    bad = [n for n, p in params if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    if bad:
        failures.append(f"non-finite gradients in {', '.join(bad[:5])}")
    if params and not any(p.grad is not None and bool(p.grad.abs().sum() > 0) for _, p in params):
        failures.append("no parameter gets a non-zero gradient")
    if require_all and unused:
        failures.append(f"parameters without a gradient: {', '.join(unused[:8])}")
    if inputs:
        for label, leaf in leaves:
            if leaf.grad is None or not bool(leaf.grad.abs().sum() > 0):
                failures.append(f"no gradient reaches the input {label}")
            elif not bool(torch.isfinite(leaf.grad).all()):
                failures.append(f"non-finite gradient at the input {label}")
    for _, p in params:
        p.grad = None
    _fail(probe, "gradients do not flow", failures)


def assert_output_contract(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                           float64: bool = False) -> None:
    """Shapes, dtype, finiteness and device of the output.

    The output is a 2-D tensor with one row per node (or graph) and ``probe.out_dim``
    columns, finite, on the input's device and float32 for float32 weights and inputs (the
    dtype wlkit trains in). With ``float64`` it must also be float64 after
    ``module.double()`` with float64 inputs (off by default: wlkit's model input encoder
    casts features to float32, so policies built on it cannot run in float64). Aggregators
    must also give the same result through ``aggregate_neighbours`` as through ``forward``
    on the per-edge source states.
    """
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    failures = []
    with torch.no_grad(), _mode(probe, False):
        out = probe(batch)
    _check_rows(probe, out, batch)
    if out.shape[1] != probe.out_dim:
        failures.append(f"width {out.shape[1]}, but out_dim is {probe.out_dim}")
    if out.dtype != torch.float32:
        failures.append(f"dtype {out.dtype} for float32 weights and inputs")
    if out.device != batch.device:
        failures.append(f"output on {out.device}, input on {batch.device}")
    if not bool(torch.isfinite(out).all()):
        rows = torch.nonzero(~torch.isfinite(out).all(1)).flatten()[:5].tolist()
        failures.append(f"non-finite values in rows {rows}")
    if isinstance(probe, _AggregatorProbe):
        src, _ = batch.edges()
        h = batch.ndata[_NODE_INPUT]
        with torch.no_grad(), _mode(probe, False):
            fused = probe.component.aggregate_neighbours(batch, h)
            plain = probe.component(batch, h[src.long()])
        why = _difference(fused, plain, 1e-4, 1e-5)
        if why:
            failures.append(f"aggregate_neighbours differs from forward on h[src]: {why}")
    module = probe.module
    if float64 and module is not None and any(True for _ in module.parameters()):
        double = probe.fresh()
        double.module.load_state_dict(module.state_dict())
        double.module.double()
        wide = dgl.batch([g for _, g in cases])
        for frame in (wide.ndata, wide.edata):
            for key in list(frame.keys()):
                if frame[key].is_floating_point():
                    frame[key] = frame[key].double()
        try:
            with torch.no_grad(), _mode(double, False):
                out64 = double(wide)
        except Exception as exc:
            failures.append(f"float64 (module.double()): {type(exc).__name__}: {exc}")
        else:
            if out64.dtype != torch.float64:
                failures.append(f"float64 weights and inputs give {out64.dtype}")
    _fail(probe, "breaks the output contract", failures)


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when torch sees a GPU and DGL's build can use it."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        try:
            dgl.graph(([0], [0])).to("cuda")
            devices.append("cuda")
        except Exception:  # a CPU-only DGL build cannot move graphs to CUDA
            pass
    return devices


def assert_device_placement(probe: Probe, graphs: Graphs = None, *,
                            device: str | torch.device = "cpu", seed: int = 0) -> None:
    """On ``device`` (weights and graph moved there) the output is on ``device`` too and
    matches the CPU output up to rounding."""
    device = torch.device(device)
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    with torch.no_grad(), _mode(probe, False):
        reference = probe(batch)
    module = probe.module
    failures = []
    try:
        if module is not None:
            module.to(device)
        with torch.no_grad(), _mode(probe, False):
            out = probe(batch.to(device))
        if out.device.type != device.type:
            failures.append(f"output on {out.device}, expected {device}")
        why = _difference(out.cpu(), reference, 1e-3, 1e-4)
        if why:
            failures.append(f"output on {device} differs from the CPU: {why}")
        if module is not None:
            stray = [n for n, t in [*module.named_parameters(), *module.named_buffers()]
                     if t.device.type != device.type]
            if stray:
                failures.append(f"tensors left off {device}: {', '.join(stray[:5])}")
    finally:
        if module is not None:
            module.to("cpu")
    _fail(probe, f"misplaced on {device}", failures)


@_keeps_rng
def assert_state_dict_roundtrip(probe: Probe, graphs: Graphs = None, *, seed: int = 0) -> None:
    """Weights saved with ``torch.save(module.state_dict())`` load with
    ``torch.load(weights_only=True)`` into a fresh build (strictly), which then gives the
    same outputs: no state lives outside the ``state_dict``."""
    module = probe.module
    if module is None:
        return
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    failures = []
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    try:
        state = torch.load(buffer, weights_only=True)
    except Exception as exc:
        raise AssertionError(f"{probe}: state_dict does not load with weights_only=True: "
                             f"{type(exc).__name__}: {exc}") from exc
    torch.manual_seed(seed + 1)
    other = probe.fresh()
    try:
        other.module.load_state_dict(state, strict=True)
    except Exception as exc:
        raise AssertionError(f"{probe}: a fresh build does not load the saved state_dict: "
                             f"{type(exc).__name__}: {exc}") from exc
    with torch.no_grad(), _mode(probe, False), _mode(other, False):
        a, b = probe(batch), other(batch)
    if not torch.equal(a, b):
        why = _difference(b, a, 0.0, 0.0) or "outputs differ"
        failures.append(f"after loading the weights the outputs differ: {why} (state kept "
                        "outside the state_dict?)")
    _fail(probe, "does not round-trip through its state_dict", failures)


_NAME = re.compile(r"[a-z0-9][a-z0-9_.+-]*")
_PARAM_TYPES = (int, float, bool, str, list, dict)


def assert_record(record: ComponentRecord) -> None:
    """A record is well formed: a lower-case name, a one-line summary, facts of the right
    types, typed and documented parameters whose defaults pass their own checks, and a
    factory that accepts every parameter as a keyword."""
    problems = []
    family = getattr(record, "family", "")
    if family not in RECORD_TYPES or not isinstance(record, RECORD_TYPES[family]):
        problems.append(f"not a component record ({type(record).__name__})")
    name = getattr(record, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f"name {name!r} must be lower case: letters, digits, _ . + -")
    summary = getattr(record, "summary", "")
    if not isinstance(summary, str) or not summary.strip() or "\n" in summary:
        problems.append("summary must be one non-empty line")
    for fact in ("permutation_invariant", "stochastic"):
        if not isinstance(getattr(record, fact, None), bool):
            problems.append(f"{fact} must be true or false")
    if not isinstance(record.expressivity, str) or not record.expressivity.strip():
        problems.append("expressivity must be a non-empty string")
    if record.approximate is not None and (not isinstance(record.approximate, str)
                                           or not record.approximate.strip()):
        problems.append("approximate must be None or a non-empty string")
    seen: set[str] = set()
    for param in record.params:
        if not isinstance(param, Param):
            problems.append(f"params must be wlkit.Param objects, got {type(param).__name__}")
            continue
        where = f"param {param.name!r}"
        if param.name in seen:
            problems.append(f"{where} is declared twice")
        seen.add(param.name)
        if param.type not in _PARAM_TYPES:
            problems.append(f"{where}: type must be one of int, float, bool, str, list, dict")
        if not param.doc.strip():
            problems.append(f"{where} has no doc")
        if param.default is not REQUIRED:
            _, why = param.check(param.default)
            if why:
                problems.append(f"{where}: its default {param.default!r} {why}")
    problems += _factory_problems(record)
    if problems:
        raise AssertionError(f"{family} record {name!r}: " + "; ".join(problems))


def _factory_problems(record: ComponentRecord) -> list[str]:
    try:
        signature = inspect.signature(record.factory)
    except (TypeError, ValueError):
        return []  # builtins / C callables: nothing to inspect
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return []
    keywords = {p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                     inspect.Parameter.KEYWORD_ONLY)}
    missing = [p.name for p in record.params if p.name not in keywords]
    return [f"the factory does not accept the parameter(s) {', '.join(missing)}"] if missing \
        else []


def assert_conforms(family: str, name: str, params: Mapping[str, Any] | None = None, *,
                    registry: Any = None, separation: bool = False, seed: int = 0) -> None:
    """Run every check of ``wlkit check`` on one registered component; raise
    ``AssertionError`` listing the failures (invariance counts only when the record
    claims it). ``separation`` also embeds the classic WL pairs (slower)."""
    from wlkit.check import check_component
    from wlkit.manager import get_registry

    registry = registry or get_registry()
    row = check_component(registry.entry(family, name), registry=registry, params=params,
                          separation=separation, seed=seed)
    if row["red"]:
        details = "\n  ".join(f"{check}: {result['detail']}"
                              for check, result in row["checks"].items()
                              if result["status"] == "fail")
        raise AssertionError(f"{family} {name!r} does not conform:\n  {details}")


# ============================================================================ pytest plugin

if pytest is not None:

    @pytest.fixture
    def wlkit_register() -> Iterator[Callable[..., Any]]:
        """``wlkit_register(plugin, name=None)`` registers a plugin (module or object with
        ``@hookimpl`` functions) for this test only and returns the registry; every plugin
        is unregistered when the test ends."""
        from wlkit.manager import get_registry, registered_plugin

        with contextlib.ExitStack() as stack:
            def register(plugin: Any, name: str | None = None) -> Any:
                stack.enter_context(registered_plugin(plugin, name))
                return get_registry()

            yield register

    @pytest.fixture
    def wlkit_registry() -> Any:
        """wlkit's component registry (built-ins and installed plugins)."""
        from wlkit.manager import get_registry

        return get_registry()

    @pytest.fixture
    def wlkit_graphs() -> dict[str, dgl.DGLGraph]:
        """:func:`graph_zoo`: the kit's graphs by name, fresh for every test."""
        return graph_zoo()

    @pytest.fixture
    def wlkit_batch() -> list[dgl.DGLGraph]:
        """The zoo's graphs as one mixed batch (a list; ``dgl.batch`` it as needed)."""
        return list(graph_zoo().values())

    def pytest_generate_tests(metafunc: Any) -> None:
        """``wlkit_device``: the test runs once per available device (cpu, cuda)."""
        if "wlkit_device" in metafunc.fixturenames:
            metafunc.parametrize("wlkit_device", available_devices())
