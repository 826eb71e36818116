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
