"""PPGN: shapes, masks and batching, permutation invariance, the 2-FWL bound (round t bounds
block t), ``wlkit check`` and the shipped pipelines."""

from __future__ import annotations

import doctest
import itertools
from pathlib import Path

import dgl
import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import TINY_PIPELINE
from wlkit import ModelParts, PluginError, graphs
from wlkit.model.graph_model import NodeInput
from wlkit.plugins.policies import ppgn
from wlkit.plugins.policies.ppgn import PpgnBlock, PpgnPolicy, pool_pairs
from wlkit.wl import separated_pairs

PIPELINES = Path(__file__).parents[3] / "pipelines"


def make_parts(hidden: int = 12, layers: int = 3, norm: str = "batch", feat_dim: int = 0,
               edge_dim: int = 0, residual: bool = False, virtual_node: bool = False):
    make_norm = {"batch": lambda: nn.BatchNorm1d(hidden),
                 "layer": lambda: nn.LayerNorm(hidden)}.get(norm, nn.Identity)
    edges = (lambda: nn.Linear(edge_dim, hidden)) if edge_dim else None
    return ModelParts(hidden=hidden, num_layers=layers,
                      node_input=NodeInput(hidden, feat_dim, None), make_layer=None,
                      make_norm=make_norm, make_readout=None, make_edge_encoder=edges,
                      uses_edge_features=False, dropout=0.0, residual=residual,
                      virtual_node=virtual_node)


def fresh_model(seed: int = 0, policy: dict | None = None, **kwargs):
    """A float64 model in eval mode whose biases are random, as after training (the init's
    zero biases would map zero padding to zero and hide a leak)."""
    torch.manual_seed(seed)
    p = PpgnPolicy(**(policy or {}))
    body = p.build(make_parts(**kwargs)).double().eval()
    with torch.no_grad():
        for name, param in body.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.5)
    return p, body


def embed(body, policy, gs: list) -> torch.Tensor:
    gs = [g.to_dgl() if isinstance(g, graphs.SimpleGraph) else g for g in gs]
    with torch.no_grad():
        return body(dgl.batch(gs), policy.collate(gs, [{} for _ in gs]))


def _random_graph(n: int, p: float, seed: int) -> graphs.SimpleGraph:
    rng = np.random.default_rng(seed)
    pairs = [(u, v) for u, v in itertools.combinations(range(n), 2) if rng.random() < p]
    return graphs.SimpleGraph.from_edges(n, np.array(pairs, dtype=np.int64).reshape(-1, 2))


