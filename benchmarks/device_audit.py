"""Device audit of every built-in component: host syncs and stray-device tensors per
training step (issue 21), measured on the CPU with :mod:`wlkit.testing.device_audit`.

One row per component: every registered aggregator, readout, layer, positional encoding
and subgraph policy, each built with its default parameters and put through one training
step of its probe (:func:`wlkit.testing.audit_component`: the kit's graphs, all in one
batch, forward in training mode, a loss, backward; a policy's ``collate`` as its own
phase). Then one row per layer for a whole training step of the standard model
(``GraphPredictionModule.training_step``: input encoder, the layers with a sum aggregator,
residual connections, a virtual node, batch norm, sum readout, head, the masked loss and
its finiteness check), so the framework's own syncs are counted too.

Run::

    .venv/bin/python benchmarks/device_audit.py                 # ~5 s; table + JSON
    .venv/bin/python benchmarks/device_audit.py --events        # each event's source line
    .venv/bin/python benchmarks/device_audit.py --write-expected  # refresh the test's table
    .venv/bin/python benchmarks/device_audit.py --markdown      # the table of the README

Writes ``benchmarks/results/device_audit.json`` (the rows, every distinct event with its
count and source line, versions). ``tests/core/test_device_audit.py`` holds the counts to
``tests/core/device_audit_expected.json``, so a new sync fails the tests; after a fix,
``--write-expected`` records the lower count. Counts are deterministic (fixed graphs and
seeds) and the same on any machine with the same torch and DGL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

os.environ.setdefault("DGLBACKEND", "pytorch")
os.environ.setdefault("OUTDATED_IGNORE", "1")

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dgl
import torch

from wlkit import DatasetInfo, GraphDataset, LoadedDataset
from wlkit.io import atomic_write_text
from wlkit.testing import AuditReport, ComponentRefused, audit_component, audit_step, graph_zoo

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "device_audit.json"
EXPECTED = HERE.parent / "tests" / "core" / "device_audit_expected.json"
FAMILIES = ("aggregator", "readout", "layer", "positional_encoding", "subgraph_policy")
MODEL_LAYERS = ("gin", "gine", "gcn")
MODEL_NODE_FEATS = 3
MODEL_EDGE_FEATS = 2


def _marked_zoo() -> dict[str, dgl.DGLGraph]:
    """The kit's graphs with node 0 of each marked in ``ndata["target"]`` (what the
    ``target`` readout reads)."""
    zoo = graph_zoo()
    for g in zoo.values():
        mark = torch.zeros(g.num_nodes(), dtype=torch.int64)
        mark[0] = 1
        g.ndata["target"] = mark
    return zoo


# Components that need fields the kit's graphs lack.
GRAPHS = {("readout", "target"): _marked_zoo}


def component_reports(registry: Any = None, builtin_only: bool = True,
                      seed: int = 0) -> list[AuditReport]:
    """One report per registered component of :data:`FAMILIES` (wlkit's own with
    ``builtin_only``), named ``"<family> <name>"``."""
    from wlkit.manager import get_registry

    registry = registry or get_registry()
    reports = []
    for family in FAMILIES:
        for entry in registry.entries(family):
            if builtin_only and entry.source != "wlkit":
                continue
            name = entry.record.name
            graphs = GRAPHS.get((family, name), lambda: None)()
            try:
                report = audit_component(family, name, registry=registry, graphs=graphs,
                                         seed=seed)
            except ComponentRefused as exc:
                report = AuditReport(f"{family} {name}", {}, {}, [], note=f"not audited: {exc}")
            reports.append(report)
    return reports


class _ModelInputs(GraphDataset):
    """Info of a small regression dataset with node and edge features (never loaded)."""

    name = "wlkit-device-audit"

    def info(self) -> DatasetInfo:
        return DatasetInfo(task="regression", num_tasks=1, metric="rmse",
                           higher_is_better=False, node_feat_dim=MODEL_NODE_FEATS,
                           edge_feat_dim=MODEL_EDGE_FEATS)

    def load(self) -> LoadedDataset:  # pragma: no cover - never loaded
        raise NotImplementedError


def model_report(layer: str, seed: int = 0) -> AuditReport:
    """A whole training step (``GraphPredictionModule.training_step`` and backward) of
    the standard model: ``layer`` + sum aggregator + sum readout, 2 layers, width 8,
    residual, virtual node, batch norm, on the kit's graphs with 3 node and 2 edge
    features."""
    from wlkit.model.build import build_model
    from wlkit.model.lightning import GraphPredictionModule

    pipeline = {"encodings": [], "policy": None, "model": {
        "layer": {"name": layer}, "aggregator": {"name": "sum"}, "readout": {"name": "sum"},
        "num_layers": 2, "hidden": 8, "dropout": 0.0, "residual": True,
        "virtual_node": True, "norm": "batch", "head_layers": 2}}
    dataset = _ModelInputs()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(pipeline, dataset)
        module = GraphPredictionModule(model, dataset.info(), lambda y, p: 0.0,
                                       {"loss": "auto"})
        module.train()
        # a step in the middle of an epoch: the loss's finiteness is read once per epoch, at
        # its last batch (GraphPredictionModule._check_finite), not in this step
        module._trainer = types.SimpleNamespace(is_last_batch=False, num_training_batches=2,
                                                current_epoch=0, global_step=0)
        gen = torch.Generator().manual_seed(seed)
        graphs = list(graph_zoo(seed).values())
        for g in graphs:
            g.ndata["feat"] = torch.randn(g.num_nodes(), MODEL_NODE_FEATS, generator=gen)
            g.edata["feat"] = torch.randn(g.num_edges(), MODEL_EDGE_FEATS, generator=gen)
        batch = (dgl.batch(graphs), torch.randn(len(graphs), 1, generator=gen), None)
        return audit_step(lambda _: module.training_step(batch, 0), seed=seed,
                          name=f"model {layer}")


def collect(registry: Any = None, seed: int = 0) -> list[AuditReport]:
    """Every component's report, then the standard model's per layer."""
    return component_reports(registry, seed=seed) + [model_report(layer, seed)
                                                     for layer in MODEL_LAYERS]


def expected_row(report: AuditReport) -> dict[str, int]:
    """What the test holds fixed: syncs per phase and stray tensors in all phases."""
    return {"forward": report.syncs.get("forward", 0),
            "backward": report.syncs.get("backward", 0),
            "collate": report.syncs.get("collate", 0), "stray": report.step_stray}


def format_table(reports: list[AuditReport], events: bool = False) -> str:
    from benchmarks.common import table

    rows = []
    for r in reports:
        rows.append([r.name, str(r.step_syncs), str(r.syncs.get("forward", 0)),
                     str(r.syncs.get("backward", 0)), str(r.step_stray),
                     str(r.syncs.get("collate", 0)), r.note[:60]])
    text = table(["component", "syncs/step", "fwd", "bwd", "stray", "collate syncs", "note"],
                 rows)
    if events:
        text += "\n\n" + "\n\n".join(r.format() for r in reports if r.events)
    return text


def _cause(report: AuditReport) -> str:
    """The most frequent source lines of a report's step syncs and stray tensors."""
    found: dict[str, int] = {}
    for e in report.events:
        if e.kind == "sync" and e.phase == "collate":
            continue
        what = e.op if e.kind == "sync" else f"stray {e.op}"
        key = f"{what} ({e.where.split(' ')[0]})"
        found[key] = found.get(key, 0) + 1
    top = sorted(found.items(), key=lambda kv: -kv[1])[:3]
    return "; ".join(f"{n}x {k}" for k, n in top) + ("; ..." if len(found) > 3 else "")


