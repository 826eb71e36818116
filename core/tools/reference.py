"""The Markdown reference written by ``wlkit plugins --reference`` (``docs/reference.md``).

Everything in it comes from the code: the hooks and their docstrings
(:mod:`wlkit.hookspecs`), the public API a plugin imports (``from wlkit import ...`` and the
public modules of :data:`wlkit.PUBLIC_MODULES`: :mod:`wlkit.wl`, :mod:`wlkit.graphs`,
:mod:`wlkit.suites`, the conformance kit :mod:`wlkit.testing`) and every registered
component with its record's facts and parameter schema and its factory's docstring. The
output is deterministic: sorted, with no timestamps or paths, so a test can compare it with
the committed file.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
from collections.abc import Callable
from typing import Any

from wlkit.manager import HOOK_OF_FAMILY, RECORD_HOOKS, Registry, get_registry
from wlkit.params import REQUIRED, Param
from wlkit.records import FAMILIES, Registered

REGENERATE = "WLKIT_DISABLE_PLUGIN_AUTOLOAD=1 wlkit plugins --reference --out docs/reference.md"
"""The command that regenerates ``docs/reference.md`` (built-in components only)."""

_TITLES = {"aggregator": "Aggregators", "positional_encoding": "Positional encodings",
           "subgraph_policy": "Subgraph policies", "readout": "Readouts", "layer": "Layers",
           "dataset": "Datasets"}
_SINGULAR = {"aggregator": "aggregator", "positional_encoding": "positional encoding",
             "subgraph_policy": "subgraph policy", "readout": "readout", "layer": "layer",
             "dataset": "dataset"}
#: The public modules besides ``wlkit`` itself, with their section titles, in this order.
_MODULE_TITLES = {"wlkit.wl": "WL oracles: wlkit.wl", "wlkit.graphs": "Graphs: wlkit.graphs",
                  "wlkit.suites": "WL suites: wlkit.suites",
                  "wlkit.testing": "Conformance kit: wlkit.testing"}
_CALLS = {"aggregator": "factory(dim, **params)", "readout": "factory(dim, **params)",
          "layer": "factory(dim, aggregator, **params)",
          "positional_encoding": "factory(**params)", "subgraph_policy": "factory(**params)",
          "dataset": "factory(**params)"}


# ------------------------------------------------------------------ docstrings to Markdown

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc|py:\w+):`~?([^`]+)`")
_MATH = re.compile(r":math:`([^`]+)`")
_DOUBLE = re.compile(r"``([^`]+)``")
_SECTION_UNDERLINE = re.compile(r"^-{3,}$")
_ITEMS = {"Parameters", "Attributes", "Returns", "Raises", "Yields", "Other Parameters",
          "Warns"}


def _inline(text: str) -> str:
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    text = _MATH.sub(lambda m: f"${m.group(1).strip()}$", text)
    return _DOUBLE.sub(lambda m: f"`{m.group(1)}`", text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def docstring_markdown(doc: str | None, heading: str = "**") -> str:
    """Convert a numpydoc/reStructuredText docstring to Markdown (the subset wlkit uses).

    Section headers become bold lines, parameter entries become bullets, ``>>>`` examples
    and ``::`` literal blocks become fenced code, ``.. math::`` becomes ``$$`` blocks and
    roles such as ``:class:`X``` become code spans.
    """
    if not doc:
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    section = ""
    i = 0
    literal_next = False

    def block(start: int, base: int) -> tuple[list[str], int]:
        """The lines indented deeper than ``base`` from ``start`` (blank lines included)."""
        body, j = [], start
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
            body.append(lines[j])
            j += 1
        while body and not body[-1].strip():
            body.pop()
            j -= 1
        return textwrap.dedent("\n".join(body)).splitlines(), j

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if stripped and _SECTION_UNDERLINE.match(nxt) and len(nxt) >= len(stripped) - 1:
            section = stripped
            out += ["", f"{heading}{stripped}{heading}", ""]
            i += 2
            continue
        if not stripped:
            out.append("")
            i += 1
            continue
        if literal_next and _indent(line) > 0:
            body, i = block(i, 0)
            out += ["```python", *body, "```"]
            literal_next = False
            continue
        literal_next = False
        if stripped.startswith(">>>"):
            code = []
            while i < len(lines) and lines[i].strip():
                code.append(lines[i].strip() if not lines[i].lstrip().startswith(("...", ">>>"))
                            else lines[i].lstrip())
                i += 1
            out += ["```pycon", *code, "```"]
            continue
        if stripped.startswith(".. math::"):
            rest = stripped[len(".. math::"):].strip()
            if rest:
                out += ["", f"$${rest}$$", ""]
                i += 1
            else:
                body, i = block(i + 1, _indent(line))
                out += ["", "$$", *[b for b in body if b.strip()], "$$", ""]
            continue
        if stripped.startswith(".. "):  # other directives: keep their text
            body, i = block(i + 1, _indent(line))
            out += [_inline(" ".join(b.strip() for b in body if b.strip()))]
            continue
        follows = i + 1 < len(lines) and lines[i + 1].strip() and _indent(lines[i + 1]) > \
            _indent(line)
        if section in _ITEMS and _indent(line) == 0:
            name, _, kind = stripped.partition(" : ")
            names = ", ".join(f"`{n.strip()}`" for n in name.split(","))
            body, i = block(i + 1, 0) if follows else ([], i + 1)
            text = _inline(" ".join(b.strip() for b in body if b.strip()))
            kind = f" ({_inline(kind.strip())})" if kind.strip() else ""
            out.append(f"- {names}{kind}" + (f": {text}" if text else ""))
            continue
        if re.match(r"^([*-]|\d+\.) ", stripped):
            marker, _, text = stripped.partition(" ")
            body, i = block(i + 1, _indent(line)) if follows else ([], i + 1)
            marker = "-" if marker in ("*", "-") else marker
            out.append(f"{marker} " + _inline(" ".join([text, *(b.strip() for b in body
                                                                  if b.strip())])))
            continue
        if follows and section not in ("Examples", "Notes") and not stripped.endswith("::"):
            # a definition list: term, then its indented description
            body, i = block(i + 1, _indent(line))
            out.append(f"- {_inline(stripped)}: "
                       + _inline(" ".join(b.strip() for b in body if b.strip())))
            continue
        if stripped.endswith("::"):
            literal_next = True
            stripped = stripped[:-2].rstrip()
            stripped = stripped + ":" if stripped and not stripped.endswith(":") else stripped
        out.append(_inline(stripped))
        i += 1
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text


# ------------------------------------------------------------------------- signatures


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    if isinstance(value, str):
        return value
    return getattr(value, "__name__", repr(value))


def signature(func: Callable[..., Any], drop_self: bool = False) -> str:
    """``(a: int, b: str = 'x') -> T`` with annotations as written in the source."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return "(...)"
    parts = []
    star_done = False
    for param in sig.parameters.values():
        if drop_self and param.name in ("self", "cls") and not parts:
            continue
        text = param.name
        if param.kind is param.VAR_POSITIONAL:
            text, star_done = "*" + text, True
        elif param.kind is param.VAR_KEYWORD:
            text = "**" + text
        elif param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        ann = _annotation(param.annotation)
        if ann:
            text += f": {ann}"
        if param.default is not inspect.Parameter.empty:
            text += (" = " if ann else "=") + _default(param.default)
        parts.append(text)
    ret = _annotation(sig.return_annotation)
    return f"({', '.join(parts)})" + (f" -> {ret}" if ret else "")


