"""The plugin listing shown by ``wlkit plugins`` and stored as ``plugins.json`` in runs."""

from __future__ import annotations

from typing import Any

from wlkit.manager import Registry, get_registry
from wlkit.records import FAMILIES

PLURAL = {"aggregator": "aggregators", "positional_encoding": "positional encodings",
          "subgraph_policy": "subgraph policies", "readout": "readouts", "layer": "layers",
          "dataset": "datasets"}


def plugin_listing(registry: Registry | None = None) -> list[dict[str, Any]]:
    """One JSON-friendly object per component, ordered by family then name."""
    registry = registry or get_registry()
    rows = []
    for family in FAMILIES:
        for entry in registry.entries(family):
            record = entry.record
            rows.append({
                "family": family,
                "name": record.name,
                "source": entry.source,
                "version": entry.version,
                "plugin": entry.plugin,
                "summary": record.summary,
                "params": [p.describe() for p in record.params],
                **record.facts(),
            })
    return rows


def format_listing(rows: list[dict[str, Any]]) -> str:
    """Human-readable table grouped by family."""
    lines: list[str] = []
    for family in FAMILIES:
        members = [r for r in rows if r["family"] == family]
        lines.append(f"{PLURAL[family]} ({len(members)})")
        if not members:
            lines.append("  (none)")
        width = max((len(r["name"]) for r in members), default=0)
        for r in members:
            flags = [r["expressivity"]] if family != "dataset" else []
            if not r["permutation_invariant"]:
                flags.append("NOT permutation invariant")
            if r["stochastic"]:
                flags.append("stochastic")
            if r.get("approximate"):
                flags.append("approximate")
            params = ", ".join(f"{p['name']}={p['default']}" for p in r["params"])
            lines.append(f"  {r['name']:<{width}}  [{r['source']} {r['version']}] "
                         f"{r['summary']}")
            details = (f"({'; '.join(flags)}) " if flags else "") + (
                f"params: {params}" if params else "")
            if details:
                lines.append(f"  {'':<{width}}  {details.rstrip()}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
