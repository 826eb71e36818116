"""Plugin discovery and the component registry.

Order of discovery: the built-in plugin modules first, then the entry-point group ``wlkit``
of installed distributions, then ``check_pending()``. Environment switches:

``WLKIT_DISABLE_PLUGIN_AUTOLOAD=1``
    skip entry-point loading (built-ins only).
``WLKIT_PLUGINS=a,b``
    load only the listed entry points (by entry-point name or distribution name; case and
    ``-``/``_``/``.`` do not matter, as in pip).
``WLKIT_STRICT_PLUGINS=1``
    re-raise a broken plugin's error instead of warning and carrying on (a hook that
    fails, a component name that breaks :data:`COMPONENT_NAME`, a third-party component
    named like a built-in, a command name already taken).

Registration contracts: a built-in component wins over a third-party one of the same
name (with a warning naming both distributions); two third-party components of one name
are an error only for the pipelines that use that name; a component whose name is not
lower case is refused; a ``wlkit_*`` function not marked ``@hookimpl`` gets a warning
(pluggy would ignore it silently). A plugin that failed to load is named when a pipeline
asks for a component nobody registered.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import inspect
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pluggy

from wlkit import hookspecs
from wlkit.errors import PluginError
from wlkit.params import choices_hint, did_you_mean
from wlkit.records import (
    FAMILIES,
    RECORD_TYPES,
    ComponentRecord,
    OracleFamilyRecord,
    OracleRecord,
    Registered,
    WLSuiteRecord,
)

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
    "wlkit.datasets.zinc",
    "wlkit.datasets.tu",
    "wlkit.datasets.lrgb",
    "wlkit.datasets.wl_suites",
)
"""Modules registered before any third-party plugin, through the same manager. wlkit's own
subcommands are not among them: the kernel does not import the CLI, which hands its
commands plugin to :meth:`PluginHost.add_commands`."""

HOOK_OF_FAMILY: dict[str, str] = {
    "aggregator": "wlkit_aggregators",
    "positional_encoding": "wlkit_positional_encodings",
    "subgraph_policy": "wlkit_subgraph_policies",
    "readout": "wlkit_readouts",
    "layer": "wlkit_layers",
    "dataset": "wlkit_datasets",
}


RECORD_HOOKS: dict[str, str] = {
    "wl_suite": "wlkit_wl_suites",
    "oracle": "wlkit_oracles",
}
_HOOK_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "wl_suite": (WLSuiteRecord,),
    "oracle": (OracleRecord, OracleFamilyRecord),
}
"""Registration hooks whose records are not components (collected on first use by
:meth:`Registry.hook_records`: :mod:`wlkit.suites` and :mod:`wlkit.wl` read them)."""


COMPONENT_NAME = re.compile(r"[a-z0-9][a-z0-9_.+-]*")
"""The rule every component name follows: lower case letters, digits and ``_ . + -``,
starting with a letter or digit. Enforced at registration and by ``wlkit check``."""

NAME_RULE = "lower case: letters, digits, _ . + - (starting with a letter or digit)"


class PluginWarning(UserWarning):
    """A third-party plugin is broken, clashes with another one, or was partly skipped."""


@dataclass(frozen=True)
class PluginFailure:
    """A plugin (or one of its hooks) that failed; ``str()`` is the warning shown.

    ``hook`` is None when the whole plugin failed to load (every family is affected),
    else the name of the hook whose results were skipped.
    """

    plugin: str
    dist: str
    version: str
    reason: str
    hook: str | None = None
    message: str = ""

    def __str__(self) -> str:
        return self.message or f"wlkit plugin {self.plugin!r} failed: {self.reason}"

    @property
    def where(self) -> str:
        """``plugin 'x' from distribution d 1.0``."""
        return f"plugin {self.plugin!r} from distribution {self.dist} {self.version}".rstrip()

    def affects(self, family: str) -> bool:
        """Whether the failure may hide components of ``family``."""
        return self.hook is None or self.hook == HOOK_OF_FAMILY.get(
            family, RECORD_HOOKS.get(family))


def is_builtin(plugin_name: str) -> bool:
    """Whether a registered plugin name is one of wlkit's own modules."""
    return plugin_name in BUILTIN_PLUGINS