def _default(value: Any) -> str:
    if isinstance(value, (int, float, str, bool, type(None))):
        return repr(value)
    return getattr(value, "__name__", None) or type(value).__name__ + "(...)"


# ------------------------------------------------------------------------------ sections


def _anchor(text: str) -> str:
    """GitHub's heading anchor for ``text``."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _param_default(param: Param) -> str:
    if param.default is REQUIRED:
        return "*required*"
    if param.default is None:
        return "`null`"
    if isinstance(param.default, str):
        return f"`{param.default}`"
    return f"`{json.dumps(param.default)}`"


def _param_allowed(param: Param) -> str:
    parts = []
    if param.choices is not None:
        parts.append(", ".join(f"`{c}`" for c in param.choices))
    if param.minimum is not None and param.exclusive_minimum:  # e.g. a fraction in (0, 1]
        parts.append(f"> {_number(param.minimum)}" + (
            f", <= {_number(param.maximum)}" if param.maximum is not None else ""))
    elif param.minimum is not None and param.maximum is not None:
        parts.append(f"{_number(param.minimum)} to {_number(param.maximum)}")
    elif param.minimum is not None:
        parts.append(f">= {_number(param.minimum)}")
    elif param.maximum is not None:
        parts.append(f"<= {_number(param.maximum)}")
    if param.nullable:
        parts.append("or `null`" if parts else "`null` allowed")
    return "; ".join(parts)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def params_table(params: tuple[Param, ...] | list[Param]) -> list[str]:
    """A Markdown table of a parameter schema."""
    if not params:
        return ["No parameters."]
    rows = ["| parameter | type | default | allowed | description |",
            "|---|---|---|---|---|"]
    for p in params:
        rows.append(f"| `{p.name}` | {p.type.__name__} | {_param_default(p)} | "
                    f"{_cell(_param_allowed(p))} | {_cell(p.doc)} |")
    return rows


def _factory_name(factory: Any) -> str:
    qualname = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    name = getattr(factory, "__name__", qualname)
    module = getattr(factory, "__module__", "") or ""
    shown = name if "<locals>" in qualname else qualname
    return f"{module}.{shown}" if module else shown


def _own_doc(obj: Any) -> str | None:
    """The object's own docstring (not one inherited from a base class)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__",
                                                                             None)
    return doc if isinstance(doc, str) and doc.strip() else None


