"""Every hook is typed and documented (a hook without docs fails here), in its docstring
and in docs/plugins.md, whose examples run."""

from __future__ import annotations

import argparse
import inspect
import re
import types
import warnings
from pathlib import Path

import pytest

from wlkit import WlkitError, hookspecs
from wlkit.manager import HOOK_OF_FAMILY, PluginHost, PluginWarning
from wlkit.records import FAMILIES

HOOKS = [name for name in dir(hookspecs) if name.startswith("wlkit_")]
PLUGINS_MD = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def test_one_registration_hook_per_family():
    assert sorted(HOOK_OF_FAMILY) == sorted(FAMILIES)
    assert set(HOOK_OF_FAMILY.values()) <= set(HOOKS)
    assert {"wlkit_pipeline_loaded", "wlkit_configure_trainer", "wlkit_callbacks",
            "wlkit_commands"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_and_typed(name):
    function = getattr(hookspecs, name)
    doc = inspect.getdoc(function) or ""
    assert len(doc.split()) >= 10, f"{name} needs a real docstring"
    signature = inspect.signature(function)
    assert signature.return_annotation is not inspect.Signature.empty, f"{name}: return type"
    for param in signature.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}: type of {param.name}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_marked_as_a_spec(name):
    assert hasattr(getattr(hookspecs, name), "wlkit_spec")


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_for_plugin_authors(name):
    """docs/plugins.md lists every hook with its arguments (its hooks table)."""
    assert re.search(rf"`{name}\(", PLUGINS_MD.read_text()), \
        f"docs/plugins.md does not document {name}(...)"


def _docs_example(heading: str) -> str:
    section = PLUGINS_MD.read_text().split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_wlkit_commands_example_in_the_docs_runs(monkeypatch, capsys):
    for name in ("WLKIT_DISABLE_PLUGIN_AUTOLOAD", "WLKIT_PLUGINS", "WLKIT_STRICT_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    plugin = types.ModuleType("docs_commands_example")
    exec(compile(_docs_example("Adding a subcommand (`wlkit_commands`)"),
                 "docs/plugins.md", "exec"), plugin.__dict__)
    host = PluginHost(autoload=False)
    host.register(plugin, "docs-example", ("docs-example", "0"))
    monkeypatch.setattr("wlkit.manager.get_host", lambda: host)
    parser = argparse.ArgumentParser(prog="wlkit")
    sub = parser.add_subparsers(dest="command")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        host.add_commands(sub)
    assert "count" in parser.format_help()
    args = parser.parse_args(["count", "aggregator"])
    assert args.handler(args) == 0
    assert capsys.readouterr().out == f"{len(host.registry.names('aggregator'))} aggregator(s)\n"
    with pytest.raises(WlkitError, match="unknown family 'aggregators'"):
        args.handler(parser.parse_args(["count", "aggregators"]))