def markdown_table(reports: list[AuditReport]) -> str:
    """The table of benchmarks/README.md: one row per report."""
    lines = ["| component | syncs/step | fwd | bwd | stray | collate syncs | where (top 3) |",
             "|---|---|---|---|---|---|---|"]
    for r in reports:
        cause = _cause(r) or (r.note if r.note else "")
        lines.append(f"| `{r.name}` | {r.step_syncs} | {r.syncs.get('forward', 0)} | "
                     f"{r.syncs.get('backward', 0)} | {r.step_stray} | "
                     f"{r.syncs.get('collate', 0)} | {cause} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", action="store_true",
                        help="print every distinct event with its count and source line")
    parser.add_argument("--out", type=Path, default=RESULT, help=f"result file ({RESULT.name})")
    parser.add_argument("--write-expected", action="store_true",
                        help=f"rewrite {EXPECTED.relative_to(HERE.parent)} (the tests' table)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the table as markdown (benchmarks/README.md)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from benchmarks.common import machine_info

    torch.set_num_threads(1)
    reports = collect(seed=args.seed)
    print(markdown_table(reports) if args.markdown else format_table(reports, args.events))
    payload = {"benchmark": "device_audit",
               "title": "host syncs and stray-device tensors per training step",
               "machine": machine_info(1), "settings": {"seed": args.seed},
               "rows": [r.to_dict() for r in reports]}
    atomic_write_text(args.out, json.dumps(payload, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    if args.write_expected:
        table = {r.name: expected_row(r) for r in reports if not r.note.startswith("not ")}
        atomic_write_text(EXPECTED, json.dumps(table, indent=1, sort_keys=True) + "\n")
        print(f"wrote {EXPECTED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
