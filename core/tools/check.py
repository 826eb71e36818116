"""``wlkit check``: the conformance kit (:mod:`wlkit.testing`) over installed components.

Every component is built with its default parameters and put through the kit's checks:

``record``
    the record is well formed (:func:`wlkit.testing.assert_record`);
``defaults``
    every schema default equals the factory's signature default (parameters are declared
    once, in the schema; :mod:`wlkit.tools.schema`);
``bounds``
    the factory accepts every edge value its schema admits (each bound and choice, one
    parameter at a time);
``invariant``
    permutation invariance (graph outputs) or equivariance (node outputs), with the noise
    of stochastic components keyed by ``ndata["_node_key"]``;
``batch``
    a graph's output does not depend on the rest of its batch;
``determinism``
    two builds under one seed agree bit for bit, in eval and in training mode;
``gradients``
    finite gradients reach the weights and the inputs;
``contract``
    output shape, dtype, finiteness and device (every available device), and a
    ``state_dict`` round trip through ``torch.load(weights_only=True)``;
``separation``
    the classic 1-WL-equivalent pairs (:func:`wlkit.graphs.classic_pairs`) embedded by a
    tiny random-weight model using the component, decided like ``wlkit separate`` (fewer
    relabelings), against the bound the record declares: a component claiming at most
    1-WL must separate none of them, a policy no pair its ``wl_oracle`` cannot.

Datasets get ``record``, ``defaults`` and ``info`` (``info()`` works while ``load`` and
``prepare_data`` are disabled, and returns a valid :class:`wlkit.DatasetInfo`).

A component is **red** when a check fails: invariance counts only when the record claims
it (a component declared not invariant is expected to fail it), and separating a pair
beyond the declared bound is a failure. ``wlkit check`` exits with 1 when any component is
red.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from wlkit.errors import WlkitError
from wlkit.manager import Registry, get_registry
from wlkit.params import REQUIRED, check_params, choices_hint
from wlkit.records import FAMILIES, Registered
from wlkit.tools import schema, tables

CHECKS: tuple[str, ...] = ("record", "defaults", "bounds", "invariant", "batch", "determinism",
                           "gradients", "contract")
"""The kit's checks, in table order (``separation`` follows)."""

SEPARATION_RELABELINGS = 16
SEPARATION_OUTPUT_DIM = 4
SEPARATION_HIDDEN = 16

_AT_MOST_1WL = ("1-WL", "<1-WL", "<=1-WL", "≤1-WL")


def claims_at_most_1wl(expressivity: str) -> bool:
    """Whether an expressivity text declares the component at most as strong as 1-WL
    (``1-WL``, ``<1-WL``, ``<=1-WL``, optionally followed by remarks)."""
    text = expressivity.strip()
    return any(text == p or text.startswith(p + " ") or text.startswith(p + ";")
               or text.startswith(p + ",") or text.startswith(p + " (")
               for p in _AT_MOST_1WL)


def claims_beyond_1wl(expressivity: str) -> bool:
    """Whether an expressivity text declares more than 1-WL."""
    text = expressivity.strip().lower()
    return text.startswith(">") or "universal" in text or "not 2-fwl-bounded" in text


# ---------------------------------------------------------------------------------- one


def _result(status: str, detail: str = "") -> dict[str, str]:
    return {"status": status, "detail": detail}


def _attempt(function: Callable[[], Any]) -> dict[str, str]:
    try:
        function()
    except AssertionError as exc:
        return _result("fail", _short(str(exc)))
    except Exception as exc:
        return _result("fail", f"crashed: {type(exc).__name__}: {_short(str(exc))}")
    return _result("pass")


