from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT
from wlkit import get_registry
from wlkit.model.build import instantiate
from wlkit.pipeline.loader import load_pipeline

SMALL = {"name": "set_second_min", "num_train": 40, "num_valid": 6, "num_test": 5}


def values_of(graph, bits=8):
    feats = graph.ndata["feat"][graph.ndata["target"] == 0] if "target" in graph.ndata \
        else graph.ndata["feat"]
    return (feats * 2 ** torch.arange(bits - 1, -1, -1)).sum(1).long()


def test_labels_are_the_second_smallest_with_duplicates_counting():
    from wlkit.datasets.sets import second_smallest

    assert second_smallest(np.array([3, 3, 7, 9, 1, 5]), np.array([3, 3])).tolist() == [3, 5]
    data = instantiate("dataset", SMALL).load()
    for graph, label in zip(data.graphs, data.labels):
        assert int(values_of(graph).sort().values[1]) == int(label)


def test_star_form_sizes_and_splits():
    dataset = instantiate("dataset", SMALL)
    data = dataset.load()
    info = dataset.info()
    assert (info.task, info.num_tasks, info.node_feat_dim) == ("multiclass", 256, 8)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 40, "valid": 6, "test": 5}
    sizes = {split: {data.graphs[i].num_nodes() - 1 for i in idx.tolist()}
             for split, idx in data.splits.items()}
    assert min(sizes["train"]) >= 2 and max(sizes["train"]) <= 16
    assert sizes["valid"] == sizes["test"] == {32}
    g = data.graphs[0]
    src, dst = g.edges()
    assert dst.tolist() == [0] * (g.num_nodes() - 1) and sorted(src.tolist()) == list(
        range(1, g.num_nodes()))
    assert g.ndata["target"].tolist() == [1] + [0] * (g.num_nodes() - 1)
    assert g.ndata["feat"][0].abs().sum() == 0


def test_evaluation_sets_do_not_depend_on_the_training_size():
    small = instantiate("dataset", SMALL).load()
    large = instantiate("dataset", {**SMALL, "num_train": 90}).load()
    for split in ("valid", "test"):
        a = [values_of(small.graphs[i]).tolist() for i in small.splits[split].tolist()]
        b = [values_of(large.graphs[i]).tolist() for i in large.splits[split].tolist()]
        assert a == b


def test_set_form_and_bit_targets():
    dataset = instantiate("dataset", {**SMALL, "form": "set", "target": "bits"})
    data = dataset.load()
    assert all(g.num_edges() == 0 and "target" not in g.ndata for g in data.graphs)
    assert dataset.info().task == "binary" and data.labels.shape == (51, 8)
    logits = data.labels * 2 - 1  # the right bits
    assert dataset.evaluate(data.labels, logits) == 1.0
    logits[0, 3] *= -1  # one bit wrong in one of 51 sets
    assert dataset.evaluate(data.labels, logits) == pytest.approx(50 / 51)


def test_registered_with_documented_params():
    record = get_registry().get("dataset", "set_second_min")
    assert all(p.doc for p in record.params)
    with pytest.raises(Exception, match="min_size"):
        instantiate("dataset", {**SMALL, "min_size": 5, "max_size": 3})


@pytest.mark.parametrize("path", sorted((ROOT / "pipelines").glob("set_second_min_*.yaml")),
                         ids=lambda p: Path(p).stem)
def test_the_pipelines_validate(path):
    pipeline = load_pipeline(path)
    assert pipeline.data["dataset"]["name"] == "set_second_min"


def test_there_is_a_pipeline_per_aggregator():
    names = {p.stem for p in (ROOT / "pipelines").glob("set_second_min_*.yaml")}
    assert {"set_second_min_sum", "set_second_min_deepsets", "set_second_min_recurrent",
            "set_second_min_lcm"} <= names
