"""Load, override and validate a pipeline before any data loads."""

from __future__ import annotations

import copy
import inspect
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wlkit.errors import PipelineError, Problem, WlkitError
from wlkit.manager import Registry, get_host
from wlkit.params import Param, check_params, choices_hint
from wlkit.pipeline.schema import (
    LOSSES_BY_TASK,
    PRECISION_ALIASES,
    SECTIONS,
    TOP_LEVEL,
    TRAINER,
    TRAINER_KEYS_SET_BY_WLKIT,
    Slot,
)
from wlkit.pipeline.yamlio import YamlPath, format_path, load_with_lines, safe_load


@dataclass
class Pipeline:
    """A validated pipeline: every default filled in, every component a ``{name: ...}`` map.

    ``data`` dumped with :meth:`dump` is itself a valid pipeline that runs the same way.
    """

    data: dict[str, Any]
    path: str | None = None

    @property
    def name(self) -> str:
        return self.data["name"]

    def dump(self) -> str:
        return yaml.safe_dump(self.data, sort_keys=False, default_flow_style=False)


def parse_overrides(items: list[str] | tuple[str, ...]) -> list[tuple[YamlPath, Any, str]]:
    """Parse ``a.b=c`` overrides; values are YAML scalars or flow collections."""
    parsed = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise PipelineError([Problem(f"cannot parse override {item!r}", file="--set",
                                         hint="write --set section.key=value, "
                                              "e.g. --set model.hidden=128")])
        try:
            value = safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise PipelineError([Problem(f"value of {key} is not valid YAML: {exc}",
                                         file="--set")]) from None
        path = tuple(int(p) if p.isdigit() else p for p in key.strip().split("."))
        parsed.append((path, value, item))
    return parsed


def _apply_override(data: dict, path: YamlPath, value: Any, item: str) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        child = node[part] if _has(node, part) else None
        if child is None:
            child = {}
        elif isinstance(child, str) and not isinstance(path[depth + 1], int):
            child = {"name": child}  # descend into a component given by name
        elif not isinstance(child, (dict, list)):
            raise PipelineError([Problem(f"cannot set {format_path(path)}: "
                                         f"{format_path(path[:depth + 1])} is a "
                                         f"{type(child).__name__}", file="--set",
                                         hint=f"override it whole: --set "
                                              f"{format_path(path[:depth + 1])}=...")])
        _set(node, part, child, item)
        node = child
    _set(node, path[-1], value, item)


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _set(node: Any, part: Any, value: Any, item: str) -> None:
    if isinstance(node, dict):
        node[part] = value
    elif isinstance(part, int) and 0 <= part <= len(node):
        node[part:part + 1] = [value]
    else:
        raise PipelineError([Problem(f"in {item!r}: list index {part} is out of range",
                                     file="--set")])


