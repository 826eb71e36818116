"""Every policy through `run_pipeline`, and on molecules with bond features (gine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import TINY_PIPELINE
from tests.plugins.policies.helpers import separated
from wlkit.model.build import build_model, instantiate_dataset, instantiate_policy
from wlkit.model.data import Collate, prepare
from wlkit.pipeline import load_pipeline
from wlkit.pipeline.loader import validate_pipeline
from wlkit.runner import run_pipeline

SMILES = ["CCO", "c1ccccc1O", "CC(=O)O", "C1CCCCC1", "CCN(CC)CC", "O=C=O", "C",
          "c1ccncc1", "CC(C)Cl", "C#N"]


@pytest.mark.parametrize("policy", [
    "{name: rni, eval: average_k, k: 2}",
    "{name: ego, hops: 2, root_mark: true, mode: dss, sample_fraction: 0.5}",
    "{name: node_marking, marked: 2, radius: 1, sample_fraction: 0.5}",
])
def test_policy_runs_end_to_end(tmp_path, write_pipeline, policy):
    text = TINY_PIPELINE.replace("seeds: 2", "seeds: 1") + f"policy: {policy}\n"
    summary = run_pipeline(load_pipeline(write_pipeline(text)), out=tmp_path / "run",
                           progress=False)
    assert 0.0 <= summary["test_mean"] <= 1.0


@pytest.fixture
def molecules(tmp_path):
    path = tmp_path / "mols.csv"
    rows = [f"{s},{0.1 * i}" for i, s in enumerate(SMILES)]
    path.write_text("smiles,y\n" + "\n".join(rows) + "\n")
    return {"name": "smiles", "path": str(path), "label_columns": ["y"], "task": "regression",
            "split": "random", "fractions": [0.6, 0.2, 0.2]}


@pytest.mark.parametrize("policy", [
    {"name": "ego", "hops": 1, "root_mark": True},
    {"name": "ego", "subgraphs": "edge_deleted", "mode": "dss"},
    {"name": "node_marking"},
    {"name": "rni", "eval": "fixed_seed"},
])
def test_molecules_with_bond_features_are_invariant(molecules, policy):
    pipeline = validate_pipeline({
        "name": "mol", "dataset": molecules, "policy": policy,
        "model": {"layer": "gine", "aggregator": "sum", "num_layers": 2, "hidden": 16,
                  "readout": "mean"}}).data
    dataset = instantiate_dataset(pipeline["dataset"])
    pol = instantiate_policy(pipeline)
    data = prepare(dataset, [], policy=pol, policy_name=policy["name"])
    torch.manual_seed(0)
    net = build_model(pipeline, dataset, [], policy=pol).eval()
    graphs = data.loaded.graphs
    g, other = graphs[1], graphs[2]  # phenol, acetic acid
    perm = torch.from_numpy(np.random.default_rng(0).permutation(g.num_nodes()))
    h = _relabel(g, perm)
    if policy["name"] == "rni":  # keyed noise: permuted with the nodes
        g.ndata["_node_key"] = torch.arange(g.num_nodes())
        h.ndata["_node_key"] = torch.argsort(perm)
        other.ndata["_node_key"] = torch.arange(other.num_nodes())
    items = [(x, torch.tensor(0.0), pol.prepare(x) if pol.has_prepare else {})
             for x in (g, h, other)]
    big, _, policy_batch = Collate(pol)(items)
    with torch.no_grad():
        e = net.embed(big, policy_batch)
    assert e.shape[0] == 3 and torch.isfinite(e).all()
    assert not separated(e[0], e[1], rtol=1e-5)  # float32 round-off
    assert separated(e[0], e[2], rtol=1e-5)


def _relabel(g, perm):
    """Node ``v`` becomes ``perm[v]``; edges keep their order and features."""
    import dgl

    src, dst = g.edges()
    h = dgl.graph((perm[src], perm[dst]), num_nodes=g.num_nodes())
    inverse = torch.argsort(perm)
    for key, value in g.ndata.items():
        h.ndata[key] = value[inverse]
    for key, value in g.edata.items():
        h.edata[key] = value
    return h
