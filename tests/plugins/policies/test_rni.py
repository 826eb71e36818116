"""RNI: noise redrawn every pass, keyed noise moves with the nodes, the eval modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.plugins.policies.helpers import as_dgl, build, embed
from wlkit import PluginError, graphs
from wlkit.params import check_params
from wlkit.plugins.policies.rni import RNI_RECORD, RNIModel, local_index

NODE_KEY = "_node_key"


def keyed_pair(graph, seed=0):
    """``graph`` and a random relabelling of it, each with ``_node_key`` = original index."""
    perm = np.random.default_rng(seed).permutation(graph.num_nodes)
    g, h = graph.to_dgl(), graph.relabel(perm).to_dgl()
    g.ndata[NODE_KEY] = torch.arange(graph.num_nodes)
    key = np.empty(graph.num_nodes, dtype=np.int64)
    key[perm] = np.arange(graph.num_nodes)  # new node perm[v] is old node v
    h.ndata[NODE_KEY] = torch.from_numpy(key)
    return g, h


@pytest.mark.parametrize("mode", ["resample", "fixed_seed", "average_k"])
@pytest.mark.parametrize("dist", ["normal", "xavier_uniform"])
def test_equal_outputs_when_noise_is_permuted_with_the_nodes(mode, dist):
    net, pol = build({"name": "rni", "eval": mode, "dist": dist, "k": 3}, hidden=16)
    g, h = keyed_pair(graphs.decalin())
    first, second = embed(net, pol, [g]), embed(net, pol, [h])
    torch.testing.assert_close(first, second, rtol=1e-9, atol=1e-12)
    # and deterministic across passes (the noise is a function of the key)
    torch.testing.assert_close(first, embed(net, pol, [g]), rtol=0, atol=0)


def test_noise_is_redrawn_every_pass_in_training_and_eval():
    net, pol = build("rni", hidden=16)
    g = graphs.decalin()
    assert not torch.equal(embed(net, pol, [g]), embed(net, pol, [g]))  # eval: resample
    keyed, _ = keyed_pair(g)
    net.train()
    with torch.no_grad():
        graph = as_dgl([keyed])[0]
        assert not torch.equal(net.embed(graph), net.embed(graph))  # training ignores keys


def test_fixed_seed_is_deterministic_and_independent_of_the_batch():
    net, pol = build({"name": "rni", "eval": "fixed_seed"}, hidden=16)
    alone = embed(net, pol, [graphs.cycle(6)])
    batched = embed(net, pol, [graphs.petersen(), graphs.cycle(6)])
    torch.testing.assert_close(alone[0], batched[1], rtol=1e-9, atol=1e-12)


def test_invariant_in_expectation():
    # the mean embedding over many noise draws is the same for a graph and its relabelling
    g = graphs.decalin()
    relabelled = g.relabel(np.random.default_rng(3).permutation(g.num_nodes))
    net, pol = build("rni", hidden=16)
    draws = 300
    out = embed(net, pol, [g] * draws + [relabelled] * draws)
    first, second = out[:draws], out[draws:]
    spread = (first - second).abs().mean(0).max()  # one draw each
    gap = (first.mean(0) - second.mean(0)).abs().max()
    assert gap < spread / 5  # shrinks like 1/sqrt(draws)


def test_average_k_averages_k_draws():
    net, pol = build({"name": "rni", "eval": "average_k", "k": 4}, hidden=16)
    g, _ = keyed_pair(graphs.cycle(6))
    graph = as_dgl([g])[0]
    with torch.no_grad():
        draws = [net.body._embed(graph, RNIModel.keyed_noise(graph, 8, "normal", 0, j))
                 for j in range(4)]
        torch.testing.assert_close(net.embed(graph), torch.stack(draws).mean(0))


def test_random_width_and_distributions():
    g = as_dgl([graphs.complete(30)])[0]
    for dist, std in [("normal", 1.0), ("uniform", 1 / math.sqrt(3)),
                      ("xavier_normal", math.sqrt(2 / (30 + 500))),
                      ("xavier_uniform", math.sqrt(6 / (30 + 500)) / math.sqrt(3))]:
        noise = RNIModel.fresh_noise(g, 500, dist)
        assert noise.shape == (30, 500) and noise.device == g.device
        assert abs(float(noise.std()) / std - 1) < 0.05, dist
        assert abs(float(noise.mean())) < 0.05 * std * 10
        keyed = RNIModel.keyed_noise(g, 500, dist, seed=1, draw=0)
        assert abs(float(keyed.std()) / std - 1) < 0.05, dist
    uniform = RNIModel.fresh_noise(g, 100, "uniform")
    assert float(uniform.abs().max()) <= 1.0


def test_keyed_noise_rows_do_not_depend_on_other_keys():
    g = as_dgl([graphs.cycle(5)])[0]
    small = RNIModel.keyed_noise(g, 4, "normal", 0, 0, keys=torch.tensor([0, 1, 2, 3, 4]))
    large = RNIModel.keyed_noise(g, 4, "normal", 0, 0, keys=torch.tensor([0, 1, 2, 3, 5000]))
    assert torch.equal(small[:4], large[:4])
    other_draw = RNIModel.keyed_noise(g, 4, "normal", 0, 1)
    assert not torch.equal(small, other_draw)


def test_half_random_half_deterministic_and_full_ratio():
    net, _ = build({"name": "rni", "ratio": 0.25}, hidden=16)
    assert net.body.random_dim == 4 and net.body.project.out_features == 12
    full, _ = build({"name": "rni", "ratio": 1.0}, hidden=16)
    assert full.body.random_dim == 16 and full.body.project is None


def test_local_index():
    import dgl

    batch = dgl.batch(as_dgl([graphs.cycle(3), graphs.cycle(4)]))
    assert local_index(batch).tolist() == [0, 1, 2, 0, 1, 2, 3]


def test_too_small_ratio_is_a_clear_error():
    with pytest.raises(PluginError, match="leaves no random channel"):
        build({"name": "rni", "ratio": 0.01}, hidden=16)
    # ratio 0 leaves no random channel at any width: the schema refuses it (exclusive minimum)
    _, problems = check_params(RNI_RECORD.params, {"ratio": 0.0})
    assert [(key, message) for key, message, _ in problems] == [("ratio", "must be > 0.0, got 0.0")]


def test_record_facts():
    from wlkit import get_registry

    record = get_registry().get("subgraph_policy", "rni")
    assert record.stochastic and record.permutation_invariant


@pytest.mark.parametrize("mode", ["resample", "average_k"])
def test_wlkit_separate_sees_one_fixed_draw_and_its_control_holds(mode):
    # `wlkit separate` keys the noise by node: relabelings of one graph agree (the control
    # stays far below the threshold), so a 1-WL-equivalent pair is compared under one noise
    # draw and is separated; the same graph on both sides of a pair is not.
    from wlkit.pipeline.loader import validate_pipeline
    from wlkit.tools.separate import SeparateSettings, Separator

    cfg = validate_pipeline({"name": "rni-sep", "dataset": "wl_pairs",
                             "policy": {"name": "rni", "eval": mode, "k": 2},
                             "model": {"hidden": 8, "num_layers": 2}}).data
    sep = Separator(cfg, 0, SeparateSettings(relabelings=8, output_dim=4))
    pair = sep.decide(graphs.decalin(), graphs.bicyclopentyl(), index=0)
    assert pair["reliable"] and pair["separated"]
    assert pair["control_t2"] < 1e-3 * sep.threshold < pair["t2"]
    same = sep.decide(graphs.decalin(), graphs.decalin(), index=1)
    assert same["reliable"] and not same["separated"]
