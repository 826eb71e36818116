"""Exact colour-refinement oracles (1-WL, 2-FWL, subgraph WL) for separation upper bounds.

The main entry points are :func:`distinguishes` (one pair), :func:`separated_pairs` (many
pairs, batched) and :func:`wl_colors` / :func:`graph_classes` (joint refinement of a list of
graphs). See :mod:`wlkit.wl.oracles` for exactly what every oracle computes.

Example
-------
>>> from wlkit import graphs
>>> from wlkit.wl import distinguishes
>>> distinguishes(graphs.shrikhande(), graphs.rook_graph(4), "1-WL")
False
>>> distinguishes(graphs.shrikhande(), graphs.rook_graph(4), "two_node_marked")
True
"""

from .oracles import (
    ORACLE_SUMMARIES,
    ORACLES,
    WLResult,
    check_oracle,
    distinguishes,
    graph_classes,
    separated_pairs,
    wl_colors,
)
from .refine import fwl2_initial_colors, refine_1wl, refine_2fwl
from .subgraphs import POLICIES, Bag, subgraph_bag

__all__ = [
    "ORACLES",
    "ORACLE_SUMMARIES",
    "POLICIES",
    "Bag",
    "WLResult",
    "check_oracle",
    "distinguishes",
    "fwl2_initial_colors",
    "graph_classes",
    "refine_1wl",
    "refine_2fwl",
    "separated_pairs",
    "subgraph_bag",
    "wl_colors",
]
