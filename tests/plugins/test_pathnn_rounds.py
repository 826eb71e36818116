"""PathNN's exact oracle reports after how many layers (path lengths) each pair separates."""

from __future__ import annotations

import pytest

from wlkit import graphs as G
from wlkit.plugins.policies import pathnn
from wlkit.wl import distinguishes, separation_rounds

PAIRS = [(G.csl(41, 2), G.csl(41, 3)), (G.shrikhande(), G.rook_graph(4)),
         (G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3))), (G.cycle(5), G.cycle(5))]


@pytest.mark.parametrize(("kind", "K", "distances"), [("sp_plus", 6, False), ("ap", 4, True)])
def test_rounds_are_the_layers_a_pair_needs(kind, K, distances):
    name = pathnn.path_oracle(kind, K, distances)
    separated, rounds = separation_rounds(PAIRS, name)
    assert ((rounds >= 0) == separated).all() and not separated[-1]
    assert (rounds <= K).all() and separated[0] and separated[2]  # CSL and C6 vs 2xC3
    for (g, h), r in zip(PAIRS, rounds.tolist()):
        if r <= 0:
            continue
        # K = r layers separate the pair, K = r - 1 do not (layer l reads l-edge paths)
        assert distinguishes(g, h, pathnn.path_oracle(kind, r, distances))
        if r > 1:
            assert not distinguishes(g, h, pathnn.path_oracle(kind, r - 1, distances))


def test_history_ends_in_the_final_colours():
    graphs = [G.csl(13, 2), G.csl(13, 3), G.petersen()]
    colours, rounds, steps = pathnn.path_refinement(graphs, "ap", 3, True, history=True)
    assert rounds == 3 and len(steps) == 4
    assert all((a == b).all() for a, b in zip(steps[-1], colours))
    assert [len(c) for c in steps[0]] == [13, 13, 10]
