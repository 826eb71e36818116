"""Plugin records: what a plugin hands to wlkit for each component it provides.

A record is plain data: a name, a factory, a parameter schema and the facts reports use.
Registration never depends on import side effects; a hook returns a list of records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from wlkit.params import Param

FAMILIES: tuple[str, ...] = (
    "aggregator",
    "positional_encoding",
    "subgraph_policy",
    "readout",
    "layer",
    "dataset",
)
"""Component families, one registration hook each (``wlkit_<family>s``)."""


@dataclass(frozen=True, kw_only=True)
class ComponentRecord:
    """Common fields of every component record.

    Parameters
    ----------
    name : str
        Name used in pipelines (``aggregator: lcm``). Lower case, unique within its family.
    factory : callable
        Builds the component; the call convention depends on the family (see the hooks in
        :mod:`wlkit.hookspecs`). Validated parameters are passed as keyword arguments.
    summary : str
        One line for ``wlkit plugins``.
    params : tuple of Param
        Typed parameter schema with defaults and docs.
    permutation_invariant : bool
        Whether the component's output is invariant (or equivariant) to node relabelling.
    stochastic : bool
        Whether outputs are random at evaluation time (e.g. random node features).
    expressivity : str
        Expressivity class for reports, e.g. ``"1-WL"``, ``">1-WL"``, ``"not 2-FWL-bounded"``.
    approximate : str, optional
        How the implementation departs from its paper, if at all.
    """

    family: ClassVar[str] = ""
    name: str
    factory: Callable[..., Any]
    summary: str
    params: tuple[Param, ...] = ()
    permutation_invariant: bool = True
    stochastic: bool = False
    expressivity: str = "1-WL"
    approximate: str | None = None

    def facts(self) -> dict[str, Any]:
        """Flags shown by ``wlkit plugins``."""
        out: dict[str, Any] = {
            "permutation_invariant": self.permutation_invariant,
            "stochastic": self.stochastic,
            "expressivity": self.expressivity,
        }
        if self.approximate:
            out["approximate"] = self.approximate
        return out


@dataclass(frozen=True, kw_only=True)
class AggregatorRecord(ComponentRecord):
    """An aggregator: ``factory(dim, **params)`` returns an :class:`wlkit.Aggregator`."""

    family: ClassVar[str] = "aggregator"


@dataclass(frozen=True, kw_only=True)
class ReadoutRecord(ComponentRecord):
    """A readout: ``factory(dim, **params)`` returns an :class:`wlkit.Readout`."""

    family: ClassVar[str] = "readout"


@dataclass(frozen=True, kw_only=True)
class LayerRecord(ComponentRecord):
    """A message-passing layer: ``factory(dim, aggregator, **params)``.

    ``uses_aggregator`` says whether the layer reduces neighbourhoods with the pipeline's
    aggregator; ``uses_edge_features`` whether it reads encoded edge features.
    """

    family: ClassVar[str] = "layer"
    uses_aggregator: bool = True
    uses_edge_features: bool = False

    def facts(self) -> dict[str, Any]:
        return {**super().facts(), "uses_aggregator": self.uses_aggregator,
                "uses_edge_features": self.uses_edge_features}


@dataclass(frozen=True, kw_only=True)
class PositionalEncodingRecord(ComponentRecord):
    """A positional encoding: ``factory(**params)`` returns a :class:`wlkit.PositionalEncoding`."""

    family: ClassVar[str] = "positional_encoding"


@dataclass(frozen=True, kw_only=True)
class SubgraphPolicyRecord(ComponentRecord):
    """A subgraph policy: ``factory(**params)`` returns a policy object (see the hook docs).

    ``needs_edge_features`` says whether the policy itself reads ``edata['feat']`` whatever
    the layer; ``wlkit validate`` then refuses datasets without edge features.
    """

    family: ClassVar[str] = "subgraph_policy"
    needs_edge_features: bool = False

    def facts(self) -> dict[str, Any]:
        out = super().facts()
        if self.needs_edge_features:
            out["needs_edge_features"] = True
        return out


@dataclass(frozen=True, kw_only=True)
class DatasetRecord(ComponentRecord):
    """A dataset: ``factory(**params)`` returns a :class:`wlkit.GraphDataset`."""

    family: ClassVar[str] = "dataset"


RECORD_TYPES: dict[str, type[ComponentRecord]] = {
    cls.family: cls
    for cls in (AggregatorRecord, ReadoutRecord, LayerRecord, PositionalEncodingRecord,
                SubgraphPolicyRecord, DatasetRecord)
}


@dataclass
class Registered:
    """A record together with where it came from."""

    record: ComponentRecord
    source: str
    version: str
    plugin: str = field(default="")


# --- records of the WL tools: suites and oracles (not component families) ---------------


@dataclass(frozen=True, kw_only=True)
class WLSuiteRecord:
    """A WL-separation suite, from the hook ``wlkit_wl_suites``.

    Parameters
    ----------
    name : str
        The ``--suite`` name (lower case, as component names).
    factory : callable
        ``factory(root: str | None) -> wlkit.WLSuite``; ``root`` is ``--root`` or None.
    summary : str
        One line for ``wlkit separate --help`` and error hints.
    needs_files : bool
        Whether the suite reads files under ``root`` (it then fails without one).
    accepts_root : bool, optional
        Whether ``--root`` is accepted at all (default: ``needs_files``); e.g. CSL is
        generated in code but may read the reference files instead.
    """

    name: str
    factory: Callable[[str | None], Any]
    summary: str
    needs_files: bool = False
    accepts_root: bool | None = None

    @property
    def takes_root(self) -> bool:
        """Whether ``--root`` is accepted (``accepts_root``, default ``needs_files``)."""
        return self.needs_files if self.accepts_root is None else self.accepts_root


@dataclass(frozen=True, kw_only=True)
class OracleRecord:
    """An exact WL oracle, from the hook ``wlkit_oracles`` (see :mod:`wlkit.wl`).

    Give exactly one of ``refine`` and ``bag``.

    Parameters
    ----------
    name : str
        Letters, digits and ``_ + . -``; not a built-in oracle name.
    summary : str
        One line for reports.
    refine : callable, optional
        ``refine(graphs) -> (node_colours, rounds)``: joint colours of all graphs in one
        palette (see :func:`wlkit.wl.register_oracle`).
    bag : callable, optional
        ``bag(graph) -> wlkit.wl.Bag | list[wlkit.wl.Copy]``: the copies a subgraph policy
        builds; wlkit refines every copy with 1-WL and folds the colours as DS-WL does
        (:func:`wlkit.wl.register_bag_oracle`).
    version : str
        Bump it when the answers change (caches of oracle answers are keyed by it).
    cost : callable, optional
        ``cost(graph) -> int`` work units of one graph (budgets of ``wlkit analyze`` and
        batching); default n + m + 1 (``refine``) or n (n + m) + 1 (``bag``).
    layer_rounds : bool
        ``refine`` only: round ``t`` of the refinement bounds layer ``t`` of the model, so
        ``wlkit separate`` compares the rounds each pair needs with ``model.num_layers`` and
        gives the pairs that need more the reason ``depth`` (a bag oracle always maps rounds
        to the base MPNN's layers). Needs ``refine`` to return its per-round history.
    """

    name: str
    summary: str
    refine: Callable[..., Any] | None = None
    bag: Callable[..., Any] | None = None
    version: str = "1"
    cost: Callable[..., int] | None = None
    layer_rounds: bool = False


@dataclass(frozen=True, kw_only=True)
class OracleFamilyRecord:
    """A family of oracles named ``prefix...``, resolved on first use (``wlkit_oracles``).

    Parameters
    ----------
    prefix : str
        Every name of the family starts with it (e.g. ``"path_"``).
    resolve : callable
        ``resolve(name) -> OracleRecord | None``: the oracle of that name, or None when the
        name is not one of the family. Called once per name.
    pattern : str
        The names in words for hints (e.g. ``"path_ap_K<K>[_dist]"``).
    """

    prefix: str
    resolve: Callable[[str], OracleRecord | None]
    pattern: str
