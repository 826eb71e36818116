"""Exact colour-refinement oracles (1-WL, 2-FWL, subgraph WL) for separation upper bounds.

The main entry points are :func:`distinguishes` (one pair), :func:`separated_pairs` (many
pairs, batched; :func:`separation_rounds` also says after how many refinement rounds each
pair separates) and :func:`wl_colors` / :func:`graph_classes` (joint refinement of a list of
graphs). See :mod:`wlkit.wl.oracles` for exactly what every oracle computes. Plugins add
oracles through the hook ``wlkit_oracles`` (:class:`wlkit.OracleRecord`), notebooks with
:func:`register_oracle`; a subgraph policy that lists its copies (:class:`Copy`,
``SubgraphPolicy.wl_bag``) gets its exact DS-WL oracle from :func:`register_bag_oracle`.
:func:`oracle_names` lists the built-in :data:`ORACLES` and the registered ones. This
module is public: plugins may import every name of its ``__all__``.

Example
-------
>>> from wlkit import graphs
>>> from wlkit.wl import distinguishes
>>> distinguishes(graphs.shrikhande(), graphs.rook_graph(4), "1-WL")
False
>>> distinguishes(graphs.shrikhande(), graphs.rook_graph(4), "two_node_marked")
True
"""

from ._canon import canon_rows, distribution_ids, multiset_ids
from .oracles import (
    ORACLE_SUMMARIES,
    ORACLES,
    RegisteredOracle,
    WLResult,
    check_oracle,
    distinguishes,
    graph_classes,
    oracle_cost,
    oracle_names,
    oracle_patterns,
    oracle_summary,
    oracle_version,
    register_bag_oracle,
    register_oracle,
    register_oracle_family,
    registered_oracle,
    separated_pairs,
    separating_round,
    separation_rounds,
    wl_colors,
)
from .refine import fwl2_initial_colors, refine_1wl, refine_2fwl
from .subgraphs import (
    POLICIES,
    Bag,
    BagFn,
    BagUnion,
    Copy,
    copies_union,
    hop_reach,
    subgraph_bag,
)

__all__ = [
    "ORACLES",
    "ORACLE_SUMMARIES",
    "POLICIES",
    "Bag",
    "BagFn",
    "BagUnion",
    "Copy",
    "RegisteredOracle",
    "WLResult",
    "canon_rows",
    "check_oracle",
    "copies_union",
    "distribution_ids",
    "distinguishes",
    "fwl2_initial_colors",
    "graph_classes",
    "hop_reach",
    "multiset_ids",
    "oracle_cost",
    "oracle_names",
    "oracle_patterns",
    "oracle_summary",
    "oracle_version",
    "register_bag_oracle",
    "register_oracle",
    "register_oracle_family",
    "registered_oracle",
    "refine_1wl",
    "refine_2fwl",
    "separated_pairs",
    "separating_round",
    "separation_rounds",
    "subgraph_bag",
    "wl_colors",
]
