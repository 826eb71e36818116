"""WL-separation suites: generated pairs, file suites (shared data and synthetic BREC files),
the oracle-label cache and the EXP/CEXP 10-fold training datasets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

from tests.conftest import SHARED_DATA
from wlkit import DatasetError
from wlkit import graphs as G
from wlkit.datasets import wl_suites as S
from wlkit.manager import get_registry
from wlkit.wl import separated_pairs

DATA = Path(os.environ.get("WLKIT_WL_DATA", SHARED_DATA / "wl"))


def need(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"WL benchmark data not found at {path} (set WLKIT_WL_DATA)")
    return path


def srg_parameters(g: G.SimpleGraph) -> tuple[int, int, int, int] | None:
    """(n, k, lambda, mu) if ``g`` is strongly regular, else None."""
    a = g.adjacency().toarray()
    n = len(a)
    degrees = set(a.sum(1).tolist())
    a2 = a @ a
    off = ~np.eye(n, dtype=bool)
    lam, mu = set(a2[a == 1].tolist()), set(a2[(a == 0) & off].tolist())
    if len(degrees) != 1 or len(lam) != 1 or len(mu) != 1:
        return None
    return n, degrees.pop(), lam.pop(), mu.pop()


def intersection_array(g: G.SimpleGraph) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """({b_0, ..., b_{d-1}}, {c_1, ..., c_d}) if ``g`` is distance-regular, else None.

    For nodes x, y at distance i, c_i (b_i) counts the neighbours of y at distance i - 1
    (i + 1) from x; ``g`` is distance-regular iff both depend on i only.
    """
    from scipy.sparse.csgraph import shortest_path

    a = g.adjacency().toarray()
    dist = shortest_path(a, unweighted=True)
    if np.isinf(dist).any():
        return None
    dist = dist.astype(np.int64)
    b, c = [], []
    for i in range(int(dist.max()) + 1):
        xs, ys = np.nonzero(dist == i)
        nbrs, from_x = a[ys] == 1, dist[xs]  # row j: neighbours of ys[j], distances from xs[j]
        ci = set((nbrs & (from_x == i - 1)).sum(1).tolist())
        bi = set((nbrs & (from_x == i + 1)).sum(1).tolist())
        if len(ci) != 1 or len(bi) != 1:
            return None
        c.append(ci.pop())
        b.append(bi.pop())
    return tuple(b[:-1]), tuple(c[1:])


def four_vertex_counts(g: G.SimpleGraph) -> tuple[set[int], set[int]]:
    """Edges inside the common neighbourhood of x and y, as sets over the adjacent and over
    the non-adjacent pairs x != y (the 4-vertex condition: both sets are singletons)."""
    a = g.adjacency().toarray()
    common = a[:, None, :] * a[None, :, :]  # common[x, y, z]: z ~ x and z ~ y
    edges = np.einsum("xyz,zw,xyw->xy", common, a, common) // 2
    off = ~np.eye(len(a), dtype=bool)
    return set(edges[a == 1].tolist()), set(edges[(a == 0) & off].tolist())


def hyperbolic_line_sizes(g: G.SimpleGraph) -> set[int]:
    """|{x,y}^⊥⊥| over the non-adjacent pairs x, y of a GQ's collinearity graph: the points
    adjacent or equal to every common neighbour of x and y."""
    a = g.adjacency().toarray() == 1
    closed = a | np.eye(len(a), dtype=bool)
    xs, ys = np.nonzero(np.triu(~closed))
    return {int(closed[np.nonzero(a[x] & a[y])[0]].all(0).sum()) for x, y in zip(xs, ys)}


# ---------------------------------------------------------------------- registration
def test_suites_are_registered_datasets():
    names = get_registry().names("dataset")
    for suite in S.SUITES:
        assert S.suite_dataset_name(suite) in names
    assert {"exp", "cexp", "csl"} <= set(names)  # training datasets stay separate
    assert S.suite_dataset_name("suite_csl") == "suite_csl"


# ---------------------------------------------------------------------- generated suites
def test_classic_suite_matches_classic_pairs():
    suite = S.ClassicSuite()
    assert [p.id for p in suite.pairs()] == [pid for pid, *_ in G.classic_pairs()]
    labels = suite.oracle_labels(["1-WL", "2-FWL"])
    assert labels["1-WL"].tolist() == [False] * 4
    assert labels["2-FWL"].tolist() == [True, True, False, False]


def test_csl_suite_has_45_one_wl_equivalent_class_pairs():
    suite = S.CSLSuite()
    pairs = suite.pairs()
    assert len(pairs) == 45 and suite.categories() == ["csl"]
    assert pairs[0].id == "csl_2_vs_3"
    labels = suite.oracle_labels(["1-WL", "2-FWL"])
    assert not labels["1-WL"].any() and labels["2-FWL"].all()


def test_cfi_suite_sizes_and_oracles():
    pairs = S.CFISuite().pairs()
    assert [(p.id, p.first.num_nodes) for p in pairs] == [
        ("cfi_k4", 40), ("cfi_cube", 80), ("cfi_petersen", 100)]
    for p in pairs:
        assert set(p.first.degrees().tolist()) == set(p.second.degrees().tolist()) == {3}
    labels = S.CFISuite().oracle_labels(["1-WL", "2-FWL"])
    assert not labels["1-WL"].any() and not labels["2-FWL"].any()


def test_sr_suite_pairs_share_parameters_and_are_not_isomorphic():
    suite = S.SRSuite()
    pairs = suite.pairs()
    assert len(pairs) == 9
    for p in pairs:
        params = srg_parameters(p.first)
        assert params is not None and params == srg_parameters(p.second)
        assert p.category == "srg({},{},{},{})".format(*params)
    # (1,2)-WL separating a pair proves the graphs non-isomorphic; 2-FWL cannot (same SRG
    # parameters).
    graphs = [(p.first, p.second) for p in pairs]
    assert separated_pairs(graphs, "two_node_marked").all()
    assert not separated_pairs(graphs, "2-FWL").any()


def test_dr_suite_pairs_share_intersection_arrays_and_are_not_isomorphic():
    suite = S.DRSuite()
    (pair,) = suite.pairs()
    assert (pair.id, pair.category) == ("hamming_3_4_vs_doob_1_1", "drg{9,6,3;1,2,3}")
    assert pair.first.num_nodes == pair.second.num_nodes == 64
    for g in (pair.first, pair.second):
        assert intersection_array(g) == ((9, 6, 3), (1, 2, 3))
    assert not nx.vf2pp_is_isomorphic(pair.first.to_networkx(), pair.second.to_networkx())
    # a DRG's distance partition is an association scheme: 1-WL and 2-FWL cannot separate
    labels = suite.oracle_labels(["1-WL", "2-FWL"])
    assert not labels["1-WL"].any() and not labels["2-FWL"].any()
    # D(1, 0) is Shrikhande, H(2, 4) the 4x4 rook (the sr suite's diameter-2 pair)
    assert S.doob_graph(1, 0) == G.shrikhande().with_name("D(1,0)")
    assert nx.vf2pp_is_isomorphic(S.doob_graph(0, 2).to_networkx(),
                                  G.rook_graph(4).to_networkx())
    assert intersection_array(G.petersen()) == ((3, 2), (1, 1))
    assert intersection_array(G.decalin()) is None


def test_cartesian_product_numbers_nodes_in_mixed_radix():
    prod = S.cartesian_product(G.cycle(3), G.complete(2))  # the triangular prism
    assert prod.num_nodes == 6 and prod.name == f"{G.cycle(3).name} x {G.complete(2).name}"
    assert {tuple(e) for e in prod.edges.tolist()} == {
        (0, 1), (2, 3), (4, 5), (0, 2), (0, 4), (2, 4), (1, 3), (1, 5), (3, 5)}
    with pytest.raises(ValueError):
        S.cartesian_product()


def test_4vtx_suite_pair_is_srg_with_the_4_vertex_condition_and_not_isomorphic():
    suite = S.FourVertexSuite()
    pair, co = suite.pairs()
    assert (pair.id, pair.category) == ("gq_w3_vs_q43", "srg(40,12,2,4)")
    assert (co.id, co.category) == ("co-gq_w3_vs_co-q43", "srg(40,27,18,18)")
    for g in (pair.first, pair.second):
        assert srg_parameters(g) == (40, 12, 2, 4)
        # adjacent: the 2 other points of their line, 1 edge; non-adjacent: 4 points, 0
        assert four_vertex_counts(g) == ({1}, {0})
    for g in (co.first, co.second):
        assert srg_parameters(g) == (40, 27, 18, 18)
        assert four_vertex_counts(g) == ({105}, {108})
    assert co.first == S.complement(pair.first) and co.second == S.complement(pair.second)
    # Non-isomorphic (VF2++ takes minutes on this pair): every point of W(3) is regular,
    # |{x,y}^⊥⊥| = 4 for non-collinear x, y; Q(4,3)'s points are antiregular (2). And
    # (1,2)-WL separates both pairs, which also proves it.
    assert (hyperbolic_line_sizes(pair.first), hyperbolic_line_sizes(pair.second)) \
        == ({4}, {2})
    labels = suite.oracle_labels(["1-WL", "2-FWL", "two_node_marked", "two_node_marked_r1"])
    assert not labels["1-WL"].any() and not labels["2-FWL"].any()
    assert labels["two_node_marked"].all()
    # marking only pairs within distance 1 (r = 1) misses the GQs, not their complements
    assert labels["two_node_marked_r1"].tolist() == [False, True]
    assert len(S.projective_points(4, 3)) == 40 and S.projective_points(3, 2).shape == (7, 3)
    # the check can fail: Shrikhande and the Chang graphs are SRGs without the condition
    for g in [G.shrikhande(), *S.chang_graphs()]:
        assert any(len(counts) > 1 for counts in four_vertex_counts(g)), g.name
    for bad in (2, 9):
        with pytest.raises(ValueError):
            S.symplectic_quadrangle(bad)
    # q = 5: srg(156,30,4,6), regular vs antiregular points again
    w5, q5 = S.symplectic_quadrangle(5), S.parabolic_quadrangle(5)
    assert srg_parameters(w5) == srg_parameters(q5) == (156, 30, 4, 6)
    assert (hyperbolic_line_sizes(w5), hyperbolic_line_sizes(q5)) == ({6}, {2})


def test_chang_and_triangular_graphs():
    t8 = S.triangular_graph(8)
    assert srg_parameters(t8) == (28, 12, 6, 4)
    for g in S.chang_graphs():
        assert srg_parameters(g) == (28, 12, 6, 4)
        assert not nx.vf2pp_is_isomorphic(g.to_networkx(), t8.to_networkx())
    assert srg_parameters(S.complement(G.shrikhande())) == (16, 9, 4, 6)


def test_regular_suite_is_deterministic_and_non_isomorphic():
    a, b = S.RegularSuite(num_pairs=8).pairs(), S.RegularSuite(num_pairs=8).pairs()
    assert [p.id for p in a] == [p.id for p in b]
    assert all(p.first == q.first and p.second == q.second for p, q in zip(a, b))
    for p in a:
        n, d = S.RegularSuite.SHAPES[int(p.id.split("_")[1]) % len(S.RegularSuite.SHAPES)]
        assert p.category == f"{d}-regular"
        assert set(p.first.degrees().tolist()) == set(p.second.degrees().tolist()) == {d}
        assert not nx.vf2pp_is_isomorphic(p.first.to_networkx(), p.second.to_networkx())
    assert not S.RegularSuite(num_pairs=8).oracle_labels(["1-WL"])["1-WL"].any()
    assert S.RegularSuite(num_pairs=2, seed=1).pairs()[0].first != a[0].first


def test_suite_as_training_dataset():
    suite = S.ClassicSuite()
    loaded = suite.load()
    assert loaded.labels.tolist() == [0, 1] * 4
    assert loaded.extra["pair_ids"][0::2] == [p.id for p in suite.pairs()]
    assert all(torch.equal(loaded.splits[s], torch.arange(8)) for s in ("train", "test"))
    assert suite.info().node_feat_dim == 0 and "feat" not in loaded.graphs[0].ndata


# ---------------------------------------------------------------------- oracle cache
def test_oracle_labels_are_cached(tmp_path, monkeypatch):
    suite = S.ClassicSuite()
    computed = []
    first = suite.oracle_labels(["1-WL", "2-FWL"], cache_dir=tmp_path,
                                on_compute=computed.append)
    assert computed == ["1-WL", "2-FWL"]
    files = sorted((tmp_path / "wl_oracles").iterdir())
    assert len(files) == 2

    def boom(*args, **kwargs):
        raise AssertionError("recomputed instead of reading the cache")

    monkeypatch.setattr("wlkit.wl.separated_pairs", boom)
    again = S.ClassicSuite().oracle_labels(["1-WL", "2-FWL"], cache_dir=tmp_path)
    assert all((first[o] == again[o]).all() for o in first)


def test_corrupt_oracle_cache_is_recomputed(tmp_path):
    suite = S.ClassicSuite()
    suite.oracle_labels(["2-FWL"], cache_dir=tmp_path)
    (path,) = (tmp_path / "wl_oracles").iterdir()
    blob = json.loads(path.read_text())
    blob["separated"] = blob["separated"][:2]
    path.write_text(json.dumps(blob))
    with pytest.warns(UserWarning, match="unusable"):
        labels = suite.oracle_labels(["2-FWL"], cache_dir=tmp_path)
    assert labels["2-FWL"].tolist() == [True, True, False, False]
    assert len(json.loads(path.read_text())["separated"]) == 4  # rewritten whole


# ---------------------------------------------------------------------- shared data files
def test_exp_and_cexp_suites():
    exp = S.ExpSuite(str(need("EXP"))).pairs()
    assert len(exp) == 600 and exp[0].id == "exp_0" and {p.category for p in exp} == {"exp"}
    assert exp[0].first.node_labels is not None
    cexp = S.CExpSuite(str(need("CEXP")))
    assert cexp.categories() == ["corrupted", "exp"]
    one_wl = separated_pairs([(p.first, p.second) for p in cexp.pairs()], "1-WL")
    categories = [p.category for p in cexp.pairs()]
    assert one_wl.tolist() == [c == "corrupted" for c in categories]


def test_sr25_and_csl_file_suites():
    sr25 = S.SR25Suite(str(need("SR25"))).pairs()
    assert len(sr25) == 105 and sr25[0].id == "sr25_0_1"
    from_files = S.CSLSuite(root=str(need("CSL"))).pairs()
    generated = S.CSLSuite().pairs()
    assert [p.id for p in from_files] == [p.id for p in generated]
    for a, b in zip(from_files[:9], generated[:9]):  # class 0 vs each other class
        assert nx.vf2pp_is_isomorphic(a.second.to_networkx(), b.second.to_networkx())


def test_brec_shared_files_official_ids():
    suite = S.BRECSuite(str(need("BREC")))
    read, missing = suite.files()
    assert read == ["basic", "regular"] and "cfi" in missing
    pairs = suite.pairs()
    assert [p.id for p in pairs] == [str(i) for i in range(110)]
    assert suite.categories() == ["Basic", "Regular"]
    assert "absent: str" in suite.describe()


def test_file_suite_without_root_names_the_env_variable(monkeypatch):
    monkeypatch.delenv("WLKIT_WL_DATA", raising=False)
    with pytest.raises(DatasetError, match="--root") as info:
        S.ExpSuite().pairs()
    assert "WLKIT_WL_DATA" in str(info.value) and "GNN-RNI" in str(info.value)


def test_missing_files_give_a_where_to_put_hint(tmp_path):
    with pytest.raises(DatasetError, match=r"(?s)GRAPHSAT.txt not found in .*hint: put"):
        S.ExpSuite(str(tmp_path)).pairs()
    with pytest.raises(DatasetError, match="sr251256.g6 not found"):
        S.SR25Suite(str(tmp_path)).pairs()
    with pytest.raises(DatasetError, match="basic.npy"):
        S.BRECSuite(str(tmp_path)).pairs()


def test_malformed_file_names_file_and_line(tmp_path):
    (tmp_path / "GRAPHSAT.txt").write_text("1\n2 0\n0 1 1\n0 1 7\n")
    with pytest.raises(DatasetError, match=r"GRAPHSAT.txt:4"):
        S.ExpSuite(str(tmp_path)).pairs()


# ---------------------------------------------------------------------- BREC layouts
def _g6(graph: G.SimpleGraph) -> str:
    return nx.to_graph6_bytes(graph.to_networkx(), header=False).strip().decode()


# BREC's raw files differ in layout: flat arrays of 2k strings or (k, 2) arrays, str or
# bytes (see BREC's customize/dataset_v3.py). One synthetic file per category, same layout.
LAYOUTS = {"basic": ("flat", "U"), "regular": ("rows", "S"), "str": ("flat", "U"),
           "extension": ("rows", "U"), "cfi": ("rows", "S"), "4vtx": ("flat", "U"),
           "dr": ("flat", "S")}


def write_brec(folder: Path, categories=S.BREC_COUNTS, counts=None) -> None:
    small = [G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3)), G.decalin(),
             G.bicyclopentyl()]
    for category in categories:
        shape, kind = LAYOUTS[category]
        k = (counts or S.BREC_COUNTS)[category]
        items = [_g6(small[(2 * i + j) % 4]) for i in range(k) for j in (0, 1)]
        arr = np.array(items, dtype=kind)  # 'S' stores bytes, 'U' str
        np.save(folder / f"{category}.npy", arr if shape == "flat" else arr.reshape(k, 2))


def test_brec_all_seven_layouts(tmp_path):
    write_brec(tmp_path)
    suite = S.BRECSuite(str(tmp_path))
    pairs = suite.pairs()
    assert len(pairs) == 400 and [p.id for p in pairs] == [str(i) for i in range(400)]
    by_id = {int(p.id): p.category for p in pairs}
    for category, (start, stop) in {"Basic": (0, 60), "Regular": (60, 110),
                                    "Strongly regular": (110, 160), "Extension": (160, 260),
                                    "CFI": (260, 360), "4-vertex condition": (360, 380),
                                    "Distance regular": (380, 400)}.items():
        assert {by_id[i] for i in range(start, stop)} == {category}
    assert pairs[0].first.num_nodes == 6 and pairs[1].first.num_nodes == 10
    assert suite.describe().endswith(": basic, regular, str, extension, cfi, 4vtx, dr)")


def test_brec_category_selection_and_errors(tmp_path):
    write_brec(tmp_path, ["cfi", "dr"])
    suite = S.BRECSuite(str(tmp_path), categories=["dr"])
    assert [p.id for p in suite.pairs()][:2] == ["380", "381"]
    with pytest.raises(DatasetError, match=r"str.npy not found"):
        S.BRECSuite(str(tmp_path), categories=["str"]).pairs()
    with pytest.raises(DatasetError, match="unknown categories"):
        S.BRECSuite(str(tmp_path), categories=["strongly"])
    write_brec(tmp_path, ["4vtx"], counts={"4vtx": 3})
    with pytest.raises(DatasetError, match=r"4vtx.npy: BREC's 4vtx file holds 20 pairs"):
        S.BRECSuite(str(tmp_path)).pairs()


def test_brec_bad_graph6_names_the_file(tmp_path):
    np.save(tmp_path / "basic.npy", np.array(["E?~o", "not graph6!"] * 60))
    with pytest.raises(DatasetError, match=r"basic.npy.*bad graph6"):
        S.BRECSuite(str(tmp_path)).pairs()


# ---------------------------------------------------------------------- EXP 10-fold
def test_rni_folds_protocol():
    labels = torch.tensor([0, 1] * 600)
    tests = []
    for fold in range(10):
        split = S.rni_folds(1200, fold)
        assert [len(split[s]) for s in ("train", "valid", "test")] == [972, 108, 120]
        every = torch.cat([split[s] for s in ("train", "valid", "test")])
        assert sorted(every.tolist()) == list(range(1200))
        for part in split.values():  # pairs stay together, classes balanced
            assert set((part // 2).tolist()) == set((part[0::2] // 2).tolist())
            assert int(labels[part].sum()) * 2 == len(part)
        tests.append(set(split["test"].tolist()))
    assert set().union(*tests) == set(range(1200))
    assert S.rni_folds(1200, 3)["test"].tolist() == list(range(360, 480))


def test_exp_training_dataset():
    data = S.ExpDataset(root=str(need("EXP")), fold=2)
    loaded = data.load()
    assert len(loaded.graphs) == 1200 and data.info().node_feat_dim == 2
    assert loaded.graphs[0].ndata["feat"].shape[1] == 2
    assert loaded.labels[0::2].add(loaded.labels[1::2]).eq(1).all()  # one SAT per pair
    assert loaded.splits["test"].tolist() == list(range(240, 360))
    with pytest.raises(DatasetError, match="fold"):
        S.ExpDataset(root="x", fold=10)



def test_docstring_examples():
    import doctest

    result = doctest.testmod(S, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
