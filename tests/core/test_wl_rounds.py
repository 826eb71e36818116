"""Per-pair refinement rounds of the exact oracles (``wlkit.wl.separation_rounds``): the first
round after which the two graph colours differ, which is what a model's depth must reach."""

from __future__ import annotations

import numpy as np
import pytest

from wlkit import graphs as G
from wlkit.graphs import SimpleGraph
from wlkit.wl import (
    ORACLES,
    register_oracle,
    separated_pairs,
    separating_round,
    separation_rounds,
    wl_colors,
)

CLASSIC = [(g, h) for _pid, _cat, g, h in G.classic_pairs()]


def path(n: int) -> SimpleGraph:
    return SimpleGraph.from_edges(n, [(i, i + 1) for i in range(n - 1)], name=f"P{n}")


def test_classic_pairs_need_known_rounds() -> None:
    # c6 vs 2xC3: a marked node sees its triangle after 2 rounds (distance-2 neighbours
    # adjacent); decalin vs bicyclopentyl: after 3
    separated, rounds = separation_rounds(CLASSIC, "node_marked")
    assert separated.tolist() == [True, True, False, False]
    assert rounds.tolist() == [2, 3, -1, -1]
    assert separation_rounds(CLASSIC, "two_node_marked")[1].tolist() == [1, 2, 2, 5]
    assert separation_rounds(CLASSIC, "1-WL")[1].tolist() == [-1, -1, -1, -1]


def test_round_zero_is_the_initial_colours() -> None:
    # different sizes differ before any round; a long path pair only near the centre
    assert separating_round(G.cycle(4), G.cycle(5), "1-WL") == 0
    assert separating_round(G.disjoint_union(path(20), path(22)),
                            G.disjoint_union(path(21), path(21)), "1-WL") == 11
    assert separating_round(G.cycle(6), G.cycle(6), "2-FWL") is None


@pytest.mark.parametrize("oracle", ORACLES)
def test_first_round_is_where_max_rounds_starts_to_separate(oracle: str) -> None:
    # the defining property: equal after r - 1 rounds, different after r
    pairs = CLASSIC[:3] + [(G.disjoint_union(path(6), path(8)),
                            G.disjoint_union(path(7), path(7))), (G.cycle(5), G.cycle(6))]
    separated, rounds = separation_rounds(pairs, oracle)
    assert (separated == separated_pairs(pairs, oracle)).all()
    assert ((rounds >= 0) == separated).all()
    for (g, h), r in zip(pairs, rounds.tolist()):
        if r < 0:
            continue
        after = wl_colors([g, h], oracle, max_rounds=r).graph_ids
        assert after[0] != after[1]
        if r > 0:
            before = wl_colors([g, h], oracle, max_rounds=r - 1).graph_ids
            assert before[0] == before[1]


def test_batches_and_shared_graphs_do_not_change_rounds() -> None:
    c6, two_c3, decalin = G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3)), G.decalin()
    pairs = [(c6, two_c3), (c6, c6), (decalin, G.bicyclopentyl()), (two_c3, c6)]
    one = separation_rounds(pairs, "node_deleted")[1]
    small = separation_rounds(pairs, "node_deleted", budget=1)[1]
    assert one.tolist() == small.tolist() == [2, -1, 3, 2]


def _constant(graphs):
    return [np.zeros(g.num_nodes, np.int64) for g in graphs], 0


def _degrees_with_history(graphs):
    degrees = [np.bincount(g.edges.ravel(), minlength=g.num_nodes) for g in graphs]
    return degrees, 1, [[np.zeros(g.num_nodes, np.int64) for g in graphs], degrees]


def _degrees(graphs):
    return _degrees_with_history(graphs)[:2]


def test_registered_oracles_report_rounds_only_with_a_history() -> None:
    register_oracle("test_rounds_degrees", _degrees, "degrees")
    register_oracle("test_rounds_degrees_h", _degrees_with_history, "degrees, with history")
    pairs = [(G.cycle(4), G.complete(4)), (G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3)))]
    plain = separation_rounds(pairs, "test_rounds_degrees")
    told = separation_rounds(pairs, "test_rounds_degrees_h")
    assert plain[0].tolist() == told[0].tolist() == [True, False]
    assert plain[1].tolist() == [-1, -1]  # separated, but the oracle cannot say when
    assert told[1].tolist() == [1, -1]


def test_a_malformed_history_is_named() -> None:
    from wlkit.errors import PluginError

    def bad(graphs):
        return _constant(graphs)[0], 1, [[np.zeros(1, np.int64)]]

    register_oracle("test_rounds_bad_history", bad, "bad history")
    with pytest.raises(PluginError, match="history"):
        separation_rounds([(G.cycle(4), G.cycle(5))], "test_rounds_bad_history")
