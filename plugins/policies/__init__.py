"""Built-in subgraph policies, one module per policy.

============  ==========================================================================
module        policy
============  ==========================================================================
rni           ``rni``: random node initialisation (Abboud et al. 2021)
ego           ``ego``: ESAN bags: k-hop ego-nets (EGO/EGO+), node- and edge-deleted; DS/DSS
node_marking  ``node_marking``: l marked nodes, base MPNN, pooled over tuples ((1,l)-WL)
spen          ``spen``: equivariant order-1/2 layers on every node's k-hop ego-net (SPEN)
ppgn          ``ppgn``: dense pair tensors, matrix-product blocks (PPGN, <= 2-FWL)
spen_oracle   ``spen_h<k>``: SPEN's exact oracle (SPEN-WL), through ``wlkit_oracles``
esan_oracle   ``esan_<mode>_<bag>``: DSS-WL and the DS-WL bags wlkit.wl lacks (edge-deleted)
marking_...   ``two_node_marked_r<r>``: localized 2-node marking's oracle (``marking_oracle``)
============  ==========================================================================

This module registers them through :func:`wlkit_subgraph_policies` (one list of records)
and the oracle families of SPEN, ESAN and localized node marking through :func:`wlkit_oracles`.
"""

from __future__ import annotations

from wlkit import OracleFamilyRecord, SubgraphPolicyRecord, hookimpl

from . import ego, esan_oracle, marking_oracle, node_marking, ppgn, rni, spen, spen_oracle
from .ego import EgoNetPolicy
from .node_marking import NodeMarkingPolicy
from .rni import RandomNodeInit
from .spen import SpenPolicy

__all__ = ["EgoNetPolicy", "NodeMarkingPolicy", "RandomNodeInit", "SpenPolicy",
           "wlkit_oracles", "wlkit_subgraph_policies"]


@hookimpl
def wlkit_subgraph_policies() -> list[SubgraphPolicyRecord]:
    # each record sits beside its class; this only collects them, in the documented order
    return [*rni.RECORDS, *ego.RECORDS, *node_marking.RECORDS, *spen.RECORDS, *ppgn.RECORDS]


@hookimpl
def wlkit_oracles() -> list[OracleFamilyRecord]:
    # one hookimpl per module: the families of the oracle modules
    return [*spen_oracle.wlkit_oracles(), *esan_oracle.wlkit_oracles(),
            *marking_oracle.wlkit_oracles()]
