"""``wlkit sweep``: one Optuna study over a pipeline's values; every trial is a wlkit run.

A sweep is an Optuna study whose user attributes hold the whole sweep (the pipeline text,
the ``--set`` overrides, the grid or the random space), so ``wlkit sweep --join --storage URL
--study NAME`` on another machine needs nothing else. Each trial is an ordinary run (all
seeds) in ``<sweep dir>/trial_<NNN>/``; its objective is the mean validation metric over the
seeds, in the metric's direction.

Grid points are enqueued once, by the process that creates the study, and workers pop them
from the storage (a row-locked WAITING -> RUNNING update), so with several workers every
point runs exactly once. Optuna's ``GridSampler`` alone re-runs points under concurrency
(its own documentation says so); it is still the study's sampler and names the space.

A killed worker leaves its trial RUNNING. Each worker holds an ``flock`` on
``<sweep dir>/.locks/trial_<N>.lock`` while it runs a trial, so a later worker on the same
machine can tell a dead owner from a live one and resumes the trial in its run directory
(``wlkit run --resume``: finished seeds are kept).
"""

from __future__ import annotations

import csv
import fcntl
import io
import itertools
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wlkit import hookimpl
from wlkit.errors import PipelineError, WlkitError
from wlkit.io import atomic_write_json, atomic_write_text

SWEEP_ROOT = "sweeps"
"""Where sweep folders go, relative to the working directory (``--dir`` overrides it)."""

SPEC_ATTR = "wlkit_sweep"
READY_ATTR = "wlkit_ready"
PRUNERS = ("none", "median")
MAX_TRIALS = 10_000
"""Most grid points or random trials one sweep may ask for (each is a full run)."""

INSTALL_HINT = "install the sweep extra: pip install 'wlkit[sweep]'"


@dataclass
class SweepSpec:
    """Everything a worker needs to run any trial of a sweep (stored in the study)."""

    pipeline_text: str
    pipeline_file: str
    overrides: list[str] = field(default_factory=list)
    grid: dict[str, list] = field(default_factory=dict)
    space: dict[str, dict] = field(default_factory=dict)
    random: int | None = None
    prune: str = "none"
    direction: str = "maximize"
    metric: str = ""

    @property
    def mode(self) -> str:
        return "grid" if self.grid else "random"

    def points(self) -> list[dict[str, Any]]:
        """Every grid point, in the order the grid was given (last key varies fastest)."""
        keys = list(self.grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*self.grid.values())]

    def same_sweep(self, other: SweepSpec) -> list[str]:
        """Fields in which two sweep definitions differ (empty: the same sweep)."""
        mine, theirs = asdict(self), asdict(other)
        return [k for k in mine if k not in ("pipeline_file",) and mine[k] != theirs[k]]


# -- parsing ----------------------------------------------------------------------------

