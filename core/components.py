"""Base classes for components. Built-in and third-party plugins subclass the same ones.

Each base class does the argument checks once, so each component stays short (the PyG
``aggr`` pattern): an :class:`Aggregator` checks the graph/message shapes before
:meth:`Aggregator.reduce` runs and the shape of what it returns; a :class:`Readout` checks
the node features and the pooled output; :meth:`PositionalEncoding.encode` checks what
:meth:`PositionalEncoding.compute` returns. A breach raises :class:`ComponentError`, which
names the component and the distribution it comes from.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from wlkit.errors import PluginError
from wlkit.io import content_key

Task = Literal["multiclass", "binary", "regression"]

_LABEL = "_wlkit_label"


class ComponentError(PluginError, ValueError):
    """A component broke its contract while running, e.g. returned a tensor of the wrong shape.

    A :class:`~wlkit.errors.PluginError` (one message, exit code 2); also a ``ValueError``,
    which these checks raised before they named the plugin. ``output`` is what the
    component returned (None for an input check), for conformance tests to inspect.
    """

    output: Any = None


def label_component(component: Any, label: str) -> None:
    """Remember how errors should name ``component``, e.g. ``aggregator 'sum' (from wlkit 0.1)``.

    :func:`wlkit.model.build.instantiate` calls it for every component it builds. The
    attribute starts with ``_``, so it stays out of ``cache_params`` and cache keys.

    Parameters
    ----------
    component : object
        A component instance.
    label : str
        Family, name and distribution, as errors should print them.
    """
    try:
        setattr(component, _LABEL, label)
    except (AttributeError, TypeError):  # __slots__ or a frozen dataclass: keep the fallback
        pass


def component_label(component: Any, family: str) -> str:
    """How an error names ``component``: family, registered name and distribution.

    Only called on the error path, so the registry look-up for a component built by hand
    (not through :func:`wlkit.model.build.instantiate`) costs nothing while training.

    Parameters
    ----------
    component : object
        A component instance.
    family : str
        Its family, e.g. ``"aggregator"``.

    Returns
    -------
    str
        E.g. ``aggregator 'sum' (from wlkit 0.1.0)``; a class name and module when the
        class is not registered.
    """
    label = getattr(component, _LABEL, None)
    if isinstance(label, str):
        return label
    cls = type(component)
    try:
        from wlkit.manager import get_registry

        for entry in get_registry().entries(family):
            if entry.record.factory is cls:
                return component_where(family, entry.record.name, entry.source, entry.version)
    except Exception:  # best effort while reporting another error
        pass
    return f"{family} {cls.__qualname__} (class in {cls.__module__}, not registered)"


def component_where(family: str, name: str, source: str, version: str) -> str:
    """``aggregator 'sum' (from wlkit 0.1.0)``: how errors name a registered component."""
    return f"{family} {name!r} (from {' '.join(p for p in (source, version) if p)})"


def _breach(component: Any, family: str, text: str, hint: str) -> ComponentError:
    return ComponentError(f"{component_label(component, family)}: {text}\n    hint: {hint}")


def _check_features(component: Any, family: str, tensor: Tensor, rows: int, dim: int | None,
                    what: str) -> None:
    """An input check: the caller (usually a layer) handed the component the wrong shape."""
    shape = tuple(tensor.shape)
    if len(shape) != 2:
        problem = f"{what} must be 2-D [rows, dim], got shape {shape}"
    elif shape[0] != rows:
        problem = f"{what} has {shape[0]} rows, the graph has {rows}"
    elif dim is not None and shape[1] != dim:
        problem = f"{what} has width {shape[1]}, expected {dim}"
    else:
        return
    raise _breach(component, family, problem,
                  "the module that calls it (a layer or a policy) passes the wrong shape")


def _check_output(component: Any, family: str, out: Any, expected: tuple[int, int],
                  method: str) -> None:
    """An output check: one shape comparison on the hot path, no device synchronisation."""
    if isinstance(out, Tensor) and out.shape == expected:
        return
    got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
    error = _breach(component, family, f"{method} returned {got}, expected {expected}",
                    f"{method} must return a tensor [{expected[0]} rows, {expected[1]}]; fix "
                    "the plugin or report it to its authors")
    error.output = out
    raise error


def _checked_neighbours(method: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Wrap a subclass's own ``aggregate_neighbours`` (a fused kernel) in the base checks."""

    @functools.wraps(method)
    def aggregate_neighbours(self: Aggregator, graph: Any, feats: Tensor) -> Tensor:
        rows = graph.num_nodes()
        _check_features(self, "aggregator", feats, rows, self.dim, "node features")
        out = method(self, graph, feats)
        _check_output(self, "aggregator", out, (rows, self.dim), "aggregate_neighbours")
        return out

    aggregate_neighbours._wlkit_checked = True  # type: ignore[attr-defined]
    return aggregate_neighbours