def name_prefix(dist: str, sep: str = "_") -> str:
    """A suggested name prefix for ``dist``'s components or commands
    (``wlkit-plugin-foo-bar`` -> ``foo_bar``), ``sep`` joining its words."""
    stem = re.sub(r"^wlkit-(plugins?-)?|-wlkit$", "", _normalise(dist))
    return re.sub(r"[^a-z0-9]+", sep, stem or _normalise(dist)).strip(sep) or "myplugin"


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
        self.failures: list[PluginFailure] = []
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
        for attr in _unmarked_hooks(plugin):
            known = attr in _hook_names()
            warnings.warn(
                f"wlkit plugin {name!r} ({_describe(source)}): {attr}() is not marked "
                "@hookimpl, so wlkit never calls it"
                + ("" if known else " (and it is not a wlkit hook name)")
                + "\n    hint: decorate it with @wlkit.hookimpl"
                + ("" if known else f"; hook names are {', '.join(_hook_names())}")
                + ", or rename it if it is a helper", PluginWarning, stacklevel=2)

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
                    self._warn(PluginFailure(
                        dist_name, dist_name, dist.version, f"{type(exc).__name__}: {exc}",
                        message=f"distribution {dist_name} {dist.version} has unreadable "
                                f"entry points; its wlkit plugins were skipped: "
                                f"{type(exc).__name__}: {exc}"))
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
                    reason = f"{type(exc).__name__}: {exc}"
                    self._warn(PluginFailure(
                        ep.name, dist_name, dist.version, reason,
                        message=f"wlkit plugin {ep.name!r} from distribution {dist_name} "
                                f"{dist.version} failed to load and was skipped: {reason}"))

    def _warn(self, failure: PluginFailure) -> None:
        """Record a failure (named later when a pipeline asks for what it hid) and warn."""
        self.failures.append(failure)
        warnings.warn(f"{failure}\n    hint: set WLKIT_STRICT_PLUGINS=1 to see the traceback, "
                      "or WLKIT_DISABLE_PLUGIN_AUTOLOAD=1 to skip third-party plugins",
                      PluginWarning, stacklevel=3)

    # -- components ------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self)
        return self._registry

    # -- commands --------------------------------------------------------------------

    def add_commands(self, subparsers: Any, builtin: Any = None) -> None:
        """Let every plugin add its subcommands (``wlkit_commands``), built-ins first.

        Each plugin's hook runs on its own: one that fails, or takes a command name already
        taken (by wlkit or an earlier plugin), is skipped with a warning naming it and its
        distribution, and none of its commands are added.

        Parameters
        ----------
        subparsers : argparse._SubParsersAction
            The sub-parser action of the ``wlkit`` parser.
        builtin : module, optional
            wlkit's own commands plugin (``wlkit.cli.builtin``), registered as part of
            wlkit (once) and run first; the CLI passes it so that the kernel need not
            import the CLI.
        """
        own_name = None
        if builtin is not None:
            own_name = getattr(builtin, "__name__", "wlkit-commands")
            if self.pm.get_plugin(own_name) is None:
                registry = self._registry
                self.register(builtin, own_name, ("wlkit", _wlkit_version()))
                self._registry = registry  # it registers commands, no components

        def own(plugin_name: str) -> bool:
            return plugin_name == own_name or is_builtin(plugin_name)

        strict = _flag("WLKIT_STRICT_PLUGINS")
        owners: dict[str, str] = {}  # command (or alias) -> the plugin that added it
        # built-ins first whatever the hook order (a trylast plugin would come before them)
        impls = sorted(self.pm.hook.wlkit_commands.get_hookimpls(),
                       key=lambda impl: not own(impl.plugin_name))
        for impl in impls:
            dist, version = self.plugin_source(impl.plugin)
            before = set(subparsers.choices)
            added: list[str] = []
            original = subparsers.add_parser

            def add_parser(name: str, _original: Any = original, _added: list[str] = added,
                           **kwargs: Any) -> Any:
                # argparse < 3.11 silently replaces a taken name; refuse it on every version
                for command in (name, *kwargs.get("aliases", ())):
                    if command in subparsers.choices:
                        raise _CommandTaken(command, owners.get(command, "<unknown>"))
                parser = _original(name, **kwargs)
                _added.extend((name, *kwargs.get("aliases", ())))
                return parser

            subparsers.add_parser = add_parser
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
                where = (f"wlkit plugin {impl.plugin_name!r} from distribution {dist} "
                         f"{version}".rstrip())
                if isinstance(exc, _CommandTaken):
                    owner = exc.owner
                    owner_text = ("wlkit" if own(owner) else
                                  f"plugin {owner!r} (distribution "
                                  f"{' '.join(self.sources.get(owner, ('<unknown>',)))})")
                    message = (f"{where}: its command {exc.command!r} is already a command "
                               f"of {owner_text}; the plugin's commands were skipped\n"
                               f"    hint: rename the command or prefix it, e.g. "
                               f"'{name_prefix(dist, '-')}-{exc.command}'")
                    if strict:
                        raise PluginError(message) from None
                    warnings.warn(message, PluginWarning, stacklevel=2)
                    self.failures.append(PluginFailure(
                        impl.plugin_name, dist, version, f"command {exc.command!r} is taken",
                        hook="wlkit_commands", message=message.split("\n")[0]))
                    continue
                if strict:
                    raise
                self._warn(PluginFailure(
                    impl.plugin_name, dist, version, f"{type(exc).__name__}: {exc}",
                    hook="wlkit_commands",
                    message=f"{where}: hook wlkit_commands failed and its commands were "
                            f"skipped: {type(exc).__name__}: {exc}"))
            else:
                owners.update(dict.fromkeys(added, impl.plugin_name))
            finally:
                del subparsers.add_parser  # the class's method again

    def plugin_source(self, plugin: Any) -> tuple[str, str]:
        name = self.pm.get_name(plugin)
        return self.sources.get(name or "", ("<unknown>", ""))