def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets and quotes (``a,[1,2],'x,y'`` -> 3 items)."""
    parts, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def parse_grid(items: list[str]) -> dict[str, list]:
    """Parse ``--grid key=v1,v2,...`` options into an ordered ``{key: [values]}``.

    Values are YAML scalars (``64`` is an int, ``sum`` a string). Raises
    :class:`WlkitError` naming the option on a malformed one.
    """
    from wlkit.pipeline.yamlio import safe_load  # as --set: 1e-3 is a float

    grid: dict[str, list] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise WlkitError(f"--grid {item!r}: expected KEY=V1,V2,...\n    hint: e.g. "
                             "--grid model.aggregator=sum,lcm,pna --grid model.hidden=64,128")
        if key in grid:
            raise WlkitError(f"--grid {item!r}: {key} is given twice\n    hint: list all its "
                             f"values in one option: --grid {key}=V1,V2")
        values = []
        for text in _split_top(raw):
            try:
                value = safe_load(text) if text.strip() else None
            except yaml.YAMLError as exc:
                raise WlkitError(f"--grid {item!r}: value {text!r} is not valid YAML: "
                                 f"{exc}") from None
            if value is not None and not isinstance(value, (str, int, float, bool)):
                # Optuna stores categorical choices as scalars only
                raise WlkitError(f"--grid {item!r}: value {text!r} is a "
                                 f"{type(value).__name__}; grid values must be scalars\n"
                                 "    hint: sweep a scalar key (model.hidden=64,128), or "
                                 "write one pipeline per structured value")
            if value in values:
                raise WlkitError(f"--grid {item!r}: value {text!r} is listed twice")
            values.append(value)
        grid[key] = values
    return grid


_SPACE_KEYS = {"int": {"low", "high", "log", "step"}, "float": {"low", "high", "log", "step"},
               "categorical": {"choices"}}


def load_space(path: str | Path) -> dict[str, dict]:
    """Read a ``--space`` YAML file for ``--random``.

    Each key is a dotted pipeline path; its value is a list (categorical choices) or a
    mapping ``{type: int|float, low: .., high: .., log: false, step: ..}`` or
    ``{choices: [...]}``. Returns ``{key: {"type": ..., ...}}``.
    """
    from wlkit.pipeline.yamlio import safe_load

    file = str(path)
    try:
        data = safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WlkitError(f"{file}: no such space file\n    hint: --space takes a YAML file "
                         "such as {train.lr: {type: float, low: 1e-4, high: 1e-2, "
                         "log: true}, model.hidden: [64, 128]}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WlkitError(f"{file}: cannot read the space: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise WlkitError(f"{file}: the space must be a non-empty mapping of dotted pipeline "
                         "keys\n    hint: e.g. model.hidden: [64, 128]")
    space: dict[str, dict] = {}
    for key, spec in data.items():
        where = f"{file}: {key}"
        if isinstance(spec, list):
            spec = {"type": "categorical", "choices": spec}
        elif isinstance(spec, dict) and "choices" in spec and "type" not in spec:
            spec = {"type": "categorical", **spec}
        if not isinstance(spec, dict) or spec.get("type") not in _SPACE_KEYS:
            raise WlkitError(f"{where}: expected a list of choices or a mapping with type "
                             "int, float or categorical\n    hint: {type: int, low: 1, "
                             "high: 8} or [sum, lcm]")
        kind = spec["type"]
        extra = set(spec) - _SPACE_KEYS[kind] - {"type"}
        if extra:
            raise WlkitError(f"{where}: unknown keys {sorted(extra)} for type {kind}\n"
                             f"    hint: {kind} takes {', '.join(sorted(_SPACE_KEYS[kind]))}")
        if kind == "categorical":
            choices = spec.get("choices")
            if (not isinstance(choices, list) or not choices or not all(
                    c is None or isinstance(c, (str, int, float, bool)) for c in choices)):
                raise WlkitError(f"{where}: choices must be a non-empty list of scalars")
        else:
            number = int if kind == "int" else (int, float)
            low, high = spec.get("low"), spec.get("high")
            if (not isinstance(low, number) or not isinstance(high, number)
                    or isinstance(low, bool) or isinstance(high, bool) or low > high):
                raise WlkitError(f"{where}: needs numbers low <= high (type {kind}), got "
                                 f"low={low!r}, high={high!r}")
            if spec.get("log") and low <= 0:
                raise WlkitError(f"{where}: log: true needs low > 0, got {low!r}")
        space[str(key)] = dict(spec)
    return space


def param_overrides(params: dict[str, Any]) -> list[str]:
    """``--set`` strings for a trial's values (JSON scalars are YAML scalars)."""
    return [f"{key}={json.dumps(value)}" for key, value in params.items()]


def _show(value: Any) -> str:
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def trial_pipeline(spec: SweepSpec, params: dict[str, Any]) -> Any:
    """The validated pipeline of one trial: the sweep's pipeline, its ``--set`` overrides,
    then the trial's values."""
    from wlkit.pipeline.loader import validate_pipeline
    from wlkit.pipeline.yamlio import load_with_lines

    data, lines = load_with_lines(spec.pipeline_text, spec.pipeline_file)
    return validate_pipeline(data, file=spec.pipeline_file, lines=lines,
                             overrides=list(spec.overrides) + param_overrides(params))


