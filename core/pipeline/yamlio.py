"""Safe YAML loading that remembers the line of every key and value."""

from __future__ import annotations

import re
from typing import Any

import yaml

from wlkit.errors import PipelineError, Problem

YamlPath = tuple[Any, ...]


class SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` as a float (YAML 1.2), not a string."""


SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def safe_load(text: str) -> Any:
    """Parse one YAML value with :class:`SafeLoader`."""
    return yaml.load(text, Loader=SafeLoader)


def format_path(path: YamlPath) -> str:
    """``("model", "layer")`` -> ``model.layer``; list indices as ``encodings[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_with_lines(text: str, file: str) -> tuple[Any, dict[YamlPath, int]]:
    """Parse one YAML document with ``yaml.SafeLoader``.

    Returns the data and a map from YAML path to 1-based line. Duplicate keys, which plain
    PyYAML silently collapses, are errors here.
    """
    loader = None
    lines: dict[YamlPath, int] = {}
    problems: list[Problem] = []
    try:
        loader = SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise PipelineError([Problem("the file is empty", file=file, line=1,
                                         hint="a pipeline is a YAML mapping; start from "
                                              "pipelines/quickstart.yaml")])
        data = _build(loader, node, (), lines, problems, file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark else (
            text.count("\n", 0, exc.position) + 1 if hasattr(exc, "position") else None)
        raise PipelineError([Problem(f"not valid YAML: {problem}", file=file, line=line,
                                     hint="check indentation, colons and quotes")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise PipelineError(problems)
    return data, lines


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _build(loader: SafeLoader, node: yaml.Node, path: YamlPath,
           lines: dict[YamlPath, int], problems: list[Problem], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        # Only plain YAML: a tag such as !!python/object must not be silently ignored.
        raise yaml.constructor.ConstructorError(
            None, None, f"tag {node.tag!r} is not allowed in a pipeline", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolve "<<" merge keys as PyYAML does
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(Problem(f"keys must be plain scalars, got {key!r}",
                                        format_path(path), file, line))
                continue
            if key in out:
                problems.append(Problem(f"duplicate key {key!r} (first at line "
                                        f"{lines.get(path + (key,))})", format_path(path), file,
                                        line, "remove one of them; YAML would keep only the last"))
                continue
            lines[path + (key,)] = line
            out[key] = _build(loader, value_node, path + (key,), lines, problems, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, path + (i,), lines, problems, file)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
