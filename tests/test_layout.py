"""The tree's rooms and their boundaries (DESIGN.md "Layout"): the kernel imports nothing of
the engine or the tools, the CLI is one module per subcommand, and the tests mirror the tree."""

from __future__ import annotations

import argparse
import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"

KERNEL_FILES = sorted(
    [p for p in CORE.glob("*.py") if p.name != "runner.py"] + list((CORE / "wl").glob("*.py"))
    + [CORE / "graphs.py"])
ENGINE_AND_TOOLS = ("wlkit.pipeline", "wlkit.model", "wlkit.runner", "wlkit.tools", "wlkit.cli")


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _lazy_targets(path: Path) -> set[str]:
    """Module names in string constants of a lazy-import table (core/__init__.py's _LAZY)."""
    return {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.startswith("wlkit.")}


@pytest.mark.parametrize("path", KERNEL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_kernel_imports_nothing_of_the_engine_or_the_tools(path):
    used = _imported_modules(path) | _lazy_targets(path)
    bad = sorted(m for m in used if m.startswith(ENGINE_AND_TOOLS))
    assert not bad, (f"{path.relative_to(ROOT)} (kernel) imports {', '.join(bad)}; the kernel "
                     "must not depend on the engine (pipeline, model, runner) or the tools")


def test_every_builtin_subcommand_is_a_module_with_add_parser_and_run():
    from wlkit.cli import builtin

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    modules = {p.stem for p in (CORE / "cli").glob("*.py")} - {"__init__", "__main__", "builtin",
                                                               "options"}
    assert modules == {m.__name__.rsplit(".", 1)[1] for m in builtin.COMMANDS}
    for module in builtin.COMMANDS:
        assert callable(module.add_parser) and callable(module.run), module.__name__
    builtin.wlkit_commands(subparsers=sub)
    for name, command in sub.choices.items():
        handler = command._defaults["handler"]
        assert handler is importlib.import_module(f"wlkit.cli.{name}").run


def test_the_tools_live_in_wlkit_tools():
    for name in ("separate", "analyze", "check", "leaderboard", "reference", "listing"):
        assert importlib.import_module(f"wlkit.tools.{name}").__file__.startswith(
            str(CORE / "tools"))
        assert not (CORE / f"{name}.py").exists()


def test_tests_mirror_the_source_tree():
    """tests/<room>/ exists for each room that has tests of its own modules."""
    for folder in ("core", "tools", "plugins", "datasets"):
        assert (ROOT / "tests" / folder).is_dir(), f"tests/{folder}/ is missing"


ENGINE_FILES = sorted([CORE / "runner.py", *(CORE / "pipeline").glob("*.py"),
                       *(CORE / "model").glob("*.py")])


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_imports_nothing_of_the_tools(path):
    bad = sorted(m for m in _imported_modules(path) if m.startswith(("wlkit.tools", "wlkit.cli")))
    assert not bad, f"{path.relative_to(ROOT)} (engine) imports {', '.join(bad)}"
