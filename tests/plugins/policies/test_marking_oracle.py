"""Localized 2-node marking's exact oracle ``two_node_marked_r<r>``."""

from __future__ import annotations

import numpy as np
import pytest

from wlkit import graphs
from wlkit.plugins.policies.marking_oracle import LocalPairs, local_pairs_oracle
from wlkit.plugins.policies.node_marking import NodeMarkingPolicy
from wlkit.wl import distinguishes, oracle_summary, separation_rounds


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_the_oracle_marks_exactly_the_copies_the_model_embeds(radius):
    for graph in (graphs.petersen(), graphs.decalin(), graphs.disjoint_union(
            graphs.cycle(3), graphs.cycle(4))):
        bag = LocalPairs(radius)(graph)
        tuples = NodeMarkingPolicy(2, radius=radius).prepare(graph.to_dgl())["tuples"]
        assert bag.roots.tolist() == tuples.tolist()
        assert bag.keep.all()  # the whole graph in every copy
        rows = np.arange(len(bag.roots))
        assert (bag.mark[rows, bag.roots[:, 0]] == 1).all()
        assert (bag.mark[rows, bag.roots[:, 1]] == 2).all()
        assert (bag.mark > 0).sum() == 2 * len(rows)


def test_names_and_power_between_node_marking_and_the_full_variant():
    assert local_pairs_oracle(None) == "two_node_marked"
    assert NodeMarkingPolicy(2, radius=2).wl_oracle == "two_node_marked_r2"
    assert "within distance 2" in oracle_summary("two_node_marked_r2")
    shrikhande, rook = graphs.shrikhande(), graphs.rook_graph(4)
    assert distinguishes(shrikhande, rook, "two_node_marked_r1")  # 2-FWL cannot
    assert not distinguishes(shrikhande, rook, "node_marked")
    (_, _, cfi_a, cfi_b), = (p for p in graphs.classic_pairs() if p[0] == "cfi_k4")
    assert not distinguishes(cfi_a, cfi_b, "two_node_marked_r1")  # the cost of locality
    assert distinguishes(cfi_a, cfi_b, "two_node_marked")
    # a radius reaching every pair of a connected graph is the full variant
    assert distinguishes(cfi_a, cfi_b, "two_node_marked_r64")
    # separated in 2 rounds: depth reasons work as for the built-ins
    separated, rounds = separation_rounds([(shrikhande, rook)], "two_node_marked_r1")
    assert separated.tolist() == [True] and rounds.tolist() == [2]


def test_a_graph_without_edges_has_no_copy_and_bad_radii_are_not_oracles():
    from wlkit.wl import check_oracle

    bag = LocalPairs(1)(graphs.SimpleGraph(3, np.zeros((0, 2), dtype=np.int64)))
    assert bag.roots.shape == (0, 2) and bag.mark.shape == (0, 3)
    for bad in ("two_node_marked_r0", "two_node_marked_r65", "two_node_marked_rx"):
        with pytest.raises(Exception, match="oracle"):
            check_oracle(bad)