# ------------------------------------------------------------------------------ pieces
def test_docstring_examples():
    result = doctest.testmod(ppgn, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_block_is_the_per_channel_matrix_product_with_a_skip():
    torch.manual_seed(0)
    block = PpgnBlock(3, 4, mlp_layers=1).double()
    x = torch.randn(2, 5, 5, 3, dtype=torch.float64)
    mask = torch.ones(2, 5, 5, 1, dtype=torch.float64)
    a, b = block.m1(x), block.m2(x)
    prod = torch.einsum("bikc,bkjc->bijc", a, b)  # sum_k m1_ik m2_kj, channel by channel
    want = torch.relu(block.m3(torch.cat([x, prod], dim=-1)))
    assert torch.allclose(block(x, mask, torch.tensor([5, 5])), want, atol=1e-12)
    normed = PpgnBlock(3, 4, mlp_layers=1, normalize=True).double()
    normed.load_state_dict(block.state_dict())
    want = torch.relu(block.m3(torch.cat([x, prod / 5], dim=-1)))
    assert torch.allclose(normed(x, mask, torch.tensor([5, 5])), want, atol=1e-12)


def test_block_is_equivariant():
    torch.manual_seed(1)
    block = PpgnBlock(3, 4).double()
    x = torch.randn(1, 6, 6, 3, dtype=torch.float64)
    mask = torch.ones(1, 6, 6, 1, dtype=torch.float64)
    perm = torch.randperm(6)
    out = block(x, mask, torch.tensor([6]))
    px = x[:, perm][:, :, perm]
    assert torch.allclose(block(px, mask, torch.tensor([6])), out[:, perm][:, :, perm],
                          atol=1e-12)


@pytest.mark.parametrize("how", ["sum", "mean", "max"])
def test_pool_reads_only_real_entries(how):
    x = torch.arange(16.0).view(1, 4, 4, 1)
    real = torch.tensor([True, True, True, False])
    mask = (real[:, None] & real[None, :])[None]
    # the padding holds huge values: a leak would show
    padded = x.clone()
    padded[0, 3, :] = padded[0, :, 3] = 1e6
    got = pool_pairs(padded, mask, torch.tensor([3]), how)
    inner = x[0, :3, :3, 0]
    diag, off = inner.diagonal(), inner[~torch.eye(3, dtype=torch.bool)]
    want = {"sum": [diag.sum(), off.sum()], "mean": [diag.mean(), off.mean()],
            "max": [diag.max(), off.max()]}[how]
    assert got.tolist() == [[float(w) for w in want]]
    # an empty graph and a single node pool to finite values (max of nothing is 0)
    none = pool_pairs(torch.ones(2, 1, 1, 1), torch.tensor([[[False]], [[True]]]),
                      torch.tensor([0, 1]), how)
    assert torch.isfinite(none).all() and none[0].tolist() == [0.0, 0.0]


def test_collate_places_every_node():
    gs = [graphs.cycle(5).to_dgl(), dgl.graph(([0], [1]), num_nodes=3),
          graphs.complete(4).to_dgl()]
    batch = PpgnPolicy().collate(gs, [{}, {}, {}])
    assert batch.sizes.tolist() == [5, 3, 4] and batch.num_graphs == 3
    assert batch.node_graph.tolist() == [0] * 5 + [1] * 3 + [2] * 4
    assert batch.node_local.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3]
    assert batch.to("cpu").sizes.tolist() == [5, 3, 4]


def test_initial_tensor_encodes_pair_kinds_edges_and_node_features():
    policy, body = fresh_model(feat_dim=2, edge_dim=3, hidden=6, layers=1)
    g = dgl.graph(([0, 1, 1, 2, 2], [1, 0, 2, 1, 2]))  # path 0-1-2 and a self-loop on 2
    g.ndata["feat"] = torch.randn(3, 2, dtype=torch.float64)
    g.edata["feat"] = torch.randn(5, 3, dtype=torch.float64)
    x = body.initial_pairs(g, policy.collate([g], [{}]), 3)[0]
    assert x.shape == (3, 3, 7)
    assert x[..., -1].tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]  # the self-loop is ignored
    kind = body.pair_kind.weight
    enc = body.edge_encoder(g.edata["feat"])
    assert torch.allclose(x[0, 1, :-1], kind[1] + enc[0])
    assert torch.allclose(x[0, 2, :-1], kind[0])
    assert torch.allclose(x[2, 2, :-1], kind[2] + body.node_input(g)[2])


# ------------------------------------------------------------------------ the model
def test_output_shape_and_empty_and_single_node_graphs():
    policy, body = fresh_model(hidden=8)
    out = embed(body, policy, [dgl.graph(([], []), num_nodes=1), graphs.cycle(4),
                               dgl.graph(([], []), num_nodes=0)])
    assert out.shape == (3, 8) and body.out_dim == 8 and torch.isfinite(out).all()
    # an empty graph pools to zeros: what is left are the readouts' biases
    biases = sum(r.bias for r in body.readouts)
    assert torch.allclose(out[2], biases, atol=1e-12)


@pytest.mark.parametrize("policy,residual", [
    ({}, False), ({"pool": "max", "activation": "tanh"}, True),
    ({"pool": "mean", "normalize": True, "activation": "gelu"}, False)])
