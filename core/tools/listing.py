"""The plugin listing shown by ``wlkit plugins`` and stored as ``plugins.json`` in runs."""

from __future__ import annotations

from typing import Any

from wlkit.manager import Registry, get_registry
from wlkit.records import FAMILIES

PLURAL = {"aggregator": "aggregators", "positional_encoding": "positional encodings",
          "subgraph_policy": "subgraph policies", "readout": "readouts", "layer": "layers",
          "dataset": "datasets"}


def plugin_listing(registry: Registry | None = None) -> list[dict[str, Any]]:
    """One JSON-friendly object per component, ordered by family then name.

    A name registered by two third-party plugins gets one row per plugin, each with
    ``"clash"``: the distributions registering it (pipelines using that name fail).
    """
    registry = registry or get_registry()
    rows = []
    for family in FAMILIES:
        entries = [(entry, None) for entry in registry.entries(family)]
        for clashed in registry.clashes(family).values():
            sources = [e.source for e in clashed]
            entries += [(entry, sources) for entry in clashed]
        entries.sort(key=lambda item: item[0].record.name)  # stable: plugin order kept
        for entry, clash in entries:
            record = entry.record
            row = {
                "family": family,
                "name": record.name,
                "source": entry.source,
                "version": entry.version,
                "plugin": entry.plugin,
                "summary": record.summary,
                "params": [p.describe() for p in record.params],
                **record.facts(),
            }
            if clash is not None:
                row["clash"] = clash
            rows.append(row)
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
            if r.get("clash"):
                flags.insert(0, f"CLASH: also registered by "
                             f"{', '.join(s for s in r['clash'] if s != r['source']) or 'itself'}"
                             "; pipelines using it fail")
            params = ", ".join(f"{p['name']}={p['default']}" for p in r["params"])
            lines.append(f"  {r['name']:<{width}}  [{r['source']} {r['version']}] "
                         f"{r['summary']}")
            details = (f"({'; '.join(flags)}) " if flags else "") + (
                f"params: {params}" if params else "")
            if details:
                lines.append(f"  {'':<{width}}  {details.rstrip()}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