def _space_corners(space: dict[str, dict]) -> dict[str, list]:
    """Values to validate for a random space: the ends of ranges, every choice."""
    return {key: (s["choices"] if s["type"] == "categorical" else [s["low"], s["high"]])
            for key, s in space.items()}


def _as_grid_option(message: str, params: dict[str, Any], option: str) -> str:
    """Name the sweep's option in a validation message, not the ``--set`` it became."""
    for (key, value), item in zip(params.items(), param_overrides(params)):
        message = message.replace(f"--set {item}", f"{option} {key}={_show(value)}")
    return message


def validate_sweep(spec: SweepSpec) -> Any:
    """Validate every trial's pipeline before anything runs; return the base pipeline.

    Each value is tried alone first, so the error names the value that breaks the pipeline
    (``--grid model.aggregator=bogus``); then every grid point (a combination of valid
    values can still be invalid). Raises :class:`WlkitError` (exit 2).
    """
    try:
        base = trial_pipeline(spec, {})
    except PipelineError as exc:
        raise WlkitError(f"the sweep's pipeline is invalid before any grid value:\n{exc}"
                         ) from None
    values = spec.grid or _space_corners(spec.space)
    option = "--grid" if spec.grid else "--space"
    for key, choices in values.items():
        for value in choices:
            try:
                trial_pipeline(spec, {key: value})
            except PipelineError as exc:
                raise WlkitError(f"{option} value {key}={_show(value)} makes an invalid "
                                 f"pipeline:\n{_as_grid_option(str(exc), {key: value}, option)}"
                                 f"\n    hint: drop {_show(value)} from {key}") from None
    if spec.grid:
        for point in spec.points():
            try:
                trial_pipeline(spec, point)
            except PipelineError as exc:
                shown = ", ".join(f"{k}={_show(v)}" for k, v in point.items())
                raise WlkitError(f"--grid point {shown} makes an invalid pipeline:\n"
                                 f"{_as_grid_option(str(exc), point, '--grid')}") from None
    return base


