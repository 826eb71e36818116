"""Registration contracts of the plugin manager, in process.

A private :class:`wlkit.manager.PluginHost` (built-ins only) gets fixture plugins registered
by hand, so each rule is checked without a subprocess: a built-in wins a name clash with a
warning, two third-party plugins with one name break only the pipelines using it, names must
be lower case, a ``wlkit_*`` function without ``@hookimpl`` is reported, and a component
hidden by a plugin that failed to load says so.
"""

from __future__ import annotations

import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest

from wlkit import PipelineError, PluginError
from wlkit.manager import COMPONENT_NAME, PluginHost, PluginWarning, name_prefix
from wlkit.pipeline.loader import validate_pipeline
from wlkit.tools.listing import format_listing, plugin_listing

PLUGIN_ENV = ("WLKIT_DISABLE_PLUGIN_AUTOLOAD", "WLKIT_PLUGINS", "WLKIT_STRICT_PLUGINS")


def aggregator_code(*names: str, more: str = "") -> str:
    """A plugin module registering one working aggregator per name, plus ``more``."""
    return textwrap.dedent(f"""
        import dgl
        from wlkit import Aggregator, AggregatorRecord, hookimpl

        class Plain(Aggregator):
            def reduce(self, graph, messages):
                return dgl.ops.copy_e_sum(graph, messages)

        @hookimpl
        def wlkit_aggregators():
            return [AggregatorRecord(name=n, factory=Plain, summary="fixture")
                    for n in {list(names)!r}]
        """) + textwrap.dedent(more)


def module(name: str, code: str) -> types.ModuleType:
    plugin = types.ModuleType(name)
    exec(compile(code, f"<{name}>", "exec"), plugin.__dict__)
    return plugin


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    """A host with the built-ins only (installed plugins do not interfere)."""
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)
    return PluginHost(autoload=False)


def add(host: PluginHost, name: str, code: str, dist: str | None = None) -> None:
    host.register(module(name, code), name, (dist or f"wlkit-fixture-{name}", "0.3"))


def plugin_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, PluginWarning)]


def build(host: PluginHost):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        registry = host.registry
    return registry, plugin_warnings(record)


MINIMAL = {"name": "x", "dataset": "wl_pairs",
           "model": {"layer": "gin", "aggregator": "sum", "readout": "sum"},
           "trainer": {"accelerator": "cpu"}}


def pipeline_with(host: PluginHost, aggregator: str) -> str:
    """The problems of a pipeline using ``aggregator`` (PipelineError text)."""
    data = {**MINIMAL, "model": {**MINIMAL["model"], "aggregator": aggregator}}
    with pytest.raises(PipelineError) as info:
        validate_pipeline(data, registry=host.registry)
    return str(info.value)


# --- a third-party component named like a built-in -----------------------------------------


def test_builtin_wins_a_clash_with_a_warning_naming_both_distributions(host):
    add(host, "shadow", aggregator_code("sum", "shadow_own"), dist="wlkit-plugin-shadow")
    registry, messages = build(host)
    assert registry.entry("aggregator", "sum").source == "wlkit"
    assert registry.entry("aggregator", "shadow_own").source == "wlkit-plugin-shadow"
    [message] = messages
    assert "aggregator 'sum'" in message and "wlkit-plugin-shadow 0.3" in message
    assert "distribution wlkit " in message and "the built-in is used" in message
    hint = message.split("\n    hint: ", 1)[1]
    assert "rename" in hint and "'shadow_sum'" in hint and "uninstall" not in hint
    # every command keeps working: listing and validating a pipeline with the built-in
    rows = {(r["family"], r["name"]): r for r in plugin_listing(registry)}
    assert rows[("aggregator", "sum")]["source"] == "wlkit"
    validate_pipeline(MINIMAL, registry=registry)


def test_builtin_wins_even_when_the_plugin_hook_runs_first(host):
    add(host, "early", aggregator_code("sum").replace("@hookimpl", "@hookimpl(tryfirst=True)"))
    add(host, "late", aggregator_code("mean").replace("@hookimpl", "@hookimpl(trylast=True)"))
    registry, messages = build(host)
    assert registry.entry("aggregator", "sum").source == "wlkit"
    assert registry.entry("aggregator", "mean").source == "wlkit"
    assert len(messages) == 2


def test_strict_mode_makes_a_builtin_clash_an_error(host, monkeypatch):
    monkeypatch.setenv("WLKIT_STRICT_PLUGINS", "1")
    add(host, "shadow", aggregator_code("sum"))
    with pytest.raises(PluginError, match=r"wlkit-fixture-shadow 0.3.*aggregator 'sum'"):
        host.registry  # noqa: B018


