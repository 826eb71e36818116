"""The public-API boundary: built-in plugins (plugins/, datasets/) import from the kernel,
engine and tools only what is declared public (wlkit.PUBLIC_MODULES, their ``__all__``),
never a name starting with ``_``; a family's own private helpers are fine."""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

import wlkit

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FOLDERS = {"plugins": "wlkit.plugins", "datasets": "wlkit.datasets"}
PLUGIN_PACKAGES = tuple(PLUGIN_FOLDERS.values())


@dataclass(frozen=True)
class Violation:
    where: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.imported}: {self.why}"


def module_name(path: Path) -> tuple[str, bool]:
    """The import name of a source file under plugins/ or datasets/, and whether it is a
    package's ``__init__``."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts[1:])
    package = parts[-1:] == ["__init__"]
    if package:
        parts = parts[:-1]
    return ".".join([PLUGIN_FOLDERS[rel.parts[0]], *parts]), package


def family(module: str) -> str:
    """``wlkit.plugins.aggregators._segments`` -> ``wlkit.plugins.aggregators``; all of
    ``wlkit.datasets`` is one family (its loaders share the file readers)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[1] == "datasets" else ".".join(parts[:3])


def public_names(module: str) -> set[str]:
    found = importlib.import_module(module)
    return set(getattr(found, "__all__", ()))


def resolve(node: ast.ImportFrom, module: str, package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def violations(source: str, module: str, package: bool = False,
               where: str = "<source>") -> list[Violation]:
    """Every import of ``source`` (module ``module``) that crosses the public boundary."""
    found: list[Violation] = []
    own = family(module)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            targets = [(resolve(node, module, package), [a.name for a in node.names])]
        else:
            continue
        for target, names in targets:
            if target != "wlkit" and not target.startswith("wlkit."):
                continue  # third-party and standard-library imports
            at = f"{where}:{node.lineno}"
            if target.startswith(PLUGIN_PACKAGES):
                # another family's private helpers are off limits; one's own are fine
                private = [p for p in target.split(".")[2:] if p.startswith("_")]
                private += [n for n in names if n.startswith("_")]
                if family(target) != own and private:
                    found.append(Violation(at, target, f"private to {family(target)}"))
                continue
            if target not in wlkit.PUBLIC_MODULES:
                found.append(Violation(at, target, "not a public module (wlkit.PUBLIC_MODULES: "
                                                   f"{', '.join(wlkit.PUBLIC_MODULES)})"))
                continue
            exported = public_names(target)
            for name in names:
                if name.startswith("_"):
                    found.append(Violation(at, f"{target}.{name}", "a private name"))
                elif (name != "*" and name not in exported
                      and f"{target}.{name}" not in wlkit.PUBLIC_MODULES):  # from wlkit import wl
                    found.append(Violation(at, f"{target}.{name}",
                                           f"not in {target}.__all__"))
    return found


def sources() -> list[Path]:
    return sorted(p for folder in PLUGIN_FOLDERS for p in (ROOT / folder).rglob("*.py"))


def test_built_in_plugins_import_only_the_public_api():
    assert sources(), "no plugin sources found"
    found = []
    for path in sources():
        module, package = module_name(path)
        found += violations(path.read_text(), module, package, str(path.relative_to(ROOT)))
    assert not found, "imports across the public boundary:\n" + "\n".join(map(str, found))


@pytest.mark.parametrize(("source", "why"), [
    ("from wlkit.model.build import instantiate", "not a public module"),
    ("import wlkit.manager", "not a public module"),
    ("from wlkit.wl._canon import canon_rows", "not a public module"),
    ("from wlkit.wl import _REGISTERED", "a private name"),
    ("from wlkit import _LAZY", "a private name"),
    ("from wlkit import NoSuchThing", "not in wlkit.__all__"),
    ("from wlkit.graphs import SimpleGraph as G, nothing_here", "not in wlkit.graphs.__all__"),
    ("from wlkit.plugins.aggregators._segments import SegmentAggregator",
     "private to wlkit.plugins.aggregators"),
    ("from ..aggregators._segments import lexsort", "private to wlkit.plugins.aggregators"),
    ("def f():\n    from wlkit.tools.analyze import analyze\n", "not a public module"),
])
def test_the_checker_catches_each_kind_of_breach(source, why):
    found = violations(source, "wlkit.plugins.readouts.mine")
    assert found and why in str(found[0]), found


@pytest.mark.parametrize("source", [
    "from wlkit import Aggregator, hookimpl",
    "from wlkit.wl import Copy, multiset_ids",
    "from wlkit.graphs import SimpleGraph",
    "from wlkit import graphs as G",
    "from wlkit.suites import WLSuite",
    "from wlkit.testing import graph_zoo",
    "from ._segments import SegmentAggregator",  # its own family's private helper
    "from wlkit.plugins.aggregators import SumAggregator",  # another family's public name
    "import numpy, torch",
])
def test_the_checker_allows_the_public_api(source):
    assert violations(source, "wlkit.plugins.aggregators.mine") == []


def test_public_modules_are_declared_in_the_docs():
    doc = wlkit.__doc__ or ""
    plugins_md = (ROOT / "docs" / "plugins.md").read_text()
    reference = (ROOT / "docs" / "reference.md").read_text()
    for module in wlkit.PUBLIC_MODULES:
        assert f"``{module}``" in doc, f"wlkit's docstring does not list {module}"
        assert f"`{module}`" in plugins_md, f"docs/plugins.md does not list {module}"
        if module != "wlkit":
            assert f"`{module}`" in reference, f"docs/reference.md does not document {module}"
        importlib.import_module(module)  # and it exists
