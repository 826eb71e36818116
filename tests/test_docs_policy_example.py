"""docs/plugins.md, "A policy's model half, worked through": the facts it states hold for
the example package and for wlkit's prepare cache."""

from __future__ import annotations

import re

import dgl
import pytest
import torch

from tests.conftest import ROOT
from wlkit import SubgraphPolicy, WlkitError

DOC = (ROOT / "docs" / "plugins.md").read_text()
SECTION = DOC.split("## A policy's model half, worked through")[1].split("\n## ")[0]


@pytest.fixture()
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "wlkit-plugin-example"))
    from wlkit_plugin_example import components

    return components


def test_the_table_lists_the_keys_collate_returns(example):
    policy = example.MarkedCopiesPolicy()
    graphs = [dgl.graph(([0, 1], [1, 2]), num_nodes=3), dgl.graph(([0], [1]), num_nodes=2)]
    batch = policy.collate(graphs, [policy.prepare(g) for g in graphs])
    documented = re.findall(r"^\| `(\w+)` \|", SECTION, flags=re.M)
    assert documented == list(batch)
    # every copy is a graph of the bag, so a readout pools one row per copy
    assert batch["bag"].batch_size == int(batch["copies"].sum()) == 5
    readout = example.SumMaxReadout(4)
    pooled = readout(batch["bag"], torch.ones(batch["bag"].num_nodes(), 4))
    assert pooled.shape == (5, readout.out_dim)


def test_the_forward_shown_is_the_examples(example):
    import inspect

    source = inspect.getsource(example.MarkedCopiesModel.forward)
    code = SECTION.split("```python\n")[1].split("```")[0]
    for line in code.splitlines():
        assert line.split("#")[0].strip() in source, line


class _Budgeted(SubgraphPolicy):
    """prepare refuses graphs above a node budget; the budget does not change the output."""

    def __init__(self, max_nodes: int, budget_in_key: bool):
        self.max_nodes, self.budget_in_key = max_nodes, budget_in_key

    def cache_params(self) -> dict:
        return {"max_nodes": self.max_nodes} if self.budget_in_key else {}

    def prepare(self, graph):
        if graph.num_nodes() > self.max_nodes:
            raise WlkitError(f"budgeted: {graph.num_nodes()} nodes > max_nodes")
        return {"n": torch.tensor([graph.num_nodes()])}

    def build(self, parts):
        raise NotImplementedError


@pytest.mark.parametrize("budget_in_key", [False, True])
def test_a_refusing_parameter_left_out_of_cache_params_hides_the_refusal(tmp_path,
                                                                        budget_in_key):
    from wlkit.model.data import prepare_policy

    graphs = [dgl.graph(([0, 1, 2], [1, 2, 3]), num_nodes=4)]
    prepare_policy(graphs, _Budgeted(10, budget_in_key), "budgeted", tmp_path)
    small = _Budgeted(2, budget_in_key)
    if budget_in_key:  # as the section says: then the smaller budget refuses the graph
        with pytest.raises(WlkitError, match="max_nodes"):
            prepare_policy(graphs, small, "budgeted", tmp_path)
    else:  # the stale cache answers and prepare never runs
        assert prepare_policy(graphs, small, "budgeted", tmp_path)[0]["n"].item() == 4
    assert "refuses" in SECTION and "cache_params" in SECTION