class _CommandTaken(Exception):
    """A plugin's ``wlkit_commands`` asked for a command name already in use."""

    def __init__(self, command: str, owner: str):
        super().__init__(f"command {command!r} is already taken")
        self.command, self.owner = command, owner


def _unmarked_hooks(plugin: Any) -> list[str]:
    """Functions named ``wlkit_*`` on ``plugin`` that pluggy will not call (no ``@hookimpl``)."""
    found = []
    for attr in dir(plugin):
        if not attr.startswith("wlkit_"):
            continue
        try:
            value = inspect.getattr_static(plugin, attr)
        except AttributeError:
            continue
        value = getattr(value, "__func__", value)  # staticmethod / classmethod
        if not inspect.isfunction(value) and not inspect.isbuiltin(value):
            continue
        if hasattr(value, f"{ENTRY_POINT_GROUP}_impl") or hasattr(
                value, f"{ENTRY_POINT_GROUP}_spec"):
            continue
        found.append(attr)
    return found


def _normalise(name: str) -> str:
    """Distribution names compare like pip's (PEP 503): case, ``-``, ``_``, ``.`` alike."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _describe(source: tuple[str, str] | None) -> str:
    return "from " + " ".join(source).strip() if source else "registered at run time"


def _hook_names() -> list[str]:
    return [n for n in dir(hookspecs) if n.startswith("wlkit_")]


class Registry:
    """All components by family, collected from every registered plugin's hooks.

    A name registered by a built-in and a third-party plugin resolves to the built-in (with
    a warning). A name registered by two third-party plugins is *clashed*: it is listed, but
    :meth:`get` and :meth:`entry` refuse it, so only pipelines using it fail. A record whose
    name breaks :data:`COMPONENT_NAME` is refused (warning; PluginError when strict).
    """

    def __init__(self, host: PluginHost):
        self._host = host
        self._families: dict[str, dict[str, Registered]] = {f: {} for f in FAMILIES}
        self._clashes: dict[str, dict[str, list[Registered]]] = {f: {} for f in FAMILIES}
        self._refused: dict[str, dict[str, Registered]] = {f: {} for f in FAMILIES}
        self._strict = _flag("WLKIT_STRICT_PLUGINS")
        for family in FAMILIES:
            caller = getattr(host.pm.hook, HOOK_OF_FAMILY[family])
            # built-ins first whatever the hook order, so that a built-in always wins
            impls = sorted(caller.get_hookimpls(), key=lambda i: not is_builtin(i.plugin_name))
            for impl in impls:
                dist, version = host.plugin_source(impl.plugin)
                try:
                    records = _check_records(family, impl.function())
                except Exception as exc:
                    if self._strict:
                        raise
                    reason = f"{type(exc).__name__}: {exc}"
                    host._warn(PluginFailure(
                        impl.plugin_name, dist, version, reason, hook=HOOK_OF_FAMILY[family],
                        message=f"wlkit plugin {impl.plugin_name!r} from distribution {dist} "
                                f"{version}: hook {HOOK_OF_FAMILY[family]} failed and its "
                                f"{family}s were skipped: {reason}"))
                    continue
                for record in records:
                    self._add(family, Registered(record, dist, version, impl.plugin_name))
        for family, clashes in self._clashes.items():
            for name, entries in clashes.items():
                self._warn(_clash_message(family, name, entries)
                           + "; pipelines using it fail until one is uninstalled\n    hint: "
                           + _CLASH_HINT)

    def _warn(self, message: str) -> None:
        warnings.warn(message, PluginWarning, stacklevel=4)

    def _add(self, family: str, entry: Registered) -> None:
        name = entry.record.name
        where = (f"plugin {entry.plugin!r} (distribution {entry.source} "
                 f"{entry.version})".replace(" )", ")"))
        if not COMPONENT_NAME.fullmatch(name):
            message = (f"{where} registers the {family} {name!r}, whose name is not "
                       f"{NAME_RULE}; it was refused\n    hint: the plugin must rename it, "
                       f"e.g. {_suggest_name(name)!r}")
            if self._strict:
                raise PluginError(message)
            self._refused[family].setdefault(name, entry)
            self._warn(message)
            return
        table, clashes = self._families[family], self._clashes[family]
        if name in clashes:
            clashes[name].append(entry)
            return
        if name not in table:
            table[name] = entry
            return
        first = table[name]
        if is_builtin(first.plugin) and not is_builtin(entry.plugin):
            message = (f"{where} registers the {family} {name!r}, which wlkit already "
                       f"provides ({first.plugin}, distribution {first.source} "
                       f"{first.version}); the built-in is used\n    hint: rename the "
                       f"component in {entry.source} or prefix it, e.g. "
                       f"'{name_prefix(entry.source)}_{name}'")
            if self._strict:
                raise PluginError(message)
            self._warn(message)
            return
        # two third-party plugins (or a wlkit bug): neither wins; only users of it fail
        clashes[name] = [table.pop(name), entry]

    def names(self, family: str) -> list[str]:
        """Usable names of ``family`` (clashed and refused names are left out)."""
        return sorted(self._families[family])

    def entries(self, family: str) -> list[Registered]:
        """Usable entries of ``family``, by name."""
        return [self._families[family][n] for n in self.names(family)]

    def clashes(self, family: str) -> dict[str, list[Registered]]:
        """Names of ``family`` registered by two or more third-party plugins, with them."""
        return {name: list(entries) for name, entries in sorted(self._clashes[family].items())}

    def entry(self, family: str, name: str) -> Registered:
        """The record of ``name`` with its source distribution."""
        self.get(family, name)
        return self._families[family][name]

    def get(self, family: str, name: str) -> ComponentRecord:
        """The record of ``name``.

        Raises
        ------
        PluginError
            ``name`` is unknown (with a did-you-mean hint, naming the plugins that failed to
            load), clashed between two plugins, or was refused at registration.
        """
        if family not in self._families:
            raise PluginError(f"unknown component family {family!r}; "
                              f"{choices_hint(family, FAMILIES)}")
        problem = self.lookup_problem(family, name)
        if problem is not None:
            message, hint = problem
            raise PluginError(message + (f"\n    hint: {hint}" if hint else ""))
        return self._families[family][name].record

    def lookup_problem(self, family: str, name: str) -> tuple[str, str | None] | None:
        """Why ``name`` cannot be used as a ``family``, as ``(message, hint)``; None if it can.

        Parameters
        ----------
        family : str
            A component family (see :data:`wlkit.records.FAMILIES`).
        name : str
            The name a pipeline asks for.
        """
        if name in self._families[family]:
            return None
        if name in self._clashes[family]:
            return _clash_message(family, name, self._clashes[family][name]), _CLASH_HINT
        choices = choices_hint(name, self.names(family))
        if name in self._refused[family]:
            entry = self._refused[family][name]
            return (f"the {family} {name!r} of plugin {entry.plugin!r} (distribution "
                    f"{entry.source} {entry.version}) was refused: its name is not "
                    f"{NAME_RULE}"), f"the plugin must rename it; {choices}"
        failures = [f for f in self._host.failures if f.affects(family)]
        direct = [f for f in failures if _normalise(f.plugin) == _normalise(name)]
        typo = did_you_mean(name, self.names(family)) is not None
        if not direct and len(failures) == 1 and not typo:
            direct = failures
        if direct:
            failure = direct[0]
            what = "failed to load" if failure.hook is None else f"failed in {failure.hook}"
            return (f"{family} {name!r} is not available: {failure.where} {what}: "
                    f"{failure.reason}"), (
                        f"fix or reinstall {failure.dist} (WLKIT_STRICT_PLUGINS=1 shows the "
                        f"traceback); {choices}")
        if failures:
            named = ", ".join(f"{f.plugin!r} ({f.dist})" for f in failures)
            return f"unknown {family} {name!r}", (
                f"{choices}; {len(failures)} plugin(s) failed to load and may provide it: "
                f"{named} (see the warnings above, or set WLKIT_STRICT_PLUGINS=1)")
        return f"unknown {family} {name!r}", choices

    def hook_records(self, what: str, expected: tuple[type, ...],
                     key: str = "name") -> tuple[dict[str, Registered],
                                                 dict[str, list[Registered]]]:
        """The records of a non-component hook (:data:`RECORD_HOOKS`), collected once.

        The rules of the component families apply: built-ins first and a built-in wins a
        name over a third-party plugin (warning); two third-party plugins of one name are
        a clash (returned apart, so that only the users of the name fail); a hook that
        fails or returns something else than ``expected`` records is skipped with a
        warning naming the plugin and its distribution.

        Parameters
        ----------
        what : str
            A key of :data:`RECORD_HOOKS` (``"wl_suite"``, ``"oracle"``).
        expected : tuple of type
            The record classes the hook may return.
        key : str
            The record attribute records are named by (``"name"``, ``"prefix"``).

        Returns
        -------
        by_name : dict of str to Registered
            The usable records by name.
        clashes : dict of str to list of Registered
            Names registered by two or more third-party plugins.
        """
        cache = self.__dict__.setdefault("_hook_records", {})
        if (what, expected, key) in cache:
            return cache[what, expected, key]
        by_name: dict[str, Registered] = {}
        clashes: dict[str, list[Registered]] = {}
        for impl, dist, version, result in self._hook_results(what):
            for item in result:
                if not isinstance(item, expected):
                    continue  # another record kind of the same hook (e.g. oracle families)
                entry = Registered(item, dist, version, impl.plugin_name)
                name = getattr(item, key)
                if name in clashes:
                    clashes[name].append(entry)
                elif name not in by_name:
                    by_name[name] = entry
                elif is_builtin(by_name[name].plugin) and not is_builtin(entry.plugin):
                    first = by_name[name]
                    self._warn(f"plugin {entry.plugin!r} (distribution {entry.source} "
                               f"{entry.version}) registers the {what} {name!r}, which wlkit "
                               f"already provides ({first.plugin}); the built-in is used\n"
                               f"    hint: rename it in {entry.source} or prefix it, e.g. "
                               f"'{name_prefix(entry.source)}_{name}'")
                else:
                    clashes[name] = [by_name.pop(name), entry]
        cache[what, expected, key] = by_name, clashes
        return by_name, clashes

    def _hook_results(self, what: str) -> list[tuple[Any, str, str, list[Any]]]:
        """``(impl, dist, version, records)`` of every plugin's hook, each called once."""
        cache = self.__dict__.setdefault("_hook_results_cache", {})
        if what in cache:
            return cache[what]
        hook, allowed = RECORD_HOOKS[what], _HOOK_RECORD_TYPES[what]
        out = []
        impls = sorted(getattr(self._host.pm.hook, hook).get_hookimpls(),
                       key=lambda i: not is_builtin(i.plugin_name))
        for impl in impls:
            dist, version = self._host.plugin_source(impl.plugin)
            try:
                result = impl.function()
                result = [] if result is None else list(result)
                for item in result:
                    if not isinstance(item, allowed):
                        raise TypeError(f"expected {' or '.join(t.__name__ for t in allowed)}"
                                        f" items, got {type(item).__name__}")
            except Exception as exc:
                if self._strict:
                    raise
                reason = f"{type(exc).__name__}: {exc}"
                self._host._warn(PluginFailure(
                    impl.plugin_name, dist, version, reason, hook=hook,
                    message=f"wlkit plugin {impl.plugin_name!r} from distribution {dist} "
                            f"{version}: hook {hook} failed and its {what}s were skipped: "
                            f"{reason}"))
                continue
            out.append((impl, dist, version, result))
        cache[what] = out
        return out

    def __contains__(self, key: tuple[str, str]) -> bool:
        """Whether ``(family, name)`` is registered, usable or clashed."""
        family, name = key
        return name in self._families.get(family, {}) or name in self._clashes.get(family, {})


_CLASH_HINT = "uninstall one of them, or limit loading with WLKIT_PLUGINS=..."


def _clash_message(family: str, name: str, entries: list[Registered]) -> str:
    plugins = " and ".join(f"{e.plugin} (distribution {e.source} {e.version})".replace(" )", ")")
                           for e in entries)
    return f"{len(entries)} plugins register the {family} {name!r}: {plugins}"


def _suggest_name(name: str) -> str:
    """A name following :data:`COMPONENT_NAME` close to ``name``."""
    fixed = re.sub(r"[^a-z0-9_.+-]+", "_", name.strip().lower()).lstrip("_.+-")
    return fixed or "my_component"


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
