"""Plugin discovery and the component registry.

Order of discovery: the built-in plugin modules first, then the entry-point group ``wlkit``
of installed distributions, then ``check_pending()``. Environment switches:

``WLKIT_DISABLE_PLUGIN_AUTOLOAD=1``
    skip entry-point loading (built-ins only).
``WLKIT_PLUGINS=a,b``
    load only the listed entry points (by entry-point name or distribution name; case and
    ``-``/``_``/``.`` do not matter, as in pip).
``WLKIT_STRICT_PLUGINS=1``
    re-raise a broken plugin's error instead of warning and carrying on.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pluggy

from wlkit import hookspecs
from wlkit.errors import PluginError
from wlkit.params import choices_hint
from wlkit.records import FAMILIES, RECORD_TYPES, ComponentRecord, Registered

ENTRY_POINT_GROUP = "wlkit"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "wlkit.plugins.aggregators",
    "wlkit.plugins.readouts",
    "wlkit.plugins.layers",
    "wlkit.plugins.encodings",
    "wlkit.plugins.policies.pathnn",
    "wlkit.plugins.policies",
    "wlkit.datasets.synthetic",
    "wlkit.datasets.sets",
    "wlkit.datasets.ogb",
    "wlkit.datasets.smiles",
    "wlkit.datasets.wl_suites",
    "wlkit.cli.builtin",
)
"""Modules registered before any third-party plugin, through the same manager."""

HOOK_OF_FAMILY: dict[str, str] = {
    "aggregator": "wlkit_aggregators",
    "positional_encoding": "wlkit_positional_encodings",
    "subgraph_policy": "wlkit_subgraph_policies",
    "readout": "wlkit_readouts",
    "layer": "wlkit_layers",
    "dataset": "wlkit_datasets",
}


class PluginWarning(UserWarning):
    """A third-party plugin is broken and was skipped."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _wlkit_version() -> str:
    from wlkit import __version__

    return __version__


class PluginHost:
    """A pluggy manager plus where each plugin came from.

    Use :func:`get_host` for the process-wide instance; tests may build their own.
    """

    def __init__(self, autoload: bool | None = None):
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, tuple[str, str]] = {}
        self.failures: list[str] = []
        self._registry: Registry | None = None
        for module_name in BUILTIN_PLUGINS:
            self.register(importlib.import_module(module_name), module_name,
                          ("wlkit", _wlkit_version()))
        if autoload is None:
            autoload = not _flag("WLKIT_DISABLE_PLUGIN_AUTOLOAD")
        if autoload:
            self._load_entry_points()
        self.pm.check_pending()

    # -- registration ----------------------------------------------------------------

    def register(self, plugin: Any, name: str, source: tuple[str, str] | None = None) -> None:
        """Register a plugin object (module or instance) under ``name``.

        A plugin with malformed hook implementations (unknown ``wlkit_*`` hook, wrong
        arguments) is rejected as broken.
        """
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            raise PluginError(f"plugin {name!r} ({_describe(source)}) is invalid: {exc}\n"
                              "    hint: hook names must be one of "
                              f"{', '.join(sorted(_hook_names()))}") from exc
        self.sources[name] = source or ("<unknown>", "")
        self._registry = None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.sources.pop(name, None)
        self._registry = None

    def _load_entry_points(self) -> None:
        only = {_normalise(s) for s in os.environ.get("WLKIT_PLUGINS", "").split(",")
                if s.strip()}
        strict = _flag("WLKIT_STRICT_PLUGINS")
        seen: set[tuple[str, str]] = set()
        for dist in metadata.distributions():
            dist_name = dist.metadata["Name"] or "<unknown>"
            try:
                entry_points = dist.entry_points
            except Exception as exc:  # a malformed entry_points.txt
                if f"[{ENTRY_POINT_GROUP}]" in (dist.read_text("entry_points.txt") or ""):
                    if strict:
                        raise
                    self._warn(f"distribution {dist_name} {dist.version} has unreadable entry "
                               f"points; its wlkit plugins were skipped: "
                               f"{type(exc).__name__}: {exc}")
                continue
            for ep in entry_points:
                if ep.group != ENTRY_POINT_GROUP or (dist_name, ep.name) in seen:
                    continue
                seen.add((dist_name, ep.name))
                if only and _normalise(ep.name) not in only and _normalise(dist_name) not in only:
                    continue
                if self.pm.is_blocked(ep.name):
                    continue
                # Distributions choose entry-point names independently; a second one using a
                # taken name is registered under a qualified name, not silently dropped.
                name = ep.name if self.pm.get_plugin(ep.name) is None else f"{dist_name}:{ep.name}"
                if self.pm.get_plugin(name) is not None:
                    continue
                source = (dist_name, dist.version)
                try:
                    self.register(ep.load(), name, source)
                except Exception as exc:  # a broken plugin must not take wlkit down
                    if strict:
                        raise
                    self._warn(f"wlkit plugin {ep.name!r} from distribution {dist_name} "
                               f"{dist.version} failed to load and was skipped: "
                               f"{type(exc).__name__}: {exc}")

    def _warn(self, message: str) -> None:
        self.failures.append(message)
        warnings.warn(message + "\n    hint: set WLKIT_STRICT_PLUGINS=1 to see the traceback, "
                      "or WLKIT_DISABLE_PLUGIN_AUTOLOAD=1 to skip third-party plugins",
                      PluginWarning, stacklevel=3)

    # -- components ------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self)
        return self._registry

    # -- commands --------------------------------------------------------------------

    def add_commands(self, subparsers: Any) -> None:
        """Let every plugin add its subcommands (``wlkit_commands``), built-ins first.

        Each plugin's hook runs on its own: one that fails, or takes a command name already
        taken, is skipped with a warning naming it and its distribution.
        """
        strict = _flag("WLKIT_STRICT_PLUGINS")
        # get_hookimpls() lists implementations in registration order: built-ins first
        for impl in self.pm.hook.wlkit_commands.get_hookimpls():
            dist, version = self.plugin_source(impl.plugin)
            before = set(subparsers.choices)
            try:
                impl.function(subparsers=subparsers)
                for name in set(subparsers.choices) - before:
                    if "handler" not in subparsers.choices[name]._defaults:
                        raise TypeError(f"command {name!r} sets no handler "
                                        "(parser.set_defaults(handler=...))")
            except Exception as exc:
                for name in set(subparsers.choices) - before:  # undo a half-added command
                    subparsers.choices.pop(name, None)
                    subparsers._choices_actions[:] = [
                        a for a in subparsers._choices_actions if a.dest != name]
                if strict:
                    raise
                self._warn(f"wlkit plugin {impl.plugin_name!r} from distribution {dist} "
                           f"{version}: hook wlkit_commands failed and its commands were "
                           f"skipped: {type(exc).__name__}: {exc}\n    hint: a command name "
                           "must not be taken by wlkit or another plugin")

    def plugin_source(self, plugin: Any) -> tuple[str, str]:
        name = self.pm.get_name(plugin)
        return self.sources.get(name or "", ("<unknown>", ""))


