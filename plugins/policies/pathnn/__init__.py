"""PathNN (Michel et al., ICML 2023): node updates from the paths that start at each node.

Three path collections, all enumerated once per graph on the CPU and cached by wlkit:

``sp``
    one shortest path per pair of nodes at distance <= K (not permutation invariant: which
    path is kept depends on the node numbering, see :func:`enumerate_paths`);
``sp_plus``
    all shortest paths between every pair of nodes at distance <= K;
``ap``
    all simple paths with at most K edges, each node annotated with its shortest-path
    distance from the path's start node (the paper's AP + distance encoding).

Layer ``l`` (1..K) reads only the paths with ``l`` edges: one LSTM, shared by all layers,
runs over each path from its far end towards its start node; the final LSTM states are
summed (or averaged) into the start nodes, followed by the residual connection, the norm
and ReLU.

Enumeration is a vectorised frontier expansion in numpy: all paths of length ``l`` are
extended by one edge at once through CSR neighbour lists, and the extensions that revisit a
node (AP), leave the shortest-path DAG (SP+) or the shortest-path tree (SP) are filtered
out. No per-path Python code runs. The paths of each length are cached as a trie of their
prefixes read from the far end (:func:`path_trie`), so the LSTM computes each shared
prefix's state once (:class:`PathNN`); the result equals running ``nn.LSTM`` on every path.

The exact oracle of ``sp_plus`` and ``ap`` (:func:`path_refinement`, an upper bound of the
model with the same settings) is provided to :mod:`wlkit.wl` through the hook
``wlkit_oracles`` as ``path_<kind>_K<K>`` (with ``_dist`` for AP with distances; the name is
:func:`path_oracle`'s), and is ``PathPolicy.wl_oracle``. It
ignores edge labels: the model reads edge features only from a dataset's edge encoder, and
``wlkit separate`` feeds it a constant edge feature.

The package's modules: :mod:`~wlkit.plugins.policies.pathnn.enumeration` (paths),
:mod:`~wlkit.plugins.policies.pathnn.trie` (the prefix trie and its LSTM),
:mod:`~wlkit.plugins.policies.pathnn.oracle` (path refinement) and
:mod:`~wlkit.plugins.policies.pathnn.policy` (the policy and its record).
"""

from __future__ import annotations

from wlkit.plugins.policies.pathnn.enumeration import (
    DEFAULT_MAX_PATHS,
    PATH_KINDS,
    PathBudgetError,
    edge_pairs,
    enumerate_paths,
    path_count_bound,
)
from wlkit.plugins.policies.pathnn.oracle import (
    ORACLE_KINDS,
    PathOracle,
    path_oracle,
    path_refinement,
    wlkit_oracles,
)
from wlkit.plugins.policies.pathnn.policy import (
    PathPolicy,
    wlkit_subgraph_policies,
)
from wlkit.plugins.policies.pathnn.trie import (
    PathNN,
    path_trie,
    trie_paths,
)

__all__ = [
    "DEFAULT_MAX_PATHS",
    "ORACLE_KINDS",
    "PATH_KINDS",
    "PathBudgetError",
    "PathNN",
    "PathOracle",
    "PathPolicy",
    "edge_pairs",
    "enumerate_paths",
    "path_count_bound",
    "path_oracle",
    "path_refinement",
    "path_trie",
    "trie_paths",
    "wlkit_oracles",
    "wlkit_subgraph_policies",
]