class Aggregator(nn.Module, abc.ABC):
    """Reduce the messages on the in-edges of every node to one vector per node.

    Subclasses implement :meth:`reduce`. The input and output width are both ``dim``. A node
    without in-edges must get a well-defined output (zeros for sum-like aggregators, a learned
    identity element for learned monoids), never NaN.

    Parameters
    ----------
    dim : int
        Width of the messages and of the output.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A fused aggregate_neighbours bypasses forward(); give it the same checks.
        own = cls.__dict__.get("aggregate_neighbours")
        if callable(own) and not getattr(own, "_wlkit_checked", False):
            cls.aggregate_neighbours = _checked_neighbours(own)  # type: ignore[method-assign]

    def __init__(self, dim: int):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"{type(self).__name__}: dim must be a positive int, got {dim!r}")
        self.dim = dim

    def forward(self, graph: Any, messages: Tensor) -> Tensor:
        """Aggregate ``messages`` ([num_edges, dim], one per edge) into [num_nodes, dim]."""
        _check_features(self, "aggregator", messages, graph.num_edges(), self.dim, "messages")
        out = self.reduce(graph, messages)
        _check_output(self, "aggregator", out, (graph.num_nodes(), self.dim), "reduce")
        return out

    @abc.abstractmethod
    def reduce(self, graph: Any, messages: Tensor) -> Tensor:
        """Per-destination reduction; called after the checks in :meth:`forward`."""

    def aggregate_neighbours(self, graph: Any, feats: Tensor) -> Tensor:
        """Aggregate the source-node features of each node's in-edges.

        Equal to ``self(graph, feats[src])``. Aggregators with a fused kernel (sum, mean,
        max via DGL's ``copy_u`` SpMM) override it to skip materialising one row per edge.
        """
        rows = graph.num_nodes()
        _check_features(self, "aggregator", feats, rows, self.dim, "node features")
        src, _ = graph.edges()
        out = self.reduce(graph, feats[src.long()])
        _check_output(self, "aggregator", out, (rows, self.dim), "reduce")
        return out

    def auxiliary_loss(self) -> Tensor | None:
        """Optional regulariser added to the training loss (e.g. LCM associativity)."""
        return None


class Readout(nn.Module, abc.ABC):
    """Pool node features of each graph in a batch to one vector per graph.

    Parameters
    ----------
    dim : int
        Width of the node features. ``out_dim`` is the output width (``dim`` unless a
        subclass changes it, e.g. Set2Set doubles it).
    """

    def __init__(self, dim: int):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"{type(self).__name__}: dim must be a positive int, got {dim!r}")
        self.dim = dim
        self.out_dim = dim

    def forward(self, graph: Any, feats: Tensor) -> Tensor:
        """[num_nodes, dim] node features -> [batch_size, out_dim]."""
        _check_features(self, "readout", feats, graph.num_nodes(), self.dim, "node features")
        out = self.pool(graph, feats)
        _check_output(self, "readout", out, (graph.batch_size, self.out_dim), "pool")
        return out

    @abc.abstractmethod
    def pool(self, graph: Any, feats: Tensor) -> Tensor:
        """Per-graph pooling; called after the checks in :meth:`forward`."""


class PositionalEncoding(abc.ABC):
    """A per-node encoding computed once per graph on the CPU and cached on disk.

    Subclasses set :attr:`dim` and implement :meth:`compute`. The cache key is derived from
    the class, :attr:`version` and :meth:`cache_params`, so changing a parameter or bumping
    the version invalidates old caches.
    """

    dim: int
    version: int = 1

    @abc.abstractmethod
    def compute(self, graph: Any) -> Tensor:
        """Return a float tensor [num_nodes, dim] for one (unbatched) graph."""

    def encode(self, graph: Any) -> Tensor:
        """:meth:`compute`, checked: a float tensor [num_nodes, dim] for one graph.

        Parameters
        ----------
        graph : dgl.DGLGraph
            One unbatched graph.

        Returns
        -------
        Tensor
            ``compute(graph)`` as float32.

        Raises
        ------
        ComponentError
            When ``compute`` returns anything but a tensor of that shape.
        """
        out = self.compute(graph)
        _check_output(self, "positional_encoding", out, (graph.num_nodes(), self.dim),
                      "compute")
        return out.float()

    def cache_params(self) -> Mapping[str, Any]:
        """Parameters that change the output; the default is the instance ``__dict__``."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def cache_key(self) -> str:
        return content_key(type(self).__module__, type(self).__qualname__, self.version,
                           dict(self.cache_params()))

    def input_module(self) -> nn.Module | None:
        """Optional model-side half of the encoding; the default None passes it unchanged.

        Return a fresh module ``m(graph, pe) -> Tensor[num_nodes, m.out_dim]``; the model's
        input encoder applies it to this encoding's columns ``pe`` ([num_nodes, dim], as
        computed and cached) of the batched ``graph`` before all encodings are normalised
        and projected to the hidden width. It may depend on ``m.training`` (random sign
        flips of eigenvectors in training) and may have parameters (a SignNet encoder).
        """
        return None


@dataclass(frozen=True)
class DatasetInfo:
    """What the model needs to know about a dataset, available without loading it.

    Parameters
    ----------
    task : {"multiclass", "binary", "regression"}
        ``multiclass``: one label in ``range(num_tasks)`` per graph (cross-entropy).
        ``binary``: ``num_tasks`` independent 0/1 targets, NaN = missing (masked BCE).
        ``regression``: ``num_tasks`` real targets, NaN = missing (masked MSE).
    num_tasks : int
        Number of classes (multiclass) or of targets.
    metric : str
        Name of the metric, e.g. ``accuracy``, ``rocauc``, ``rmse``.
    higher_is_better : bool
        Direction of the metric (used for checkpoint selection).
    node_feat_dim : int
        Width of ``ndata['feat']``; 0 means the graphs carry no node features.
    edge_feat_dim : int
        Width of ``edata['feat']``; 0 means none.
    """

    task: Task
    num_tasks: int
    metric: str
    higher_is_better: bool
    node_feat_dim: int = 0
    edge_feat_dim: int = 0
    num_graphs: int | None = None

    @property
    def out_dim(self) -> int:
        return self.num_tasks


@dataclass
class LoadedDataset:
    """Graphs, labels and the split, as returned by :meth:`GraphDataset.load`.

    ``labels`` is [num_graphs] (int64) for multiclass and [num_graphs, num_tasks] (float,
    NaN = missing) otherwise. ``splits`` maps ``train``/``valid``/``test`` to index tensors.
    """

    graphs: list[Any]
    labels: Tensor
    splits: dict[str, Tensor]
    extra: dict[str, Any] = field(default_factory=dict)


class GraphDataset(abc.ABC):
    """A dataset plugin's object. Split into cheap metadata and expensive loading.

    ``info`` must not load or download anything, so ``wlkit validate`` can build the model.
    ``prepare_data`` does the once-per-machine work (download, copying into a cache);
    ``load`` returns the graphs.
    """

    name: str = "dataset"

    @abc.abstractmethod
    def info(self) -> DatasetInfo:
        """Metadata, computed without loading the graphs."""

    def prepare_data(self) -> None:  # noqa: B027 - optional hook
        """Download or copy files; called once before :meth:`load`."""

    @abc.abstractmethod
    def load(self) -> LoadedDataset:
        """Load graphs, labels and split."""

    def evaluate(self, y_true: Tensor, y_pred: Tensor) -> float:
        """Score predictions of one split with the dataset's metric.

        The default computes :attr:`DatasetInfo.metric` with :func:`wlkit.metrics.compute`;
        datasets with an official evaluator (OGB) override this.
        """
        from wlkit.metrics import compute

        return compute(self.info().metric, y_true, y_pred)

    def node_encoder(self, hidden: int) -> nn.Module | None:
        """Module mapping ``ndata['feat']`` to ``hidden``; None uses a linear layer."""
        return None

    def edge_encoder(self, hidden: int) -> nn.Module | None:
        """Module mapping ``edata['feat']`` to ``hidden``; None uses a linear layer."""
        return None

    def example_graphs(self) -> list[Any]:
        """A few small graphs shaped like this dataset's, for ``wlkit validate``'s trial
        forward pass (nothing is loaded or downloaded).

        The default: a 6-cycle with a chord and a triangle with a pendant node, both
        directions of every edge, int64 zero features of the widths :meth:`info` declares
        (a categorical encoder such as OGB's AtomEncoder embeds them; the default linear
        map casts them to float). Override it when the model reads more than
        ``ndata['feat']`` and ``edata['feat']``, e.g. a node mark.

        Returns
        -------
        list of dgl.DGLGraph
            Unbatched graphs.
        """
        import dgl

        info = self.info()
        graphs = []
        for edges, nodes in (([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3)], 6),
                             ([(0, 1), (1, 2), (2, 0), (2, 3)], 4)):
            src = [u for u, _ in edges] + [v for _, v in edges]
            dst = [v for _, v in edges] + [u for u, _ in edges]
            g = dgl.graph((torch.tensor(src), torch.tensor(dst)), num_nodes=nodes)
            if info.node_feat_dim:
                g.ndata["feat"] = torch.zeros(nodes, info.node_feat_dim, dtype=torch.long)
            if info.edge_feat_dim:
                g.edata["feat"] = torch.zeros(g.num_edges(), info.edge_feat_dim,
                                              dtype=torch.long)
            graphs.append(g)
        return graphs

    def fingerprint(self) -> str:
        """Identity of the loaded content for cache keys; override when it depends on files."""
        return content_key(type(self).__module__, type(self).__qualname__,
                           {k: v for k, v in vars(self).items() if not k.startswith("_")})