def component_section(entry: Registered) -> list[str]:
    """One component: summary, facts, parameters and its factory's documentation."""
    record = entry.record
    yes = {True: "yes", False: "no"}
    out = [f"### {record.name} ({_SINGULAR[record.family]})", "", _inline(record.summary), ""]
    facts = [f"- **source**: {entry.source} {entry.version}".rstrip(),
             f"- **factory**: `{_factory_name(record.factory)}`, called as "
             f"`{_CALLS[record.family]}`"]
    if record.family != "dataset":
        facts += [f"- **permutation invariant**: {yes[record.permutation_invariant]}; "
                  f"**stochastic**: {yes[record.stochastic]}",
                  f"- **expressivity**: {_cell(record.expressivity)}"]
    extra = {k: v for k, v in record.facts().items()
             if k not in ("permutation_invariant", "stochastic", "expressivity", "approximate")}
    for key, value in sorted(extra.items()):
        facts.append(f"- **{key.replace('_', ' ')}**: "
                     + (yes[value] if isinstance(value, bool) else _cell(value)))
    if record.approximate:
        facts.append(f"- **departs from the paper**: {_cell(record.approximate)}")
    out += facts + [""] + params_table(record.params)
    doc = docstring_markdown(_own_doc(record.factory), heading="**")
    if doc:
        out += ["", "<details><summary>Documentation of the factory</summary>", "", doc, "",
                "</details>"]
    return out + [""]


def hooks_section() -> list[str]:
    """Every hook of :mod:`wlkit.hookspecs`, in source order, with its docstring."""
    from wlkit import hookspecs

    hooks = [(n, f) for n, f in vars(hookspecs).items()
             if n.startswith("wlkit_") and hasattr(f, "wlkit_spec")]
    registration = set(HOOK_OF_FAMILY.values()) | set(RECORD_HOOKS.values())
    out = ["## Hooks", "", docstring_markdown(hookspecs.__doc__), ""]
    for title, group in (("Registration hooks", [h for h in hooks if h[0] in registration]),
                         ("Lifecycle hooks", [h for h in hooks if h[0] not in registration])):
        out += [f"### {title}", ""]
        for name, function in group:
            doc = docstring_markdown(function.__doc__)
            if not doc:
                raise ValueError(f"hook {name} has no docstring; document it in "
                                 "core/hookspecs.py")
            out += [f"#### {name}", "", "```python", f"@hookimpl\ndef {name}"
                    f"{signature(function)}: ...", "```", "", doc, ""]
    return out


