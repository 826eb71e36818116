"""wlkit.suites: suites as a public contract, registered through the hook wlkit_wl_suites."""

from __future__ import annotations

import ast
import types
import warnings
from pathlib import Path

import pytest

import wlkit
from wlkit import (
    DatasetError,
    PluginError,
    SuitePair,
    WlkitError,
    WLSuite,
    WLSuiteRecord,
    hookimpl,
)
from wlkit import graphs as G
from wlkit.manager import PluginHost, PluginWarning
from wlkit.suites import load_suite, suite_names, suite_records

ROOT = Path(__file__).resolve().parents[2]


class TriangleSuite(WLSuite):
    """A third-party suite: one pair that 1-WL cannot separate."""

    suite = "triangles"

    def __init__(self, root: str | None = None):
        self.root = root

    def _build(self) -> list[SuitePair]:
        return [SuitePair("c6_vs_2c3", "cycles", G.cycle(6),
                          G.disjoint_union(G.cycle(3), G.cycle(3)))]


def plugin(*records: WLSuiteRecord) -> types.ModuleType:
    module = types.ModuleType("suite_plugin")

    @hookimpl
    def wlkit_wl_suites():
        return list(records)

    module.wlkit_wl_suites = wlkit_wl_suites
    return module


def host_with(*plugins: tuple[types.ModuleType, str, str]) -> PluginHost:
    host = PluginHost(autoload=False)
    for module, name, dist in plugins:
        host.register(module, name, (dist, "1.0"))
    return host


def test_the_contract_is_exported_from_wlkit_and_the_builtins_register_through_the_hook():
    assert wlkit.WLSuite is WLSuite and wlkit.SuitePair is SuitePair
    from wlkit.datasets import wl_suites

    assert wl_suites.WLSuite is WLSuite  # the plugin uses the kernel's class
    names = suite_names()
    assert set(wl_suites.SUITES) <= set(names)
    records = suite_records()
    assert records["exp"].record.needs_files and records["exp"].plugin == "wlkit.datasets.wl_suites"
    assert records["csl"].record.takes_root and not records["csl"].record.needs_files
    assert not records["classic"].record.takes_root


def test_a_third_party_suite_is_listed_and_loaded(tmp_path):
    record = WLSuiteRecord(name="triangles", factory=TriangleSuite, summary="C6 vs 2xC3",
                           accepts_root=True)
    host = host_with((plugin(record), "tri", "wlkit-plugin-tri"))
    assert "triangles" in suite_names(host.registry)
    suite = load_suite("triangles", "/some/where", host.registry)
    assert isinstance(suite, TriangleSuite) and suite.root == "/some/where"
    assert load_suite("suite_triangles", registry=host.registry).root is None
    labels = suite.oracle_labels(["1-WL", "node_deleted"], cache_dir=tmp_path)
    assert labels["1-WL"].tolist() == [False] and labels["node_deleted"].tolist() == [True]


def test_unknown_suite_has_a_did_you_mean_hint():
    with pytest.raises(DatasetError, match=r"(?s)unknown suite 'clasic'.*hint: did you mean "
                                           r"'classic'"):
        load_suite("clasic")


def test_root_for_a_generated_suite_and_broken_factories_are_clear_errors():
    with pytest.raises(WlkitError, match="drop --root"):
        load_suite("classic", "/tmp")

    def broken(root):
        raise RuntimeError("no graphs today")

    records = (WLSuiteRecord(name="broken", factory=broken, summary="x"),
               WLSuiteRecord(name="wrong", factory=lambda root: [1, 2], summary="x"))
    host = host_with((plugin(*records), "bad", "wlkit-plugin-bad"))
    with pytest.raises(PluginError, match=r"(?s)suite 'broken' \(plugin 'bad', distribution "
                                          r"wlkit-plugin-bad 1.0\): its factory failed: "
                                          r"RuntimeError: no graphs today.*hint:"):
        load_suite("broken", registry=host.registry)
    with pytest.raises(PluginError, match=r"(?s)returned a list, not a wlkit.WLSuite.*hint"):
        load_suite("wrong", registry=host.registry)


def test_clashes_builtin_wins_third_party_pair_fails_only_when_used():
    mine = WLSuiteRecord(name="classic", factory=TriangleSuite, summary="mine")
    twice = WLSuiteRecord(name="triangles", factory=TriangleSuite, summary="x")
    host = host_with((plugin(mine, twice), "one", "wlkit-plugin-one"),
                     (plugin(twice), "two", "wlkit-plugin-two"))
    with pytest.warns(PluginWarning, match=r"(?s)registers the wl_suite 'classic', which "
                                           r"wlkit already provides.*hint: rename"):
        names = suite_names(host.registry)
    assert "classic" in names and "triangles" not in names
    assert not isinstance(load_suite("classic", registry=host.registry), TriangleSuite)
    with pytest.raises(PluginError, match=r"(?s)2 plugins register the suite 'triangles': one "
                                          r"\(distribution wlkit-plugin-one 1.0\) and two.*hint"):
        load_suite("triangles", registry=host.registry)


def test_a_failing_hook_is_a_warning_and_named_for_unknown_suites():
    module = types.ModuleType("failing")

    @hookimpl
    def wlkit_wl_suites():
        raise ImportError("missing dependency")

    module.wlkit_wl_suites = wlkit_wl_suites
    host = host_with((module, "failing", "wlkit-plugin-failing"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        with pytest.raises(PluginWarning, match="hook wlkit_wl_suites failed"):
            suite_names(host.registry)
    with pytest.warns(PluginWarning):
        host = host_with((module, "failing", "wlkit-plugin-failing"))
        with pytest.raises(DatasetError, match="'failing' \\(wlkit-plugin-failing\\)"):
            load_suite("mine", registry=host.registry)


def test_separate_imports_no_dataset_plugin():
    tree = ast.parse((ROOT / "core" / "tools" / "separate.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    assert not any(m and m.startswith(("wlkit.datasets", "wlkit.plugins")) for m in imported)
