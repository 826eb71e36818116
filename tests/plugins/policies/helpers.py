"""Build a pipeline's model with a policy and embed graphs with it (policy tests)."""

from __future__ import annotations

from typing import Any

import dgl
import torch

from wlkit.graphs import SimpleGraph
from wlkit.model.build import build_model, instantiate_dataset, instantiate_policy
from wlkit.model.data import Collate
from wlkit.pipeline.loader import validate_pipeline


def build(policy: Any, *, layers: int = 3, hidden: int = 16, readout: str = "sum",
          layer: str = "gin", dataset: Any = "wl_pairs", double: bool = True,
          model: dict | None = None, seed: int = 0):
    """``(model in eval mode, policy object)`` for ``policy`` (a name or a mapping)."""
    data = {
        "name": "policy-test",
        "dataset": dataset,
        "policy": policy,
        "model": {"layer": layer, "aggregator": "sum", "num_layers": layers,
                  "hidden": hidden, "readout": readout, **(model or {})},
    }
    pipeline = validate_pipeline(data).data
    torch.manual_seed(seed)
    policy_obj = instantiate_policy(pipeline)
    net = build_model(pipeline, instantiate_dataset(pipeline["dataset"]), [],
                      policy=policy_obj)
    net.eval()
    return (net.double() if double else net), policy_obj


def as_dgl(graphs: list) -> list[dgl.DGLGraph]:
    return [g.to_dgl() if isinstance(g, SimpleGraph) else g for g in graphs]


def batch(policy, graphs: list) -> tuple[dgl.DGLGraph, Any]:
    """``(batched graph, policy batch)`` exactly as the data loader builds them."""
    graphs = as_dgl(graphs)
    items = [(g, torch.tensor(0), policy.prepare(g)) for g in graphs]
    graph, _, policy_batch = Collate(policy)(items)
    return graph, policy_batch


@torch.no_grad()
def embed(net, policy, graphs: list) -> torch.Tensor:
    """Graph embeddings (before the head) of ``graphs``, one batch."""
    graph, policy_batch = batch(policy, graphs)
    return net.embed(graph, policy_batch)


def separated(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-9) -> bool:
    """Whether two embeddings differ beyond float64 round-off (relative to their size)."""
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-30)
    return float((a - b).abs().max()) > rtol * scale
