"""PathNN's subgraph policy (paths per length in ``prepare``, the path layers in
``build``) and its record."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from wlkit import (
    ModelParts,
    Param,
    SubgraphPolicy,
    SubgraphPolicyRecord,
    WlkitError,
    hookimpl,
    node_offsets,
)
from wlkit.plugins.policies.pathnn.enumeration import (
    DEFAULT_MAX_PATHS,
    PATH_KINDS,
    edge_pairs,
    enumerate_paths,
)
from wlkit.plugins.policies.pathnn.oracle import (
    path_oracle,
)
from wlkit.plugins.policies.pathnn.trie import (
    PathNN,
    path_trie,
    trie_paths,
)

# --------------------------------------------------------------------------- policy


class PathPolicy(SubgraphPolicy):
    """PathNN's path policy: paths per length in ``prepare``, the path layers in ``build``.

    ``prepare(graph)`` enumerates the paths with :func:`enumerate_paths` and stores those
    of each length ``l = 1..K`` as a prefix trie (:func:`path_trie`): ``node_{l}_{j}``
    (int32), ``parent_{l}_{j}`` (int32, j >= 1), ``dist_{l}_{j}`` (uint8, with distance
    encoding) and, when the graph has ``edata['feat']``, ``edge_{l}_{j}`` (int32, j >= 1:
    the directed node pair of the step) with ``edge_pair`` and ``num_pairs``
    (:func:`edge_pairs`; a step's edge input is the mean over its parallel edges).
    ``collate`` shifts node ids by each graph's node offset, pair ids by its pair offset
    and parent indices by the offset of the graph's entries in the level above. The model
    half (:class:`PathNN`) has exactly K layers, so ``model.num_layers`` must equal ``K``;
    it uses ``model.hidden``, ``model.residual``, ``model.norm``, ``model.dropout`` and
    ``model.readout`` and ignores ``model.layer`` and ``model.aggregator``. ``wl_oracle`` is
    the exact path refinement with the same settings (:func:`path_oracle`, e.g.
    ``path_ap_K4_dist``), registered in :mod:`wlkit.wl` when the policy is created; ``sp``
    has none.

    Parameters
    ----------
    paths : {"sp", "sp_plus", "ap"}
        Path collection (see :func:`enumerate_paths`); ``sp`` is not permutation invariant.
    K : int
        Maximal path length in edges, and the number of layers.
    encode_distances : bool or None
        Concatenate an embedding of each path node's distance from the start node to the
        LSTM input. None: on for ``ap`` (the paper's AP), off for ``sp``/``sp_plus`` (where
        the distance of the i-th node is i).
    path_agg : {"sum", "mean"}
        How the final LSTM states of the paths starting at a node are pooled.
    edge_features : bool
        Feed the encoded edge features along each path to the LSTM (the dataset's edge
        encoder, a zero vector at the far end), when the dataset has them.
    l2_norm : bool
        L2-normalise node states before each layer (the authors' AP setting on CSL/SR25).
    phi : {"relu", "mlp", "tanh"}
        The update after residual and norm: ReLU (the paper's synthetic models) or the
        2-layer MLP with norms of the authors' OGB/ZINC models.
    max_paths : int
        Budget of path candidates per graph; enumeration fails with
        :class:`PathBudgetError` (naming the estimate) before exceeding it.

    Examples
    --------
    >>> import dgl
    >>> g = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))  # the path 0-1-2
    >>> policy = PathPolicy(paths="ap", K=2)
    >>> prepared = policy.prepare(g)
    >>> batch = policy.collate([g, g], [prepared, prepared])
    >>> PathPolicy.batch_paths(batch, 2).tolist()  # the second graph's nodes shifted by 3
    [[2, 1, 0], [0, 1, 2], [5, 4, 3], [3, 4, 5]]
    """

    version = 2  # 2: edge inputs per directed node pair (mean over parallel edges)

    def __init__(self, paths: str = "sp_plus", K: int = 3, encode_distances: bool | None = None,
                 path_agg: str = "sum", edge_features: bool = True, l2_norm: bool = False,
                 phi: str = "relu", max_paths: int = DEFAULT_MAX_PATHS):
        # ranges and choices are checked once, by the record's Param schema
        self.paths = paths
        self.K = K
        self.encode_distances = (paths == "ap") if encode_distances is None else encode_distances
        self.path_agg = path_agg
        self.edge_features = edge_features
        self.l2_norm = l2_norm
        self.phi = phi
        self.max_paths = max_paths
        path_oracle(self.paths, self.K, self.encode_distances)  # register it in wlkit.wl

    @property
    def wl_oracle(self) -> str | None:  # type: ignore[override]
        """The exact oracle bounding this policy (:func:`path_oracle`): e.g.
        ``path_sp_plus_K3`` or ``path_ap_K4_dist``; None for ``sp`` (not invariant)."""
        return path_oracle(self.paths, self.K, self.encode_distances)

    def cache_params(self) -> dict[str, Any]:
        # max_paths does not change prepare()'s output but decides whether it refuses a
        # graph: without it, a graph cached under a larger budget would hide the refusal
        return {"paths": self.paths, "K": self.K, "encode_distances": self.encode_distances,
                "max_paths": self.max_paths}

    def prepare(self, graph: Any) -> dict[str, Tensor]:
        src, dst = graph.edges()
        with_edges = "feat" in graph.edata
        n = graph.num_nodes()
        found = enumerate_paths(n, src.numpy(), dst.numpy(), self.K, self.paths,
                                self.max_paths, self.encode_distances, with_edges)
        out: dict[str, Tensor] = {}
        if with_edges:
            edge_pair, num_pairs = edge_pairs(n, src.numpy(), dst.numpy())
            out["edge_pair"] = torch.from_numpy(edge_pair.astype(np.int32))
            out["num_pairs"] = torch.tensor([num_pairs], dtype=torch.int64)
        for length, entry in found.items():
            levels = path_trie(entry["paths"], n, entry.get("dists"), entry.get("edges"))
            for j, level in enumerate(levels):
                for name, values in level.items():
                    dtype = np.uint8 if name == "dist" else np.int32
                    out[f"{name}_{length}_{j}"] = torch.from_numpy(values.astype(dtype))
        return out

    def collate(self, graphs: list[Any], prepared: list[dict[str, Tensor]]) -> dict[str, Any]:
        """``{"layers": [[{node, parent, dist, edge} per step j] per length l]}``, shifted;
        with edge features also ``edge_pair`` (each batched edge's pair, -1 for none),
        ``num_pairs``, ``edge_rows`` (the edges with a pair) and ``pair_edges`` (edges per
        pair)."""
        node_shift = node_offsets(graphs)
        device = node_shift.device
        batch: dict[str, Any] = {}
        with_edges = all("edge_pair" in p for p in prepared)
        if with_edges:  # pair ids shift by the pairs of the graphs before
            pairs = torch.cat([p["num_pairs"] for p in prepared])
            pair_shift = torch.cumsum(pairs, 0) - pairs
            edge_pair = torch.cat([p["edge_pair"] for p in prepared]).long()
            shift = torch.repeat_interleave(pair_shift, torch.tensor(
                [len(p["edge_pair"]) for p in prepared], dtype=torch.long, device=device))
            edge_pair = torch.where(edge_pair >= 0, edge_pair + shift, edge_pair)
            batch["edge_pair"] = edge_pair
            batch["num_pairs"] = num_pairs = int(pairs.sum())
            # the edges that belong to a pair and the edges per pair, here on the loader's
            # CPU: in forward the mask and the count would each wait for the device
            rows = torch.nonzero(edge_pair >= 0).flatten()
            batch["edge_rows"] = rows
            batch["pair_edges"] = torch.bincount(edge_pair[rows], minlength=num_pairs)
        layers = []
        for length in range(1, self.K + 1):
            steps = []
            above = None  # per-graph entry counts of the previous level
            for j in range(length + 1):
                key = f"node_{length}_{j}"
                missing = [i for i, p in enumerate(prepared) if key not in p]
                if missing:
                    raise WlkitError(f"pathnn: prepared data of graph {missing[0]} in the "
                                     f"batch has no {key}; it was prepared with other "
                                     "settings\n    hint: delete the policy cache under "
                                     "$WLKIT_CACHE_DIR")
                counts = torch.tensor([len(p[key]) for p in prepared], dtype=torch.long,
                                      device=device)
                step = {"node": _shifted(prepared, key, node_shift, counts)}
                if j > 0:
                    shift = torch.cumsum(above, 0) - above
                    step["parent"] = _shifted(prepared, f"parent_{length}_{j}", shift, counts)
                    if with_edges:
                        step["edge"] = _shifted(prepared, f"edge_{length}_{j}", pair_shift,
                                                counts)
                if self.encode_distances:
                    step["dist"] = torch.cat([p[f"dist_{length}_{j}"] for p in prepared]).long()
                steps.append(step)
                above = counts
            layers.append(steps)
        batch["layers"] = layers
        return batch

    @staticmethod
    def batch_paths(batch: dict[str, Any], length: int) -> Tensor:
        """The paths with ``length`` edges of a collated batch, [P, length+1], start first."""
        return trie_paths(batch["layers"][length - 1])

    def build(self, parts: ModelParts) -> nn.Module:
        if parts.num_layers != self.K:
            raise WlkitError(f"pathnn: model.num_layers is {parts.num_layers} but K is "
                             f"{self.K}; PathNN has one layer per path length\n"
                             f"    hint: set model.num_layers: {self.K}")
        if parts.virtual_node:
            raise WlkitError("pathnn: model.virtual_node is not supported by PathNN\n"
                             "    hint: set model.virtual_node: false")
        return PathNN(parts, self.K, self.encode_distances, self.path_agg,
                      self.edge_features and parts.make_edge_encoder is not None,
                      self.l2_norm, self.phi)


def _shifted(prepared: list[dict[str, Tensor]], key: str, shift: Tensor,
             counts: Tensor) -> Tensor:
    values = torch.cat([p[key] for p in prepared]).long()
    return values + torch.repeat_interleave(shift, counts)


# --------------------------------------------------------------------------- record


@hookimpl
def wlkit_subgraph_policies() -> list[SubgraphPolicyRecord]:
    return [
        SubgraphPolicyRecord(
            name="pathnn", factory=PathPolicy,
            summary="PathNN (Michel et al. 2023): LSTM over the paths from each node, layer l "
                    "reads length-l paths; sp (NOT invariant: index tie-break), sp_plus and "
                    "ap (invariant).",
            params=(
                Param("paths", str, "sp_plus", "sp: one shortest path per pair (tie-break by "
                      "node index, not invariant); sp_plus: all shortest paths; ap: all "
                      "simple paths", choices=PATH_KINDS),
                Param("K", int, 3, "maximal path length in edges = number of layers (set "
                      "model.num_layers to the same value)", minimum=1, maximum=64),
                Param("encode_distances", bool, None, "annotate path nodes with their "
                      "distance from the start node (default: on for ap, off otherwise)",
                      nullable=True),
                Param("path_agg", str, "sum", "pooling of the path states into the start "
                      "node", choices=("sum", "mean")),
                Param("edge_features", bool, True, "feed encoded edge features along the "
                      "paths to the LSTM when the dataset has them"),
                Param("l2_norm", bool, False, "L2-normalise node states before each layer "
                      "(the authors' AP setting on CSL and SR25)"),
                Param("phi", str, "relu", "update after residual and norm: relu (paper's "
                      "synthetic models), mlp (authors' OGB models) or tanh (smooth)",
                      choices=("relu", "mlp", "tanh")),
                Param("max_paths", int, DEFAULT_MAX_PATHS, "budget of path candidates per "
                      "graph; above it preparation stops with an error naming the estimate",
                      minimum=1),
            ),
            permutation_invariant=False,
            expressivity="sp_plus > 1-WL (CSL); ap with distances not 2-FWL-bounded (SR25)",
            approximate="permutation_invariant is False because paths=sp is not invariant; "
                        "sp_plus and ap are. SP keeps one shortest path per unordered pair "
                        "(smallest-index predecessor tie-break) where the authors' code keeps "
                        "igraph's BFS choice; both depend on the node numbering. LSTM input "
                        "dropout is drawn per trie entry (shared by paths with a common "
                        "prefix), not per path and step.",
        ),
    ]
