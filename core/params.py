"""Typed parameter schemas for components and pipeline sections.

A :class:`Param` declares one setting: its type, default, bounds and a one-line doc. The same
checker validates pipeline sections and every plugin's parameters, so all errors look alike.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Sentinel default of a parameter that must be given."""

_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
               list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Param:
    """One typed, documented parameter.

    Parameters
    ----------
    name : str
        Key in the YAML mapping.
    type : type
        One of ``int``, ``float``, ``bool``, ``str``, ``list``, ``dict``.
    default : Any
        Value used when the key is absent; :data:`REQUIRED` makes the key mandatory.
    doc : str
        One line shown by ``wlkit plugins`` and in error hints.
    choices : tuple, optional
        The only values allowed.
    minimum, maximum : float, optional
        Inclusive bounds for numbers.
    nullable : bool
        Whether ``null`` is allowed.
    exclusive_minimum : bool
        Whether ``minimum`` itself is refused (``> minimum``, e.g. a fraction in (0, 1]).
    finite : bool
        For ``float`` parameters: refuse NaN and infinities (``.nan``, ``.inf`` in YAML).
        Set it to False only where a non-finite value has a meaning, e.g. ``inf`` for
        "no limit".
    """

    name: str
    type: type
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    exclusive_minimum: bool = False
    finite: bool = True

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (used by ``wlkit plugins --json``)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type.__name__, "doc": self.doc}
        out["default"] = None if self.required else self.default
        out["required"] = self.required
        for key in ("choices", "minimum", "maximum"):
            if getattr(self, key) is not None:
                out[key] = list(self.choices) if key == "choices" else getattr(self, key)
        if self.nullable:
            out["nullable"] = True
        if self.exclusive_minimum:
            out["exclusive_minimum"] = True
        if self.type is float and not self.finite:
            out["finite"] = False
        return out

    def check(self, value: Any) -> tuple[Any, str | None]:
        """Return ``(converted value, None)`` or ``(None, error message)``."""
        if value is None:
            if self.nullable:
                return None, None
            return None, f"must be {self._expected()}, not null"
        value, problem = _coerce(self.type, value)
        if problem:
            return None, f"must be {self._expected()}, got {_show(value)}"
        # NaN passes every bound check (all comparisons are False), so test it first
        if self.type is float and self.finite and not math.isfinite(value):
            return None, f"must be a finite number, got {value}"
        if self.choices is not None and value not in self.choices:
            guess = (did_you_mean(value, [str(c) for c in self.choices])
                     if isinstance(value, str) else None)
            return None, (f"must be one of {', '.join(map(str, self.choices))}; got "
                          f"{_show(value)}" + (f"; did you mean '{guess}'?" if guess else ""))
        if self.minimum is not None and self.exclusive_minimum and value <= self.minimum:
            return None, f"must be > {self.minimum}, got {value}"
        if self.minimum is not None and value < self.minimum:
            return None, f"must be >= {self.minimum}, got {value}"
        if self.maximum is not None and value > self.maximum:
            return None, f"must be <= {self.maximum}, got {value}"
        return value, None

    def _expected(self) -> str:
        return _TYPE_NAMES.get(self.type, self.type.__name__)


def _coerce(kind: type, value: Any) -> tuple[Any, bool]:
    """Strict YAML-type check; ints are accepted where a float is wanted."""
    if kind is bool:
        return value, not isinstance(value, bool)
    if kind is int:
        return value, isinstance(value, bool) or not isinstance(value, int)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value, True
        return float(value), False
    return value, not isinstance(value, kind)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Closest choice to a misspelt ``word``, or None.

    Case is ignored when matching (``Lower`` -> ``lower``): difflib alone rates a
    capitalised short word as far from its lower-case spelling.

    Parameters
    ----------
    word : str
        What the user wrote.
    choices : iterable of str
        The valid spellings.

    Returns
    -------
    str or None
        The closest valid spelling, or None when none is close.
    """
    choices = [str(c) for c in choices]
    word = str(word)
    same = [c for c in choices if c.casefold() == word.casefold()]
    if same:
        return same[0]
    by_fold = {c.casefold(): c for c in reversed(choices)}  # the first spelling wins
    match = difflib.get_close_matches(word.casefold(), list(by_fold), n=1, cutoff=0.5)
    return by_fold[match[0]] if match else None


def choices_hint(word: str, choices: Iterable[str]) -> str:
    """Hint listing the valid choices, closest first."""
    choices = sorted(choices)
    guess = did_you_mean(word, choices)
    listing = ", ".join(choices) if choices else "(none registered)"
    return (f"did you mean '{guess}'? " if guess else "") + f"valid choices: {listing}"


@dataclass
class ParamErrors:
    """Problems found by :func:`check_params`: ``(key or '', message, hint)`` triples."""

    items: list[tuple[str, str, str | None]] = field(default_factory=list)


def check_params(
    params: Iterable[Param], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str, str | None]]]:
    """Validate ``values`` against ``params``; fill defaults.

    Returns the resolved mapping and a list of ``(key, message, hint)`` problems. Unknown keys
    are problems: nothing is silently dropped.
    """
    params = list(params)
    by_name = {p.name: p for p in params}
    resolved: dict[str, Any] = {}
    problems: list[tuple[str, str, str | None]] = []
    for key, value in values.items():
        if key not in by_name:
            problems.append((str(key), "unknown key", choices_hint(str(key), by_name)))
            continue
        converted, problem = by_name[key].check(value)
        if problem:
            problems.append((key, problem, by_name[key].doc or None))
        else:
            resolved[key] = converted
    for p in params:
        if p.name not in values:
            if p.required:
                problems.append((p.name, "is required", p.doc or None))
            else:
                resolved[p.name] = p.default
    return resolved, problems
