"""Built-in subgraph policies, one module per policy.

============  ==========================================================================
module        policy
============  ==========================================================================
rni           ``rni``: random node initialisation (Abboud et al. 2021)
ego           ``ego``: ESAN bags: k-hop ego-nets (EGO/EGO+), node- and edge-deleted; DS/DSS
node_marking  ``node_marking``: l marked nodes, base MPNN, pooled over tuples ((1,l)-WL)
spen          ``spen``: equivariant order-1/2 layers on every node's k-hop ego-net (SPEN)
spen_oracle   ``spen_h<k>``: SPEN's exact oracle (SPEN-WL), through ``wlkit_oracles``
============  ==========================================================================

This module registers them through :func:`wlkit_subgraph_policies` (one list of records)
and SPEN's oracle family through :func:`wlkit_oracles`.
"""

from __future__ import annotations

from wlkit import SubgraphPolicyRecord, hookimpl

from . import ego, node_marking, rni, spen
from .ego import EgoNetPolicy
from .node_marking import NodeMarkingPolicy
from .rni import RandomNodeInit
from .spen import SpenPolicy

# SPEN's exact oracle family spen_h<k>: imported here so this module's hookimpl registers it
from .spen_oracle import wlkit_oracles

__all__ = ["EgoNetPolicy", "NodeMarkingPolicy", "RandomNodeInit", "SpenPolicy",
           "wlkit_oracles", "wlkit_subgraph_policies"]


@hookimpl
def wlkit_subgraph_policies() -> list[SubgraphPolicyRecord]:
    # each record sits beside its class; this only collects them, in the documented order
    return [*rni.RECORDS, *ego.RECORDS, *node_marking.RECORDS, *spen.RECORDS]
