"""The attention readouts compute what DGL's modules compute (values, gradients, parameter
names and initialisation), without their host syncs (issue 21)."""

from __future__ import annotations

import warnings

import dgl
import pytest
import torch
from dgl.nn import GlobalAttentionPooling, Set2Set, SetTransformerDecoder, SetTransformerEncoder

from wlkit.plugins.readouts import AttentionReadout, Set2SetReadout, SetTransformerReadout
from wlkit.plugins.readouts.set_attention import pad_sets
from wlkit.testing import DeviceAudit


def _batch(sizes):
    torch.manual_seed(0)
    graphs = [dgl.rand_graph(n, n) for n in sizes]
    return graphs, dgl.batch(graphs), torch.randn(sum(sizes), 8, dtype=torch.float64,
                                                  requires_grad=True)


def _value_and_grad(module, graph, feats):
    out = module(graph, feats)
    return out, torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view(
        out.shape).double()).sum(), feats)[0]


def _assert_same(ours, ref, graph, feats):
    out, grad = _value_and_grad(ours, graph, feats)
    with graph.local_scope():
        ref_out, ref_grad = _value_and_grad(ref, graph, feats)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=0, atol=1e-12)


SIZES = (3, 0, 5, 1, 0, 4)  # graphs without nodes too


def test_attention_equals_dgls_global_attention_pooling():
    _, graph, feats = _batch(SIZES)
    ours = AttentionReadout(8).double()
    ref = GlobalAttentionPooling(ours.attention.gate_nn, ours.attention.feat_nn)
    _assert_same(ours, ref, graph, feats)


def test_set2set_equals_dgls_set2set():
    _, graph, feats = _batch(SIZES)
    ours = Set2SetReadout(8, iterations=3, lstm_layers=2).double()
    ref = Set2Set(8, 3, 2).double()
    ref.load_state_dict(ours.set2set.state_dict())
    _assert_same(ours, ref, graph, feats)


SET_TRANSFORMERS = [dict(heads=2), dict(heads=4, seeds=3),
                    dict(heads=2, block="isab", inducing=3, layers=3)]


@pytest.mark.parametrize("params", SET_TRANSFORMERS, ids=["sab", "seeds3", "isab"])
def test_set_transformer_equals_dgls_modules(params):
    dim, heads, seeds = 8, params["heads"], params.get("seeds", 1)
    block = params.get("block", "sab")
    torch.manual_seed(1)
    ours = SetTransformerReadout(dim, **params).double()
    torch.manual_seed(1)  # same seed, same draws: DGL's initialisation in DGL's order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoder = SetTransformerEncoder(dim, heads, dim // heads, 2 * dim,
                                        n_layers=params.get("layers", 2), block_type=block,
                                        m=params.get("inducing") if block == "isab" else None)
        decoder = SetTransformerDecoder(dim, heads, dim // heads, 2 * dim,
                                        n_layers=1 if seeds > 1 else 0, k=seeds)
    ref = torch.nn.ModuleDict({"encoder": encoder, "decoder": decoder}).double()
    state, ref_state = ours.state_dict(), ref.state_dict()
    assert sorted(state) == sorted(ref_state)
    assert all(torch.equal(state[k], ref_state[k]) for k in state)

    class Reference(torch.nn.Module):
        def forward(self, graph, feats):
            return decoder(graph, encoder(graph, feats))

    _, graph, feats = _batch((3, 5, 1, 4))  # DGL's modules go wrong after an empty graph
    _assert_same(ours, Reference(), graph, feats)


def test_set_transformer_gives_each_graph_its_own_value_next_to_empty_graphs():
    graphs, graph, feats = _batch(SIZES)
    readout = SetTransformerReadout(8, heads=2).double()
    alone = torch.cat([readout(g, x) for g, x in zip(graphs, feats.split(SIZES))])
    torch.testing.assert_close(readout(graph, feats), alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize("readout, syncs", [(AttentionReadout(8), 0), (Set2SetReadout(8), 0),
                                            (SetTransformerReadout(8), 1)],
                         ids=["attention", "set2set", "set_transformer"])
def test_host_syncs_per_step(readout, syncs):
    _, graph, _ = _batch(SIZES)
    feats = torch.randn(graph.num_nodes(), 8, requires_grad=True)
    with DeviceAudit() as audit, audit.phase("step"):
        readout(graph, feats).square().sum().backward()
    assert len([e for e in audit.events if e.kind == "sync"]) == syncs, audit.events


def test_pad_sets():
    padded, mask = pad_sets(torch.tensor([2, 0, 1]), torch.arange(3.0).view(3, 1))
    assert padded.squeeze(-1).tolist() == [[0.0, 1.0], [0.0, 0.0], [2.0, 0.0]]
    assert mask.tolist() == [[True, True], [False, False], [True, False]]
    padded, mask = pad_sets(torch.zeros(0, dtype=torch.long), torch.zeros(0, 4))
    assert padded.shape == (0, 0, 4) and mask.shape == (0, 0)