def make_spec(pipeline_file: str, overrides: list[str], grid: dict[str, list],
              space: dict[str, dict], random: int | None, prune: str) -> SweepSpec:
    """Read the pipeline, check the options together, find the metric's direction."""
    if bool(grid) == bool(random):
        raise WlkitError("give either --grid KEY=V1,V2 (one trial per grid point) or "
                         "--random N --space FILE (N trials drawn by TPE)\n    hint: e.g. "
                         "--grid model.aggregator=sum,lcm,pna --grid model.hidden=64,128")
    if random is not None and not space:
        raise WlkitError("--random N needs --space FILE (the keys and ranges to draw from)")
    if grid and space:
        raise WlkitError("--space goes with --random; a grid sweep takes only --grid")
    if random is not None and not 1 <= random <= MAX_TRIALS:
        raise WlkitError(f"--random {random}: must be between 1 and {MAX_TRIALS}")
    count = math.prod(len(v) for v in grid.values()) if grid else 0
    if count > MAX_TRIALS:
        raise WlkitError(f"the grid has {count} points (one full run each); at most "
                         f"{MAX_TRIALS}\n    hint: use --random N --space FILE")
    if prune not in PRUNERS:
        raise WlkitError(f"--prune {prune!r}: choose one of {', '.join(PRUNERS)}")
    try:
        text = Path(pipeline_file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WlkitError(f"{pipeline_file}: no such pipeline file\n    hint: ready pipelines "
                         "are in pipelines/, e.g. pipelines/quickstart.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WlkitError(f"{pipeline_file}: cannot read the pipeline: {exc}") from None
    spec = SweepSpec(text, pipeline_file, list(overrides), grid, space, random, prune)
    base = validate_sweep(spec)
    from wlkit.model.build import instantiate_dataset

    info = instantiate_dataset(base.data["dataset"]).info()
    spec.direction = "maximize" if info.higher_is_better else "minimize"
    spec.metric = info.metric
    return spec


# -- storage and study ------------------------------------------------------------------

def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise WlkitError(f"wlkit sweep needs Optuna\n    hint: {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def redact(url: str) -> str:
    """A storage URL with any password hidden (for printing and sweep.json)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def storage_url(url: str) -> str:
    """``url`` with the PostgreSQL driver wlkit installs (psycopg2) when none is named.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, which the sweep extra does
    not install; a URL naming its driver (``postgresql+psycopg://``) is left as it is.
    """
    import importlib.util

    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception as exc:
        raise WlkitError(f"--storage {url!r}: not an SQLAlchemy URL ({exc})\n    hint: e.g. "
                         "sqlite:///sweeps/s/study.db or postgresql://user@host:5432/db"
                         ) from None
    if (parsed.drivername in ("postgresql", "postgres")
            and importlib.util.find_spec("psycopg") is None
            and importlib.util.find_spec("psycopg2") is not None):
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(
            hide_password=False)
    return url


def open_storage(url: str) -> Any:
    """An Optuna RDB storage for an SQLAlchemy URL; bad URLs and refused connections are
    one message with a hint."""
    optuna = _optuna()
    url = storage_url(url)
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # several local workers share one SQLite file: wait for the write lock
        engine_kwargs = {"connect_args": {"timeout": 120}}
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        if url.startswith("sqlite"):
            _serialise_sqlite(storage.engine)
        return storage
    except ModuleNotFoundError as exc:
        raise WlkitError(f"--storage {redact(url)}: the database driver is missing ({exc})\n"
                         f"    hint: {INSTALL_HINT} (psycopg2 for PostgreSQL)") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WlkitError(f"--storage {redact(url)}: cannot open the study storage: {first}\n"
                         "    hint: an SQLAlchemy URL, e.g. sqlite:///sweeps/s/study.db or "
                         "postgresql://user:password@host:5432/db") from None


def _serialise_sqlite(engine: Any) -> None:
    """Make every SQLite transaction ``BEGIN IMMEDIATE``.

    pysqlite starts transactions lazily, so two local workers could both read a grid point
    as WAITING and both mark it RUNNING (SQLite ignores ``SELECT ... FOR UPDATE``); measured
    with 4 processes popping 60 points. Taking the write lock at BEGIN serialises them (the
    busy timeout makes the others wait), as PostgreSQL's row lock does.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made while Optuna set the schema up lack the hooks


def _sampler(spec: SweepSpec) -> Any:
    optuna = _optuna()
    if spec.grid:
        return optuna.samplers.GridSampler(spec.grid, seed=0)
    return optuna.samplers.TPESampler(seed=None)


def _pruner(spec: SweepSpec) -> Any:
    optuna = _optuna()
    if spec.prune == "median":
        # prune from the third trial on, never in a trial's first epoch
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def create_or_load(storage: Any, name: str, spec: SweepSpec) -> Any:
    """Create the study (and enqueue the grid), or load it if it holds the same sweep."""
    optuna = _optuna()
    try:
        study = optuna.create_study(storage=storage, study_name=name,
                                    direction=spec.direction, sampler=_sampler(spec),
                                    pruner=_pruner(spec))
    except optuna.exceptions.DuplicatedStudyError:
        stored = _stored_spec(storage, name)
        if stored is None:
            raise WlkitError(f"study {name!r} exists but was not made by wlkit sweep\n"
                             "    hint: choose another --study") from None
        differ = stored.same_sweep(spec)
        if differ:
            raise WlkitError(f"study {name!r} was started with a different sweep "
                             f"({', '.join(differ)} differ)\n    hint: continue it with "
                             f"`wlkit sweep --join --study {name}`, or start a new one with "
                             "another --study") from None
        return _wait_ready(storage, name, stored)
    # Only the creator enqueues, so every grid point is a single WAITING trial.
    study.set_user_attr(SPEC_ATTR, asdict(spec))
    for point in spec.points():
        study.enqueue_trial(point)
    study.set_user_attr(READY_ATTR, True)
    return study


def _stored_spec(storage: Any, name: str) -> SweepSpec | None:
    study_id = storage.get_study_id_from_name(name)
    attrs = storage.get_study_user_attrs(study_id)
    if SPEC_ATTR not in attrs:
        return None
    return SweepSpec(**attrs[SPEC_ATTR])


def _wait_ready(storage: Any, name: str, spec: SweepSpec, timeout: float = 120.0) -> Any:
    """Load a study whose creator may still be enqueueing its grid."""
    optuna = _optuna()
    study_id = storage.get_study_id_from_name(name)
    deadline = time.monotonic() + timeout
    while not storage.get_study_user_attrs(study_id).get(READY_ATTR):
        if time.monotonic() > deadline:
            raise WlkitError(f"study {name!r} is not ready after {timeout:.0f} s (its "
                             "creator stopped while enqueueing the grid?)\n    hint: start "
                             "it again with the same `wlkit sweep PIPELINE --grid ...`")
        time.sleep(0.5)
    return optuna.load_study(study_name=name, storage=storage, sampler=_sampler(spec),
                             pruner=_pruner(spec))


def join_study(storage: Any, name: str) -> tuple[Any, SweepSpec]:
    """Load an existing wlkit sweep by name (``--join``)."""
    optuna = _optuna()
    try:
        spec = _stored_spec(storage, name)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise WlkitError(f"no study {name!r} in this storage (studies: "
                         f"{', '.join(names) or 'none'})\n    hint: create it first with "
                         f"`wlkit sweep PIPELINE --grid ... --study {name} --storage URL`"
                         ) from None
    if spec is None:
        raise WlkitError(f"study {name!r} was not made by wlkit sweep (no sweep definition)")
    return _wait_ready(storage, name, spec), spec


# -- trials -----------------------------------------------------------------------------

@contextmanager
def _trial_lock(sweep_dir: Path, number: int) -> Iterator[bool]:
    """Hold ``.locks/trial_<N>.lock`` (non-blocking); yield whether it was taken."""
    path = sweep_dir / ".locks" / f"trial_{number}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _trial_id(study: Any, number: int) -> int:
    return study._storage.get_trial_id_from_study_id_trial_number(
        study._study_id, number)


def _interrupted(study: Any, sweep_dir: Path) -> list[Any]:
    """RUNNING trials started from this sweep folder on this machine."""
    optuna = _optuna()
    host, here = socket.gethostname(), str(sweep_dir.resolve())
    return [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if t.user_attrs.get("host") == host and t.user_attrs.get("sweep_dir") == here]


def _pop_waiting(study: Any) -> Any | None:
    """Take one enqueued grid point (None when none is left); never creates a trial."""
    optuna = _optuna()
    TrialState = optuna.trial.TrialState
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = _trial_id(study, frozen.number)
        try:
            # row-locked in the storage: of two workers, one wins
            if study._storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                return optuna.Trial(study, trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _next_random(study: Any, spec: SweepSpec) -> Any | None:
    optuna = _optuna()
    TrialState = optuna.trial.TrialState
    live = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                    TrialState.RUNNING))
    if len(live) >= (spec.random or 0):
        return None
    return study.ask()


def _suggest(trial: Any, spec: SweepSpec) -> dict[str, Any]:
    if spec.grid:
        return {k: trial.suggest_categorical(k, v) for k, v in spec.grid.items()}
    params = {}
    for key, s in spec.space.items():
        if s["type"] == "categorical":
            params[key] = trial.suggest_categorical(key, s["choices"])
        elif s["type"] == "int":
            params[key] = trial.suggest_int(key, s["low"], s["high"], step=s.get("step", 1),
                                            log=bool(s.get("log")))
        else:
            params[key] = trial.suggest_float(key, s["low"], s["high"], step=s.get("step"),
                                              log=bool(s.get("log")))
    return params


class PruningPlugin:
    """A wlkit plugin (``wlkit_callbacks``) that reports each epoch's validation metric to
    the trial and stops a trial the pruner gives up on."""

    def __init__(self, trial: Any, epochs: int, first_seed_index: int = 0):
        self.trial = trial
        self.epochs = epochs
        self.seed_index = first_seed_index - 1

    @hookimpl
    def wlkit_callbacks(self, pipeline: dict[str, Any]) -> list[Any]:
        from lightning.pytorch.callbacks import Callback

        self.seed_index += 1  # called once per seed that trains
        trial, offset = self.trial, self.seed_index * self.epochs

        class Report(Callback):
            def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
                if trainer.sanity_checking or "valid_metric" not in trainer.callback_metrics:
                    return
                value = float(trainer.callback_metrics["valid_metric"])
                # one step per epoch of every seed, so trials compare epoch by epoch
                trial.report(value, offset + trainer.current_epoch)
                if trial.should_prune():
                    raise _optuna().TrialPruned(f"pruned at epoch {trainer.current_epoch}")

        return [Report()]


def run_trial(study: Any, trial: Any, spec: SweepSpec, sweep_dir: Path, progress: bool,
              resumed: bool = False) -> str:
    """Run one trial as a wlkit run and tell the study; return its final state's name."""
    from wlkit import registered_plugin
    from wlkit.runner import run_pipeline

    optuna = _optuna()
    TrialState = optuna.trial.TrialState
    params = _suggest(trial, spec)
    pipeline = trial_pipeline(spec, params)
    run_dir = sweep_dir / f"trial_{trial.number:03d}"
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("sweep_dir", str(sweep_dir.resolve()))
    trial.set_user_attr("run_dir", str(run_dir.resolve()))
    resume = run_dir if (run_dir / "pipeline.resolved.yaml").is_file() else None
    shown = ", ".join(f"{k}={_show(v)}" for k, v in params.items())
    verb = "resuming" if resume is not None else "running"
    print(f"sweep: trial {trial.number} ({shown}): {verb} in {run_dir}", flush=True)
    done = sum((run_dir / f"seed_{s}" / "metrics.json").is_file()
               for s in pipeline.data["seeds"]) if resume is not None else 0
    started = time.perf_counter()
    try:
        if spec.prune != "none":
            plugin = PruningPlugin(trial, pipeline.data["train"]["epochs"], done)
            with registered_plugin(plugin, f"wlkit-sweep-pruning-{trial.number}"):
                summary = run_pipeline(pipeline, out=None if resume else run_dir,
                                       progress=progress, resume=resume)
        else:
            summary = run_pipeline(pipeline, out=None if resume else run_dir,
                                   progress=progress, resume=resume)
    except optuna.TrialPruned as exc:
        trial.set_user_attr("wall_s", round(time.perf_counter() - started, 2))
        study.tell(trial, state=TrialState.PRUNED)
        print(f"sweep: trial {trial.number}: {exc}", flush=True)
        return "PRUNED"
    except WlkitError as exc:
        # a trial that cannot train (NaN in every seed) is a result; the sweep goes on
        trial.set_user_attr("error", str(exc).splitlines()[0])
        study.tell(trial, state=TrialState.FAIL)
        print(f"warning: trial {trial.number} failed: {exc}", file=sys.stderr, flush=True)
        return "FAIL"
    result = {key: summary.get(key) for key in ("valid_mean", "valid_std", "test_mean",
                                                "test_std", "num_params", "failed_seeds")}
    result["wall_s"] = round(time.perf_counter() - started, 2)
    result["resumed"] = resumed or resume is not None
    for key, value in result.items():
        trial.set_user_attr(key, value)
    study.tell(trial, summary["valid_mean"])
    return "COMPLETE"


def work(study: Any, spec: SweepSpec, sweep_dir: Path, progress: bool = True) -> int:
    """Run trials until none is left for this worker; return how many it ran."""
    ran = 0
    while True:
        # First an interrupted trial of this folder whose worker is gone (its lock is free).
        took = False
        for frozen in _interrupted(study, sweep_dir):
            with _trial_lock(sweep_dir, frozen.number) as mine:
                trial_id = _trial_id(study, frozen.number)
                # the list is a snapshot: its worker may have finished the trial and freed
                # the lock since, so only a trial still RUNNING under our lock is resumed
                if mine and not study._storage.get_trial(trial_id).state.is_finished():
                    trial = _optuna().Trial(study, trial_id)
                    run_trial(study, trial, spec, sweep_dir, progress, resumed=True)
                    ran, took = ran + 1, True
                    break
        if took:
            continue
        trial = _pop_waiting(study) if spec.grid else _next_random(study, spec)
        if trial is None:
            return ran
        with _trial_lock(sweep_dir, trial.number):
            run_trial(study, trial, spec, sweep_dir, progress)
        ran += 1


# -- results ----------------------------------------------------------------------------

def trial_rows(study: Any, spec: SweepSpec) -> list[dict[str, Any]]:
    """One row per trial (grid points not started yet are left out)."""
    rows = []
    keys = list(spec.grid or spec.space)
    for t in study.get_trials(deepcopy=False):
        if t.state.name == "WAITING":
            continue
        a = t.user_attrs
        row = {"trial": t.number, "state": t.state.name}
        row.update({k: t.params.get(k) for k in keys})
        row.update({k: a.get(k) for k in ("valid_mean", "valid_std", "test_mean", "test_std",
                                          "num_params", "wall_s")})
        row.update({"run_dir": a.get("run_dir"), "host": a.get("host"),
                    "error": a.get("error")})
        rows.append(row)
    return rows


def best_row(rows: list[dict[str, Any]], spec: SweepSpec) -> dict[str, Any] | None:
    done = [r for r in rows if r["state"] == "COMPLETE" and r["valid_mean"] is not None]
    if not done:
        return None
    sign = 1 if spec.direction == "maximize" else -1
    # ties go to the earlier trial
    return max(done, key=lambda r: (sign * r["valid_mean"], -r["trial"]))


def write_outputs(study: Any, spec: SweepSpec, sweep_dir: Path, storage_url: str
                  ) -> dict[str, Any]:
    """Write sweep.csv, sweep.json and (once a trial finished) best.yaml; return the JSON."""
    rows = trial_rows(study, spec)
    best = best_row(rows, spec)
    keys = list(spec.grid or spec.space)
    report = {
        "study": study.study_name,
        "storage": redact(storage_url),
        "pipeline": spec.pipeline_file,
        "overrides": spec.overrides,
        "sampler": "grid" if spec.grid else "tpe",
        "grid": spec.grid,
        "space": spec.space,
        "random": spec.random,
        "prune": spec.prune,
        "metric": spec.metric,
        "direction": spec.direction,
        "objective": f"mean validation {spec.metric} over the seeds",
        "points": len(spec.points()) if spec.grid else spec.random,
        "trials": rows,
        "best": best,
    }
    atomic_write_json(sweep_dir / "sweep.json", report)
    buffer = io.StringIO()
    columns = ["trial", "state", *keys, "valid_mean", "valid_std", "test_mean", "test_std",
               "num_params", "wall_s", "run_dir", "host", "error"]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(sweep_dir / "sweep.csv", buffer.getvalue())
    if best is not None:
        params = {k: best[k] for k in keys}
        shown = ", ".join(f"{k}={_show(v)}" for k, v in params.items())
        header = (f"# Best trial ({best['trial']}) of sweep {study.study_name!r}: {shown}.\n"
                  f"# Mean validation {spec.metric} {best['valid_mean']:.4f}; run: "
                  f"{best['run_dir']}\n")
        atomic_write_text(sweep_dir / "best.yaml",
                          header + trial_pipeline(spec, params).dump())
    return report


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f}"


def format_table(report: dict[str, Any]) -> str:
    """The sweep as a plain-text table, best trial marked."""
    keys = list(report["grid"] or report["space"])
    best = (report["best"] or {}).get("trial")
    head = ["trial", *keys, "valid", "test", "#params", "wall s", "state"]
    body = [[f"{r['trial']}{' *' if r['trial'] == best else ''}",
             *[_show(r[k]) for k in keys], _pm(r["valid_mean"], r["valid_std"]),
             _pm(r["test_mean"], r["test_std"]),
             f"{r['num_params']:,}" if r["num_params"] is not None else "",
             f"{r['wall_s']:.1f}" if r["wall_s"] is not None else "", r["state"]]
            for r in report["trials"]]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip()
             for line in [head, *body]]
    return "\n".join(lines)


def default_storage(sweep_dir: Path) -> str:
    return f"sqlite:///{(sweep_dir / 'study.db').resolve()}"


def spawn_workers(count: int, storage_url: str, name: str, sweep_dir: Path,
                  quiet: bool) -> list[subprocess.Popen]:
    """Start ``count`` more local workers (``wlkit sweep --join``) on the same study."""
    command = [sys.executable, "-m", "wlkit.cli", "sweep", "--join", "--study", name,
               "--storage", storage_url, "--dir", str(sweep_dir), "--no-report"]
    if quiet:
        command.append("--quiet")
    return [subprocess.Popen(command) for _ in range(count)]


def run_sweep(spec: SweepSpec | None, name: str, storage_url: str, sweep_dir: Path,
              workers: int = 1, progress: bool = True, report: bool = True) -> dict | None:
    """Create or join the study, run this machine's workers, write and return the report.

    ``spec`` None joins an existing study. ``workers`` 0 only creates the study (the
    machines then ``--join``).
    """
    storage = open_storage(storage_url)
    if spec is None:
        study, spec = join_study(storage, name)
        # this machine's plugins must build every trial too, before it takes one
        validate_sweep(spec)
    else:
        study = create_or_load(storage, name, spec)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    where = redact(storage_url)
    print(f"sweep: study {name!r} ({spec.mode}, {report_size(spec)} trials) in {where}; "
          f"trials in {sweep_dir}", flush=True)
    if workers == 0:
        print(f"sweep: created; on each machine run: wlkit sweep --join --study {name} "
              f"--storage '{where}'", flush=True)
        return None
    others = spawn_workers(workers - 1, storage_url, name, sweep_dir, not progress)
    try:
        work(study, spec, sweep_dir, progress)
    finally:
        for child in others:
            child.wait()
    bad = [c.returncode for c in others if c.returncode != 0]
    if bad:
        raise WlkitError(f"{len(bad)} of the {len(others)} extra workers failed (exit codes "
                         f"{bad}); see their messages above")
    out = write_outputs(study, spec, sweep_dir, storage_url)
    if report:
        print(format_table(out))
        running = [r for r in out["trials"] if r["state"] == "RUNNING"]
        if running:
            print(f"sweep: {len(running)} trial(s) still running elsewhere: "
                  + ", ".join(f"{r['trial']} on {r['host']}" for r in running))
        if out["best"] is not None:
            print(f"best: trial {out['best']['trial']}, valid {spec.metric} "
                  f"{_pm(out['best']['valid_mean'], out['best']['valid_std'])} -> "
                  f"{sweep_dir / 'best.yaml'}")
        print(f"results: {sweep_dir / 'sweep.csv'}, {sweep_dir / 'sweep.json'}")
    return out


def report_size(spec: SweepSpec) -> int:
    return len(spec.points()) if spec.grid else int(spec.random or 0)


def sweep_folder(name: str, folder: str | None) -> Path:
    """The sweep folder: ``--dir`` or ``sweeps/<study>``."""
    if "/" in name or not name.strip() or name in (".", ".."):
        raise WlkitError(f"--study {name!r}: a study name is a folder name (no '/')")
    return Path(folder) if folder else Path(SWEEP_ROOT) / name


__all__ = ["SweepSpec", "parse_grid", "load_space", "make_spec", "run_sweep",
           "validate_sweep", "trial_pipeline", "write_outputs", "format_table"]
