"""Probes: one component wrapped so every assertion drives it the same way, and the
kit's graphs (:func:`graph_zoo`, :func:`random_graph`, :func:`relabel`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
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
    >>> from wlkit.testing import assert_permutation_invariant
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


