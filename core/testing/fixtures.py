"""wlkit's pytest plugin (entry point ``pytest11``: ``wlkit = wlkit.testing.fixtures``).

The fixtures ``wlkit_register``, ``wlkit_registry``, ``wlkit_graphs``, ``wlkit_batch`` and
``wlkit_device`` exist in every test suite of an environment where wlkit is installed;
``pytest -p no:wlkit`` switches them off.

Importing this module must stay cheap: pytest imports it at start-up in every run of every
project in the environment, so torch, DGL and the plugins are imported inside the fixtures,
only by tests that use them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def wlkit_register() -> Iterator[Callable[..., Any]]:
    """``wlkit_register(plugin, name=None)`` registers a plugin (module or object with
    ``@hookimpl`` functions) for this test only and returns the registry; every plugin
    is unregistered when the test ends."""
    from wlkit.manager import get_registry, registered_plugin

    with contextlib.ExitStack() as stack:
        def register(plugin: Any, name: str | None = None) -> Any:
            stack.enter_context(registered_plugin(plugin, name))
            return get_registry()

        yield register


@pytest.fixture
def wlkit_registry() -> Any:
    """wlkit's component registry (built-ins and installed plugins)."""
    from wlkit.manager import get_registry

    return get_registry()


@pytest.fixture
def wlkit_graphs() -> dict[str, Any]:
    """:func:`wlkit.testing.graph_zoo`: the kit's graphs by name, fresh for every test."""
    from wlkit.testing.probes import graph_zoo

    return graph_zoo()


@pytest.fixture
def wlkit_batch() -> list[Any]:
    """The zoo's graphs as one mixed batch (a list; ``dgl.batch`` it as needed)."""
    from wlkit.testing.probes import graph_zoo

    return list(graph_zoo().values())


def pytest_generate_tests(metafunc: Any) -> None:
    """``wlkit_device``: the test runs once per available device (cpu, cuda)."""
    if "wlkit_device" in metafunc.fixturenames:
        from wlkit.testing.assertions import available_devices

        metafunc.parametrize("wlkit_device", available_devices())
