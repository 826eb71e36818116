"""Every hook is typed and documented (a hook without docs fails here)."""

from __future__ import annotations

import inspect

import pytest

from wlkit import hookspecs
from wlkit.manager import HOOK_OF_FAMILY
from wlkit.records import FAMILIES

HOOKS = [name for name in dir(hookspecs) if name.startswith("wlkit_")]


def test_one_registration_hook_per_family():
    assert sorted(HOOK_OF_FAMILY) == sorted(FAMILIES)
    assert set(HOOK_OF_FAMILY.values()) <= set(HOOKS)
    assert {"wlkit_pipeline_loaded", "wlkit_configure_trainer", "wlkit_callbacks"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_and_typed(name):
    function = getattr(hookspecs, name)
    doc = inspect.getdoc(function) or ""
    assert len(doc.split()) >= 10, f"{name} needs a real docstring"
    signature = inspect.signature(function)
    assert signature.return_annotation is not inspect.Signature.empty, f"{name}: return type"
    for param in signature.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}: type of {param.name}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_marked_as_a_spec(name):
    assert hasattr(getattr(hookspecs, name), "wlkit_spec")