def _normalise(name: str) -> str:
    """Distribution names compare like pip's (PEP 503): case, ``-``, ``_``, ``.`` alike."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _describe(source: tuple[str, str] | None) -> str:
    return "from " + " ".join(source).strip() if source else "registered at run time"


def _hook_names() -> list[str]:
    return [n for n in dir(hookspecs) if n.startswith("wlkit_")]


class Registry:
    """All components by family, collected from every registered plugin's hooks."""

    def __init__(self, host: PluginHost):
        self._host = host
        self._families: dict[str, dict[str, Registered]] = {f: {} for f in FAMILIES}
        strict = _flag("WLKIT_STRICT_PLUGINS")
        for family in FAMILIES:
            caller = getattr(host.pm.hook, HOOK_OF_FAMILY[family])
            for impl in caller.get_hookimpls():
                dist, version = host.plugin_source(impl.plugin)
                try:
                    records = _check_records(family, impl.function())
                except Exception as exc:
                    if strict:
                        raise
                    host._warn(f"wlkit plugin {impl.plugin_name!r} from distribution {dist} "
                               f"{version}: hook {HOOK_OF_FAMILY[family]} failed and its "
                               f"{family}s were skipped: {type(exc).__name__}: {exc}")
                    continue
                for record in records:
                    self._add(family, Registered(record, dist, version, impl.plugin_name))

    def _add(self, family: str, entry: Registered) -> None:
        table = self._families[family]
        name = entry.record.name
        if name in table:
            first = table[name]
            raise PluginError(
                f"two plugins register the {family} {name!r}: "
                f"{first.plugin} (distribution {first.source} {first.version}) and "
                f"{entry.plugin} (distribution {entry.source} {entry.version})\n"
                "    hint: uninstall one of them, or limit loading with WLKIT_PLUGINS=...")
        table[name] = entry

    def names(self, family: str) -> list[str]:
        return sorted(self._families[family])

    def entries(self, family: str) -> list[Registered]:
        return [self._families[family][n] for n in self.names(family)]

    def entry(self, family: str, name: str) -> Registered:
        """The record of ``name`` with its source distribution."""
        self.get(family, name)
        return self._families[family][name]

    def get(self, family: str, name: str) -> ComponentRecord:
        """The record of ``name``; PluginError with a did-you-mean hint when unknown."""
        if family not in self._families:
            raise PluginError(f"unknown component family {family!r}; "
                              f"{choices_hint(family, FAMILIES)}")
        try:
            return self._families[family][name].record
        except KeyError:
            raise PluginError(f"unknown {family} {name!r}; "
                              f"{choices_hint(name, self._families[family])}") from None

    def __contains__(self, key: tuple[str, str]) -> bool:
        family, name = key
        return name in self._families.get(family, {})


def _check_records(family: str, result: Any) -> list[ComponentRecord]:
    expected = RECORD_TYPES[family]
    if result is None:
        return []
    if not isinstance(result, (list, tuple)):
        raise TypeError(f"expected a list of {expected.__name__}, got {type(result).__name__}")
    for item in result:
        if not isinstance(item, expected):
            raise TypeError(f"expected {expected.__name__} items, got {type(item).__name__}")
        if not isinstance(item.name, str) or not item.name:
            raise TypeError(f"record name must be a non-empty string, got {item.name!r}")
        if not callable(item.factory):
            raise TypeError(f"{item.name}: factory is not callable")
    return list(result)


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, created on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def get_registry() -> Registry:
    """The process-wide component registry."""
    return get_host().registry


def reset_host() -> None:
    """Forget the process-wide host (the next call rediscovers plugins)."""
    global _HOST
    _HOST = None


@contextmanager
def registered_plugin(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` for the duration of a ``with`` block (tests, notebooks)."""
    host = get_host()
    name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
    host.register(plugin, name, ("<runtime>", ""))
    try:
        yield name
    finally:
        host.unregister(name)
