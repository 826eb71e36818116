"""A small immutable graph container and exact generators for WL-separation graphs.

:class:`SimpleGraph` is the exchange format between the WL oracles (:mod:`wlkit.wl`), the
file readers (:mod:`wlkit.datasets.wl_files`), networkx and DGL. It stores a simple undirected
graph in one canonical form, so that two containers holding the same labelled graph on the
same vertex set compare equal.

The generators build the classic pairs used to test expressivity (cycles, molecules,
strongly regular graphs, Cai-Fürer-Immerman graphs). They are pure numpy and deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # pragma: no cover - typing only
    import dgl
    import networkx as nx

__all__ = [
    "SimpleGraph",
    "bicyclopentyl",
    "cfi",
    "classic_pairs",
    "complete",
    "complete_bipartite",
    "csl",
    "CSL_SKIPS",
    "cube",
    "cycle",
    "decalin",
    "disjoint_union",
    "dodecahedron",
    "petersen",
    "rook_graph",
    "shrikhande",
]

#: Skip lengths of the ten CSL classes (Murphy et al. 2019), class ``c`` uses ``CSL_SKIPS[c]``.
CSL_SKIPS: tuple[int, ...] = (2, 3, 4, 5, 6, 9, 11, 12, 13, 16)


def _as_label_array(values: Any, length: int, what: str) -> np.ndarray | None:
    """Validate a label vector: integer (or bool) dtype, 1-D, of the given length."""
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.size == 0:  # np.asarray([]) is float64; an empty label list is fine
        arr = arr.astype(np.int64)
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got dtype {arr.dtype}")
    if arr.shape != (length,):
        raise ValueError(f"{what} must have shape ({length},), got {arr.shape}")
    return arr.astype(np.int64, copy=True)


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class SimpleGraph:
    """An immutable simple undirected graph with optional integer node and edge labels.

    Parameters
    ----------
    num_nodes : int
        Number of nodes; nodes are ``0 .. num_nodes - 1``.
    edges : numpy.ndarray
        int64 array of shape ``[m, 2]``. Each undirected edge appears once as ``(u, v)`` with
        ``u < v``; rows are sorted lexicographically; no self loops, no duplicates. Use
        :meth:`from_edges` to build this form from arbitrary pairs.
    node_labels : numpy.ndarray or None
        int64 array of shape ``[num_nodes]``, or ``None`` for an unlabelled graph.
    edge_labels : numpy.ndarray or None
        int64 array of shape ``[m]`` aligned with ``edges``, or ``None``.
    name : str
        Free-form name, ignored by equality.

    Raises
    ------
    ValueError
        If the arrays are not in the canonical form described above.

    Notes
    -----
    Arrays are copied and made read-only. Two graphs are equal (``==``) when they have the
    same number of nodes, the same edge array and the same labels; this is equality of
    labelled graphs on the same vertex set, *not* isomorphism.
    """

    num_nodes: int
    edges: np.ndarray
    node_labels: np.ndarray | None = None
    edge_labels: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        n = self.num_nodes
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise ValueError(f"num_nodes must be an int, got {type(n).__name__}")
        n = int(n)
        if n < 0:
            raise ValueError(f"num_nodes must be >= 0, got {n}")
        edges = np.asarray(self.edges)
        if edges.size == 0:
            edges = np.zeros((0, 2), dtype=np.int64)
        if not np.issubdtype(edges.dtype, np.integer):
            raise ValueError(f"edges must be integers, got dtype {edges.dtype}")
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise ValueError(f"edges must have shape [m, 2], got {edges.shape}")
        edges = edges.astype(np.int64, copy=True)
        if len(edges):
            if edges.min() < 0 or edges.max() >= n:
                bad = int(np.flatnonzero((edges < 0).any(1) | (edges >= n).any(1))[0])
                raise ValueError(
                    f"edge {bad} = {tuple(edges[bad].tolist())} is out of range for "
                    f"num_nodes={n}"
                )
            loops = np.flatnonzero(edges[:, 0] == edges[:, 1])
            if len(loops):
                raise ValueError(
                    f"edge {loops[0]} = {tuple(edges[loops[0]].tolist())} is a self loop; "
                    "SimpleGraph has none"
                )
            flipped = np.flatnonzero(edges[:, 0] > edges[:, 1])
            if len(flipped):
                raise ValueError(
                    f"edge {flipped[0]} = {tuple(edges[flipped[0]].tolist())} is not stored "
                    "as (u, v) with u < v; use SimpleGraph.from_edges to canonicalise"
                )
            key = edges[:, 0] * max(n, 1) + edges[:, 1]
            step = np.diff(key)
            if (step == 0).any():
                i = int(np.flatnonzero(step == 0)[0]) + 1
                raise ValueError(f"edge {i} = {tuple(edges[i].tolist())} is a duplicate")
            if (step < 0).any():
                i = int(np.flatnonzero(step < 0)[0]) + 1
                raise ValueError(
                    f"edges are not sorted (row {i} = {tuple(edges[i].tolist())}); "
                    "use SimpleGraph.from_edges to canonicalise"
                )
        object.__setattr__(self, "num_nodes", n)
        object.__setattr__(self, "edges", _frozen(edges))
        nl = _as_label_array(self.node_labels, n, "node_labels")
        el = _as_label_array(self.edge_labels, len(edges), "edge_labels")
        object.__setattr__(self, "node_labels", None if nl is None else _frozen(nl))
        object.__setattr__(self, "edge_labels", None if el is None else _frozen(el))
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a str, got {type(self.name).__name__}")

    # ------------------------------------------------------------------ equality
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SimpleGraph):
            return NotImplemented

        def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            return (a is None and b is None) or (
                a is not None and b is not None and np.array_equal(a, b)
            )

        return (
            self.num_nodes == other.num_nodes
            and np.array_equal(self.edges, other.edges)
            and same(self.node_labels, other.node_labels)
            and same(self.edge_labels, other.edge_labels)
        )

    def __hash__(self) -> int:
        return hash((self.num_nodes, self.edges.tobytes()))

    def __repr__(self) -> str:
        extra = ""
        if self.node_labels is not None:
            extra += ", node_labels"
        if self.edge_labels is not None:
            extra += ", edge_labels"
        name = f"{self.name!r}, " if self.name else ""
        return f"SimpleGraph({name}n={self.num_nodes}, m={self.num_edges}{extra})"

    # ------------------------------------------------------------------ basics
    @property
    def num_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.edges.shape[0])

    def degrees(self) -> np.ndarray:
        """Return the int64 degree of every node, shape ``[num_nodes]``."""
        return np.bincount(self.edges.ravel(), minlength=self.num_nodes).astype(np.int64)

    def adjacency(self, dtype: Any = np.int64) -> sp.csr_matrix:
        """Return the symmetric adjacency matrix as ``scipy.sparse.csr_matrix``.

        Parameters
        ----------
        dtype : numpy dtype, optional
            Entry type (default int64); every edge contributes a 1 in both directions.
        """
        n = self.num_nodes
        u, v = self.edges[:, 0], self.edges[:, 1]
        data = np.ones(2 * len(u), dtype=dtype)
        return sp.csr_matrix((data, (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(
        cls,
        num_nodes: int,
        pairs: Iterable[tuple[int, int]] | np.ndarray,
        node_labels: Any = None,
        edge_labels: Any = None,
        name: str = "",
        *,
        drop_self_loops: bool = False,
    ) -> SimpleGraph:
        """Build a graph from arbitrary undirected pairs, canonicalising them.

        Pairs are oriented to ``u < v``, sorted, and duplicates (including ``(v, u)`` after
        ``(u, v)``) are merged.

        Parameters
        ----------
        num_nodes : int
            Number of nodes.
        pairs : iterable of (int, int) or array of shape [m, 2]
            Undirected edges in any order and orientation.
        node_labels : array-like of int, optional
            One label per node.
        edge_labels : array-like of int, optional
            One label per input pair. Duplicated pairs must carry the same label.
        name : str, optional
            Graph name.
        drop_self_loops : bool, optional
            Drop pairs ``(v, v)`` instead of raising.

        Raises
        ------
        ValueError
            On self loops (unless dropped), out-of-range ids, or duplicated pairs with
            different edge labels.
        """
        arr = pairs if isinstance(pairs, np.ndarray) else np.array(list(pairs), dtype=np.int64)
        if arr.size == 0:
            arr = np.zeros((0, 2), dtype=np.int64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"pairs must have shape [m, 2], got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"pairs must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        el = None if edge_labels is None else _as_label_array(edge_labels, len(arr), "edge_labels")
        loops = arr[:, 0] == arr[:, 1]
        if loops.any():
            if not drop_self_loops:
                i = int(np.flatnonzero(loops)[0])
                raise ValueError(
                    f"pair {i} = {tuple(arr[i].tolist())} is a self loop "
                    "(pass drop_self_loops=True to drop self loops)"
                )
            arr = arr[~loops]
            el = None if el is None else el[~loops]
        arr = np.sort(arr, axis=1)
        if len(arr) and (arr.min() < 0 or arr.max() >= num_nodes):
            bad = int(np.flatnonzero((arr < 0).any(1) | (arr >= num_nodes).any(1))[0])
            raise ValueError(
                f"pair {tuple(arr[bad].tolist())} is out of range for num_nodes={num_nodes}"
            )
        order = np.lexsort((arr[:, 1], arr[:, 0]))
        arr = arr[order]
        keep = np.ones(len(arr), dtype=bool)
        if len(arr) > 1:
            keep[1:] = (np.diff(arr, axis=0) != 0).any(axis=1)
        if el is not None:
            el = el[order]
            # A duplicate must agree with the label of the first copy of its edge.
            first = np.cumsum(keep) - 1
            kept_labels = el[keep]
            if (kept_labels[first] != el).any():
                i = int(np.flatnonzero(kept_labels[first] != el)[0])
                raise ValueError(
                    f"edge {tuple(arr[i].tolist())} is given twice with different labels "
                    f"({kept_labels[first[i]]} and {el[i]})"
                )
            el = kept_labels
        return cls(int(num_nodes), arr[keep], node_labels, el, name)

    @classmethod
    def from_networkx(
        cls,
        graph: nx.Graph,
        node_attr: str | None = None,
        edge_attr: str | None = None,
        name: str | None = None,
    ) -> SimpleGraph:
        """Convert an undirected networkx graph.

        Node ``i`` of the result is the ``i``-th node of ``graph.nodes`` (insertion order).

        Parameters
        ----------
        graph : networkx.Graph
            Undirected simple graph (no multigraphs, no self loops).
        node_attr, edge_attr : str, optional
            Attribute names holding integer labels; every node (edge) must have it.
        name : str, optional
            Defaults to ``graph.name``.
        """
        if graph.is_directed() or graph.is_multigraph():
            raise ValueError("from_networkx needs an undirected simple nx.Graph")
        index = {node: i for i, node in enumerate(graph.nodes)}
        pairs = [(index[u], index[v]) for u, v in graph.edges]
        nl = el = None
        if node_attr is not None:
            try:
                nl = [graph.nodes[node][node_attr] for node in graph.nodes]
            except KeyError as err:
                raise ValueError(f"node {err} lacks attribute {node_attr!r}") from None
        if edge_attr is not None:
            try:
                el = [graph.edges[u, v][edge_attr] for u, v in graph.edges]
            except KeyError:
                raise ValueError(f"some edge lacks attribute {edge_attr!r}") from None
        return cls.from_edges(len(index), pairs, nl, el, graph.name if name is None else name)

    def to_networkx(self) -> nx.Graph:
        """Return an ``nx.Graph`` on nodes ``0..n-1``; labels go to attribute ``"label"``."""
        import networkx as nx

        g = nx.Graph(name=self.name)
        g.add_nodes_from(range(self.num_nodes))
        if self.node_labels is not None:
            nx.set_node_attributes(g, dict(enumerate(self.node_labels.tolist())), "label")
        if self.edge_labels is None:
            g.add_edges_from(self.edges.tolist())
        else:
            g.add_edges_from(
                (u, v, {"label": lab})
                for (u, v), lab in zip(self.edges.tolist(), self.edge_labels.tolist())
            )
        return g

    def to_dgl(self) -> dgl.DGLGraph:
        """Return a bidirected ``dgl.graph``.

        Directed edge ``k`` is ``edges[k]`` (u -> v) for ``k < m`` and its reverse for
        ``k >= m``. ``ndata['label']`` / ``edata['label']`` (int64) are set when labels exist;
        edge labels are duplicated for both directions.
        """
        import dgl
        import torch

        u = torch.from_numpy(self.edges[:, 0].copy())
        v = torch.from_numpy(self.edges[:, 1].copy())
        g = dgl.graph((torch.cat([u, v]), torch.cat([v, u])), num_nodes=self.num_nodes)
        if self.node_labels is not None:
            g.ndata["label"] = torch.from_numpy(self.node_labels.copy())
        if self.edge_labels is not None:
            el = torch.from_numpy(self.edge_labels.copy())
            g.edata["label"] = torch.cat([el, el])
        return g

    @classmethod
    def from_dgl(
        cls,
        g: dgl.DGLGraph,
        node_label_key: str = "label",
        edge_label_key: str = "label",
        name: str = "",
    ) -> SimpleGraph:
        """Convert a DGL graph, read as undirected.

        Each edge may be present in one or both directions; directions are merged and self
        loops dropped. Labels are read from ``ndata[node_label_key]`` /
        ``edata[edge_label_key]`` when present (1-D integer tensors).

        Raises
        ------
        ValueError
            If the two directions of an edge carry different labels, or a label tensor is
            not 1-D integer.
        """
        src, dst = (t.cpu().numpy().astype(np.int64) for t in g.edges())
        nl = el = None
        if node_label_key in g.ndata:
            nl = _tensor_labels(g.ndata[node_label_key], f"ndata[{node_label_key!r}]")
        if edge_label_key in g.edata:
            el = _tensor_labels(g.edata[edge_label_key], f"edata[{edge_label_key!r}]")
        return cls.from_edges(
            g.num_nodes(), np.stack([src, dst], axis=1), nl, el, name, drop_self_loops=True
        )

    # ------------------------------------------------------------------ transforms
    def relabel(self, perm: Any) -> SimpleGraph:
        """Return the isomorphic copy in which node ``i`` becomes node ``perm[i]``.

        Parameters
        ----------
        perm : array-like of int
            A permutation of ``0 .. n-1``.
        """
        p = np.asarray(perm, dtype=np.int64)
        n = self.num_nodes
        if p.shape != (n,) or not np.array_equal(np.sort(p), np.arange(n)):
            raise ValueError(f"perm must be a permutation of range({n})")
        nl = None
        if self.node_labels is not None:
            nl = np.empty(n, dtype=np.int64)
            nl[p] = self.node_labels
        return SimpleGraph.from_edges(n, p[self.edges], nl, self.edge_labels, self.name)

    def with_name(self, name: str) -> SimpleGraph:
        """Return the same graph under another name."""
        return SimpleGraph(self.num_nodes, self.edges, self.node_labels, self.edge_labels, name)


def _tensor_labels(t: Any, what: str) -> np.ndarray:
    arr = t.detach().cpu().numpy()
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise ValueError(f"{what} must be a 1-D integer tensor, got shape {arr.shape} {arr.dtype}")
    return arr.astype(np.int64)


# ---------------------------------------------------------------------- generators
def _graph(n: int, pairs: Any, name: str) -> SimpleGraph:
    return SimpleGraph.from_edges(n, np.asarray(pairs, dtype=np.int64).reshape(-1, 2), name=name)


def cycle(n: int) -> SimpleGraph:
    """The cycle C_n: nodes ``0..n-1`` and edges ``i ~ i+1 (mod n)``; needs ``n >= 3``."""
    if n < 3:
        raise ValueError(f"cycle needs n >= 3, got {n}")
    i = np.arange(n)
    return _graph(n, np.stack([i, (i + 1) % n], axis=1), f"C{n}")


def complete(n: int) -> SimpleGraph:
    """The complete graph K_n on nodes ``0..n-1``."""
    if n < 0:
        raise ValueError(f"complete needs n >= 0, got {n}")
    u, v = np.triu_indices(n, k=1)
    return _graph(n, np.stack([u, v], axis=1), f"K{n}")


def disjoint_union(*graphs: SimpleGraph) -> SimpleGraph:
    """Disjoint union; nodes of the ``k``-th graph are shifted by the sizes of the previous ones.

    Node (edge) labels are kept when every operand has them; a mix of labelled and unlabelled
    operands is an error.
    """
    offsets = np.cumsum([0] + [g.num_nodes for g in graphs])
    edges = [g.edges + off for g, off in zip(graphs, offsets)]
    labels: dict[str, np.ndarray | None] = {}
    for attr in ("node_labels", "edge_labels"):
        present = [getattr(g, attr) is not None for g in graphs]
        if any(present) and not all(present):
            raise ValueError(f"disjoint_union: only some graphs have {attr}")
        labels[attr] = (
            np.concatenate([getattr(g, attr) for g in graphs]) if graphs and all(present) else None
        )
    name = " + ".join(g.name or "?" for g in graphs)
    pairs = np.concatenate(edges) if edges else np.zeros((0, 2), dtype=np.int64)
    # Shifted canonical blocks stay sorted, so the concatenation is canonical as is.
    return SimpleGraph(int(offsets[-1]), pairs, labels["node_labels"], labels["edge_labels"], name)


def csl(n: int = 41, skip: int = 2) -> SimpleGraph:
    """Circular skip-link graph C(n, R): the n-cycle plus the chords ``i ~ i+R (mod n)``.

    Construction of Murphy et al., "Relational Pooling for Graph Representations" (ICML 2019);
    the CSL benchmark uses n = 41 and R in :data:`CSL_SKIPS`. For ``1 < R < n/2`` the graph is
    4-regular; ``R = n/2`` gives a 3-regular graph (each chord found twice, merged).
    """
    if n < 5:
        raise ValueError(f"csl needs n >= 5, got {n}")
    if not 1 < skip < n - 1:
        raise ValueError(
            f"csl needs 1 < skip < n-1 (otherwise chords repeat cycle edges), got {skip}"
        )
    i = np.arange(n)
    pairs = np.concatenate([np.stack([i, (i + 1) % n], 1), np.stack([i, (i + skip) % n], 1)])
    return _graph(n, pairs, f"CSL({n},{skip})")


def decalin() -> SimpleGraph:
    """Carbon skeleton of decalin: two 6-rings sharing an edge (10 nodes, 11 edges).

    Nodes 0 and 1 are the bridgehead carbons; the rings are 0-2-3-4-5-1 and 0-6-7-8-9-1.
    With :func:`bicyclopentyl` it is the classic 1-WL-equivalent molecule pair (used e.g. by
    Sato, "A Survey on the Expressive Power of Graph Neural Networks", 2020).
    """
    return _graph(
        10,
        [(0, 1), (0, 2), (2, 3), (3, 4), (4, 5), (5, 1), (0, 6), (6, 7), (7, 8), (8, 9), (9, 1)],
        "decalin",
    )


def bicyclopentyl() -> SimpleGraph:
    """Carbon skeleton of bicyclopentyl: two 5-rings joined by one edge (10 nodes, 11 edges).

    Rings 0-1-2-3-4 and 5-6-7-8-9, bridge 0-5. 1-WL-equivalent to :func:`decalin`.
    """
    ring_a = [(i, (i + 1) % 5) for i in range(5)]
    ring_b = [(5 + i, 5 + (i + 1) % 5) for i in range(5)]
    return _graph(10, ring_a + ring_b + [(0, 5)], "bicyclopentyl")


def rook_graph(k: int = 4) -> SimpleGraph:
    """The k x k rook's graph K_k □ K_k (Cartesian product of two complete graphs).

    Node ``k*i + j`` is the square (i, j); two squares are adjacent when they share a row or a
    column. For k = 4 it is strongly regular with parameters (16, 6, 2, 2), the same as the
    :func:`shrikhande` graph.
    """
    if k < 1:
        raise ValueError(f"rook_graph needs k >= 1, got {k}")
    i, j = np.divmod(np.arange(k * k), k)
    same = (i[:, None] == i[None, :]) ^ (j[:, None] == j[None, :])
    u, v = np.nonzero(np.triu(same, 1))
    return _graph(k * k, np.stack([u, v], 1), f"rook{k}x{k}")


def shrikhande() -> SimpleGraph:
    """The Shrikhande graph: Cayley graph on Z4 x Z4 with connection set ±(0,1), ±(1,0), ±(1,1).

    Construction from Shrikhande, "The uniqueness of the L2 association scheme" (1959), in
    its usual Cayley-graph form. Node ``4*a + b`` is (a, b). Strongly regular (16, 6, 2, 2)
    but not isomorphic to the 4x4 rook's graph.
    """
    a, b = np.divmod(np.arange(16), 4)
    pairs = []
    for da, db in ((0, 1), (1, 0), (1, 1)):
        pairs.append(np.stack([4 * a + b, 4 * ((a + da) % 4) + (b + db) % 4], 1))
    return _graph(16, np.concatenate(pairs), "shrikhande")


def cube() -> SimpleGraph:
    """The 3-cube Q3: nodes 0..7, adjacent when their binary codes differ in one bit."""
    v = np.arange(8)
    pairs = [np.stack([v, v ^ (1 << b)], 1) for b in range(3)]
    return _graph(8, np.concatenate(pairs), "Q3")


def petersen() -> SimpleGraph:
    """The Petersen graph: outer 5-cycle 0..4, inner pentagram 5..9, spokes i ~ 5+i.

    The pentagram joins ``5+i ~ 5+(i+2) % 5``. 3-regular, 10 nodes, 15 edges, girth 5.
    """
    i = np.arange(5)
    pairs = np.concatenate(
        [
            np.stack([i, (i + 1) % 5], 1),
            np.stack([5 + i, 5 + (i + 2) % 5], 1),
            np.stack([i, 5 + i], 1),
        ]
    )
    return _graph(10, pairs, "petersen")


def complete_bipartite(a: int, b: int) -> SimpleGraph:
    """K_{a,b}: nodes 0..a-1 on one side, a..a+b-1 on the other, every cross pair joined."""
    u, v = np.meshgrid(np.arange(a), a + np.arange(b), indexing="ij")
    return _graph(a + b, np.stack([u.ravel(), v.ravel()], 1), f"K{a},{b}")


def dodecahedron() -> SimpleGraph:
    """The dodecahedron as the generalised Petersen graph GP(10, 2): outer 10-cycle 0..9,
    spokes ``i ~ 10+i``, inner ``10+i ~ 10+(i+2) % 10``. 3-regular, 20 nodes, 30 edges,
    girth 5."""
    i = np.arange(10)
    pairs = np.concatenate([np.stack([i, (i + 1) % 10], 1), np.stack([i, 10 + i], 1),
                            np.stack([10 + i, 10 + (i + 2) % 10], 1)])
    return _graph(20, pairs, "dodecahedron")


def cfi(base: SimpleGraph, twisted: bool = False, gadget_labels: bool = False) -> SimpleGraph:
    """Cai-Fürer-Immerman graph over a base graph.

    Construction of Cai, Fürer and Immerman, "An optimal lower bound on the number of variables
    for graph identification" (Combinatorica 1992). For every base vertex ``v`` with incident
    edges ``E(v)`` (degree d):

    * one *middle* vertex ``m(v, S)`` for every even-size subset ``S`` of ``E(v)``
      (``2^(d-1)`` of them; one for d = 0);
    * two *end* vertices ``a(v, e, 0)`` and ``a(v, e, 1)`` per incident edge ``e``;
    * ``m(v, S) ~ a(v, e, 1)`` if ``e`` is in ``S``, else ``m(v, S) ~ a(v, e, 0)``.

    For every base edge ``e = (u, v)``, ``a(u, e, i) ~ a(v, e, i)`` for i = 0, 1. The twisted
    graph instead connects ``a(u, e, i) ~ a(v, e, 1 - i)`` on exactly one base edge (the first
    one of ``base.edges``). For a connected base the two graphs are not isomorphic; CFI(K4)
    has 40 nodes and is 3-regular.

    Node order: gadgets in base-vertex order; within a gadget, middles by increasing subset
    bitmask (bit k = k-th incident edge in ``base.edges`` order), then ``a(v, e_k, 0),
    a(v, e_k, 1)`` for k = 0, 1, ...

    Parameters
    ----------
    base : SimpleGraph
        Base graph (its labels are ignored); vertex degrees must be at most 16.
    twisted : bool
        Twist one base edge.
    gadget_labels : bool
        If True, label middle vertices of gadget ``v`` with ``2*v`` and end vertices with
        ``2*v + 1``; otherwise the result is unlabelled (the usual benchmark setting).
    """
    n = base.num_nodes
    if twisted and base.num_edges == 0:
        raise ValueError("cfi: cannot twist a base graph without edges")
    deg = base.degrees()
    if n and deg.max() > 16:
        raise ValueError(f"cfi: base degree {int(deg.max())} > 16 would explode the gadget size")
    incident: list[list[int]] = [[] for _ in range(n)]
    for k, (u, v) in enumerate(base.edges.tolist()):
        incident[u].append(k)
        incident[v].append(k)
    next_id = 0
    end_id: dict[tuple[int, int, int], int] = {}  # (vertex, base edge, bit) -> node id
    pairs: list[tuple[int, int]] = []
    labels: list[int] = []
    for v in range(n):
        d = len(incident[v])
        masks = [s for s in range(1 << d) if bin(s).count("1") % 2 == 0]
        middle = {s: next_id + k for k, s in enumerate(masks)}
        next_id += len(masks)
        labels += [2 * v] * len(masks)
        for e in incident[v]:
            for bit in (0, 1):
                end_id[v, e, bit] = next_id
                next_id += 1
        labels += [2 * v + 1] * (2 * d)
        for s, m in middle.items():
            for k, e in enumerate(incident[v]):
                pairs.append((m, end_id[v, e, (s >> k) & 1]))
    for k, (u, v) in enumerate(base.edges.tolist()):
        flip = 1 if (twisted and k == 0) else 0
        for bit in (0, 1):
            pairs.append((end_id[u, k, bit], end_id[v, k, bit ^ flip]))
    name = f"CFI({base.name or 'base'}{', twisted' if twisted else ''})"
    return SimpleGraph.from_edges(
        next_id, pairs, np.array(labels, dtype=np.int64) if gadget_labels else None, name=name
    )


def classic_pairs() -> list[tuple[str, str, SimpleGraph, SimpleGraph]]:
    """The classic 1-WL-equivalent, non-isomorphic pairs of the DESIGN separation table.

    Returns
    -------
    list of (pair_id, category, G, H)
        ``c6_vs_2c3`` (cycles), ``decalin_vs_bicyclopentyl`` (molecules),
        ``shrikhande_vs_rook4`` (strongly_regular, both srg(16,6,2,2)) and ``cfi_k4``
        (cfi: untwisted vs twisted CFI over K4, 40 nodes each).
    """
    k4 = complete(4)
    return [
        ("c6_vs_2c3", "cycles", cycle(6), disjoint_union(cycle(3), cycle(3)).with_name("2xC3")),
        ("decalin_vs_bicyclopentyl", "molecules", decalin(), bicyclopentyl()),
        ("shrikhande_vs_rook4", "strongly_regular", shrikhande(), rook_graph(4)),
        ("cfi_k4", "cfi", cfi(k4, twisted=False), cfi(k4, twisted=True)),
    ]