def graph_device(graph: Any) -> torch.device:
    """Device of a DGL graph (helper for components that draw tensors)."""
    return graph.device


@dataclass
class ModelParts:
    """The pieces of a pipeline's model, handed to a policy's model-side half.

    A policy combines them as its paper says: RNI changes the input and reuses the standard
    stack (:class:`wlkit.MessagePassing`), ego-net policies run the stack on a bag of
    subgraphs and pool twice, SPEN or PathNN build their own layers at width ``hidden``.

    Attributes
    ----------
    hidden : int
        Hidden width.
    num_layers : int
        Number of message-passing layers asked for.
    node_input : nn.Module
        ``node_input(graph) -> [num_nodes, hidden]``: encoded node features plus
        positional encodings (shared; call it once per forward).
    make_layer : callable
        ``make_layer() -> nn.Module``: a fresh layer of the pipeline's type with a fresh
        aggregator, ``layer(graph, h, edge_feats)``.
    make_norm : callable
        ``make_norm() -> nn.Module``: the normalisation after each layer.
    make_readout : callable
        ``make_readout(dim) -> Readout``: the pipeline's readout at width ``dim``.
    make_edge_encoder : callable or None
        ``make_edge_encoder() -> nn.Module`` mapping raw ``edata['feat']`` to ``hidden``
        (None when the dataset has no edge features).
    uses_edge_features : bool
        Whether the pipeline's layer reads ``edata['feat']``.
    dropout : float
    residual : bool
    virtual_node : bool
    activation : str
        The non-linearity between layers (``model.activation``; a key of
        :data:`wlkit.LAYER_ACTIVATIONS`), applied by :class:`wlkit.MessagePassing`
        after each layer's norm except the last. Policies with their own stacks may use
        it for their own non-linearity (SPEN does).
    activate_last : bool
        Whether :class:`wlkit.MessagePassing` applies ``activation`` after the last layer
        too (``model.activate_last``).
    """

    hidden: int
    num_layers: int
    node_input: nn.Module
    make_layer: Any
    make_norm: Any
    make_readout: Any
    make_edge_encoder: Any
    uses_edge_features: bool
    dropout: float
    residual: bool
    virtual_node: bool
    activation: str = "relu"
    activate_last: bool = False


