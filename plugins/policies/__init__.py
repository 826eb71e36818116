"""Built-in subgraph policies, one module per policy.

============  ==========================================================================
module        policy
============  ==========================================================================
rni           ``rni``: random node initialisation (Abboud et al. 2021)
ego           ``ego``: ESAN bags: k-hop ego-nets (EGO/EGO+), node- and edge-deleted; DS/DSS
node_marking  ``node_marking``: l marked nodes, base MPNN, pooled over tuples ((1,l)-WL)
spen          ``spen``: equivariant order-1/2 layers on every node's k-hop ego-net (SPEN)
============  ==========================================================================

This module registers them through :func:`wlkit_subgraph_policies` (one list of records).
"""

from __future__ import annotations

from wlkit import Param, SubgraphPolicyRecord, hookimpl

from .ego import BAGS, EGO_APPROXIMATE, EgoNetPolicy
from .node_marking import NodeMarkingPolicy
from .rni import DISTRIBUTIONS, EVAL_MODES, RNI_APPROXIMATE, RandomNodeInit
from .spen import SPEN_RECORD, SpenPolicy

__all__ = ["EgoNetPolicy", "NodeMarkingPolicy", "RandomNodeInit", "SpenPolicy",
           "wlkit_subgraph_policies"]

_POOLS = ("mean", "sum", "max")


@hookimpl
def wlkit_subgraph_policies() -> list[SubgraphPolicyRecord]:
    return [
        SubgraphPolicyRecord(
            name="rni", factory=RandomNodeInit,
            summary="Random node initialisation: part of the width is fresh noise every "
                    "pass (invariant in expectation).",
            params=(
                Param("ratio", float, 0.5, "fraction of the hidden width that is random",
                      minimum=0.0, maximum=1.0),
                Param("dist", str, "normal", "noise distribution", choices=DISTRIBUTIONS),
                Param("eval", str, "resample", "noise at evaluation time",
                      choices=EVAL_MODES),
                Param("k", int, 8, "draws averaged by eval: average_k", minimum=1),
                Param("seed", int, 0, "seed of the fixed / keyed noise tables", minimum=0),
            ),
            permutation_invariant=True, stochastic=True,
            expressivity="universal with high probability (invariant in expectation)",
            approximate=RNI_APPROXIMATE,
        ),
        SubgraphPolicyRecord(
            name="ego", factory=EgoNetPolicy,
            summary="ESAN bags (k-hop ego-nets, EGO+, node-/edge-deleted) with DS or DSS.",
            params=(
                Param("subgraphs", str, "ego", "the bag of subgraphs", choices=BAGS),
                Param("hops", int, 1, "ego-net radius", minimum=1, maximum=16),
                Param("root_mark", bool, False, "mark the ego-net root (EGO+)"),
                Param("mode", str, "ds", "DS-GNN, or DSS-GNN with cross-subgraph layers",
                      choices=("ds", "dss")),
                Param("sample_fraction", float, 1.0,
                      "fraction of each bag per training step (eval uses all)",
                      minimum=0.0, maximum=1.0),
                Param("bag_pool", str, "mean", "pooling over the subgraphs of a graph",
                      choices=_POOLS),
                Param("subgraph_mlp", bool, True,
                      "Linear + ELU per subgraph embedding before pooling (ds)"),
            ),
            expressivity=">1-WL; ds is bounded by DS-WL on its bag (oracles node_deleted, "
                         "ego1/ego2, ego1+/ego2+), dss by DSS-WL",
            approximate=EGO_APPROXIMATE,
        ),
        SubgraphPolicyRecord(
            name="node_marking", factory=NodeMarkingPolicy,
            summary="(1,l)-WL: l nodes marked with distinct ids, base MPNN, pooled over "
                    "ordered tuples.",
            params=(
                Param("marked", int, 1, "l, the number of marked nodes", choices=(1, 2)),
                Param("radius", int, None, "only tuples within this distance (l = 2)",
                      minimum=1, nullable=True),
                Param("sample_fraction", float, 1.0,
                      "fraction of each graph's tuples per training step (eval uses all)",
                      minimum=0.0, maximum=1.0),
                Param("tuple_pool", str, "mean", "pooling over the copies of a graph",
                      choices=_POOLS),
            ),
            expressivity=">1-WL (l=1: node-marked DS-WL); l=2: not 2-FWL-bounded",
        ),
        SPEN_RECORD,
    ]