# --- two third-party plugins with one name -------------------------------------------------


def test_third_party_clash_fails_only_the_pipelines_using_it(host):
    add(host, "twin_a", aggregator_code("twin", "only_a"))
    add(host, "twin_b", aggregator_code("twin"))
    registry, messages = build(host)
    [message] = messages
    assert "aggregator 'twin'" in message
    assert "wlkit-fixture-twin_a" in message and "wlkit-fixture-twin_b" in message
    assert ("aggregator", "twin") in registry and "twin" not in registry.names("aggregator")
    with pytest.raises(PluginError, match=r"aggregator 'twin'.*twin_a.*twin_b") as info:
        registry.get("aggregator", "twin")
    assert "hint: uninstall one of them" in str(info.value)
    with pytest.raises(PluginError, match="aggregator 'twin'"):
        registry.entry("aggregator", "twin")
    # other names, from either plugin or wlkit, still work
    assert registry.entry("aggregator", "only_a").source == "wlkit-fixture-twin_a"
    validate_pipeline(MINIMAL, registry=registry)
    text = pipeline_with(host, "twin")
    assert "model.aggregator.name" in text or "model.aggregator" in text
    assert "2 plugins register the aggregator 'twin'" in text and "uninstall one" in text


def test_listing_shows_both_sides_of_a_clash(host):
    add(host, "twin_a", aggregator_code("twin"))
    add(host, "twin_b", aggregator_code("twin"))
    registry, _ = build(host)
    rows = [r for r in plugin_listing(registry) if r["name"] == "twin"]
    assert [r["source"] for r in rows] == ["wlkit-fixture-twin_a", "wlkit-fixture-twin_b"]
    assert all(r["clash"] == ["wlkit-fixture-twin_a", "wlkit-fixture-twin_b"] for r in rows)
    assert all("clash" not in r for r in plugin_listing(registry) if r["name"] != "twin")
    text = format_listing(plugin_listing(registry))
    assert "CLASH: also registered by wlkit-fixture-twin_b" in text
    assert "CLASH: also registered by wlkit-fixture-twin_a" in text


# --- the name rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Softish", "two words", "_private", "é"])
def test_a_name_breaking_the_rule_is_refused_with_a_warning(host, bad):
    add(host, "names", aggregator_code(bad, "fine_name"))
    registry, messages = build(host)
    [message] = messages
    assert f"aggregator {bad!r}" in message and "wlkit-fixture-names 0.3" in message
    assert "lower case" in message and "refused" in message
    assert ("aggregator", bad) not in registry
    assert registry.entry("aggregator", "fine_name").source == "wlkit-fixture-names"
    with pytest.raises(PluginError, match=r"was refused: its name is not lower case"):
        registry.get("aggregator", bad)


def test_strict_mode_makes_a_bad_name_an_error(host, monkeypatch):
    monkeypatch.setenv("WLKIT_STRICT_PLUGINS", "1")
    add(host, "names", aggregator_code("Softish"))
    with pytest.raises(PluginError, match=r"wlkit-fixture-names 0.3.*'Softish'.*lower case"):
        host.registry  # noqa: B018


def test_every_builtin_name_follows_the_rule(host):
    registry, messages = build(host)
    assert messages == []
    names = [n for family in ("aggregator", "readout", "dataset")
             for n in registry.names(family)]
    assert names and all(COMPONENT_NAME.fullmatch(n) for n in names)


def test_name_prefix_suggestions():
    assert name_prefix("wlkit-plugin-example") == "example"
    assert name_prefix("WLKIT_Fixture.Shadow") == "fixture_shadow"
    assert name_prefix("my-dist", "-") == "my-dist"


# --- wlkit_* functions without @hookimpl -----------------------------------------------------


def test_an_unmarked_hook_function_gets_a_warning(host):
    code = aggregator_code("marked", more="""
        from wlkit import ReadoutRecord

        def wlkit_readouts():  # forgot @hookimpl: pluggy never calls it
            return []

        def wlkit_helper():  # not a hook name at all
            return None

        def helper():
            return None
        """)
    with pytest.warns(PluginWarning) as record:
        add(host, "unmarked", code)
    messages = plugin_warnings(record)
    assert len(messages) == 2, messages
    readouts = next(m for m in messages if "wlkit_readouts()" in m)
    assert "'unmarked'" in readouts and "wlkit-fixture-unmarked" in readouts
    assert "not marked @hookimpl" in readouts and "@wlkit.hookimpl" in readouts
    helper = next(m for m in messages if "wlkit_helper()" in m)
    assert "not a wlkit hook name" in helper and "wlkit_readouts" in helper
    assert ("aggregator", "marked") in host.registry  # the marked hook still works