def test_invariant_and_the_same_alone_or_batched_with_bigger_graphs(policy, residual):
    policy, body = fresh_model(policy=policy, residual=residual)
    g = _random_graph(9, 0.4, seed=1)
    rng = np.random.default_rng(0)
    alone = embed(body, policy, [g])
    relabelled = embed(body, policy, [g.relabel(rng.permutation(9)) for _ in range(3)])
    assert torch.allclose(relabelled, alone.expand_as(relabelled), rtol=1e-10, atol=1e-10)
    # padded next to bigger graphs (and a smaller one): the padding never leaks
    mixed = embed(body, policy, [_random_graph(14, 0.3, seed=2), g, graphs.cycle(5),
                                 _random_graph(12, 0.5, seed=3)])
    assert torch.allclose(mixed[1], alone[0], rtol=1e-10, atol=1e-10)
    assert alone.abs().max() > 1e-3


def test_batch_norm_in_training_sees_only_real_entries():
    policy, body = fresh_model(layers=1)
    body.train()
    g = graphs.cycle(4)
    body(dgl.batch([g.to_dgl()]), policy.collate([g.to_dgl()], [{}]))
    alone = body.norms[0].running_mean.clone()
    body.norms[0].reset_running_stats()
    big = graphs.cycle(9)
    # C4 padded to 9 nodes next to C9: the statistics must equal those of C4 and C9 without
    # padding (16 + 81 real entries), which a separate run over the two reproduces
    gs = [g.to_dgl(), big.to_dgl()]
    body(dgl.batch(gs), policy.collate(gs, [{}, {}]))
    both = body.norms[0].running_mean.clone()
    new = {}
    hook = body.blocks[0].register_forward_hook(lambda m, i, o: new.setdefault("o", o))
    body.norms[0].reset_running_stats()
    body(dgl.batch(gs), policy.collate(gs, [{}, {}]))
    hook.remove()
    real = torch.cat([new["o"][0, :4, :4].reshape(-1, 12), new["o"][1].reshape(-1, 12)])
    assert torch.allclose(both, 0.1 * real.mean(0), atol=1e-10)
    assert not torch.allclose(both, alone)


def test_features_and_edge_features_are_used():
    policy, body = fresh_model(feat_dim=2, edge_dim=3)
    g = graphs.cycle(5).to_dgl()
    g.ndata["feat"] = torch.randn(5, 2, dtype=torch.float64)
    g.edata["feat"] = torch.randn(g.num_edges(), 3, dtype=torch.float64)
    base = embed(body, policy, [g])
    perm = torch.randperm(5)
    h = dgl.reorder_graph(g, node_permute_algo="custom", permute_config={"nodes_perm": perm},
                          store_ids=False)
    assert torch.allclose(embed(body, policy, [h]), base, atol=1e-10)
    g.edata["feat"][0] += 1.0
    assert not torch.allclose(embed(body, policy, [g]), base)
    g.ndata["feat"][0] += 1.0
    assert not torch.allclose(embed(body, policy, [g]), base)


def test_refusals():
    with pytest.raises(PluginError, match="virtual_node"):
        PpgnPolicy().build(make_parts(virtual_node=True))
    with pytest.raises(ValueError, match="pool"):
        PpgnPolicy(pool="median")
    with pytest.raises(ValueError, match="activation"):
        PpgnPolicy(activation="sigmoid")
    policy, body = fresh_model()
    g = graphs.cycle(4).to_dgl()
    with pytest.raises(PluginError, match="PpgnBatch"):
        body(g, None)
    with pytest.raises(PluginError, match="nodes"):
        body(dgl.batch([g, g]), policy.collate([g], [{}]))


def test_oracle_and_rounds():
    policy = PpgnPolicy()
    assert policy.wl_oracle == "2-FWL" and policy.wl_rounds is None  # not built yet
    policy.build(make_parts(layers=5))
    assert policy.wl_rounds == 5  # block t is bounded by 2-FWL round t


def test_depth_maps_to_blocks_in_wlkit_separate():
    from wlkit.pipeline.loader import validate_pipeline
    from wlkit.tools.separate import SeparateSettings, Separator, model_rounds

    cfg = validate_pipeline({"name": "p", "dataset": "wl_pairs", "policy": "ppgn",
                             "model": {"hidden": 8, "num_layers": 2}}).data
    sep = Separator(cfg, 0, SeparateSettings(relabelings=8, output_dim=4))
    assert sep.policy_oracle() == "2-FWL"
    assert model_rounds(sep, "2-FWL") == 2


