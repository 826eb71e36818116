"""Base classes for components. Built-in and third-party plugins subclass the same ones.

Each base class does the argument checks once, so each component stays short (the PyG
``aggr`` pattern): an :class:`Aggregator` checks the graph/message shapes before
:meth:`Aggregator.reduce` runs; a :class:`Readout` checks the node features.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from wlkit.io import content_key

Task = Literal["multiclass", "binary", "regression"]


def _check_features(kind: str, tensor: Tensor, rows: int, dim: int | None, what: str) -> None:
    if tensor.dim() != 2:
        raise ValueError(f"{kind}: {what} must be 2-D [rows, dim], got shape {tuple(tensor.shape)}")
    if tensor.shape[0] != rows:
        raise ValueError(f"{kind}: {what} has {tensor.shape[0]} rows, the graph has {rows}")
    if dim is not None and tensor.shape[1] != dim:
        raise ValueError(f"{kind}: {what} has width {tensor.shape[1]}, expected {dim}")


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

    def __init__(self, dim: int):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"{type(self).__name__}: dim must be a positive int, got {dim!r}")
        self.dim = dim

    def forward(self, graph: Any, messages: Tensor) -> Tensor:
        """Aggregate ``messages`` ([num_edges, dim], one per edge) into [num_nodes, dim]."""
        _check_features(type(self).__name__, messages, graph.num_edges(), self.dim, "messages")
        out = self.reduce(graph, messages)
        return out

    @abc.abstractmethod
    def reduce(self, graph: Any, messages: Tensor) -> Tensor:
        """Per-destination reduction; called after the checks in :meth:`forward`."""

    def aggregate_neighbours(self, graph: Any, feats: Tensor) -> Tensor:
        """Aggregate the source-node features of each node's in-edges.

        Equal to ``self(graph, feats[src])``. Aggregators with a fused kernel (sum, mean,
        max via DGL's ``copy_u`` SpMM) override it to skip materialising one row per edge.
        """
        _check_features(type(self).__name__, feats, graph.num_nodes(), self.dim, "node features")
        src, _ = graph.edges()
        return self.reduce(graph, feats[src.long()])

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
        _check_features(type(self).__name__, feats, graph.num_nodes(), self.dim, "node features")
        return self.pool(graph, feats)

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
    counts = torch.tensor([g.num_nodes() for g in graphs], dtype=torch.long)
    return torch.cumsum(counts, 0) - counts
