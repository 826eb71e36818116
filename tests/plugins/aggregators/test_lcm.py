from __future__ import annotations

import math

import dgl
import pytest
import torch

from wlkit.model.build import instantiate
from wlkit.plugins.aggregators import CommutativeGRU, LCMAggregator, tree_reduce


def in_star(degree: int, offset: int = 0) -> dgl.DGLGraph:
    """Node 0 receives one edge from each of nodes 1..degree."""
    return dgl.graph((torch.arange(1, degree + 1), torch.zeros(degree, dtype=torch.long)),
                     num_nodes=degree + 1)


def reference(op: CommutativeGRU, rows: torch.Tensor) -> torch.Tensor:
    """Balanced tree, one node at a time: pair neighbours, carry an odd last one up."""
    while len(rows) > 1:
        level = [op(rows[i:i + 1], rows[i + 1:i + 2])[0] for i in range(0, len(rows) - 1, 2)]
        if len(rows) % 2:
            level.append(rows[-1])
        rows = torch.stack(level)
    return rows[0]


def test_operator_is_commutative_but_not_associative():
    torch.manual_seed(0)
    op = CommutativeGRU(5)
    a, b, c = torch.randn(3, 4, 5)
    torch.testing.assert_close(op(a, b), op(b, a))
    assert not torch.allclose(op(op(a, b), c), op(a, op(b, c)), atol=1e-4)


def test_matches_a_per_node_tree_in_input_order():
    torch.manual_seed(0)
    graph = dgl.rand_graph(9, 40)
    messages = torch.randn(40, 4)
    lcm = LCMAggregator(4, order="input")
    out = lcm(graph, messages)
    _, dst = graph.edges()
    for v in range(9):
        rows = messages[dst == v]  # edge-id order
        expected = reference(lcm.combine, rows) if len(rows) else lcm.identity
        torch.testing.assert_close(out[v], expected)


def test_sorted_order_is_a_function_of_the_multiset():
    torch.manual_seed(0)
    lcm = LCMAggregator(4)
    rows = torch.randn(11, 4)
    key = rows.double() @ lcm.direction
    expected = reference(lcm.combine, rows[torch.argsort(key)])
    for _ in range(3):
        shuffled = rows[torch.randperm(11)]
        torch.testing.assert_close(lcm(in_star(11), shuffled)[0], expected)


def test_empty_neighbourhoods_get_the_learned_identity():
    lcm = LCMAggregator(3)
    with torch.no_grad():
        lcm.identity.copy_(torch.tensor([1.0, -2.0, 0.5]))
    g = dgl.graph(([0, 1], [1, 0]), num_nodes=4)  # nodes 2, 3 are isolated
    out = lcm(g, torch.randn(2, 3))
    assert torch.equal(out[2], lcm.identity.detach()) and torch.equal(out[3], out[2])
    out.sum().backward()
    assert lcm.identity.grad is not None and lcm.identity.grad.abs().sum() > 0


