"""Instantiate components from a resolved pipeline and assemble the model."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from wlkit.components import (
    Aggregator,
    ComponentError,
    DatasetInfo,
    GraphDataset,
    ModelParts,
    PositionalEncoding,
    Readout,
    SubgraphPolicy,
    component_label,
    component_where,
    label_component,
)
from wlkit.errors import PluginError, WlkitError
from wlkit.manager import Registry, get_registry
from wlkit.model.graph_model import GraphModel, NodeInput, StandardBody, make_norm

_EXPECTED: dict[str, type] = {
    "aggregator": Aggregator,
    "readout": Readout,
    "layer": nn.Module,
    "positional_encoding": PositionalEncoding,
    "dataset": GraphDataset,
    "subgraph_policy": SubgraphPolicy,
}


def instantiate(family: str, spec: dict[str, Any], *args: Any,
                registry: Registry | None = None) -> Any:
    """Call the factory of component ``spec["name"]`` with ``args`` and its parameters.

    A factory that raises or returns the wrong type is reported as one error naming the
    component and the distribution it comes from.
    """
    registry = registry or get_registry()
    entry = registry.entry(family, spec["name"])
    params = {k: v for k, v in spec.items() if k != "name"}
    where = component_where(family, spec["name"], entry.source, entry.version)
    try:
        obj = entry.record.factory(*args, **params)
    except WlkitError:
        raise
    except Exception as exc:
        raise PluginError(f"{where} could not be built: {type(exc).__name__}: {exc}") from exc
    expected = _EXPECTED.get(family)
    if expected is not None and not isinstance(obj, expected):
        raise PluginError(f"{where}: factory returned {type(obj).__name__}, expected a "
                          f"{expected.__module__}.{expected.__name__}")
    if family != "dataset":  # a dataset's vars() may feed its cache key (datasets/smiles.py)
        label_component(obj, where)  # so run-time shape checks name the plugin
    return obj


def instantiate_dataset(spec: dict[str, Any], registry: Registry | None = None) -> GraphDataset:
    return instantiate("dataset", spec, registry=registry)


def instantiate_encodings(specs: list[dict[str, Any]],
                          registry: Registry | None = None) -> list[PositionalEncoding]:
    encodings = [instantiate("positional_encoding", s, registry=registry) for s in specs]
    for spec, enc in zip(specs, encodings):
        if not isinstance(getattr(enc, "dim", None), int) or enc.dim < 1:
            raise PluginError(f"positional_encoding {spec['name']!r}: dim must be a positive "
                              f"int, got {getattr(enc, 'dim', None)!r}")
    return encodings


def build_parts(pipeline: dict[str, Any], dataset: GraphDataset,
                encodings: list[PositionalEncoding] | None = None,
                registry: Registry | None = None) -> ModelParts:
    """The pipeline's components as factories, for the standard body or a policy."""
    registry = registry or get_registry()
    info = dataset.info()
    model_cfg = pipeline["model"]
    hidden = model_cfg["hidden"]
    if encodings is None:
        encodings = instantiate_encodings(pipeline["encodings"], registry)
    layer_record = registry.get("layer", model_cfg["layer"]["name"])
    uses_edges = getattr(layer_record, "uses_edge_features", False)
    edge_factory = _edge_encoder_factory(dataset, hidden) if info.edge_feat_dim else None
    extra: dict[str, Any] = {"edge_encoder": edge_factory} if uses_edges else {}

    def make_layer() -> nn.Module:
        aggregator = instantiate("aggregator", model_cfg["aggregator"], hidden,
                                 registry=registry)
        return instantiate("layer", {**model_cfg["layer"], **extra}, hidden, aggregator,
                           registry=registry)

    def make_readout(dim: int) -> nn.Module:
        return instantiate("readout", model_cfg["readout"], dim, registry=registry)

    return ModelParts(
        hidden=hidden,
        num_layers=model_cfg["num_layers"],
        node_input=NodeInput(hidden, info.node_feat_dim, dataset.node_encoder(hidden),
                             sum(e.dim for e in encodings),
                             pe_modules=[(e.dim, _input_module(e)) for e in encodings]),
        make_layer=make_layer,
        make_norm=lambda: make_norm(model_cfg["norm"], hidden),
        make_readout=make_readout,
        make_edge_encoder=edge_factory,
        uses_edge_features=uses_edges,
        dropout=model_cfg["dropout"],
        residual=model_cfg["residual"],
        virtual_node=model_cfg["virtual_node"],
        # hand-built configs from before the key (probes, plugins' tests) mean ReLU
        activation=model_cfg.get("activation", "relu"),
        activate_last=model_cfg.get("activate_last", False),
    )


