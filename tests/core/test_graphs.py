"""Tests for wlkit.graphs: the SimpleGraph container and the exact generators."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlkit import graphs as G
from wlkit.graphs import SimpleGraph


def srg_parameters(g: SimpleGraph) -> tuple[int, int, int, int] | None:
    """(n, k, lambda, mu) if ``g`` is strongly regular, else None."""
    a = g.adjacency().toarray()
    deg = a.sum(1)
    if len(set(deg.tolist())) != 1:
        return None
    common = a @ a
    off = ~np.eye(g.num_nodes, dtype=bool)
    lam = set(common[(a == 1) & off].tolist())
    mu = set(common[(a == 0) & off].tolist())
    if len(lam) != 1 or len(mu) != 1:
        return None
    return g.num_nodes, int(deg[0]), lam.pop(), mu.pop()


def is_regular(g: SimpleGraph, k: int) -> bool:
    return bool((g.degrees() == k).all())


# ---------------------------------------------------------------------- generators
@pytest.mark.parametrize("n", [3, 4, 7, 12])
def test_cycle(n: int) -> None:
    g = G.cycle(n)
    assert (g.num_nodes, g.num_edges) == (n, n)
    assert is_regular(g, 2)
    assert nx.is_connected(g.to_networkx())


def test_complete_cube_petersen() -> None:
    k5 = G.complete(5)
    assert (k5.num_nodes, k5.num_edges) == (5, 10) and is_regular(k5, 4)
    q3 = G.cube()
    assert (q3.num_nodes, q3.num_edges) == (8, 12) and is_regular(q3, 3)
    assert nx.is_isomorphic(q3.to_networkx(), nx.hypercube_graph(3))
    p = G.petersen()
    assert (p.num_nodes, p.num_edges) == (10, 15) and is_regular(p, 3)
    assert nx.is_isomorphic(p.to_networkx(), nx.petersen_graph())
    assert srg_parameters(p) == (10, 3, 0, 1)


def test_complete_bipartite_and_dodecahedron() -> None:
    k33 = G.complete_bipartite(3, 3)
    assert (k33.num_nodes, k33.num_edges) == (6, 9) and is_regular(k33, 3)
    assert nx.is_isomorphic(k33.to_networkx(), nx.complete_bipartite_graph(3, 3))
    k24 = G.complete_bipartite(2, 4)
    assert nx.is_isomorphic(k24.to_networkx(), nx.complete_bipartite_graph(2, 4))
    d = G.dodecahedron()
    assert (d.num_nodes, d.num_edges) == (20, 30) and is_regular(d, 3)
    assert nx.is_isomorphic(d.to_networkx(), nx.dodecahedral_graph())


def test_disjoint_union() -> None:
    u = G.disjoint_union(G.cycle(3), G.cycle(4))
    assert (u.num_nodes, u.num_edges) == (7, 7)
    assert nx.number_connected_components(u.to_networkx()) == 2
    labelled = SimpleGraph.from_edges(2, [(0, 1)], node_labels=[1, 2])
    both = G.disjoint_union(labelled, labelled)
    assert both.node_labels.tolist() == [1, 2, 1, 2]
    with pytest.raises(ValueError, match="only some graphs have node_labels"):
        G.disjoint_union(labelled, G.cycle(3))


@pytest.mark.parametrize("skip", G.CSL_SKIPS)
def test_csl_is_4_regular(skip: int) -> None:
    g = G.csl(41, skip)
    assert (g.num_nodes, g.num_edges) == (41, 82)
    assert is_regular(g, 4)
    assert nx.is_connected(g.to_networkx())
    assert {(0, 1), (0, skip)} <= set(map(tuple, g.edges.tolist()))


def test_csl_rejects_bad_skip() -> None:
    with pytest.raises(ValueError, match="skip"):
        G.csl(41, 1)
    with pytest.raises(ValueError, match="skip"):
        G.csl(41, 40)


def test_csl_classes_pairwise_non_isomorphic() -> None:
    # Circulants C(41,{1,R}) and C(41,{1,R'}) are isomorphic when R' = ±R^-1 (mod 41); the
    # benchmark's skip list has no such pair, so all ten classes are distinct.
    gs = [G.csl(41, r).to_networkx() for r in G.CSL_SKIPS]
    for i in range(len(gs)):
        for j in range(i + 1, len(gs)):
            assert not nx.vf2pp_is_isomorphic(gs[i], gs[j])


def test_decalin_bicyclopentyl() -> None:
    d, b = G.decalin(), G.bicyclopentyl()
    for g in (d, b):
        assert (g.num_nodes, g.num_edges) == (10, 11)
        assert sorted(g.degrees().tolist()) == [2] * 8 + [3] * 2
        assert nx.is_connected(g.to_networkx())
    assert sorted(len(c) for c in nx.minimum_cycle_basis(d.to_networkx())) == [6, 6]
    assert sorted(len(c) for c in nx.minimum_cycle_basis(b.to_networkx())) == [5, 5]
    assert not nx.is_isomorphic(d.to_networkx(), b.to_networkx())


def test_shrikhande_and_rook_are_srg_16_6_2_2_but_not_isomorphic() -> None:
    s, r = G.shrikhande(), G.rook_graph(4)
    assert srg_parameters(s) == (16, 6, 2, 2)
    assert srg_parameters(r) == (16, 6, 2, 2)
    assert not nx.is_isomorphic(s.to_networkx(), r.to_networkx())
    # Known local structure: neighbourhoods induce a 6-cycle (Shrikhande) vs two triangles.
    ns = s.to_networkx().subgraph(s.to_networkx()[0])
    nr = r.to_networkx().subgraph(r.to_networkx()[0])
    assert nx.is_isomorphic(ns, nx.cycle_graph(6))
    assert nx.number_connected_components(nr) == 2


def test_rook_general() -> None:
    r3 = G.rook_graph(3)
    assert (r3.num_nodes, r3.num_edges) == (9, 18) and srg_parameters(r3) == (9, 4, 1, 2)


def test_cfi_k4() -> None:
    k4 = G.complete(4)
    a, b = G.cfi(k4), G.cfi(k4, twisted=True)
    for g in (a, b):
        assert g.num_nodes == 40
        assert g.num_edges == 60
        assert is_regular(g, 3)
        assert g.node_labels is None
        assert nx.is_connected(g.to_networkx())
    assert not nx.vf2pp_is_isomorphic(a.to_networkx(), b.to_networkx())


def test_cfi_sizes_and_labels() -> None:
    # K3: 3 vertices of degree 2 -> 2 middles + 4 ends each.
    g = G.cfi(G.complete(3), gadget_labels=True)
    assert g.num_nodes == 18
    assert sorted(np.bincount(g.node_labels).tolist()) == [2, 2, 2, 4, 4, 4]
    # Twisting a different single edge gives an isomorphic graph (only the parity counts).
    assert nx.vf2pp_is_isomorphic(
        G.cfi(G.cycle(4), twisted=True).to_networkx(),
        G.cfi(G.cycle(4).relabel([1, 2, 3, 0]), twisted=True).to_networkx(),
    )
    with pytest.raises(ValueError, match="twist"):
        G.cfi(SimpleGraph(3, np.zeros((0, 2), dtype=np.int64)), twisted=True)


def test_classic_pairs() -> None:
    pairs = G.classic_pairs()
    assert [p[0] for p in pairs] == [
        "c6_vs_2c3",
        "decalin_vs_bicyclopentyl",
        "shrikhande_vs_rook4",
        "cfi_k4",
    ]
    for _pid, category, g, h in pairs:
        assert category
        assert (g.num_nodes, g.num_edges) == (h.num_nodes, h.num_edges)
        assert sorted(g.degrees().tolist()) == sorted(h.degrees().tolist())
        assert not nx.vf2pp_is_isomorphic(g.to_networkx(), h.to_networkx())


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("n", "edges", "match"),
    [
        (3, [[0, 0]], "self loop"),
        (3, [[0, 3]], "out of range"),
        (3, [[-1, 2]], "out of range"),
        (3, [[1, 0]], "u < v"),
        (3, [[0, 1], [0, 1]], "duplicate"),
        (3, [[1, 2], [0, 1]], "not sorted"),
        (3, [[0, 1, 2]], r"shape \[m, 2\]"),
        (3, [[0.0, 1.0]], "integers"),
        (-1, [], ">= 0"),
    ],
)
def test_validation_errors(n: int, edges: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SimpleGraph(n, np.asarray(edges))


def test_label_validation() -> None:
    e = np.array([[0, 1]])
    with pytest.raises(ValueError, match=r"node_labels must have shape \(3,\)"):
        SimpleGraph(3, e, node_labels=[1, 2])
    with pytest.raises(ValueError, match=r"edge_labels must have shape \(1,\)"):
        SimpleGraph(3, e, edge_labels=[1, 2])
    with pytest.raises(ValueError, match="node_labels must be integers"):
        SimpleGraph(3, e, node_labels=[0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="num_nodes must be an int"):
        SimpleGraph(3.0, e)  # type: ignore[arg-type]


def test_frozen_and_read_only() -> None:
    g = G.cycle(4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.num_nodes = 5  # type: ignore[misc]
    with pytest.raises(ValueError):
        g.edges[0, 0] = 3
    assert g.edges.dtype == np.int64


def test_from_edges_canonicalises() -> None:
    g = SimpleGraph.from_edges(4, [(3, 2), (1, 0), (0, 1), (2, 1)], edge_labels=[7, 5, 5, 6])
    assert g.edges.tolist() == [[0, 1], [1, 2], [2, 3]]
    assert g.edge_labels.tolist() == [5, 6, 7]
    assert g == SimpleGraph(4, np.array([[0, 1], [1, 2], [2, 3]]), edge_labels=[5, 6, 7])
    assert hash(g) == hash(SimpleGraph(4, np.array([[0, 1], [1, 2], [2, 3]])))
    with pytest.raises(ValueError, match="different labels"):
        SimpleGraph.from_edges(2, [(0, 1), (1, 0)], edge_labels=[1, 2])
    with pytest.raises(ValueError, match="self loop"):
        SimpleGraph.from_edges(2, [(0, 1), (1, 1)])
    assert SimpleGraph.from_edges(2, [(0, 1), (1, 1)], drop_self_loops=True).num_edges == 1
    with pytest.raises(ValueError, match="out of range"):
        SimpleGraph.from_edges(2, [(0, 2)])
    assert SimpleGraph.from_edges(3, []).num_edges == 0


def test_adjacency_and_degrees() -> None:
    g = G.petersen()
    a = g.adjacency()
    assert a.shape == (10, 10)
    assert (a != a.T).nnz == 0
    assert np.array_equal(np.asarray(a.sum(1)).ravel(), g.degrees())
    assert a.diagonal().sum() == 0


# ---------------------------------------------------------------------- round trips
def labelled_example() -> SimpleGraph:
    return SimpleGraph.from_edges(
        5,
        [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4), (1, 3)],
        node_labels=[3, 1, 4, 1, 5],
        edge_labels=[0, 1, 2, 0, 1, 2],
        name="lab",
    )


def test_networkx_round_trip() -> None:
    g = labelled_example()
    back = SimpleGraph.from_networkx(g.to_networkx(), node_attr="label", edge_attr="label")
    assert back == g and back.name == "lab"
    plain = SimpleGraph.from_networkx(nx.relabel_nodes(nx.path_graph(3), {0: "a", 1: "b", 2: "c"}))
    assert plain.edges.tolist() == [[0, 1], [1, 2]]
    with pytest.raises(ValueError, match="undirected"):
        SimpleGraph.from_networkx(nx.DiGraph([(0, 1)]))
    with pytest.raises(ValueError, match="lacks attribute"):
        SimpleGraph.from_networkx(nx.path_graph(3), node_attr="label")


def test_dgl_round_trip() -> None:
    pytest.importorskip("dgl")
    import dgl
    import torch

    g = labelled_example()
    d = g.to_dgl()
    assert d.num_nodes() == 5 and d.num_edges() == 2 * g.num_edges
    src, dst = d.edges()
    assert set(zip(src.tolist(), dst.tolist())) == {
        (u, v) for a, b in g.edges.tolist() for u, v in ((a, b), (b, a))
    }
    assert d.ndata["label"].tolist() == g.node_labels.tolist()
    assert d.edata["label"].tolist() == g.edge_labels.tolist() * 2
    assert SimpleGraph.from_dgl(d) == g
    # One direction only, a self loop and an isolated node are all fine.
    one_way = dgl.graph((torch.tensor([0, 1, 2]), torch.tensor([1, 2, 2])), num_nodes=4)
    h = SimpleGraph.from_dgl(one_way)
    assert h.num_nodes == 4 and h.edges.tolist() == [[0, 1], [1, 2]]
    assert SimpleGraph.from_dgl(G.cycle(5).to_dgl()) == G.cycle(5)


def test_relabel() -> None:
    g = labelled_example()
    rng = np.random.default_rng(1)
    perm = rng.permutation(5)
    h = g.relabel(perm)
    for (u, v), lab in zip(g.edges.tolist(), g.edge_labels.tolist()):
        a, b = sorted((perm[u], perm[v]))
        k = np.flatnonzero((h.edges[:, 0] == a) & (h.edges[:, 1] == b))
        assert len(k) == 1 and h.edge_labels[k[0]] == lab
    assert all(h.node_labels[perm[i]] == g.node_labels[i] for i in range(5))
    assert h.relabel(np.argsort(perm)) == g
    nm = nx.algorithms.isomorphism.categorical_node_match("label", None)
    assert nx.is_isomorphic(g.to_networkx(), h.to_networkx(), node_match=nm)
    with pytest.raises(ValueError, match="permutation"):
        g.relabel([0, 0, 1, 2, 3])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 9),
    pairs=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=30),
)
def test_from_edges_matches_networkx(n: int, pairs: list[tuple[int, int]]) -> None:
    pairs = [(u % n, v % n) for u, v in pairs if u % n != v % n]
    g = SimpleGraph.from_edges(n, pairs)
    ref = nx.Graph()
    ref.add_nodes_from(range(n))
    ref.add_edges_from(pairs)
    assert g.num_edges == ref.number_of_edges()
    assert g == SimpleGraph.from_networkx(ref)
    assert np.array_equal(g.degrees(), [d for _, d in sorted(ref.degree())])