@pytest.mark.parametrize("degree", [1, 2, 3, 8, 9, 33, 128])
def test_depth_is_ceil_log2_of_the_largest_degree(degree):
    calls = []

    def combine(rows):
        calls.append(len(rows) // 2)
        return rows.view(-1, 2, rows.shape[1]).sum(1)

    lengths = torch.tensor([degree, 0, 1, 2])
    out = tree_reduce(torch.ones(degree + 3, 1), lengths, combine, torch.zeros(1))
    # one call per tree level; the segment of 2 needs one level
    assert len(calls) == math.ceil(math.log2(max(degree, 2)))
    assert out[:, 0].tolist() == [degree, 0.0, 1.0, 2.0]  # every leaf counted once
    # a level combines all the pairs of all segments at once: degree - 1 + 1 merges in all
    assert sum(calls) == (degree - 1) + 1


def test_a_node_does_not_depend_on_its_batch_companions():
    """Same node, different companions and max degree: the same output (no zero padding)."""
    torch.manual_seed(0)
    lcm = LCMAggregator(16)
    target = in_star(5)
    x = torch.randn(5, 16)
    alone = lcm(target, x)
    for companions in ([in_star(100)], [in_star(3), dgl.rand_graph(30, 200), in_star(64)], []):
        graphs = [*companions, target]
        feats = [torch.randn(g.num_edges(), 16) for g in companions] + [x]
        out = lcm(dgl.batch(graphs), torch.cat(feats))
        torch.testing.assert_close(out[-target.num_nodes():], alone, rtol=0, atol=1e-6)
    # a zero-padded reduction (PyG's) would differ: padding 5 -> 128 leaves changes the tree
    padded = torch.cat([x, torch.zeros(123, 16)])
    assert not torch.allclose(lcm(in_star(128), padded)[0], alone[0], atol=1e-3)


def test_the_associativity_loss_decreases_when_trained():
    torch.manual_seed(0)
    lcm = LCMAggregator(8, assoc_weight=1.0, assoc_samples=64)
    graph = dgl.rand_graph(30, 120)
    messages = torch.randn(120, 8)
    lcm.train()
    lcm(graph, messages)  # samples the triples
    first = float(lcm.auxiliary_loss())
    optimiser = torch.optim.Adam(lcm.parameters(), lr=0.01)
    for _ in range(60):
        lcm(graph, messages)
        loss = lcm.auxiliary_loss()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    lcm(graph, messages)
    assert float(lcm.auxiliary_loss()) < 0.5 * first


def test_the_regulariser_is_off_in_eval_and_by_default():
    graph = dgl.rand_graph(6, 12)
    lcm = LCMAggregator(4, assoc_weight=0.5)
    lcm.eval()
    lcm(graph, torch.randn(12, 4))
    assert lcm.auxiliary_loss() is None
    plain = instantiate("aggregator", {"name": "lcm"}, 4).train()
    plain(graph, torch.randn(12, 4))
    assert plain.auxiliary_loss() is None


def test_the_model_adds_the_regulariser_of_aggregators_and_of_the_lcm_readout():
    from wlkit.model.build import build_model, instantiate_dataset
    from wlkit.pipeline.loader import validate_pipeline

    pipeline = validate_pipeline({
        "name": "t", "dataset": {"name": "set_second_min", "num_train": 4, "num_valid": 2,
                                 "num_test": 2, "form": "set"},
        "model": {"layer": "gin", "num_layers": 1, "hidden": 8,
                  "aggregator": {"name": "lcm", "assoc_weight": 1.0},
                  "readout": {"name": "lcm", "assoc_weight": 2.0}}})
    dataset = instantiate_dataset(pipeline.data["dataset"])
    model = build_model(pipeline.data, dataset).train()
    graph = dgl.batch(dataset.load().graphs[:4])
    graph = dgl.add_edges(graph, [0, 1], [1, 0])  # give the aggregator some messages
    model(graph)
    found = [m for m in model.modules() if isinstance(m, LCMAggregator)]
    assert sorted(m.assoc_weight for m in found) == [1.0, 2.0]  # the layer's and the readout's
    expected = sum(m.auxiliary_loss() for m in found)
    torch.testing.assert_close(model.auxiliary_loss(), expected)


def test_adjacent_pairs_match_autograd_through_gru_cell_in_value_and_every_gradient():
    import wlkit

    torch.manual_seed(0)
    op = CommutativeGRU(5).double()
    rows = torch.randn(12, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(6, 5, dtype=torch.float64)  # a loss that weighs the outputs unevenly
    params = [rows, *op.cell.parameters()]
    fused = op.adjacent(rows)
    swapped = rows.view(6, 2, 5).flip(1).reshape(12, 5)
    expected = wlkit.gru_cell(rows, swapped, op.cell).view(6, 2, 5).mean(1)
    torch.testing.assert_close(fused, expected, rtol=1e-12, atol=1e-12)
    ours = torch.autograd.grad((fused * weight).sum(), params)
    theirs = torch.autograd.grad((expected * weight).sum(), params)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda r, *p: op.adjacent(r), (rows, *op.cell.parameters()))


def test_adjacent_pairs_under_cpu_autocast_train_in_bf16():
    torch.manual_seed(0)
    lcm = LCMAggregator(8)
    messages = torch.randn(40, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = lcm(dgl.rand_graph(9, 40), messages)
    out.float().sum().backward()
    assert torch.isfinite(messages.grad).all() and lcm.combine.cell.weight_ih.grad is not None