def _short(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_component(entry: Registered, *, registry: Registry | None = None,
                    params: dict[str, Any] | None = None, separation: bool = True,
                    seed: int = 0) -> dict[str, Any]:
    """Run the kit on one registered component; a JSON-friendly row (see the module doc).

    Weights are drawn under ``seed``; torch's global random state is restored afterwards.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _check_component(entry, registry, params, separation, seed)


def _check_component(entry: Registered, registry: Registry | None,
                     params: dict[str, Any] | None, separation: bool,
                     seed: int) -> dict[str, Any]:
    from wlkit import testing

    registry = registry or get_registry()
    record = entry.record
    family = record.family
    row: dict[str, Any] = {
        "family": family, "name": record.name, "source": entry.source,
        "version": entry.version, "claims": record.facts(),
        "checks": {name: _result("n/a") for name in CHECKS},
        "separation": None, "refused": {}, "notes": [], "red": False,
    }
    row["claims"].pop("approximate", None)
    checks = row["checks"]
    checks["record"] = _attempt(lambda: testing.assert_record(record))
    checks["defaults"] = schema.check_defaults(record)
    if family == "dataset":  # building one at its bounds could touch files: no "bounds"
        for name in CHECKS[2:]:
            checks.pop(name)
        checks["info"] = _check_dataset(record, params)
        return _finish(row)
    checks["bounds"], refusals = schema.check_bounds(entry, registry)
    row["notes"] += refusals
    required = [p.name for p in record.params if p.default is REQUIRED
                and p.name not in (params or {})]
    if required:
        _skip_all(row, f"needs parameter(s) {', '.join(required)}")
        return _finish(row)
    try:
        probe = testing.probe_for(family, record.name, params, registry)
        graphs, refused = testing.usable_graphs(probe, seed=seed)
    except testing.ComponentRefused as exc:
        _skip_all(row, str(exc))
        return _finish(row)
    except Exception as exc:
        checks["contract"] = _result("fail", "cannot be built and run with its default "
                                     f"parameters: {type(exc).__name__}: {_short(str(exc))}")
        for name in CHECKS[3:-1]:
            checks[name] = _result("skip", "not built")
        return _finish(row)
    row["refused"] = refused

    invariance = _attempt(lambda: testing.assert_permutation_invariant(probe, graphs, seed=seed))
    if not record.permutation_invariant:
        invariance = (_result("no", invariance["detail"]) if invariance["status"] == "fail"
                      else _result("yes", "invariant here although the record says it is not "
                                          "(with its default parameters and the kit's graphs)"))
    checks["invariant"] = invariance
    checks["batch"] = _attempt(lambda: testing.assert_batch_independent(probe, graphs, seed=seed))
    checks["determinism"] = _attempt(lambda: testing.assert_deterministic(probe, graphs,
                                                                         seed=seed))
    trainable = probe.module is not None and any(p.requires_grad
                                                 for p in probe.module.parameters())
    if not trainable and not probe.input_keys():
        checks["gradients"] = _result("n/a", "no trainable parameters, no float inputs")
    else:
        checks["gradients"] = _attempt(lambda: testing.assert_gradient_flow(probe, graphs,
                                                                           seed=seed))

    def contract() -> None:
        testing.assert_output_contract(probe, graphs, seed=seed)
        for device in testing.available_devices():
            testing.assert_device_placement(probe, graphs, device=device, seed=seed)
        testing.assert_state_dict_roundtrip(probe, graphs, seed=seed)

    checks["contract"] = _attempt(contract)
    if separation:
        try:
            row["separation"] = separation_check(entry, probe, registry, params, seed)
        except Exception as exc:
            row["separation"] = {"error": f"{type(exc).__name__}: {_short(str(exc))}"}
    return _finish(row)


def _skip_all(row: dict[str, Any], reason: str) -> None:
    for name in CHECKS[3:]:  # record, defaults and bounds need no default build
        row["checks"][name] = _result("skip", reason)


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    failed = [n for n, r in row["checks"].items() if r["status"] == "fail"]
    sep = row["separation"] or {}
    if sep.get("beyond_bound") or sep.get("error"):
        failed.append("separation")
    row["failed"] = failed
    row["red"] = bool(failed)
    if row["checks"].get("invariant", {}).get("status") == "yes":
        row["notes"].append("invariant with the defaults, although the record says it is not")
    if sep.get("weak"):
        row["notes"].append(sep["weak"])
    for item in sep.get("refused", []):
        row["notes"].append(f"refuses the pair {item['pair']!r}: {item['refused']}")
    for graph, why in row["refused"].items():
        row["notes"].append(f"refuses graph {graph!r}: {why}")
    return row


# ---------------------------------------------------------------------------- datasets


def _check_dataset(record: Any, params: dict[str, Any] | None) -> dict[str, str]:
    from wlkit.components import DatasetInfo, GraphDataset

    resolved, problems = check_params(record.params, dict(params or {}))
    if problems:
        return _result("skip", "; ".join(f"{k}: {m}" for k, m, _ in problems))
    try:
        dataset = record.factory(**resolved)
    except WlkitError as exc:
        return _result("skip", "not built with its default parameters: "
                       + str(exc).split("\n")[0])
    except Exception as exc:
        return _result("fail", f"the factory crashed with its default parameters: "
                       f"{type(exc).__name__}: {_short(str(exc))}")
    if not isinstance(dataset, GraphDataset):
        return _result("fail", f"the factory returned {type(dataset).__name__}, not a "
                       "wlkit.GraphDataset")

    class _Loaded(Exception):
        pass

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise _Loaded

    dataset.load = forbidden  # type: ignore[method-assign]
    dataset.prepare_data = forbidden  # type: ignore[method-assign]
    start = time.perf_counter()
    try:
        info = dataset.info()
    except _Loaded:
        return _result("fail", "info() called load() or prepare_data(); it must work "
                       "without loading the data")
    except WlkitError as exc:
        return _result("skip", "info() needs the data: " + str(exc).split("\n")[0])
    except Exception as exc:
        return _result("fail", f"info() crashed: {type(exc).__name__}: {_short(str(exc))}")
    took = time.perf_counter() - start
    problems = []
    if not isinstance(info, DatasetInfo):
        return _result("fail", f"info() returned {type(info).__name__}, not a DatasetInfo")
    if info.task not in ("multiclass", "binary", "regression"):
        problems.append(f"task {info.task!r} is not multiclass, binary or regression")
    if not isinstance(info.num_tasks, int) or info.num_tasks < 1:
        problems.append(f"num_tasks {info.num_tasks!r} must be a positive int")
    if not isinstance(info.metric, str) or not info.metric:
        problems.append("metric must be a non-empty string")
    if not isinstance(info.higher_is_better, bool):
        problems.append("higher_is_better must be true or false")
    for key in ("node_feat_dim", "edge_feat_dim"):
        value = getattr(info, key)
        if not isinstance(value, int) or value < 0:
            problems.append(f"{key} {value!r} must be an int >= 0")
    if problems:
        return _result("fail", "; ".join(problems))
    unit = ("class" if info.task == "multiclass" else "task") + (
        "es" if info.task == "multiclass" and info.num_tasks != 1 else
        "s" if info.num_tasks != 1 else "")
    slow = f"; info() took {took:.1f} s" if took > 2.0 else ""
    return _result("pass", f"{info.task}, {info.num_tasks} {unit}, {info.metric}{slow}")


# -------------------------------------------------------------------------- separation


def _spec(registry: Registry, family: str, name: str,
          params: dict[str, Any] | None = None) -> dict[str, Any]:
    resolved, problems = check_params(registry.get(family, name).params, dict(params or {}))
    if problems:
        raise WlkitError(f"{family} {name!r}: " + "; ".join(f"{k}: {m}" for k, m, _ in problems))
    return {"name": name, **resolved}


def separation_pipeline(family: str, name: str, registry: Registry,
                        params: dict[str, Any] | None = None,
                        num_layers: int = 3) -> dict[str, Any]:
    """The tiny resolved pipeline embedding the classic pairs: gin + sum aggregator + sum
    readout, with the component under test in its slot."""
    model = {"layer": _spec(registry, "layer", "gin"),
             "aggregator": _spec(registry, "aggregator", "sum"),
             "readout": _spec(registry, "readout", "sum"),
             "num_layers": num_layers, "hidden": SEPARATION_HIDDEN, "dropout": 0.0,
             "residual": False, "virtual_node": False, "norm": "batch", "head_layers": 1}
    pipeline: dict[str, Any] = {"model": model, "encodings": [], "policy": None}
    spec = _spec(registry, family, name, params)
    if family in ("aggregator", "readout", "layer"):
        model[family] = spec
    elif family == "positional_encoding":
        pipeline["encodings"] = [spec]
    elif family == "subgraph_policy":
        pipeline["policy"] = spec
    return pipeline


def separation_check(entry: Registered, probe: Any, registry: Registry,
                     params: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    """Embed the classic pairs with a tiny model using the component; compare with the
    bound its record declares."""
    from wlkit.graphs import classic_pairs
    from wlkit.tools.separate import SeparateSettings, Separator
    from wlkit.wl import distinguishes

    record = entry.record
    layers = getattr(probe, "used_layers", None) or 3
    pipeline = separation_pipeline(record.family, record.name, registry, params, layers)
    settings = SeparateSettings(relabelings=SEPARATION_RELABELINGS,
                                output_dim=SEPARATION_OUTPUT_DIM, seed=seed, batch_size=64)
    separator = Separator(pipeline, 0, settings, registry)
    bound = None
    if record.family == "subgraph_policy":
        bound = separator.policy_oracle()
    if bound is None and record.permutation_invariant and claims_at_most_1wl(
            record.expressivity):
        bound = "1-WL"
    pairs, refused = [], []
    for index, (pair_id, _category, first, second) in enumerate(classic_pairs()):
        try:
            decision = separator.decide(first, second, index)
        except WlkitError as exc:  # a documented limit, e.g. lappe's k >= graph size
            refused.append({"pair": pair_id, "refused": str(exc).split("\n")[0]})
            continue
        item = {"pair": pair_id, "separated": decision["separated"],
                "reliable": decision["reliable"], "t2": decision["t2"],
                "control_t2": decision["control_t2"]}
        if bound is not None:
            item["bound"] = bool(distinguishes(first, second, bound))
        pairs.append(item)
    separated = sum(p["separated"] for p in pairs)
    beyond = [p["pair"] for p in pairs if p["separated"] and bound is not None
              and not p["bound"]]
    out: dict[str, Any] = {
        "separated": separated, "total": len(pairs),
        "unreliable": sum(not p["reliable"] for p in pairs),
        "bound": bound,
        "bound_separated": (sum(p["bound"] for p in pairs) if bound is not None else None),
        "beyond_bound": beyond, "pairs": pairs, "refused": refused,
        "threshold": round(separator.threshold, 4),
    }
    if beyond:
        t2 = {p["pair"]: p["t2"] for p in pairs}  # None: infinite
        named = ", ".join(f"{pair!r} (T2 {'inf' if t2[pair] is None else f'{t2[pair]:.3g}'} "
                          f"> threshold {separator.threshold:.3g})" for pair in beyond)
        out["detail"] = (f"separates the pair(s) {named}, which its declared bound {bound} "
                         "does not separate: a bug, or the record's expressivity is wrong")
    if claims_beyond_1wl(record.expressivity) and separated == 0:
        out["weak"] = ("declares more than 1-WL but a random-weight model separates none of "
                       "the classic pairs")
    return out


def separation_failure(sep: dict[str, Any] | None) -> str | None:
    """Why a separation result fails the kit, naming the pairs and the bound; None if not.

    Parameters
    ----------
    sep : dict or None
        The ``separation`` entry of a :func:`check_component` row.
    """
    if not sep:
        return None
    if sep.get("error"):
        return f"the classic pairs could not be embedded: {sep['error']}"
    if sep.get("beyond_bound"):
        return sep.get("detail") or (f"separates {', '.join(map(repr, sep['beyond_bound']))}, "
                                     f"beyond its declared bound {sep.get('bound')}")
    return None


# ------------------------------------------------------------------------------ command


def select(registry: Registry, names: Sequence[str] = (),
           family: str | None = None) -> list[Registered]:
    """The components to check: ``names`` (in any family, or in ``family``), else all."""
    families = [family] if family else list(FAMILIES)
    if family is not None and family not in FAMILIES:
        raise WlkitError(f"unknown family {family!r}; {choices_hint(family, FAMILIES)}")
    if not names:
        return [e for f in families for e in registry.entries(f)]
    chosen: list[Registered] = []
    for name in names:
        found = [registry.entry(f, name) for f in families if (f, name) in registry]
        if not found:
            everything = {n for f in families for n in registry.names(f)}
            where = f" among the {family}s" if family else ""
            raise WlkitError(f"no component named {name!r}{where}; "
                             f"{choices_hint(name, everything)}")
        chosen += [e for e in found if e not in chosen]
    return chosen


def run_check(names: Sequence[str] = (), family: str | None = None, *,
              separation: bool = True, seed: int = 0, registry: Registry | None = None,
              progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Check the selected components; one row per component (see :func:`check_component`)."""
    registry = registry or get_registry()
    entries = select(registry, names, family)
    rows = []
    for i, entry in enumerate(entries):
        if progress is not None:
            progress(f"[{i + 1}/{len(entries)}] {entry.record.family} {entry.record.name}")
        rows.append(check_component(entry, registry=registry, separation=separation,
                                    seed=seed))
    return rows


_SHOW = {"pass": "ok", "fail": "FAIL", "skip": "skip", "n/a": "-", "no": "no", "yes": "yes?"}


def _separation_cell(sep: dict[str, Any] | None) -> str:
    if sep is None:
        return "-"
    if "error" in sep:
        return "FAIL (crashed)"
    text = f"{sep['separated']}/{sep['total']}"
    if sep["bound"] is not None:
        text += f" (bound {sep['bound']}: {sep['bound_separated']})"
    if sep["unreliable"]:
        text += f", {sep['unreliable']} unreliable"
    if sep.get("refused"):
        text += f", {len(sep['refused'])} refused"
    if sep["beyond_bound"]:
        text += " FAIL"
    return text


def format_table(rows: list[dict[str, Any]]) -> str:
    """The human-readable report: one table for model components, one for datasets, then
    every failure and note."""
    lines: list[str] = []
    components = [r for r in rows if r["family"] != "dataset"]
    datasets = [r for r in rows if r["family"] == "dataset"]

    def table(header: list[str], body: list[list[str]]) -> None:
        lines.extend(tables.format_table(header, body, align="l" * len(header), strip=True))

    if components:
        header = ["family", "name", "source", *CHECKS, "separation", "result"]
        body = [[r["family"], r["name"], f"{r['source']} {r['version']}".strip(),
                 *[_SHOW[r["checks"][c]["status"]] for c in CHECKS],
                 _separation_cell(r["separation"]), "RED" if r["red"] else "pass"]
                for r in components]
        table(header, body)
    if datasets:
        if components:
            lines.append("")
        body = [[r["name"], f"{r['source']} {r['version']}".strip(),
                 _SHOW[r["checks"]["record"]["status"]],
                 _SHOW[r["checks"]["defaults"]["status"]],
                 f"{_SHOW[r['checks']['info']['status']]} ({r['checks']['info']['detail']})"
                 if r["checks"]["info"]["status"] in ("pass", "skip")
                 else _SHOW[r["checks"]["info"]["status"]],
                 "RED" if r["red"] else "pass"] for r in datasets]
        table(["dataset", "source", "record", "defaults", "info", "result"], body)
    red = [r for r in rows if r["red"]]
    if red:
        lines += ["", "failures:"]
        for r in red:
            for check in r["failed"]:
                detail = (r["separation"].get("detail") or r["separation"].get("error", "")
                          if check == "separation" else r["checks"][check]["detail"])
                lines.append(f"  {r['family']} {r['name']}: {check}: "
                             + detail.replace("\n", "\n      "))
    noted = [r for r in rows if r["notes"]]
    if noted:
        lines += ["", "notes:"]
        for r in noted:
            for note in r["notes"]:
                lines.append(f"  {r['family']} {r['name']}: {note}")
    if components:
        lines += ["", "invariant: ok = claimed and holds, FAIL = claimed and broken, no = "
                  "declared not invariant (and is not), yes? = declared not invariant but is "
                  "with the defaults. separation: classic 1-WL-equivalent pairs separated by "
                  "a random-weight model / total (bound: what the declared oracle separates)."]
    checked = len(rows)
    lines += ["", f"{checked} component(s) checked, {len(red)} red"]
    return "\n".join(lines) + "\n"


def main(names: Sequence[str], family: str | None, *, as_json: bool, separation: bool,
         seed: int, quiet: bool = False) -> int:
    """``wlkit check``: print the report; 1 when a component is red, else 0."""
    say = None if quiet or not sys.stderr.isatty() else (
        lambda line: print(line, file=sys.stderr, flush=True))
    rows = run_check(names, family, separation=separation, seed=seed, progress=say)
    if as_json:
        from wlkit import __version__

        print(json.dumps({"wlkit": __version__, "seed": seed, "separation": separation,
                          "components": rows}, indent=2, default=str))
    else:
        print(format_table(rows), end="")
    return 1 if any(r["red"] for r in rows) else 0