def _class_section(name: str, cls: type, level: str) -> list[str]:
    bases = [b.__name__ for b in cls.__bases__ if b is not object]
    head = f"class {name}" + (f"({', '.join(bases)})" if bases else "")
    out = [f"{level} {name}", "", "```python", head, "```", "",
           docstring_markdown(_own_doc(cls)), ""]
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        function = value.fget if isinstance(value, property) else value
        if isinstance(function, (staticmethod, classmethod)):
            function = function.__func__
        if not inspect.isfunction(function) or not _own_doc(function):
            continue
        sig = "" if isinstance(value, property) else signature(function, drop_self=True)
        kind = " (property)" if isinstance(value, property) else ""
        out += [f"- `{name}.{attr}{sig}`{kind}: "
                + docstring_markdown(function.__doc__).replace("\n", "\n  "), ""]
    return out


def api_section(title: str, module: Any, names: list[str], level: str = "###") -> list[str]:
    """Classes, functions and constants of ``module``'s public names, sorted."""
    out = [f"## {title}", ""]
    for name in sorted(names, key=str.lower):
        if name.startswith("__"):
            continue
        obj = getattr(module, name)
        if isinstance(obj, type):
            out += _class_section(name, obj, level)
        elif inspect.isfunction(obj):
            out += [f"{level} {name}", "", "```python", f"def {name}{signature(obj)}", "```",
                    "", docstring_markdown(_own_doc(obj)), ""]
        elif name in ("hookimpl", "hookspec"):
            what = "implementations" if name == "hookimpl" else "specifications"
            out += [f"{level} {name}", "", f"pluggy's `{type(obj).__name__}` for the project "
                    f"`{obj.project_name}`: marks hook {what} (`@{name}`).", ""]
        else:
            out += [f"{level} {name}", "", f"`{name} = {_constant(obj)}`", ""]
    return out


def _constant(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(repr(v) for v in value) + ")"
    return repr(value)


def reference_markdown(registry: Registry | None = None) -> str:
    """The whole reference (see the module docstring)."""
    import importlib

    import wlkit

    registry = registry or get_registry()
    counts = {f: len(registry.names(f)) for f in FAMILIES}
    out = [
        "# wlkit reference",
        "",
        f"Generated from the code of wlkit {wlkit.__version__} by `wlkit plugins "
        "--reference`: the hooks a plugin implements, the public API it imports "
        "(`from wlkit import ...` and the public modules `wlkit.wl`, `wlkit.graphs`, "
        "`wlkit.suites` and the conformance kit `wlkit.testing`; nothing else, and no name "
        "starting with `_`) and every registered component with its parameters. Do not edit "
        "it by hand; regenerate it with",
        "",
        "```console",
        f"$ {REGENERATE}",
        "```",
        "",
        "(`WLKIT_DISABLE_PLUGIN_AUTOLOAD=1` keeps installed third-party plugins out of it). "
        "The guide for plugin authors is [plugins.md](plugins.md).",
        "",
        "## Contents",
        "",
        "- [Hooks](#hooks)",
        "- [Public API](#public-api)",
    ]
    out += [f"- [{title}](#{_anchor(title)})" for title in _MODULE_TITLES.values()]
    for family in FAMILIES:
        title = _TITLES[family]
        out.append(f"- [{title}](#{_anchor(title)}) ({counts[family]}): "
                   + ", ".join(f"[{n}](#{_anchor(f'{n} ({_SINGULAR[family]})')})"
                               for n in registry.names(family)))
    out.append("")
    out += hooks_section()
    out += api_section("Public API", wlkit, list(wlkit.__all__))
    for name, title in _MODULE_TITLES.items():
        module = importlib.import_module(name)
        section = api_section(title, module, list(module.__all__))
        section[2:2] = [docstring_markdown(module.__doc__), ""]
        out += section
    for family in FAMILIES:
        out += [f"## {_TITLES[family]}", ""]
        for entry in registry.entries(family):
            out += component_section(entry)
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
    return text