def test_marked_hooks_and_builtins_give_no_warning(host):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        add(host, "clean", aggregator_code("clean_agg"))
        PluginHost(autoload=False)


# --- a component hidden by a plugin that failed to load -------------------------------------


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install fixture distributions (dist-info + module) on sys.path."""
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)

    def install(dist: str, code: str, entry_point: str) -> None:
        module_name = f"{dist.replace('-', '_')}_{tmp_path.name}"
        folder = tmp_path / dist
        info = folder / f"{dist.replace('-', '_')}-1.2.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2\n")
        (info / "entry_points.txt").write_text(f"[wlkit]\n{entry_point} = {module_name}\n")
        (folder / f"{module_name}.py").write_text(textwrap.dedent(code))
        monkeypatch.syspath_prepend(str(folder))
        monkeypatch.delitem(sys.modules, module_name, raising=False)

    return install


BROKEN = 'raise ImportError("needs libfrobnicate >= 2")\n'


def loaded_host() -> PluginHost:
    with pytest.warns(PluginWarning):
        return PluginHost()


def test_the_only_failed_plugin_is_named_when_a_pipeline_uses_its_component(on_path):
    on_path("wlkit-fixture-frob", BROKEN, entry_point="frob")
    host = loaded_host()
    with pytest.raises(PluginError) as info:
        host.registry.get("aggregator", "frobnicate")
    message = str(info.value)
    assert message.startswith("aggregator 'frobnicate' is not available: plugin 'frob' from "
                              "distribution wlkit-fixture-frob 1.2 failed to load: "
                              "ImportError: needs libfrobnicate >= 2")
    assert "unknown aggregator" not in message and "WLKIT_STRICT_PLUGINS=1" in message
    text = pipeline_with(host, "frobnicate")
    assert "plugin 'frob' from distribution wlkit-fixture-frob 1.2 failed to load" in text


def test_the_failed_plugin_named_like_the_component_is_named_among_several(on_path):
    on_path("wlkit-fixture-frob", BROKEN, entry_point="frob")
    on_path("wlkit-fixture-other", BROKEN, entry_point="other")
    host = loaded_host()
    with pytest.raises(PluginError, match=r"^aggregator 'other' is not available: plugin "
                                          r"'other' from distribution wlkit-fixture-other"):
        host.registry.get("aggregator", "other")
    with pytest.raises(PluginError) as info:  # neither is named like it: list both
        host.registry.get("aggregator", "nothing_like_it")
    message = str(info.value)
    assert message.startswith("unknown aggregator 'nothing_like_it'")
    assert "2 plugin(s) failed to load and may provide it" in message
    assert "'frob' (wlkit-fixture-frob)" in message and "'other' (wlkit-fixture-other)" in message


def test_a_typo_of_a_working_name_is_still_a_typo_despite_a_failed_plugin(on_path):
    on_path("wlkit-fixture-frob", BROKEN, entry_point="frob")
    with pytest.raises(PluginError) as info:
        loaded_host().registry.get("aggregator", "summ")
    message = str(info.value)
    assert message.startswith("unknown aggregator 'summ'") and "did you mean 'sum'?" in message
    assert "'frob' (wlkit-fixture-frob)" in message


def test_a_failed_hook_of_another_family_is_not_blamed(on_path):
    on_path("wlkit-fixture-hooky", """
        from wlkit import hookimpl

        @hookimpl
        def wlkit_readouts():
            raise RuntimeError("kaboom")
        """, entry_point="hooky")
    with pytest.warns(PluginWarning, match="kaboom"):  # hooks run when the registry is built
        registry = PluginHost().registry
    with pytest.raises(PluginError) as info:
        registry.get("aggregator", "hooky_agg")
    assert str(info.value).startswith("unknown aggregator 'hooky_agg'")
    assert "hooky" not in str(info.value).replace("'hooky_agg'", "")
    with pytest.raises(PluginError, match=r"^readout 'hooky_pool' is not available: plugin "
                                          r"'hooky' from distribution wlkit-fixture-hooky 1.2 "
                                          r"failed in wlkit_readouts: RuntimeError: kaboom"):
        registry.get("readout", "hooky_pool")


def test_without_failures_an_unknown_name_is_just_unknown(host):
    with pytest.raises(PluginError) as info:
        host.registry.get("aggregator", "nope")
    assert str(info.value).startswith("unknown aggregator 'nope'\n    hint: valid choices: ")
