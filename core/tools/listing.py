"""The plugin listing shown by ``wlkit plugins`` and stored as ``plugins.json`` in runs."""

from __future__ import annotations

from typing import Any

from wlkit.manager import plugin_listing
from wlkit.records import FAMILIES

__all__ = ["PLURAL", "format_listing", "plugin_listing"]

PLURAL = {"aggregator": "aggregators", "positional_encoding": "positional encodings",
          "subgraph_policy": "subgraph policies", "readout": "readouts", "layer": "layers",
          "dataset": "datasets"}


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