def load_pipeline(source: str | Path, overrides: list[str] | tuple[str, ...] = (),
                  registry: Registry | None = None) -> Pipeline:
    """Read, override and validate a pipeline file; raise :class:`PipelineError` on problems."""
    file = str(source)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WlkitError(f"{file}: no such pipeline file\n    hint: ready pipelines are in "
                         "pipelines/, e.g. pipelines/quickstart.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WlkitError(f"{file}: cannot read the pipeline: {exc}") from None
    data, lines = load_with_lines(text, file)
    return validate_pipeline(data, file=file, lines=lines, overrides=overrides,
                             registry=registry)


def validate_pipeline(data: Any, file: str = "<pipeline>", lines: dict | None = None,
                      overrides: list[str] | tuple[str, ...] = (),
                      registry: Registry | None = None) -> Pipeline:
    """Validate an already-parsed pipeline mapping (see :func:`load_pipeline`)."""
    data = copy.deepcopy(data)
    overridden: list[tuple[YamlPath, str]] = []
    if isinstance(data, dict):
        for path, value, item in parse_overrides(overrides):
            _apply_override(data, path, value, item)
            overridden.append((path, item))
    host = get_host()
    registry = registry or host.registry
    resolved = _Validator(registry, file, lines or {}, overridden).run(data)
    pipeline = Pipeline(resolved, None if file.startswith("<") else file)
    host.pm.hook.wlkit_pipeline_loaded(pipeline=pipeline.data, path=pipeline.path)
    return pipeline


MAX_SEEDS = 10_000
"""Most seeds one pipeline may ask for; each seed is a full training run."""

MAX_SEED_VALUE = 2**32 - 1
"""Largest seed numpy (and so Lightning's ``seed_everything``) accepts."""


class _Validator:
    def __init__(self, registry: Registry, file: str, lines: dict[YamlPath, int],
                 overridden: list[tuple[YamlPath, str]]):
        self.registry = registry
        self.file = file
        self.lines = lines
        self.overridden = overridden
        self.problems: list[Problem] = []

    # -- reporting ---------------------------------------------------------------------

    def problem(self, path: YamlPath, message: str, hint: str | None = None) -> None:
        for prefix, item in self.overridden:
            if path[:len(prefix)] == prefix or prefix[:len(path)] == path:
                self.problems.append(Problem(message, format_path(path), f"--set {item}",
                                             None, hint))
                return
        line, probe = None, path
        while line is None and probe:
            line, probe = self.lines.get(probe), probe[:-1]
        self.problems.append(Problem(message, format_path(path), self.file,
                                     line if line is not None else self.lines.get(()), hint))

    # -- sections ----------------------------------------------------------------------

    def run(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.problem((), f"a pipeline must be a mapping of sections, got "
                             f"{type(data).__name__}", "start from pipelines/quickstart.yaml")
            raise PipelineError(self.problems)
        for key in data:
            if key not in TOP_LEVEL:
                self.problem((key,), "unknown section", choices_hint(str(key), TOP_LEVEL))
        out: dict[str, Any] = {}
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or "/" in name:
            self.problem(("name",), "is required: a non-empty string without '/'",
                         "the run directory is named after it")
        out["name"] = name
        if "description" in data:
            out["description"] = self.param(("description",),
                                            Param("description", str, ""), data["description"])
        if "dataset" not in data:
            self.problem(("dataset",), "is required", self.choices_of("dataset"))
        out["dataset"] = self.component(("dataset",), "dataset", data.get("dataset"))
        out["encodings"] = self.encodings(data.get("encodings", []))
        policy = data.get("policy")
        out["policy"] = None if policy is None else self.component(("policy",),
                                                                   "subgraph_policy", policy)
        for section, schema in SECTIONS.items():
            if section == "output":
                continue
            out[section] = self.section((section,), schema, data.get(section, {}))
        out["seeds"] = self.seeds(data.get("seeds", 1))
        out["trainer"] = self.trainer(data.get("trainer", {}))
        out["output"] = self.section(("output",), SECTIONS["output"], data.get("output", {}))
        self.loggers(out["output"])
        if not self.problems:
            self.cross_check(data, out)
        if self.problems:
            raise PipelineError(self.problems)
        return out

    def section(self, path: YamlPath, schema: tuple[Param | Slot, ...], value: Any) -> dict:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping, got {type(value).__name__}",
                         "keys: " + ", ".join(s.name for s in schema))
            return {}
        out: dict[str, Any] = {}
        names = [s.name for s in schema]
        for key in value:
            if key not in names:
                self.problem(path + (key,), "unknown key", choices_hint(str(key), names))
        for slot in schema:
            here = path + (slot.name,)
            if isinstance(slot, Slot):
                raw = value.get(slot.name, slot.default)
                out[slot.name] = (None if raw is None and slot.nullable
                                  else self.component(here, slot.family, raw))
            elif slot.name in value:
                out[slot.name] = self.param(here, slot, value[slot.name])
            else:
                out[slot.name] = slot.default
        return out

    def param(self, path: YamlPath, param: Param, value: Any) -> Any:
        converted, message = param.check(value)
        if message:
            self.problem(path, message, param.doc or None)
        return converted

    def choices_of(self, family: str) -> str:
        return "valid choices: " + (", ".join(self.registry.names(family)) or "(none)")

    def component(self, path: YamlPath, family: str, value: Any) -> dict[str, Any] | None:
        if isinstance(value, str):
            name, params, name_path = value, {}, path
        elif isinstance(value, dict):
            if "name" not in value:
                self.problem(path, f"a {family} mapping needs a 'name' key",
                             self.choices_of(family))
                return None
            name, name_path = value["name"], path + ("name",)
            params = {k: v for k, v in value.items() if k != "name"}
        else:
            self.problem(path, f"must be a {family} name or a mapping with 'name', got "
                               f"{type(value).__name__}", self.choices_of(family))
            return None
        # the registry says why: unknown, clashed, refused, or hidden by a failed plugin
        unusable = self.registry.lookup_problem(family, name) if isinstance(name, str) else (
            f"unknown {family} {name!r}", choices_hint(str(name), self.registry.names(family)))
        if unusable is not None:
            self.problem(name_path, *unusable)
            return None
        record = self.registry.get(family, name)
        resolved, problems = check_params(record.params, params)
        for key, message, hint in problems:
            if message == "unknown key":
                hint = f"{family} {name!r} takes: " + (
                    ", ".join(p.name for p in record.params) or "no parameters")
            self.problem(path + (key,) if key in params or isinstance(value, dict) else path,
                         message, hint)
        return {"name": name, **resolved}

    def encodings(self, value: Any) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(("encodings",), "must be a list of positional encodings",
                         self.choices_of("positional_encoding"))
            return []
        out = [self.component(("encodings", i), "positional_encoding", item)
               for i, item in enumerate(value)]
        names = [e["name"] for e in out if e]
        for i, e in enumerate(out):
            if e and names.count(e["name"]) > 1 and names.index(e["name"]) != i:
                self.problem(("encodings", i), f"encoding {e['name']!r} is listed twice")
        return out

    def seeds(self, value: Any) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                self.problem(("seeds",), f"must be >= 1, got {value}",
                             "an int N runs seeds 0..N-1; a list runs those seeds")
                return []
            if value > MAX_SEEDS:
                # refused before list(range(value)) is built: 2**40 seeds is a MemoryError
                self.problem(("seeds",), f"asks for {value} seeds (one full training each); "
                             f"at most {MAX_SEEDS}",
                             "an int N runs seeds 0..N-1; write a list for chosen seeds, "
                             "e.g. seeds: [0, 1, 2]")
                return []
            return list(range(value))
        if (isinstance(value, list) and value
                and all(isinstance(s, int) and not isinstance(s, bool) for s in value)):
            if len(value) > MAX_SEEDS:
                self.problem(("seeds",), f"lists {len(value)} seeds; at most {MAX_SEEDS}")
            if len(set(value)) != len(value):
                self.problem(("seeds",), "lists a seed twice")
            for i, seed in enumerate(value):
                if not 0 <= seed <= MAX_SEED_VALUE:
                    # Lightning's seed_everything would warn and silently train with seed 0
                    self.problem(("seeds", i), f"seed {seed} is outside 0..{MAX_SEED_VALUE}",
                                 "seeds are unsigned 32-bit integers (numpy's bound)")
            return list(value)
        self.problem(("seeds",), f"must be a positive int or a non-empty list of ints, got "
                                 f"{value!r}", "e.g. seeds: 10 or seeds: [0, 1, 2]")
        return []

    def loggers(self, output: dict[str, Any]) -> None:
        """``output.loggers``: known tracker names, each once, whose packages are installed
        (found here, before any data loads, not after the first epoch)."""
        from wlkit.model.tracking import INSTALL_HINT, LOGGERS, missing_tracker

        names = output.get("loggers")
        if not isinstance(names, list):
            return  # the Param check reported it
        for i, name in enumerate(names):
            path = ("output", "loggers", i)
            if name not in LOGGERS:
                self.problem(path, f"unknown logger {name!r}", choices_hint(str(name), LOGGERS))
            elif names.index(name) != i:
                self.problem(path, f"logger {name!r} is listed twice")
            elif (module := missing_tracker(name)) is not None:
                self.problem(path, f"logger {name!r} needs the {module!r} package, which is "
                             "not installed", f"{INSTALL_HINT}")
        output["loggers"] = list(names)  # a copy: never the schema's shared default list

    def trainer(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(("trainer",), "must be a mapping of lightning.Trainer arguments")
            return {}
        from lightning import Trainer

        allowed = [p for p in inspect.signature(Trainer.__init__).parameters if p != "self"]
        checked = {param.name: param for param in TRAINER}
        out = {}
        for key, item in value.items():
            if key in TRAINER_KEYS_SET_BY_WLKIT:
                self.problem(("trainer", key), "is set by wlkit",
                             TRAINER_KEYS_SET_BY_WLKIT[key])
            elif key not in allowed:
                self.problem(("trainer", key), "is not an argument of lightning.Trainer",
                             choices_hint(str(key), allowed))
            elif key in checked:
                # a YAML-path error with the choices, not Lightning's message about `trainer`
                alias = key == "precision" and isinstance(item, (str, int))
                given = PRECISION_ALIASES.get(item, item) if alias else item
                out[key] = self.param(("trainer", key), checked[key], given)
            else:
                out[key] = item
        if out and not self.problems:
            self.try_trainer(out)
        return out

    def try_trainer(self, kwargs: dict[str, Any]) -> None:
        from lightning import Trainer

        try:
            with quiet_lightning():
                Trainer(**kwargs, logger=False, enable_checkpointing=False, max_epochs=1)
        except Exception as exc:  # Lightning reports bad values with various types
            self.problem(("trainer",), f"lightning.Trainer refuses these arguments: {exc}")

    def cross_check(self, raw: dict, out: dict) -> None:
        """Impossible combinations that need the dataset's metadata (no data is loaded)."""
        from wlkit.model.build import instantiate_dataset

        try:
            info = instantiate_dataset(out["dataset"], self.registry).info()
        except WlkitError as exc:
            self.problem(("dataset",), str(exc).split("\n")[0])
            return
        loss = out["train"]["loss"]
        if loss != "auto" and loss not in LOSSES_BY_TASK[info.task]:
            self.problem(("train", "loss"), f"{loss!r} does not fit the {info.task} task of "
                         f"dataset {out['dataset']['name']!r}",
                         "use " + " or ".join(("auto",) + LOSSES_BY_TASK[info.task]))
        layer = self.registry.get("layer", out["model"]["layer"]["name"])
        if getattr(layer, "uses_edge_features", False) and info.edge_feat_dim == 0:
            self.problem(("model", "layer"), f"layer {layer.name!r} needs edge features, and "
                         f"dataset {out['dataset']['name']!r} has none",
                         "pick a layer without edge features, e.g. gin")
        if out["policy"] is not None:
            policy = self.registry.get("subgraph_policy", out["policy"]["name"])
            if getattr(policy, "needs_edge_features", False) and info.edge_feat_dim == 0:
                self.problem(("policy",), f"subgraph_policy {policy.name!r} needs edge "
                             f"features, and dataset {out['dataset']['name']!r} has none",
                             "pick a dataset with edge features or another policy")
            if out["model"]["readout_layers"] != "last":
                self.problem(("model", "readout_layers"), f"subgraph_policy {policy.name!r} "
                             "builds its own body and readout, so only 'last' applies",
                             "remove model.readout_layers, or drop the policy")
        if out["train"]["scheduler"] != "step":
            # a non-default value only: resolved pipelines (runs' pipeline.resolved.yaml)
            # list every key with its default
            defaults = {p.name: p.default for p in SECTIONS["train"]}
            for key in ("step_epochs", "step_gamma"):
                if out["train"][key] != defaults[key]:
                    self.problem(("train", key), f"is used only by scheduler 'step', and "
                                 f"train.scheduler is {out['train']['scheduler']!r}, so this "
                                 "setting would be ignored",
                                 "set train.scheduler: step, or remove it")
        model_raw = raw.get("model") or {}
        if (not getattr(layer, "uses_aggregator", True) and isinstance(model_raw, dict)
                and "aggregator" in model_raw):
            self.problem(("model", "aggregator"), f"layer {layer.name!r} does not use an "
                         "aggregator, so this setting would be ignored", "remove it")
        self.size_check(out, info)

    def size_check(self, out: dict, info: Any) -> None:
        """Refuse sizes that cannot fit in memory, from a lower bound that allocates nothing
        (``model.hidden: 2**40`` was a 4 TB allocation traceback)."""
        from wlkit.model.build import (
            BYTES_PER_PARAMETER,
            format_bytes,
            instantiate_encodings,
            memory_bound,
            parameter_lower_bound,
        )

        try:
            pe_dim = sum(e.dim for e in instantiate_encodings(out["encodings"], self.registry))
        except WlkitError:  # the build reports it; the bound then leaves encodings out
            pe_dim = 0
        terms = parameter_lower_bound(out["model"], info, pe_dim)
        total = sum(terms.values())
        bound = memory_bound()
        if total * BYTES_PER_PARAMETER <= bound:
            return
        key = max(terms, key=terms.__getitem__)  # the key that drives the estimate
        path: YamlPath = tuple(key.split(".")) if key != "encodings" else ("encodings",)
        m = out["model"]
        self.problem(path, f"the model would have at least {total:,} parameters, about "
                     f"{format_bytes(total * BYTES_PER_PARAMETER)} in training "
                     f"({BYTES_PER_PARAMETER} bytes each); the bound is {format_bytes(bound)} "
                     "(this machine's memory, or WLKIT_MAX_MODEL_BYTES)",
                     f"lower it (model.hidden is {m['hidden']}, model.num_layers "
                     f"{m['num_layers']}, model.head_layers {m['head_layers']}, encoding "
                     f"width {pe_dim})")


@contextmanager
def quiet_lightning():
    """Silence Lightning's start-up chatter (GPU/TPU availability) for a block."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric",
                                              "lightning.pytorch.utilities.rank_zero")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
