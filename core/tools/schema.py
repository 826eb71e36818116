"""Schema against factory: the ``defaults`` and ``bounds`` checks of ``wlkit check``.

A record's :class:`~wlkit.Param` schema is the single place a parameter is declared: its
type, default, bounds and choices. The factory's signature repeats the defaults (Python
needs them when the class is used directly), so the two can drift apart, and a constructor
may refuse a value the schema admits. These checks find both:

``defaults``
    every schema default equals the factory's signature default (``inspect.signature``),
    and every schema parameter is an argument of the factory;
``bounds``
    the factory accepts every edge value the schema admits, one parameter at a time with
    the others at their defaults: each bound, each choice and ``null`` where allowed. A
    :class:`~wlkit.WlkitError` is a documented refusal of a combination the schema cannot
    express (one parameter needing another) and becomes a note; any other exception is a
    failure.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from wlkit.errors import WlkitError
from wlkit.params import REQUIRED, Param
from wlkit.records import ComponentRecord, Registered

_FAMILY_ARGS = {"aggregator": 1, "readout": 1, "layer": 2}
"""Positional arguments the engine passes before the parameters (``dim``, ``aggregator``)."""


def _result(status: str, detail: str = "") -> dict[str, str]:
    return {"status": status, "detail": detail}


def _same(a: Any, b: Any) -> bool:
    """Whether two defaults agree: lists and tuples alike, a bool only equals a bool."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:  # e.g. an array-valued comparison
        return a is b


def _factory_name(factory: Callable[..., Any]) -> str:
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', factory)}"


def default_problems(record: ComponentRecord) -> list[str]:
    """Where a record's schema and its factory's signature disagree.

    Parameters
    ----------
    record : ComponentRecord
        The record to compare with ``record.factory``.

    Returns
    -------
    list of str
        One line per disagreement; empty when they agree (or the factory has no signature
        Python can read, or takes ``**kwargs`` for a parameter, which hides its default).

    Examples
    --------
    >>> from wlkit import AggregatorRecord, Param
    >>> def build(dim, eps=0.1):
    ...     pass
    >>> record = AggregatorRecord(name="toy", factory=build, summary="toy",
    ...                           params=(Param("eps", float, 0.2),))
    >>> default_problems(record)  # doctest: +ELLIPSIS
    ['eps: the schema default is 0.2 but ...build() defaults to 0.1']
    """
    try:
        signature = inspect.signature(record.factory)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to compare
        return []
    arguments = signature.parameters
    takes_kwargs = any(a.kind is inspect.Parameter.VAR_KEYWORD for a in arguments.values())
    name = _factory_name(record.factory)
    problems = []
    for param in record.params:
        argument = arguments.get(param.name)
        if argument is None or argument.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                 inspect.Parameter.VAR_POSITIONAL,
                                                 inspect.Parameter.VAR_KEYWORD):
            if not takes_kwargs:
                problems.append(f"{param.name}: in the schema but not a keyword argument of "
                                f"{name}()")
            continue
        if argument.default is inspect.Parameter.empty or param.default is REQUIRED:
            continue  # only one side has a default: nothing can disagree
        if not _same(param.default, argument.default):
            problems.append(f"{param.name}: the schema default is {param.default!r} but "
                            f"{name}() defaults to {argument.default!r}")
    return problems


def check_defaults(record: ComponentRecord) -> dict[str, str]:
    """The ``defaults`` check: a ``{"status", "detail"}`` result (see the module doc).

    Parameters
    ----------
    record : ComponentRecord
        Any component or dataset record.
    """
    problems = default_problems(record)
    if problems:
        return _result("fail", "; ".join(problems) + "; declare each default once: make "
                       "the schema and the signature agree")
    return _result("pass")


def edge_values(param: Param) -> list[Any]:
    """The values at the edge of what ``param`` admits, other than its default.

    Each choice, the bounds (the smallest admitted integer or float where the minimum is
    exclusive) and ``None`` where ``null`` is allowed; booleans, lists and mappings have
    no edges.

    Examples
    --------
    >>> edge_values(Param("p", float, 0.5, minimum=0.0, maximum=1.0))
    [0.0, 1.0]
    >>> edge_values(Param("k", int, 2, minimum=1, nullable=True))
    [1, None]
    """
    values: list[Any] = []
    if param.choices is not None:
        values += list(param.choices)
    elif param.type in (int, float):
        if param.minimum is not None:
            low = param.minimum
            if param.type is int:
                low = math.floor(low) + 1 if param.exclusive_minimum else math.ceil(low)
            elif param.exclusive_minimum:
                low = math.nextafter(low, math.inf)
            values.append(param.type(low))
        if param.maximum is not None:
            values.append(param.type(math.floor(param.maximum) if param.type is int
                                     else param.maximum))
    if param.nullable:
        values.append(None)
    return [v for v in values if param.default is REQUIRED or not _same(v, param.default)]


def _defaults(record: ComponentRecord) -> dict[str, Any] | None:
    if any(p.required for p in record.params):
        return None
    return {p.name: p.default for p in record.params}


def construct(entry: Registered, params: dict[str, Any], registry: Any = None,
              dim: int = 8) -> Any:
    """Call a component's factory the way the engine does, with small stand-ins.

    Aggregators and readouts get ``dim``; layers ``dim``, the registry's ``sum``
    aggregator and (when they read edge features) an ``edge_encoder``; encodings and
    policies only their parameters.
    """
    record = entry.record
    family = record.family
    if family == "layer":
        import torch

        from wlkit.manager import get_registry

        aggregator = (registry or get_registry()).get("aggregator", "sum").factory(dim)
        extra = ({"edge_encoder": lambda: torch.nn.Linear(1, dim)}
                 if getattr(record, "uses_edge_features", False) else {})
        return record.factory(dim, aggregator, **params, **extra)
    if family in _FAMILY_ARGS:
        return record.factory(dim, **params)
    return record.factory(**params)


def check_bounds(entry: Registered, registry: Any = None) -> tuple[dict[str, str], list[str]]:
    """The ``bounds`` check: build the component at every edge value of its schema.

    Parameters
    ----------
    entry : Registered
        A registered model component (not a dataset: building one may touch files).
    registry : Registry, optional
        Where a layer's stand-in aggregator comes from.

    Returns
    -------
    (dict, list of str)
        The ``{"status", "detail"}`` result and notes: the documented refusals
        (:class:`~wlkit.WlkitError`) of values that need another parameter changed too.
    """
    record = entry.record
    base = _defaults(record)
    if base is None:
        return _result("skip", "has required parameters"), []
    failures, notes, tried = [], [], 0
    for param in record.params:
        for value in edge_values(param):
            tried += 1
            try:
                construct(entry, {**base, param.name: value}, registry)
            except WlkitError as exc:
                notes.append(f"refuses {param.name}={value!r} with the other defaults: "
                             + str(exc).split("\n")[0])
            except Exception as exc:
                failures.append(f"{param.name}={value!r} is admitted by the schema but the "
                                f"factory refuses it: {type(exc).__name__}: {exc}")
    if failures:
        return _result("fail", "; ".join(failures) + "; tighten the schema (e.g. "
                       "exclusive_minimum) rather than re-checking in the constructor"), notes
    if not tried:
        return _result("n/a", "no bounded parameters"), notes
    return _result("pass", f"{tried} edge value(s) built"), notes
