"""The data README's oracle table on the real EXP, CEXP, CSL and SR25 files, and the readers.

The data directory comes from ``WLKIT_WL_DATA`` (default: ``../shared/data/wl`` next to the
repository). Tests that need it skip cleanly when it is absent. The full-size runs of the
expensive oracles on EXP/CEXP are marked slow; the default run checks the first 50 pairs.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from wlkit import graphs as G
from wlkit.datasets.wl_files import (
    WLFormatError,
    read_brec_npy,
    read_csl_pickles,
    read_csl_split,
    read_graph6,
    read_ppgn_text,
)
from wlkit.graphs import SimpleGraph
from wlkit.wl import graph_classes, separated_pairs

DATA = Path(os.environ.get("WLKIT_WL_DATA", SHARED_DATA / "wl"))


def need(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"WL benchmark data not found at {path} (set WLKIT_WL_DATA)")
    return path


@pytest.fixture(scope="module")
def exp() -> list[tuple[SimpleGraph, int]]:
    return read_ppgn_text(need("EXP", "GRAPHSAT.txt"))


@pytest.fixture(scope="module")
def cexp() -> list[tuple[SimpleGraph, int]]:
    return read_ppgn_text(need("CEXP", "GRAPHSAT.txt"))


@pytest.fixture(scope="module")
def csl_data() -> list[tuple[SimpleGraph, int]]:
    return read_csl_pickles(need("CSL"))


@pytest.fixture(scope="module")
def sr25() -> list[SimpleGraph]:
    return read_graph6(need("SR25", "sr251256.g6"))


def as_pairs(data: list[tuple[SimpleGraph, int]]) -> list[tuple[SimpleGraph, SimpleGraph]]:
    return [(data[2 * i][0], data[2 * i + 1][0]) for i in range(len(data) // 2)]


# ---------------------------------------------------------------------- the readers
@pytest.mark.parametrize("name", ["exp", "cexp"])
def test_read_exp_cexp(name: str, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(name)
    assert len(data) == 1200
    # Every pair is (SAT, UNSAT) = (1, 0); node labels are clause (0) / literal (1) nodes.
    assert [lab for _, lab in data] == [1, 0] * 600
    for g, _ in data:
        assert g.node_labels is not None and set(g.node_labels.tolist()) <= {0, 1}
        assert g.edge_labels is None
    pairs = as_pairs(data)
    assert all(g.num_nodes == h.num_nodes for g, h in pairs)


def test_read_csl(csl_data: list[tuple[SimpleGraph, int]]) -> None:
    assert len(csl_data) == 150
    labels = np.array([lab for _, lab in csl_data])
    assert np.bincount(labels).tolist() == [15] * 10
    for g, _ in csl_data:
        assert g.num_nodes == 41 and g.num_edges == 82
        assert (g.degrees() == 4).all()  # self loops were dropped
    # Each stored graph is a relabelling of the generated C(41, R) of its class.
    for c, skip in enumerate(G.CSL_SKIPS):
        g = csl_data[int(np.flatnonzero(labels == c)[0])][0]
        assert nx.vf2pp_is_isomorphic(g.to_networkx(), G.csl(41, skip).to_networkx())


def test_read_csl_split() -> None:
    need("CSL", "CSL_train.index")
    folds = {s: read_csl_split(DATA / "CSL", s) for s in ("train", "val", "test")}
    assert [len(f) for f in folds["train"]] == [90] * 5
    assert [len(f) for f in folds["val"]] == [30] * 5
    assert [len(f) for f in folds["test"]] == [30] * 5
    for k in range(5):
        assert sorted(folds["train"][k] + folds["val"][k] + folds["test"][k]) == list(range(150))


def test_read_sr25(sr25: list[SimpleGraph]) -> None:
    assert len(sr25) == 15
    for g in sr25:
        a = g.adjacency().toarray()
        common = a @ a
        off = ~np.eye(25, dtype=bool)
        assert (a.sum(1) == 12).all()
        assert set(common[(a == 1) & off].tolist()) == {5}
        assert set(common[(a == 0) & off].tolist()) == {6}


def test_read_brec() -> None:
    basic = read_brec_npy(need("BREC", "basic.npy"))
    regular = read_brec_npy(need("BREC", "regular.npy"))
    assert len(basic) == 60 and len(regular) == 50
    assert separated_pairs(basic + regular, "1-WL").sum() == 0
    for g, h in regular:
        assert len(set(g.degrees().tolist())) == 1
        assert sorted(g.degrees().tolist()) == sorted(h.degrees().tolist())


# ---------------------------------------------------------------------- the oracle table
# Counts from the data README (EXP/CEXP pairs separated; CSL class pairs; SR25 pairs).
README_TABLE = {
    "EXP": {"1-WL": 0, "node_deleted": 600, "node_marked": 600, "ego1": 0, "ego2": 600,
            "2-FWL": 600},
    "CEXP": {"1-WL": 300, "node_deleted": 600, "node_marked": 600, "ego1": 300, "ego2": 600,
             "2-FWL": 600},
    "CSL": {"1-WL": 0, "node_deleted": 45, "node_marked": 45, "ego1": 9, "ego2": 30, "2-FWL": 45},
    "SR25": {"1-WL": 0, "node_deleted": 0, "node_marked": 0, "ego1": 0, "ego2": 0, "2-FWL": 0},
}  # fmt: skip
# Oracles that take several seconds on all 600 EXP/CEXP pairs.
EXPENSIVE = {"node_deleted", "node_marked", "2-FWL"}
SUBSET = 50


def exp_cases(slow: bool) -> list[tuple[str, str, int]]:
    return [
        (bench, oracle, count)
        for bench in ("EXP", "CEXP")
        for oracle, count in README_TABLE[bench].items()
        if (oracle in EXPENSIVE) == slow
    ]


@pytest.mark.parametrize(("bench", "oracle", "expected"), exp_cases(slow=False))
def test_exp_cexp_all_pairs(bench: str, oracle: str, expected: int, request) -> None:
    pairs = as_pairs(request.getfixturevalue(bench.lower()))
    separated = separated_pairs(pairs, oracle)
    assert int(separated.sum()) == expected
    if bench == "CEXP" and expected == 300:
        # The README: exactly the odd pairs (0-based) are the 1-WL-equivalent ones.
        assert separated.tolist() == [True, False] * 300


@pytest.mark.parametrize(("bench", "oracle"), [(b, o) for b, o, _ in exp_cases(slow=True)])
def test_exp_cexp_first_pairs(bench: str, oracle: str, request) -> None:
    # Same behaviour as the slow full run, on the first SUBSET pairs: every pair separated.
    pairs = as_pairs(request.getfixturevalue(bench.lower()))[:SUBSET]
    assert separated_pairs(pairs, oracle).all()


@pytest.mark.slow
@pytest.mark.parametrize(("bench", "oracle", "expected"), exp_cases(slow=True))
def test_exp_cexp_all_pairs_expensive(bench: str, oracle: str, expected: int, request) -> None:
    pairs = as_pairs(request.getfixturevalue(bench.lower()))
    assert int(separated_pairs(pairs, oracle).sum()) == expected


@pytest.mark.parametrize(("oracle", "expected"), README_TABLE["CSL"].items())
def test_csl_from_files(oracle: str, expected: int, csl_data) -> None:
    graphs = [g for g, _ in csl_data]
    labels = np.array([lab for _, lab in csl_data])
    ids = graph_classes(graphs, oracle)
    # The 15 relabelings of one class are never separated (invariance on real data) ...
    for c in range(10):
        assert len(set(ids[labels == c].tolist())) == 1
    # ... and the class representatives give the README count over the 45 class pairs.
    rep = [ids[labels == c][0] for c in range(10)]
    assert sum(rep[i] != rep[j] for i, j in itertools.combinations(range(10), 2)) == expected


@pytest.mark.parametrize(("oracle", "expected"), README_TABLE["SR25"].items())
def test_sr25_from_files(oracle: str, expected: int, sr25: list[SimpleGraph]) -> None:
    ids = graph_classes(sr25, oracle)
    assert sum(ids[i] != ids[j] for i, j in itertools.combinations(range(15), 2)) == expected


def test_sr25_two_node_marking_separates_all(sr25: list[SimpleGraph]) -> None:
    # Beyond 2-FWL: the README says 2-node marking reaches 100% on SR25.
    assert len(set(graph_classes(sr25, "two_node_marked").tolist())) == 15


# ---------------------------------------------------------------------- reader errors
def test_ppgn_errors_name_file_and_line(tmp_path: Path) -> None:
    def check(text: str, match: str) -> None:
        path = tmp_path / "bad.txt"
        path.write_text(text)
        with pytest.raises(WLFormatError, match=match):
            read_ppgn_text(path)

    check("1\n2 0\n0 1 1\n0 1 5\n", r"bad\.txt:4: graph 0, node 1: neighbour 5 not in \[0, 2\)")
    check("1\n2 0\n0 1 1\n0 0\n", r"bad\.txt:3: graph 0: edge 0-1 listed at node 0 but not")
    check("1\n2 0\n0 2 1\n0 1 0\n", r"bad\.txt:3: .*degree matching")
    check("2\n1 0\n0 0\n", r"bad\.txt: file ends after 1 of 2 graphs")
    check("1\n1 0\n0 1 0\n", r"bad\.txt:3: graph 0, node 0: self loop")
    check("1\n1 x\n0 0\n", r"bad\.txt:2: expected integers")
    check("1\n1 0\n0 0\n9 9\n", r"bad\.txt:4: unexpected content")
    ok = tmp_path / "ok.txt"
    ok.write_text("2\n2 1\n0 1 1\n1 1 0\n\n3 0\n0 0\n0 1 2\n0 1 1\n")
    (g, a), (h, b) = read_ppgn_text(ok)
    assert (a, b) == (1, 0)
    assert g.edges.tolist() == [[0, 1]] and g.node_labels.tolist() == [0, 1]
    assert h.edges.tolist() == [[1, 2]] and h.num_nodes == 3


def test_graph6_errors_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "g.g6"
    lines = [nx.to_graph6_bytes(nx.petersen_graph(), header=False).strip(), b"", b"D??"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    g, empty = read_graph6(path)
    assert nx.is_isomorphic(g.to_networkx(), nx.petersen_graph())
    assert empty.num_nodes == 5 and empty.num_edges == 0
    path.write_bytes(b"D??\n\x01\x02\n")
    with pytest.raises(WLFormatError, match=r"g\.g6:2: bad graph6"):
        read_graph6(path)


def test_csl_pickle_refuses_other_objects(tmp_path: Path) -> None:
    import pickle

    import torch

    (tmp_path / "graphs_Kary_Deterministic_Graphs.pkl").write_bytes(pickle.dumps([print]))
    torch.save(torch.tensor([0]), tmp_path / "y_Kary_Deterministic_Graphs.pt")
    with pytest.raises(WLFormatError, match="refusing to unpickle builtins.print"):
        read_csl_pickles(tmp_path)