# -------------------------------------------------------------- separation and bound
def _model_separated(pairs, layers: int = 3, **policy) -> list[bool]:
    """Untrained PPGN in float64 with wlkit separate's statistical test, pair by pair."""
    from wlkit.pipeline.loader import validate_pipeline
    from wlkit.tools.separate import SeparateSettings, Separator

    cfg = validate_pipeline({"name": "ppgn-sep", "dataset": "wl_pairs",
                             "policy": {"name": "ppgn", **policy},
                             "model": {"hidden": 8, "num_layers": layers}}).data
    sep = Separator(cfg, 0, SeparateSettings(relabelings=12, output_dim=4, dtype="float64"))
    out = []
    for i, (g, h) in enumerate(pairs):
        pair = sep.decide(g, h, index=i)
        assert pair["reliable"], i
        out.append(pair["separated"])
    return out


def test_untrained_float64_model_matches_2fwl_on_classic_sr_and_csl_pairs():
    pairs = [(g, h) for _, _, g, h in graphs.classic_pairs()]
    # two CSL pairs (2-FWL separates them, 1-WL does not) and the 16-node SRG pair
    # (Shrikhande vs the 4x4 rook graph: 2-FWL cannot separate it, so PPGN must not)
    pairs += [(graphs.csl(41, 2), graphs.csl(41, 3)), (graphs.csl(41, 5), graphs.csl(41, 9))]
    oracle = separated_pairs(pairs, "2-FWL").tolist()
    assert oracle == [True, True, False, False, True, True]
    model = _model_separated(pairs)
    violations = [i for i, (m, o) in enumerate(zip(model, oracle)) if m and not o]
    assert violations == []
    assert model == oracle  # and it reaches 2-FWL on every one of them


def test_no_violation_on_the_sr_suite_and_random_pairs():
    from wlkit.suites import load_suite

    pairs = [(p.first, p.second) for p in load_suite("sr").pairs()]
    pairs += [(_random_graph(7, 0.4, s), _random_graph(7, 0.4, s + 100)) for s in range(4)]
    oracle = separated_pairs(pairs, "2-FWL").tolist()
    model = _model_separated(pairs, pool="max")
    assert [i for i, (m, o) in enumerate(zip(model, oracle)) if m and not o] == []
    assert any(model)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_block_t_is_bounded_by_round_t_and_reaches_it(activation):
    # 2-FWL separates C6 vs 2xC3 after 1 round and decalin vs bicyclopentyl after 2
    from wlkit.wl import separation_rounds

    pairs = [(graphs.cycle(6), graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3))),
             (graphs.decalin(), graphs.bicyclopentyl())]
    _, rounds = separation_rounds(pairs, "2-FWL")
    assert rounds.tolist() == [1, 2]
    assert _model_separated(pairs, layers=1, activation=activation) == [True, False]
    assert _model_separated(pairs, layers=2, activation=activation) == [True, True]


def test_wlkit_check_passes():
    from wlkit.tools.check import run_check

    (row,) = run_check(["ppgn"], family="subgraph_policy")
    assert not row["red"], row["failed"]
    sep = row["separation"]
    assert sep["bound"] == "2-FWL" and sep["beyond_bound"] == []
    assert sep["separated"] >= 1  # C6 vs 2xC3 at least, in float32


# ------------------------------------------------------------------------ pipelines
def test_pipeline_runs(tmp_path, write_pipeline):
    from wlkit.pipeline import load_pipeline
    from wlkit.runner import run_pipeline

    text = TINY_PIPELINE.replace("seeds: 2", "seeds: 1") + "policy: {name: ppgn}\n"
    summary = run_pipeline(load_pipeline(write_pipeline(text)), out=tmp_path / "run",
                           progress=False)
    assert 0.0 <= summary["test_mean"] <= 1.0


@pytest.mark.parametrize("name", ["separate_ppgn.yaml", "ogbg-molesol_ppgn.yaml"])
def test_shipped_pipelines_validate(name):
    from wlkit.pipeline import load_pipeline

    cfg = load_pipeline(PIPELINES / name, []).data
    assert cfg["policy"]["name"] == "ppgn"
