from __future__ import annotations

import pytest

from wlkit import Param
from wlkit.params import REQUIRED, check_params, choices_hint, did_you_mean


@pytest.mark.parametrize("param,value,ok", [
    (Param("a", int), 3, True),
    (Param("a", int), True, False),
    (Param("a", int), 3.0, False),
    (Param("a", float), 3, True),
    (Param("a", float), "3", False),
    (Param("a", bool), 1, False),
    (Param("a", str), 1, False),
    (Param("a", int, minimum=1), 0, False),
    (Param("a", float, maximum=1.0), 1.5, False),
    (Param("a", str, choices=("x", "y")), "z", False),
    (Param("a", int), None, False),
    (Param("a", int, nullable=True), None, True),
])
def test_check(param, value, ok):
    _, problem = param.check(value)
    assert (problem is None) is ok


def test_int_for_float_becomes_float():
    assert Param("a", float).check(3) == (3.0, None)
    assert isinstance(Param("a", float).check(3)[0], float)


def test_check_params_fills_defaults_and_reports_unknown_and_missing():
    params = [Param("steps", int, 16, "walk length"), Param("kind", str, REQUIRED, "the kind")]
    resolved, problems = check_params(params, {"step": 3})
    assert resolved == {"steps": 16}
    assert ("step", "unknown key", "did you mean 'steps'? valid choices: kind, steps") in problems
    assert ("kind", "is required", "the kind") in problems


def test_did_you_mean():
    assert did_you_mean("agregator", ["aggregator", "layer"]) == "aggregator"
    assert did_you_mean("zzz", ["aggregator"]) is None
    assert choices_hint("x", []) == "valid choices: (none registered)"


def test_describe_is_json_friendly():
    d = Param("a", int, 2, "doc", minimum=1).describe()
    assert d == {"name": "a", "type": "int", "doc": "doc", "default": 2, "required": False,
                 "minimum": 1}
