"""Instantiate components from a resolved pipeline and assemble the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from wlkit.components import (
    Aggregator,
    GraphDataset,
    ModelParts,
    PositionalEncoding,
    Readout,
    SubgraphPolicy,
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
    where = f"{family} {spec['name']!r} (from {entry.source} {entry.version})"
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
                             pe_modules=[(e.dim, e.input_module()) for e in encodings]),
        make_layer=make_layer,
        make_norm=lambda: make_norm(model_cfg["norm"], hidden),
        make_readout=make_readout,
        make_edge_encoder=edge_factory,
        uses_edge_features=uses_edges,
        dropout=model_cfg["dropout"],
        residual=model_cfg["residual"],
        virtual_node=model_cfg["virtual_node"],
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
    if policy is None:
        body: nn.Module = StandardBody(parts)
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
    return GraphModel(body, parts.hidden, pipeline["model"]["head_layers"],
                      dataset.info().out_dim)


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