def instantiate_policy(pipeline: dict[str, Any],
                       registry: Registry | None = None) -> SubgraphPolicy | None:
    spec = pipeline.get("policy")
    return None if spec is None else instantiate("subgraph_policy", spec, registry=registry)


def build_model(pipeline: dict[str, Any], dataset: GraphDataset,
                encodings: list[PositionalEncoding] | None = None,
                registry: Registry | None = None,
                policy: SubgraphPolicy | None = None) -> GraphModel:
    """Assemble input encoders, the body (standard or the policy's) and the head."""
    registry = registry or get_registry()
    parts = build_parts(pipeline, dataset, encodings, registry)
    if policy is None:
        policy = instantiate_policy(pipeline, registry)
    model_cfg = pipeline["model"]
    every_layer = model_cfg.get("readout_layers", "last") == "all"
    if policy is None:
        body: nn.Module = StandardBody(parts, every_layer=every_layer)
    else:
        name = pipeline["policy"]["name"]
        try:
            body = policy.build(parts)
        except Exception as exc:
            raise PluginError(f"subgraph_policy {name!r}: build(parts) failed: "
                              f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(body, nn.Module) or not isinstance(getattr(body, "out_dim", None),
                                                              int):
            raise PluginError(f"subgraph_policy {name!r}: build(parts) must return an "
                              "nn.Module with an int out_dim")
        label_component(body, component_label(policy, "subgraph_policy"))
    return GraphModel(body, parts.hidden, model_cfg["head_layers"], dataset.info().out_dim,
                      head_dropout=model_cfg.get("head_dropout", 0.0),
                      heads=parts.num_layers + 1 if every_layer and policy is None else 1)


def _input_module(encoding: PositionalEncoding) -> nn.Module | None:
    """The encoding's model-side module, named after the encoding for shape errors."""
    module = encoding.input_module()
    if module is not None:
        label_component(module, component_label(encoding, "positional_encoding"))
    return module


def _edge_encoder_factory(dataset: GraphDataset, hidden: int) -> Callable[[], nn.Module]:
    """A callable building one fresh edge encoder (the dataset's, or a linear map)."""
    width = dataset.info().edge_feat_dim

    def make() -> nn.Module:
        encoder = dataset.edge_encoder(hidden)
        return encoder if encoder is not None else _FloatLinear(width, hidden)

    return make


class _FloatLinear(nn.Linear):
    """A linear map that accepts integer or lower-precision edge features."""

    def forward(self, x: Any) -> Any:
        return super().forward(x.to(self.weight.dtype))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# -- checks before any data loads ---------------------------------------------------------

BYTES_PER_PARAMETER = 16
"""Training memory per parameter: float32 weights, gradients and Adam's two moments."""


def memory_bound() -> int:
    """Bytes a model may need in training: this machine's physical memory.

    ``WLKIT_MAX_MODEL_BYTES`` overrides it (e.g. a GPU's memory, or a small bound in tests).
    """
    override = os.environ.get("WLKIT_MAX_MODEL_BYTES")
    if override:
        try:
            return int(float(override))
        except ValueError:
            raise WlkitError(f"WLKIT_MAX_MODEL_BYTES={override!r} is not a number of bytes"
                             "\n    hint: e.g. WLKIT_MAX_MODEL_BYTES=8e9") from None
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not POSIX: a fixed cap of 1 TiB
        return 2**40


def format_bytes(count: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    raise AssertionError("unreachable")


def parameter_lower_bound(model_cfg: dict[str, Any], info: DatasetInfo,
                          pe_dim: int = 0) -> dict[str, int]:
    """Parameters the model has at least, by the pipeline key that drives them.

    Counts only what wlkit itself builds around the plugins (input map, positional-encoding
    projection, norms, virtual node, head), so it is a lower bound whatever the layer or
    policy adds, and costs no allocation: the loader refuses ``model.hidden: 2**40`` with
    it before anything is built.

    Parameters
    ----------
    model_cfg : dict
        The resolved ``model`` section.
    info : DatasetInfo
        The dataset's metadata (feature widths, number of outputs).
    pe_dim : int
        Total width of the positional encodings.

    Returns
    -------
    dict
        ``{yaml key: parameter count}``, e.g. ``{"model.hidden": ..., "encodings": ...}``.
    """
    hidden, layers = model_cfg["hidden"], model_cfg["num_layers"]
    head_layers = model_cfg["head_layers"]
    terms = {"model.hidden": hidden * max(1, info.node_feat_dim)}  # input map or constant
    if model_cfg["norm"] != "none":
        terms["model.hidden"] += 2 * hidden * layers
    if model_cfg["virtual_node"]:
        terms["model.hidden"] += 4 * hidden * hidden * (layers - 1)
    # head: Linear(body_out >= 1, hidden), (head_layers - 2) x Linear(hidden, hidden), out
    terms["model.head_layers"] = (hidden + max(0, head_layers - 2) * hidden * hidden
                                  if head_layers > 1 else 0) + hidden * info.out_dim
    if model_cfg.get("readout_layers") == "all":  # one head per layer and the input
        terms["model.head_layers"] *= layers + 1
    if pe_dim:
        terms["encodings"] = pe_dim * hidden + 2 * pe_dim
    return terms


def meta_parameter_count(pipeline: dict[str, Any], dataset: GraphDataset,
                         registry: Registry | None = None) -> int | None:
    """The exact parameter count, from a model built on PyTorch's ``meta`` device.

    Meta tensors have shapes but no storage, so this allocates nothing however wide the
    model. Returns None when a plugin cannot be built that way (the real build then
    reports its own errors), and ``2**63`` when a shape overflows.
    """
    try:
        with _same_random_state(), torch.device("meta"):
            model = build_model(pipeline, dataset, registry=registry)
    except Exception as exc:  # any failure here only means "unknown"
        cause = exc.__cause__ or exc
        return 2**63 if "overflow" in str(cause).lower() else None
    return count_parameters(model)


def check_model_fits(pipeline: dict[str, Any], dataset: GraphDataset,
                     registry: Registry | None = None, where: str = "<pipeline>") -> int | None:
    """Refuse a model whose training memory is over :func:`memory_bound`.

    Parameters
    ----------
    pipeline : dict
        A resolved pipeline.
    dataset : GraphDataset
        Its dataset (only ``info()`` and the encoders are used; nothing is loaded).
    registry : Registry, optional
        Where the components come from.
    where : str
        The pipeline file, for the message.

    Returns
    -------
    int or None
        The parameter count, or None when it cannot be told without building the model.

    Raises
    ------
    WlkitError
        When the estimate is over the bound; the message gives both.
    """
    count = meta_parameter_count(pipeline, dataset, registry)
    bound = memory_bound()
    if count is not None and count * BYTES_PER_PARAMETER > bound:
        shown = "more than 2**63" if count >= 2**63 else f"{count:,}"
        m = pipeline["model"]
        raise WlkitError(
            f"{where}: model: the model would have {shown} parameters, about "
            f"{format_bytes(count * BYTES_PER_PARAMETER)} in training "
            f"({BYTES_PER_PARAMETER} bytes each: float32 weights, gradients, Adam's moments); "
            f"the bound is {format_bytes(bound)} (this machine's memory, or "
            f"WLKIT_MAX_MODEL_BYTES)\n    hint: lower model.hidden ({m['hidden']}), "
            f"model.num_layers ({m['num_layers']}) or a component's width parameter")
    return count


def trial_forward(pipeline: dict[str, Any], dataset: GraphDataset,
                  registry: Registry | None = None, strict: bool = True) -> None:
    """One forward pass of the pipeline's model on :meth:`GraphDataset.example_graphs`.

    A component that returns the wrong shape fails here with its name and distribution,
    before any data loads. The global random state is left as it was, so a run that calls
    this first trains exactly as before.

    Parameters
    ----------
    pipeline : dict
        A resolved pipeline.
    dataset : GraphDataset
        Its dataset; only ``info()``, the encoders and ``example_graphs()`` are used.
    registry : Registry, optional
        Where the components come from.
    strict : bool
        Whether any failure is an error, and whether the encodings are computed. With False
        (before a run) only contract breaches (:class:`~wlkit.components.ComponentError`)
        are errors, since the generated graphs may lack something the real data has, and
        zeros stand in for the encodings, which the run computes and checks itself; a
        policy with a ``prepare`` step is not tried at all.

    Raises
    ------
    ComponentError
        A component broke its shape contract.
    PluginError
        (``strict`` only) the forward pass failed otherwise.
    """
    import dgl

    if not strict and pipeline.get("policy") is not None:
        with _same_random_state():
            policy = instantiate_policy(pipeline, registry)
        if policy is not None and policy.has_prepare:
            # before a run, a policy's prepare() is not called on made-up graphs (it may
            # count or cache its calls); GraphModel.embed names a wrong-shaped model half
            # at the first training step instead
            return
    try:
        with _same_random_state(), torch.no_grad():
            _trial(pipeline, dataset, registry, dgl, compute_encodings=strict)
    except ComponentError:
        raise
    except Exception as exc:
        if not strict:
            return
        if isinstance(exc, WlkitError):
            first = str(exc)
        else:
            first = f"{type(exc).__name__}: {exc}"
        raise PluginError(
            f"a trial forward pass of the model on small generated graphs "
            f"(GraphDataset.example_graphs) failed: {first}\n    hint: if the real graphs "
            f"carry fields these lack, the "
            f"dataset can override GraphDataset.example_graphs(); {_frame_hint(exc)}"
        ) from exc


@contextmanager
def _same_random_state() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's CPU random state afterwards: a check before
    the data loads must not shift what a seeded run draws."""
    import numpy as np

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _trial(pipeline: dict[str, Any], dataset: GraphDataset, registry: Registry | None,
           dgl: Any, compute_encodings: bool) -> None:
    encodings = instantiate_encodings(pipeline["encodings"], registry)
    policy = instantiate_policy(pipeline, registry)
    model = build_model(pipeline, dataset, encodings, registry, policy).eval()
    graphs = dataset.example_graphs()
    if encodings:
        for g in graphs:
            # before a run, zeros stand in: the run computes (and checks) every encoding
            # once per graph anyway, and its cache and call counts stay as they were
            g.ndata["pe"] = torch.cat([e.encode(g) if compute_encodings
                                       else torch.zeros(g.num_nodes(), e.dim)
                                       for e in encodings], dim=-1)
    batch = None
    if policy is not None:
        prepared = [policy.prepare(g) for g in graphs]
        batch = policy.collate(graphs, prepared)
    out = model(dgl.batch(graphs), batch)
    expected = (len(graphs), dataset.info().out_dim)
    if tuple(out.shape) != expected:  # the head is wlkit's: a bug here is wlkit's
        raise WlkitError(f"the model returned {tuple(out.shape)}, expected {expected}")


def _frame_hint(exc: BaseException) -> str:
    """Where the error was raised: the innermost frame outside torch, DGL and wlkit's engine."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        path = frame.filename.replace("\\", "/")
        if not any(part in path for part in ("/torch/", "/dgl/", "/core/model/",
                                             "/wlkit/model/")):
            return f"raised at {frame.filename}:{frame.lineno} in {frame.name}"
    return "run `wlkit run` to see the full error"