class SubgraphPolicy(abc.ABC):
    """A subgraph policy: a cached CPU-side half and a model-side half.

    ``prepare(graph)`` runs once per graph on the CPU; its output (a dict of tensors) is
    cached on disk under :meth:`cache_key` and the dataset's structure hash, like positional
    encodings. ``collate(graphs, prepared)`` batches the prepared dicts of one mini-batch:
    node indices inside them must be shifted by each graph's offset in the batched graph
    (see :func:`wlkit.node_offsets`). ``build(parts)`` returns the model-side module,
    ``module(graph, policy_batch) -> [batch_size, module.out_dim]`` graph embeddings; the
    pipeline's prediction head follows it.

    ``wl_oracle`` names the exact test in :mod:`wlkit.wl` (one of ``wlkit.wl.oracle_names()``:
    a built-in such as ``"node_marked"``, ``"ego1+"``, ``"two_node_marked"``, or one a
    plugin provides through the hook ``wlkit_oracles``) that bounds this policy's
    separation power from above, or None when none does; set it per instance when it
    depends on the parameters. ``wlkit separate`` reports it next to the model, and flags
    any pair the model separates but the oracle does not as a bug.

    A policy that builds copies of the graph can instead define ``wl_bag(graph)``,
    returning its copies of a :class:`wlkit.graphs.SimpleGraph` as a list of
    :class:`wlkit.wl.Copy` (kept nodes and edges, node and edge marks) or a
    :class:`wlkit.wl.Bag`; ``wl_oracle`` is then the exact DS-WL oracle of those copies,
    registered as ``bag_<class>_<cache key>`` (:func:`wlkit.wl.register_bag_oracle`): no
    refinement to write. ``wl_bag`` may depend only on :meth:`cache_params` and
    :attr:`version`, which name the oracle and key its cached answers.
    """

    version: int = 1
    #: ``wl_bag(graph: SimpleGraph) -> list[wlkit.wl.Copy] | wlkit.wl.Bag``; None: no bag.
    wl_bag: Any = None

    @property
    def wl_oracle(self) -> str | None:
        """The bounding oracle's name: set per instance or class, else from ``wl_bag``."""
        if "_wl_oracle" in self.__dict__:
            return self.__dict__["_wl_oracle"]
        if self.wl_bag is None:
            return None
        from wlkit.wl import register_bag_oracle

        cls = type(self).__name__
        return register_bag_oracle(f"bag_{cls}_{self.cache_key()[:10]}", self.wl_bag,
                                   f"DS-WL over the copies of {cls}.wl_bag",
                                   version=str(self.version))

    @wl_oracle.setter
    def wl_oracle(self, value: str | None) -> None:
        self.__dict__["_wl_oracle"] = value  # "_": not part of cache_params

    def prepare(self, graph: Any) -> dict[str, Tensor]:
        """Per-graph precomputation (CPU, deterministic). Default: nothing."""
        return {}

    def collate(self, graphs: list[Any], prepared: list[dict[str, Tensor]]) -> Any:
        """Batch the prepared structures of one mini-batch. Default: None."""
        return None

    @abc.abstractmethod
    def build(self, parts: ModelParts) -> nn.Module:
        """The model-side half (see the class docstring)."""

    def cache_params(self) -> Mapping[str, Any]:
        """Parameters that change :meth:`prepare`'s output; default: the instance dict."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def cache_key(self) -> str:
        return content_key(type(self).__module__, type(self).__qualname__, self.version,
                           dict(self.cache_params()))

    @property
    def has_prepare(self) -> bool:
        """Whether :meth:`prepare` is overridden (graphs then go through the cache)."""
        return type(self).prepare is not SubgraphPolicy.prepare


def node_offsets(graphs: list[Any]) -> Tensor:
    """Offset of each graph's first node in ``dgl.batch(graphs)`` (for index shifting)."""
    device = graphs[0].device if graphs else torch.device("cpu")
    counts = torch.tensor([g.num_nodes() for g in graphs], dtype=torch.long, device=device)
    return torch.cumsum(counts, 0) - counts
