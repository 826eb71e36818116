"""docs/reference.md is generated from the code and must be up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from wlkit import hookspecs
from wlkit.cli import main
from wlkit.manager import PluginHost
from wlkit.records import FAMILIES
from wlkit.tools.reference import REGENERATE, docstring_markdown, reference_markdown

REFERENCE = ROOT / "docs" / "reference.md"


@pytest.fixture(scope="module")
def generated() -> str:
    # Built-ins only, like the regenerate command: installed third-party plugins stay out.
    return reference_markdown(PluginHost(autoload=False).registry)


def test_reference_is_up_to_date(generated):
    assert REFERENCE.exists(), f"docs/reference.md is missing; create it with: {REGENERATE}"
    committed = REFERENCE.read_text(encoding="utf-8")
    if committed != generated:
        old, new = committed.splitlines(), generated.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b),
                     min(len(old), len(new)))
        pytest.fail(f"docs/reference.md is out of date (first difference at line {first + 1}: "
                    f"{old[first] if first < len(old) else '<end>'!r} vs "
                    f"{new[first] if first < len(new) else '<end>'!r}); regenerate it with:\n"
                    f"    {REGENERATE}")


def test_every_hook_and_component_is_documented(generated):
    hooks = [n for n in vars(hookspecs) if n.startswith("wlkit_")]
    for name in hooks:
        assert f"\n#### {name}\n" in generated, name
    registry = PluginHost(autoload=False).registry
    for family in FAMILIES:
        for entry in registry.entries(family):
            record = entry.record
            assert record.summary.strip(), f"{family} {record.name} has no summary"
            for param in record.params:
                assert param.doc.strip(), f"{family} {record.name}: param {param.name} has no doc"
                assert f"| `{param.name}` |" in generated


def test_a_hook_without_docs_fails(monkeypatch):
    def wlkit_undocumented() -> None:
        pass

    wlkit_undocumented.wlkit_spec = {}
    monkeypatch.setattr(hookspecs, "wlkit_undocumented", wlkit_undocumented, raising=False)
    with pytest.raises(ValueError, match="hook wlkit_undocumented has no docstring"):
        reference_markdown(PluginHost(autoload=False).registry)


def test_generation_is_deterministic(generated):
    assert reference_markdown(PluginHost(autoload=False).registry) == generated
    # no path of this checkout or of the user's home leaks into the committed docs
    assert str(ROOT) not in generated and str(Path.home()) not in generated


def test_docstrings_become_markdown():
    doc = '''Sum things.

    Uses :class:`wlkit.Aggregator` and ``x``; :math:`a + b`.

    .. math:: y = x

    Parameters
    ----------
    dim : int
        Width of
        the output.

    Examples
    --------
    >>> 1 + 1
    2
    '''
    text = docstring_markdown(doc)
    assert "`wlkit.Aggregator`" in text and "`x`" in text and "$a + b$" in text
    assert "$$y = x$$" in text
    assert "**Parameters**" in text and "- `dim` (int): Width of the output." in text
    assert "```pycon\n>>> 1 + 1\n2\n```" in text
    assert "----" not in text


def test_cli_writes_the_reference(tmp_path, capsys):
    out = tmp_path / "ref.md"
    assert main(["plugins", "--reference", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# wlkit reference\n") and "## Hooks" in text
    assert main(["plugins", "--out", str(out)]) == 2  # --out needs --reference
