"""The bad-input catalogue: each case is one clear WlkitError (exit 2), nothing written over."""

from __future__ import annotations

import json
import types

import dgl
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, TINY_PIPELINE
from wlkit import (
    DatasetInfo,
    DatasetRecord,
    GraphDataset,
    LayerRecord,
    LoadedDataset,
    Param,
    WlkitError,
    hookimpl,
    registered_plugin,
)
from wlkit.pipeline import load_pipeline
from wlkit.pipeline.loader import validate_pipeline
from wlkit.pipeline.yamlio import load_with_lines
from wlkit.runner import run_pipeline


class Handmade(GraphDataset):
    """A dataset whose content a test chooses."""

    name = "handmade"

    def __init__(self, case: str = "ok"):
        self.case = case

    def info(self):
        return DatasetInfo(task="regression" if self.case == "inf_label" else "multiclass",
                           num_tasks=1 if self.case == "inf_label" else 2, metric=(
                               "rmse" if self.case == "inf_label" else "accuracy"),
                           higher_is_better=self.case != "inf_label", node_feat_dim=2)

    def load(self):
        graphs = []
        for i in range(9 if self.case == "one_node" else 8):
            if self.case == "one_node":
                g = dgl.graph(([], []), num_nodes=1)  # a lone atom, like methane in FreeSolv
            elif self.case == "no_edges" or i % 4 == 0:
                g = dgl.graph(([], []), num_nodes=3)  # zero edges, isolated nodes
            else:
                g = dgl.graph(([0, 1], [1, 0]), num_nodes=4)  # two isolated nodes
            g.ndata["feat"] = torch.ones(g.num_nodes(), 2) * (i % 2)
            graphs.append(g)
        if self.case == "nan_feature":
            graphs[5].ndata["feat"][1, 0] = float("nan")
        labels = torch.arange(len(graphs)) % 2
        if self.case == "bad_label":
            labels[3] = 7
        if self.case == "inf_label":
            labels = labels.float().view(-1, 1)
            labels[2, 0] = float("inf")
        if self.case == "empty":
            graphs, labels = [], labels[:0]
        everything = torch.arange(len(graphs))
        return LoadedDataset(graphs, labels, {"train": everything, "valid": everything,
                                              "test": everything})


class NaNAfterFirstSeed(torch.nn.Module):
    """A layer whose output is NaN for seed 0 (a diverging fit) and fine otherwise."""

    def __init__(self, dim, aggregator):
        super().__init__()
        self.linear = torch.nn.Linear(dim, dim)
        self.poison = torch.initial_seed() == 0

    def forward(self, graph, h, edge_feats=None):
        out = self.linear(h)
        return out * float("nan") if self.poison and self.training else out


plugin = types.SimpleNamespace(
    wlkit_datasets=hookimpl(lambda: [DatasetRecord(
        name="handmade", factory=Handmade, summary="test data",
        params=(Param("case", str, "ok"),))]),
    wlkit_layers=hookimpl(lambda: [LayerRecord(
        name="nan_layer", factory=NaNAfterFirstSeed, summary="test layer")]),
)

PIPELINE = """\
name: bad
dataset: {name: handmade, case: CASE}
model: {layer: gin, num_layers: 2, hidden: 8}
train: {epochs: 2, batch_size: 4}
seeds: 1
"""


@pytest.fixture
def with_plugin():
    with registered_plugin(plugin, "bad-input-test"):
        yield


@pytest.mark.parametrize("case,message", [
    ("nan_feature", "graph 5 has NaN or infinite node features"),
    ("bad_label", "graph 3 has label 7, outside 0..1"),
    ("inf_label", "graph 2 has an infinite label"),
    ("empty", "is empty"),
])
def test_bad_data_is_refused_before_training(with_plugin, write_pipeline, tmp_path, case,
                                             message):
    pipeline = load_pipeline(write_pipeline(PIPELINE.replace("CASE", case)))
    with pytest.raises(WlkitError, match=message):
        run_pipeline(pipeline, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize("case", ["no_edges", "ok", "one_node"])
def test_graphs_without_edges_and_isolated_nodes_train(with_plugin, write_pipeline, tmp_path,
                                                       case):
    pipeline = load_pipeline(write_pipeline(PIPELINE.replace("CASE", case)))
    summary = run_pipeline(pipeline, out=tmp_path / "run", progress=False)
    assert summary["test_mean"] is not None


def test_nan_loss_stops_that_seed_and_keeps_the_others(with_plugin, write_pipeline, tmp_path):
    text = PIPELINE.replace("CASE", "ok").replace("layer: gin", "layer: nan_layer").replace(
        "seeds: 1", "seeds: [0, 1]")
    summary = run_pipeline(load_pipeline(write_pipeline(text)), out=tmp_path / "run",
                           progress=False)
    assert summary["failed_seeds"] == [0]
    assert "loss became nan" in summary["per_seed"][0]["error"]
    assert summary["per_seed"][1]["test"] is not None
    assert summary["test_mean"] == summary["per_seed"][1]["test"]
    seed0 = json.loads((tmp_path / "run" / "seed_0" / "metrics.json").read_text())
    assert seed0["error"]


def test_every_seed_diverging_is_an_error(with_plugin, write_pipeline, tmp_path):
    text = PIPELINE.replace("CASE", "ok").replace("layer: gin", "layer: nan_layer").replace(
        "seeds: 1", "seeds: [0]")
    with pytest.raises(WlkitError, match="every seed stopped early"):
        run_pipeline(load_pipeline(write_pipeline(text)), out=tmp_path / "run", progress=False)


def test_two_runs_with_the_same_seed_are_identical(write_pipeline, tmp_path):
    pipeline = load_pipeline(write_pipeline(TINY_PIPELINE))
    first = run_pipeline(pipeline, out=tmp_path / "a", progress=False)
    second = run_pipeline(pipeline, out=tmp_path / "b", progress=False)
    assert first["per_seed"] == second["per_seed"]


# --- fuzzing: whatever the document, the loader answers with a WlkitError or a pipeline --

SHIPPED = sorted((ROOT / "pipelines").glob("*.yaml"))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 500), st.floats(allow_nan=True),
                    st.text(max_size=12))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=20)


def _accepts_or_refuses(data) -> None:
    try:
        validate_pipeline(data)
    except WlkitError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fuzz_random_documents(data):
    _accepts_or_refuses(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHIPPED), st.data())
def test_fuzz_mutations_of_shipped_pipelines(path, data):
    doc = yaml.safe_load(path.read_text())
    section = data.draw(st.sampled_from(sorted(doc)))
    if isinstance(doc[section], dict) and doc[section] and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(doc[section])))
        doc[section][key] = data.draw(documents)
    else:
        doc[section] = data.draw(documents)
    _accepts_or_refuses(doc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_raw_yaml_text(text):
    try:
        load_with_lines(text, "fuzz.yaml")
    except WlkitError:
        pass
