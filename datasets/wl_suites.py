"""WL-separation suites: dataset plugins that yield graph pairs with ids and categories.

A *suite* is a list of :class:`SuitePair` (id, category, two :class:`wlkit.graphs.SimpleGraph`).
``wlkit separate PIPELINE --suite NAME`` decides, pair by pair, whether a pipeline's model
tells the two graphs apart and puts that next to the exact WL oracles (:mod:`wlkit.wl`).

Generated in code (no files): ``suite_classic``, ``suite_csl``, ``suite_cfi``, ``suite_sr``,
``suite_dr``, ``suite_4vtx``, ``suite_regular``. Read from the published files (``root:`` =
the folder holding them): ``suite_exp``, ``suite_cexp``, ``suite_sr25``, ``suite_csl`` (with
``root``), ``suite_brec``. ``--suite X`` on the command line names dataset ``suite_X``; the
``suite_`` prefix keeps the suites apart from the training datasets ``csl`` and ``exp``.

Every suite is also a small training dataset: graph ``2i`` is the first member of pair ``i``
(label 0) and ``2i+1`` the second (label 1), every split holds every graph (like
``wl_pairs``). The EXP and CEXP *classification* benchmarks with their 10-fold protocol are
the separate datasets ``exp`` and ``cexp``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wlkit import (
    DatasetError,
    DatasetInfo,
    DatasetRecord,
    GraphDataset,
    LoadedDataset,
    Param,
    SuitePair,
    WLSuite,
    WLSuiteRecord,
    content_key,
    hookimpl,
    one_hot_labels,
    to_dgl_input,
)
from wlkit.datasets.wl_files import (
    BREC_CATEGORIES,
    WLFormatError,
    read_brec_npy,
    read_csl_pickles,
    read_graph6,
    read_ppgn_text,
)
from wlkit.graphs import (
    CSL_SKIPS,
    SimpleGraph,
    cfi,
    classic_pairs,
    complete,
    csl,
    cube,
    petersen,
    rook_graph,
    shrikhande,
)

__all__ = [
    "BREC_COUNTS",
    "BREC_NAMES",
    "BREC_OFFSETS",
    "SUITES",
    "ExpDataset",
    "SuitePair",
    "WLSuite",
    "cartesian_product",
    "chang_graphs",
    "complement",
    "doob_graph",
    "latin_square_graph",
    "one_hot_labels",
    "parabolic_quadrangle",
    "projective_points",
    "suite_dataset_name",
    "symplectic_quadrangle",
    "to_dgl_input",
    "triangular_graph",
]

#: Short suite names (``--suite``), in the order ``wlkit separate --help`` lists them.
SUITES: tuple[str, ...] = ("classic", "csl", "cfi", "sr", "dr", "4vtx", "regular", "exp",
                           "cexp", "sr25", "brec")

#: BREC's official pair counts, id offsets and category names per file (BREC, Wang & Zhang
#: 2023; ids: Basic 0-59, Regular 60-109, Strongly regular 110-159, Extension 160-259,
#: CFI 260-359, 4-vertex condition 360-379, Distance regular 380-399).
BREC_COUNTS: dict[str, int] = {"basic": 60, "regular": 50, "str": 50, "extension": 100,
                               "cfi": 100, "4vtx": 20, "dr": 20}
BREC_OFFSETS: dict[str, int] = dict(zip(BREC_CATEGORIES, itertools.accumulate(
    [0] + [BREC_COUNTS[c] for c in BREC_CATEGORIES[:-1]])))
BREC_NAMES: dict[str, str] = {"basic": "Basic", "regular": "Regular",
                              "str": "Strongly regular", "extension": "Extension",
                              "cfi": "CFI", "4vtx": "4-vertex condition",
                              "dr": "Distance regular"}

def suite_dataset_name(suite: str) -> str:
    """Dataset name of a ``--suite`` name: ``csl`` -> ``suite_csl`` (idempotent)."""
    return suite if suite.startswith("suite_") else f"suite_{suite}"


# ---------------------------------------------------------------------- graph helpers
def complement(graph: SimpleGraph, name: str = "") -> SimpleGraph:
    """The complement graph (same nodes; u ~ v iff they are not adjacent in ``graph``)."""
    n = graph.num_nodes
    adj = graph.adjacency().toarray() != 0
    u, v = np.nonzero(np.triu(~adj, k=1))
    return SimpleGraph.from_edges(n, np.stack([u, v], 1), name=name or f"co-{graph.name}")


def _from_adjacency(adj: np.ndarray, name: str) -> SimpleGraph:
    u, v = np.nonzero(np.triu(adj, k=1))
    return SimpleGraph.from_edges(len(adj), np.stack([u, v], 1), name=name)


def triangular_graph(m: int = 8) -> SimpleGraph:
    """T(m), the line graph of K_m: nodes are the 2-subsets of ``range(m)`` (in
    ``itertools.combinations`` order), adjacent when they share one element.
    Strongly regular (m(m-1)/2, 2(m-2), m-2, 4)."""
    subsets = list(itertools.combinations(range(m), 2))
    members = np.zeros((len(subsets), m), dtype=bool)
    for i, (a, b) in enumerate(subsets):
        members[i, [a, b]] = True
    shared = members.astype(np.int64) @ members.T.astype(np.int64)
    return _from_adjacency(shared == 1, f"T({m})")


def chang_graphs() -> list[SimpleGraph]:
    """The three Chang graphs: srg(28, 12, 6, 4) but not isomorphic to T(8).

    Chang (1959); each is T(8) Seidel-switched with respect to the vertex set given by the
    edges of a 2-regular or 1-regular spanning subgraph of K8: four disjoint edges, the
    8-cycle, and a triangle plus a pentagon. Switching with respect to S toggles every
    adjacency between S and its complement.
    """
    subsets = list(itertools.combinations(range(8), 2))
    index = {s: i for i, s in enumerate(subsets)}
    base = triangular_graph(8).adjacency().toarray() != 0
    switch_sets = {
        "chang1": [(0, 1), (2, 3), (4, 5), (6, 7)],
        "chang2": [(i, (i + 1) % 8) for i in range(8)],
        "chang3": [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (5, 6), (6, 7), (3, 7)],
    }
    out = []
    for name, edges in switch_sets.items():
        inside = np.zeros(len(subsets), dtype=bool)
        inside[[index[tuple(sorted(e))] for e in edges]] = True
        out.append(_from_adjacency(base ^ (inside[:, None] ^ inside[None, :]), name))
    return out


def latin_square_graph(table: Sequence[Sequence[int]], name: str) -> SimpleGraph:
    """Latin square graph of an n x n Latin square: nodes are the cells ``n*r + c``, adjacent
    when they share a row, a column or a symbol. Strongly regular (n², 3(n-1), n, 6)."""
    t = np.asarray(table, dtype=np.int64)
    n = len(t)
    r, c = np.divmod(np.arange(n * n), n)
    s = t[r, c]
    same = (r[:, None] == r[None, :]) | (c[:, None] == c[None, :]) | (s[:, None] == s[None, :])
    np.fill_diagonal(same, False)
    return _from_adjacency(same, name)


def cartesian_product(*graphs: SimpleGraph, name: str = "") -> SimpleGraph:
    """The Cartesian product G1 □ G2 □ ... of unlabelled graphs.

    Node ``(v1, ..., vr)`` is numbered in mixed radix, the first factor most significant
    (``v1 * n2 * ... * nr + ... + vr``); two nodes are adjacent when they differ in exactly
    one coordinate and are adjacent in that factor. Adjacency ``A1 ⊗ I + I ⊗ A2`` for two
    factors.

    Parameters
    ----------
    *graphs : SimpleGraph
        The factors (at least one); their labels are ignored.
    name : str, optional
        Name of the product (default: the factors' names joined by ``" x "``).

    Returns
    -------
    SimpleGraph
        The product, ``prod(n_i)`` nodes.

    Examples
    --------
    >>> rook = cartesian_product(complete(4), complete(4))
    >>> rook.num_nodes, sorted(set(rook.degrees().tolist()))
    (16, [6])
    """
    if not graphs:
        raise ValueError("cartesian_product needs at least one factor")
    adj = np.zeros((1, 1), dtype=bool)
    for g in graphs:
        b = g.adjacency().toarray() != 0
        adj = np.kron(adj, np.eye(len(b), dtype=bool)) | np.kron(np.eye(len(adj), dtype=bool), b)
    return _from_adjacency(adj, name or " x ".join(g.name or "?" for g in graphs))


def doob_graph(m: int, n: int) -> SimpleGraph:
    """The Doob graph D(m, n): ``m`` Shrikhande graphs and ``n`` copies of K4, Cartesian
    product (:func:`cartesian_product`, the Shrikhande factors first).

    For ``m >= 1`` it is distance-regular with the intersection array of the Hamming graph
    H(2m + n, 4) but not isomorphic to it (Doob, "On graphical properties of the Hamming
    scheme", 1972; Brouwer, Cohen & Neumaier, *Distance-Regular Graphs*, 1989, §9.2B).
    ``doob_graph(0, d)`` is H(d, 4) itself.

    Parameters
    ----------
    m, n : int
        Numbers of Shrikhande and K4 factors, ``m + n >= 1``.

    Returns
    -------
    SimpleGraph
        ``4**(2m + n)`` nodes, regular of degree ``3 (2m + n)``.
    """
    if m < 0 or n < 0 or m + n < 1:
        raise ValueError(f"doob_graph needs m, n >= 0 and m + n >= 1, got ({m}, {n})")
    factors = [shrikhande()] * m + [complete(4)] * n
    name = f"D({m},{n})" if m else f"H({n},4)"
    return cartesian_product(*factors, name=name)


def _is_prime(q: int) -> bool:
    return q >= 2 and all(q % p for p in range(2, int(q ** 0.5) + 1))


def projective_points(dim: int, q: int) -> np.ndarray:
    """The points of PG(dim - 1, q), ``q`` prime, as normalised vectors of GF(q)^dim.

    One representative per 1-space: the nonzero vectors whose first nonzero coordinate is 1,
    in lexicographic order. Shape ``[(q**dim - 1) / (q - 1), dim]``, entries in ``0..q-1``.
    """
    if not _is_prime(q):
        raise ValueError(f"projective_points needs a prime q, got {q}")
    vectors = np.array(list(itertools.product(range(q), repeat=dim)), dtype=np.int64)
    nonzero = vectors != 0
    first = nonzero.argmax(axis=1)
    keep = nonzero.any(axis=1) & (vectors[np.arange(len(vectors)), first] == 1)
    return vectors[keep]


def _polar_graph(points: np.ndarray, form: np.ndarray, q: int, name: str) -> SimpleGraph:
    """Points adjacent when distinct and orthogonal under the bilinear ``form`` (mod q)."""
    orthogonal = (points @ form @ points.T) % q == 0
    np.fill_diagonal(orthogonal, False)
    return _from_adjacency(orthogonal, name)


def _odd_prime(q: int, what: str) -> None:
    if q == 2 or not _is_prime(q):
        raise ValueError(f"{what} needs an odd prime q, got {q}")


def symplectic_quadrangle(q: int = 3) -> SimpleGraph:
    """Collinearity graph of the generalized quadrangle W(q), ``q`` an odd prime.

    Nodes are the points of PG(3, q) (:func:`projective_points`), two adjacent when distinct
    and orthogonal under the symplectic form ``x0 y1 - x1 y0 + x2 y3 - x3 y2``; the lines of
    W(q) are the totally isotropic lines (Payne & Thas, *Finite Generalized Quadrangles*,
    1984, §3.1). A GQ of order (s, t) has a strongly regular collinearity graph
    srg((s+1)(st+1), s(t+1), s-1, t+1): srg(40, 12, 2, 4) for q = 3.

    It satisfies the 4-vertex condition: the common neighbours of two collinear points are
    the other ``s - 1`` points of their line (a clique, C(s-1, 2) edges), those of two
    non-collinear points are ``t + 1`` pairwise non-collinear points (no edge); see Brouwer &
    Van Maldeghem, *Strongly Regular Graphs*, 2022, on the 4-vertex condition. For odd q,
    W(q) is not isomorphic to its dual Q(4, q) (Payne & Thas 3.2.1), and a GQ is determined
    by its collinearity graph (its lines are the maximal cliques), so this graph and
    :func:`parabolic_quadrangle` are non-isomorphic with equal parameters.
    """
    _odd_prime(q, "symplectic_quadrangle")
    form = np.array([[0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1], [0, 0, -1, 0]])
    return _polar_graph(projective_points(4, q), form, q, f"W({q})")


def parabolic_quadrangle(q: int = 3) -> SimpleGraph:
    """Collinearity graph of the generalized quadrangle Q(4, q), ``q`` an odd prime.

    Nodes are the points of the parabolic quadric ``x0^2 + x1 x2 + x3 x4 = 0`` in PG(4, q)
    (normalised as in :func:`projective_points`), two adjacent when distinct and orthogonal
    under its polar form ``2 x0 y0 + x1 y2 + x2 y1 + x3 y4 + x4 y3`` (then the line joining
    them lies on the quadric; Payne & Thas, *Finite Generalized Quadrangles*, 1984, §3.1).
    Same order (q, q) and parameters as :func:`symplectic_quadrangle` (srg(40, 12, 2, 4) for
    q = 3, 4-vertex condition included), not isomorphic to it for odd q (Payne & Thas
    3.2.1: Q(4, q) is the dual of W(q), and W(q) is self-dual only for even q).
    """
    _odd_prime(q, "parabolic_quadrangle")
    points = projective_points(5, q)
    quadric = points[:, 0] ** 2 + points[:, 1] * points[:, 2] + points[:, 3] * points[:, 4]
    form = np.array([[2, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 1],
                     [0, 0, 0, 1, 0]])
    return _polar_graph(points[quadric % q == 0], form, q, f"Q(4,{q})")


def _cayley_table_z(n: int) -> list[list[int]]:
    return [[(a + b) % n for b in range(n)] for a in range(n)]


def _cayley_table_s3() -> list[list[int]]:
    perms = list(itertools.permutations(range(3)))
    return [[perms.index(tuple(p[q[i]] for i in range(3))) for q in perms] for p in perms]


def _random_regular(n: int, d: int, seed: int) -> SimpleGraph:
    import networkx as nx

    return SimpleGraph.from_networkx(nx.random_regular_graph(d, n, seed=seed),
                                     name=f"rr({n},{d},{seed})")


def _isomorphic(g: SimpleGraph, h: SimpleGraph) -> bool:
    import networkx as nx

    return bool(nx.vf2pp_is_isomorphic(g.to_networkx(), h.to_networkx()))


# ---------------------------------------------------------------------- generated suites
class ClassicSuite(WLSuite):
    """The classic 1-WL-equivalent pairs of DESIGN.md's table: C6 vs 2xC3, decalin vs
    bicyclopentyl, Shrikhande vs 4x4 rook, CFI(K4) untwisted vs twisted.

    Examples
    --------
    >>> suite = ClassicSuite()
    >>> [p.id for p in suite.pairs()][:2]
    ['c6_vs_2c3', 'decalin_vs_bicyclopentyl']
    >>> suite.oracle_labels(["1-WL"])["1-WL"].tolist()
    [False, False, False, False]
    """

    name = "suite_classic"
    suite = "classic"

    def _build(self) -> list[SuitePair]:
        return [SuitePair(pid, cat, g, h) for pid, cat, g, h in classic_pairs()]


class CSLSuite(WLSuite):
    """The 45 class pairs of CSL: C(n, R_i) vs C(n, R_j) for the ten skip lengths.

    Generated exactly by default. With ``root`` (the folder holding CSL's
    ``graphs_Kary_Deterministic_Graphs.pkl`` and ``y_Kary_Deterministic_Graphs.pt``), the
    first graph of each class in the file is its representative instead.
    """

    name = "suite_csl"
    suite = "csl"

    def __init__(self, root: str | None = None, num_nodes: int = 41):
        self.root = root
        self.num_nodes = num_nodes
        self.from_files = root is not None

    def describe(self) -> str:
        return f"csl (files in {self.root})" if self.root else f"csl (C({self.num_nodes}, R))"

    def _build(self) -> list[SuitePair]:
        if self.root is None:
            reps = [csl(self.num_nodes, skip) for skip in CSL_SKIPS]
        else:
            folder = _folder(self.root, "csl")
            _need(folder, ["graphs_Kary_Deterministic_Graphs.pkl",
                           "y_Kary_Deterministic_Graphs.pt"], "csl")
            data = _read(lambda: read_csl_pickles(folder), folder)
            first: dict[int, SimpleGraph] = {}
            for g, label in data:
                first.setdefault(label, g)
            if sorted(first) != list(range(len(CSL_SKIPS))):
                raise DatasetError(f"{folder}: expected CSL classes 0..{len(CSL_SKIPS) - 1}, "
                                   f"found {sorted(first)}")
            reps = [first[c] for c in range(len(CSL_SKIPS))]
        return [SuitePair(f"csl_{CSL_SKIPS[i]}_vs_{CSL_SKIPS[j]}", "csl", reps[i], reps[j])
                for i, j in itertools.combinations(range(len(CSL_SKIPS)), 2)]


class CFISuite(WLSuite):
    """Cai-Fürer-Immerman pairs, untwisted vs twisted, over the 3-regular bases K4 (40
    nodes), the cube Q3 (80 nodes) and the Petersen graph (100 nodes). Unlabelled, so
    every pair is 1-WL-equivalent; 2-FWL separates none of them (the bases have treewidth
    >= 3)."""

    name = "suite_cfi"
    suite = "cfi"

    def _build(self) -> list[SuitePair]:
        bases = [("cfi_k4", complete(4)), ("cfi_cube", cube()), ("cfi_petersen", petersen())]
        return [SuitePair(pid, "cfi", cfi(base), cfi(base, twisted=True))
                for pid, base in bases]


class SRSuite(WLSuite):
    """Non-isomorphic strongly regular graphs with equal parameters (2-FWL-equivalent).

    * srg(16,6,2,2): Shrikhande vs the 4x4 rook's graph;
    * srg(16,9,4,6): their complements;
    * srg(28,12,6,4): T(8) and the three Chang graphs, all 6 pairs;
    * srg(36,15,6,6): Latin square graphs of the Cayley tables of Z6 and S3.

    Non-isomorphism of every pair is checked in the test suite.
    """

    name = "suite_sr"
    suite = "sr"

    def _build(self) -> list[SuitePair]:
        shr, rook = shrikhande(), rook_graph(4)
        pairs = [SuitePair("shrikhande_vs_rook4", "srg(16,6,2,2)", shr, rook),
                 SuitePair("co-shrikhande_vs_co-rook4", "srg(16,9,4,6)",
                           complement(shr), complement(rook))]
        t8 = [triangular_graph(8)] + chang_graphs()
        for a, b in itertools.combinations(t8, 2):
            pairs.append(SuitePair(f"{a.name.lower()}_vs_{b.name}", "srg(28,12,6,4)", a, b))
        pairs.append(SuitePair("latin_z6_vs_s3", "srg(36,15,6,6)",
                               latin_square_graph(_cayley_table_z(6), "latin(Z6)"),
                               latin_square_graph(_cayley_table_s3(), "latin(S3)")))
        return pairs


class DRSuite(WLSuite):
    """Non-isomorphic distance-regular graphs with equal intersection arrays.

    * drg{9,6,3;1,2,3}: the Hamming graph H(3, 4) = K4 □ K4 □ K4 vs the Doob graph
      D(1, 1) = Shrikhande □ K4 (64 nodes, 9-regular, diameter 3; Doob 1972; Brouwer,
      Cohen & Neumaier, *Distance-Regular Graphs*, 1989, §9.2B). The diameter-2 case,
      H(2, 4) (the 4x4 rook's graph) vs D(1, 0) (Shrikhande), is already in ``sr``.

    A distance-regular graph's distance partition is an association scheme, so 2-FWL
    (3-WL) cannot separate two with the same intersection array. The intersection arrays
    and non-isomorphism are checked in the test suite.
    """

    name = "suite_dr"
    suite = "dr"

    def _build(self) -> list[SuitePair]:
        return [SuitePair("hamming_3_4_vs_doob_1_1", "drg{9,6,3;1,2,3}", doob_graph(0, 3),
                          doob_graph(1, 1))]


class FourVertexSuite(WLSuite):
    """Strongly regular graphs with equal parameters that satisfy the 4-vertex condition
    (the number of edges among the common neighbours of two nodes depends only on whether
    they are adjacent), BREC's "4-vertex condition" category, generated exactly.

    * srg(40,12,2,4): the collinearity graphs of the generalized quadrangles W(3)
      (:func:`symplectic_quadrangle`) and Q(4, 3) (:func:`parabolic_quadrangle`), dual to
      each other and not isomorphic (Payne & Thas, *Finite Generalized Quadrangles*, 1984,
      3.2.1); adjacent pairs have 1 edge among their 2 common neighbours, non-adjacent
      pairs 0 among their 4;
    * srg(40,27,18,18): their complements, which satisfy the 4-vertex condition too (105
      and 108 edges).

    Non-isomorphism, the parameters and the 4-vertex condition are checked in the test
    suite.
    """

    name = "suite_4vtx"
    suite = "4vtx"

    def _build(self) -> list[SuitePair]:
        w3, q43 = symplectic_quadrangle(3), parabolic_quadrangle(3)
        return [SuitePair("gq_w3_vs_q43", "srg(40,12,2,4)", w3, q43),
                SuitePair("co-gq_w3_vs_co-q43", "srg(40,27,18,18)", complement(w3),
                          complement(q43))]


class RegularSuite(WLSuite):
    """Random pairs of d-regular graphs on n nodes: 1-WL-equivalent (constant colours) and
    verified non-isomorphic (VF2++); redrawn with the next seed when isomorphic.

    Pair ``k`` uses the ``k mod len(shapes)``-th (n, d) of ``shapes`` and networkx's
    ``random_regular_graph`` with seeds derived from ``seed`` and ``k``.
    """

    name = "suite_regular"
    suite = "regular"
    SHAPES: tuple[tuple[int, int], ...] = ((10, 3), (12, 3), (12, 4), (16, 3), (16, 4),
                                           (20, 3), (20, 4), (20, 5))

    def __init__(self, num_pairs: int = 24, seed: int = 0):
        self.num_pairs = num_pairs
        self.seed = seed

    def _build(self) -> list[SuitePair]:
        pairs = []
        for k in range(self.num_pairs):
            n, d = self.SHAPES[k % len(self.SHAPES)]
            base = 1_000_003 * self.seed + 1000 * k
            g = _random_regular(n, d, base)
            attempt = 1
            h = _random_regular(n, d, base + attempt)
            while _isomorphic(g, h):
                attempt += 1
                if attempt > 100:
                    raise DatasetError(f"suite regular: no non-isomorphic pair for n={n}, d={d}")
                h = _random_regular(n, d, base + attempt)
            pairs.append(SuitePair(f"regular_{k}_n{n}_d{d}", f"{d}-regular", g, h))
        return pairs


# ---------------------------------------------------------------------- file suites
_SOURCES = {
    "exp": "ralphabb/GNN-RNI, Data/EXP/GRAPHSAT.txt",
    "cexp": "ralphabb/GNN-RNI, Data/CEXP/GRAPHSAT.txt",
    "csl": "the CSL benchmark (e.g. gasmichel/PathNNs_expressive, data/CSL)",
    "sr25": "sr251256.g6 (McKay's strongly regular graphs, e.g. balcilar/gnn-matlang)",
    "brec": "GraphPKU/BREC, customize/Data/raw/*.npy",
}
_ENV_FOLDERS = {"exp": "EXP", "cexp": "CEXP", "csl": "CSL", "sr25": "SR25", "brec": "BREC"}


def _folder(root: str | None, suite: str) -> Path:
    """``root``, else ``$WLKIT_WL_DATA/<EXP|CEXP|...>``; an error with a hint otherwise."""
    if root is None:
        env = os.environ.get("WLKIT_WL_DATA")
        if not env:
            raise DatasetError(
                f"suite {suite!r} reads files and no folder was given\n    hint: pass --root DIR "
                f"(or `root:` in the pipeline, or set WLKIT_WL_DATA to the folder holding "
                f"{_ENV_FOLDERS[suite]}/); the files come from {_SOURCES[suite]}")
        return Path(env).expanduser() / _ENV_FOLDERS[suite]
    return Path(root).expanduser()


def _need(folder: Path, names: list[str], suite: str) -> None:
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DatasetError(
            f"suite {suite!r}: {', '.join(missing)} not found in {folder}\n    hint: put "
            f"{' and '.join(names)} into that folder (or point --root at the folder holding "
            f"them); the files come from {_SOURCES[suite]}")


def _read(reader: Callable[[], Any], where: Path) -> Any:
    """Run a file reader; format and I/O errors become a DatasetError naming the file."""
    try:
        return reader()
    except WLFormatError as exc:
        raise DatasetError(f"malformed benchmark file: {exc}") from None
    except (OSError, UnicodeDecodeError, ValueError, EOFError) as exc:
        raise DatasetError(f"{where}: cannot read: {type(exc).__name__}: {exc}") from None


class ExpSuite(WLSuite):
    """EXP (Abboud et al. 2021): 600 pairs of planar SAT formulas as graphs, each pair
    1-WL-equivalent with one satisfiable and one unsatisfiable member; node labels
    (clause / literal) are the input. ``root``: the folder holding ``GRAPHSAT.txt``."""

    name = "suite_exp"
    suite = "exp"
    label_width = 2
    from_files = True

    def __init__(self, root: str | None = None):
        self.root = root

    def describe(self) -> str:
        return f"{self.suite} ({_folder(self.root, self.suite)})"

    def _category(self, index: int) -> str:
        return "exp"

    def _build(self) -> list[SuitePair]:
        folder = _folder(self.root, self.suite)
        _need(folder, ["GRAPHSAT.txt"], self.suite)
        graphs = _read(lambda: read_ppgn_text(folder / "GRAPHSAT.txt"), folder / "GRAPHSAT.txt")
        if len(graphs) % 2:
            raise DatasetError(f"{folder / 'GRAPHSAT.txt'}: odd number of graphs "
                               f"({len(graphs)}); graphs 2i and 2i+1 must form pair i")
        for g, _ in graphs:
            if g.node_labels is not None and len(g.node_labels) and g.node_labels.max() > 1:
                raise DatasetError(f"{folder / 'GRAPHSAT.txt'}: graph {g.name}: node labels "
                                   "must be 0 (clause) or 1 (literal)")
        return [SuitePair(f"{self.suite}_{i}", self._category(i), graphs[2 * i][0],
                          graphs[2 * i + 1][0]) for i in range(len(graphs) // 2)]


class CExpSuite(ExpSuite):
    """CEXP: EXP with the even pairs corrupted so that 1-WL separates them (category
    ``corrupted``); the odd pairs stay 1-WL-equivalent (category ``exp``)."""

    name = "suite_cexp"
    suite = "cexp"

    def _category(self, index: int) -> str:
        return "corrupted" if index % 2 == 0 else "exp"


class SR25Suite(WLSuite):
    """SR25: the 15 strongly regular graphs srg(25,12,5,6), all 105 pairs
    (2-FWL-equivalent). ``root``: the folder holding ``sr251256.g6``."""

    name = "suite_sr25"
    suite = "sr25"
    from_files = True
    FILE = "sr251256.g6"

    def __init__(self, root: str | None = None):
        self.root = root

    def describe(self) -> str:
        return f"sr25 ({_folder(self.root, 'sr25')})"

    def _build(self) -> list[SuitePair]:
        folder = _folder(self.root, "sr25")
        _need(folder, [self.FILE], "sr25")
        graphs = _read(lambda: read_graph6(folder / self.FILE), folder / self.FILE)
        if len(graphs) < 2:
            raise DatasetError(f"{folder / self.FILE}: expected 15 graphs, found {len(graphs)}")
        return [SuitePair(f"sr25_{i}_{j}", "srg(25,12,5,6)", graphs[i], graphs[j])
                for i, j in itertools.combinations(range(len(graphs)), 2)]


class BRECSuite(WLSuite):
    """BREC (Wang & Zhang 2023): up to 400 pairs in seven files, with the official pair ids.

    ``root`` holds any of ``basic.npy regular.npy str.npy extension.npy cfi.npy 4vtx.npy
    dr.npy`` (BREC's ``customize/Data/raw``). ``categories`` picks files by stem; by default
    every file present is read (at least one must be). Pair ``k`` of file ``f`` gets the
    official id ``BREC_OFFSETS[f] + k`` and the category ``BREC_NAMES[f]``. Each file must
    hold its official number of pairs (:data:`BREC_COUNTS`).
    """

    name = "suite_brec"
    suite = "brec"
    from_files = True

    def __init__(self, root: str | None = None, categories: list | None = None):
        unknown = [c for c in categories or [] if c not in BREC_CATEGORIES]
        if unknown:
            raise DatasetError(f"suite brec: unknown categories {unknown}\n    hint: choose "
                               f"from {', '.join(BREC_CATEGORIES)}")
        self.root = root
        self.categories_wanted = list(categories) if categories else None

    def files(self) -> tuple[list[str], list[str]]:
        """(category files read, official categories missing from ``root``)."""
        folder = _folder(self.root, "brec")
        present = [c for c in BREC_CATEGORIES if (folder / f"{c}.npy").is_file()]
        missing = [c for c in BREC_CATEGORIES if c not in present]
        if self.categories_wanted is not None:
            _need(folder, [f"{c}.npy" for c in self.categories_wanted], "brec")
            return [c for c in BREC_CATEGORIES if c in self.categories_wanted], missing
        if not present:
            _need(folder, [f"{c}.npy" for c in BREC_CATEGORIES], "brec")
        return present, missing

    def describe(self) -> str:
        read, missing = self.files()
        text = f"brec ({_folder(self.root, 'brec')}: {', '.join(read)}"
        return text + (f"; absent: {', '.join(missing)})" if missing else ")")

    def _build(self) -> list[SuitePair]:
        folder = _folder(self.root, "brec")
        read, _ = self.files()
        pairs = []
        for category in read:
            path = folder / f"{category}.npy"
            found = _read(lambda path=path: read_brec_npy(path), path)
            if len(found) != BREC_COUNTS[category]:
                raise DatasetError(f"{path}: BREC's {category} file holds "
                                   f"{BREC_COUNTS[category]} pairs, this one {len(found)}")
            offset = BREC_OFFSETS[category]
            pairs += [SuitePair(str(offset + k), BREC_NAMES[category], g, h)
                      for k, (g, h) in enumerate(found)]
        return pairs


# ---------------------------------------------------------------------- EXP as training data
class ExpDataset(GraphDataset):
    """EXP / CEXP as 2-class graph classification (satisfiable = 1), 10-fold protocol.

    The protocol of the RNI paper's code (Abboud et al. 2021, ``GNNHyb.py``): with N graphs
    in file order and n = N // 10, fold ``f``'s test set is graphs ``f*n .. (f+1)*n - 1``;
    of the remaining graphs (in order), block ``f`` of size ``len // 10`` is the validation
    set and the rest the training set. Blocks have even sizes and start at even offsets, so
    both members of a pair (graphs 2i, 2i+1, one SAT and one UNSAT) always fall into the same
    split and every split is exactly class-balanced (stratified). The RNI paper reports the
    mean test accuracy over the 10 folds. Nodes carry one-hot labels (clause / literal).
    ``root``: the folder holding ``GRAPHSAT.txt`` (default ``$WLKIT_WL_DATA/EXP``).
    """

    name = "exp"
    suite = "exp"
    FOLDS = 10

    def __init__(self, root: str | None = None, fold: int = 0):
        if not 0 <= fold < self.FOLDS:
            raise DatasetError(f"{self.name}: fold must be in 0..{self.FOLDS - 1}, got {fold}")
        self.root = root
        self.fold = fold

    def info(self) -> DatasetInfo:
        return DatasetInfo(task="multiclass", num_tasks=2, metric="accuracy",
                           higher_is_better=True, node_feat_dim=2, num_graphs=1200)

    def _path(self) -> Path:
        folder = _folder(self.root, self.suite)
        _need(folder, ["GRAPHSAT.txt"], self.suite)
        return folder / "GRAPHSAT.txt"

    def prepare_data(self) -> None:
        self._path()

    def load(self) -> LoadedDataset:
        path = self._path()
        data = _read(lambda: read_ppgn_text(path), path)
        graphs = [to_dgl_input(g, 2) for g, _ in data]
        labels = torch.tensor([label for _, label in data], dtype=torch.long)
        if not set(labels.tolist()) <= {0, 1}:
            raise DatasetError(f"{path}: graph labels must be 0 or 1")
        return LoadedDataset(graphs, labels, rni_folds(len(graphs), self.fold, self.FOLDS))

    def fingerprint(self) -> str:
        path = self._path()
        stat = path.stat()
        return content_key(self.name, str(path.resolve()), stat.st_size, stat.st_mtime_ns,
                           self.fold)


class CExpDataset(ExpDataset):
    """CEXP as 2-class classification; same protocol as :class:`ExpDataset`."""

    name = "cexp"
    suite = "cexp"


def rni_folds(num_graphs: int, fold: int, folds: int = 10) -> dict[str, torch.Tensor]:
    """The RNI paper's contiguous k-fold split (see :class:`ExpDataset`)."""
    n = num_graphs // folds
    everything = torch.arange(num_graphs)
    test = everything[fold * n:(fold + 1) * n]
    rest = torch.cat([everything[:fold * n], everything[(fold + 1) * n:]])
    m = len(rest) // folds
    valid = rest[fold * m:(fold + 1) * m]
    train = torch.cat([rest[:fold * m], rest[(fold + 1) * m:]])
    return {"train": train, "valid": valid, "test": test}


# ---------------------------------------------------------------------- registration
_ROOT_DOC = ("folder holding the suite's files (default: $WLKIT_WL_DATA/<EXP|CEXP|CSL|SR25|"
             "BREC>)")


@hookimpl
def wlkit_datasets() -> list[DatasetRecord]:
    root = Param("root", str, None, _ROOT_DOC, nullable=True)
    return [
        DatasetRecord(name="suite_classic", factory=ClassicSuite,
                      summary="Separation suite: C6/2xC3, decalin/bicyclopentyl, "
                              "Shrikhande/rook, CFI(K4)."),
        DatasetRecord(name="suite_csl", factory=CSLSuite,
                      summary="Separation suite: the 45 CSL class pairs (generated, or the "
                              "reference pickles with root).",
                      params=(Param("root", str, None, "folder holding CSL's pickles "
                                    "(default: generate the graphs exactly)", nullable=True),
                              Param("num_nodes", int, 41, "cycle length n of C(n, R)",
                                    minimum=34))),
        DatasetRecord(name="suite_cfi", factory=CFISuite,
                      summary="Separation suite: CFI pairs over K4, the cube and Petersen."),
        DatasetRecord(name="suite_sr", factory=SRSuite,
                      summary="Separation suite: equal-parameter strongly regular pairs "
                              "(16, 28 and 36 nodes)."),
        DatasetRecord(name="suite_dr", factory=DRSuite,
                      summary="Separation suite: distance-regular H(3,4) vs Doob D(1,1) "
                              "(64 nodes)."),
        DatasetRecord(name="suite_4vtx", factory=FourVertexSuite,
                      summary="Separation suite: srg(40,12,2,4) with the 4-vertex condition, "
                              "GQs W(3) vs Q(4,3), and their complements."),
        DatasetRecord(name="suite_regular", factory=RegularSuite,
                      summary="Separation suite: random non-isomorphic d-regular pairs "
                              "(1-WL-equivalent).",
                      params=(Param("num_pairs", int, 24, "number of pairs", minimum=1),
                              Param("seed", int, 0, "seed of the random graphs"))),
        DatasetRecord(name="suite_exp", factory=ExpSuite,
                      summary="Separation suite: EXP's 600 1-WL-equivalent pairs (file).",
                      params=(root,)),
        DatasetRecord(name="suite_cexp", factory=CExpSuite,
                      summary="Separation suite: CEXP's 600 pairs, 300 corrupted (file).",
                      params=(root,)),
        DatasetRecord(name="suite_sr25", factory=SR25Suite,
                      summary="Separation suite: the 105 pairs of srg(25,12,5,6) (file).",
                      params=(root,)),
        DatasetRecord(name="suite_brec", factory=BRECSuite,
                      summary="Separation suite: BREC's pairs with official ids (up to 7 "
                              ".npy files).",
                      params=(root, Param("categories", list, None,
                                          "BREC files to read (basic, regular, str, "
                                          "extension, cfi, 4vtx, dr); default: all present",
                                          nullable=True))),
        DatasetRecord(name="exp", factory=ExpDataset,
                      summary="EXP: SAT vs UNSAT of 1-WL-equivalent pairs, 10-fold (RNI "
                              "paper's protocol).",
                      params=(root, Param("fold", int, 0, "test fold (0..9)", minimum=0,
                                          maximum=9))),
        DatasetRecord(name="cexp", factory=CExpDataset,
                      summary="CEXP: EXP with 300 corrupted pairs, 10-fold (RNI paper's "
                              "protocol).",
                      params=(root, Param("fold", int, 0, "test fold (0..9)", minimum=0,
                                          maximum=9))),
    ]


def _generated(cls: type[WLSuite]) -> Callable[[str | None], WLSuite]:
    """The ``wlkit_wl_suites`` factory of a suite generated in code (it takes no root)."""

    def factory(root: str | None) -> WLSuite:
        return cls()

    factory.__qualname__ = f"{cls.__name__}.from_root"
    return factory


@hookimpl
def wlkit_wl_suites() -> list[WLSuiteRecord]:
    # The built-in suites of `wlkit separate --suite`, in SUITES order; the datasets
    # `suite_<name>` above are the same suites as training data.
    return [
        WLSuiteRecord(name="classic", factory=_generated(ClassicSuite),
                      summary="C6/2xC3, decalin/bicyclopentyl, Shrikhande/rook, CFI(K4)"),
        WLSuiteRecord(name="csl", factory=lambda root: CSLSuite(root=root),
                      summary="the 45 CSL class pairs (generated, or the reference pickles "
                              "with --root)", accepts_root=True),
        WLSuiteRecord(name="cfi", factory=_generated(CFISuite),
                      summary="CFI pairs over K4, the cube and Petersen"),
        WLSuiteRecord(name="sr", factory=_generated(SRSuite),
                      summary="equal-parameter strongly regular pairs (16, 28, 36 nodes)"),
        WLSuiteRecord(name="dr", factory=_generated(DRSuite),
                      summary="distance-regular pair drg{9,6,3;1,2,3}: Hamming H(3,4) vs "
                              "Doob D(1,1)"),
        WLSuiteRecord(name="4vtx", factory=_generated(FourVertexSuite),
                      summary="4-vertex-condition pairs: GQs W(3) vs Q(4,3), srg(40,12,2,4), "
                              "and their complements"),
        WLSuiteRecord(name="regular", factory=_generated(RegularSuite),
                      summary="random non-isomorphic d-regular pairs (1-WL-equivalent)"),
        WLSuiteRecord(name="exp", factory=ExpSuite, needs_files=True,
                      summary="EXP's 600 1-WL-equivalent pairs (GRAPHSAT.txt)"),
        WLSuiteRecord(name="cexp", factory=CExpSuite, needs_files=True,
                      summary="CEXP's 600 pairs, 300 corrupted (GRAPHSAT.txt)"),
        WLSuiteRecord(name="sr25", factory=SR25Suite, needs_files=True,
                      summary="the 105 pairs of srg(25,12,5,6) (sr251256.g6)"),
        WLSuiteRecord(name="brec", factory=BRECSuite, needs_files=True,
                      summary="BREC's pairs with official ids (up to 7 .npy files)"),
    ]
