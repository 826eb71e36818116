"""The conformance kit: graph fixtures and ``assert_*`` helpers for wlkit components.

A plugin author tests a component the way wlkit's own checks do::

    from wlkit.testing import aggregator_probe, assert_permutation_invariant, graph_zoo

    def test_my_aggregator_is_invariant():
        probe = aggregator_probe(MyAggregator, dim=8)   # MyAggregator(8, **params)
        assert_permutation_invariant(probe, graph_zoo())

or runs every check at once on a registered component (this is what ``wlkit check`` runs)::

    from wlkit.testing import assert_conforms

    def test_conforms():
        assert_conforms("aggregator", "my_aggregator")

A **probe** wraps one component so every assertion can drive it the same way: it attaches
the component's inputs to a graph (random messages for an aggregator, node states for a
readout or layer, node and edge features for a policy), runs the component on a batched
graph and knows whether the output is per node or per graph. The probes are
:func:`aggregator_probe`, :func:`readout_probe`, :func:`layer_probe`,
:func:`encoding_probe` and :func:`policy_probe` (the model half of a policy on a tiny
batch, through the policy's ``prepare`` and ``collate``); :func:`probe_for` builds one from
a registered component.

Every assertion takes a probe and graphs (default: :func:`graph_zoo`, the edge cases:
random graphs, isolated nodes, empty neighbourhoods, a single node, a multigraph, ...).
Invariance is checked up to float rounding (``rtol``/``atol``, scaled by the output's
magnitude) in eval mode. Stochastic components are held to the same standard with their
noise permuted along with the nodes: every graph the kit builds carries
``ndata["_node_key"]`` (int64, each node's index before any relabelling, the convention of
``wlkit separate``), and a stochastic component in eval mode must draw its noise as a
function of that key.

:func:`audit_probe` counts the host-device syncs (``.item()``, boolean masks, ``unique``,
...) and the tensors created off the input's device in one training step of a probe, on
the CPU as they would happen on a GPU; :func:`assert_device_audit` bounds them
(:mod:`wlkit.testing.device_audit`).

The kit's other modules: :mod:`wlkit.testing.probes` (probes and graphs),
:mod:`wlkit.testing.assertions` (the ``assert_*`` checks) and :mod:`wlkit.testing.fixtures`,
a pytest plugin registered through the entry point ``pytest11``
(``wlkit = wlkit.testing.fixtures``), so in any environment where wlkit is installed these fixtures
exist in every test suite: ``wlkit_register`` (register a plugin for one test),
``wlkit_registry``, ``wlkit_graphs`` (the zoo, fresh per test), ``wlkit_batch`` (the zoo as
one mixed batch list) and ``wlkit_device`` (each available device: the CPU, and CUDA when
torch and DGL can use it). ``pytest -p no:wlkit`` switches the plugin off. Importing this
package or the fixtures imports neither torch nor DGL; the names below load on first use.
"""


from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOME: dict[str, str] = {
    "AuditEvent": "device_audit",
    "AuditReport": "device_audit",
    "DeviceAudit": "device_audit",
    "NODE_KEY": "probes",
    "ComponentRefused": "probes",
    "Probe": "probes",
    "aggregator_probe": "probes",
    "assert_batch_independent": "assertions",
    "assert_conforms": "assertions",
    "assert_deterministic": "assertions",
    "assert_device_audit": "device_audit",
    "assert_device_placement": "assertions",
    "assert_gradient_flow": "assertions",
    "assert_output_contract": "assertions",
    "assert_permutation_equivariant": "assertions",
    "assert_permutation_invariant": "assertions",
    "assert_record": "assertions",
    "assert_state_dict_roundtrip": "assertions",
    "audit_component": "device_audit",
    "audit_probe": "device_audit",
    "audit_step": "device_audit",
    "available_devices": "assertions",
    "encoding_probe": "probes",
    "graph_zoo": "probes",
    "layer_probe": "probes",
    "policy_probe": "probes",
    "probe_for": "probes",
    "random_graph": "probes",
    "readout_probe": "probes",
    "relabel": "probes",
    "usable_graphs": "assertions",
}
"""Where each public name lives (loaded on first use, so pytest start-up stays cheap)."""

__all__ = [
    "AuditEvent",
    "AuditReport",
    "ComponentRefused",
    "DeviceAudit",
    "NODE_KEY",
    "Probe",
    "aggregator_probe",
    "assert_batch_independent",
    "assert_conforms",
    "assert_deterministic",
    "assert_device_audit",
    "assert_device_placement",
    "assert_gradient_flow",
    "assert_output_contract",
    "assert_permutation_equivariant",
    "assert_permutation_invariant",
    "assert_record",
    "assert_state_dict_roundtrip",
    "audit_component",
    "audit_probe",
    "audit_step",
    "available_devices",
    "encoding_probe",
    "graph_zoo",
    "layer_probe",
    "policy_probe",
    "probe_for",
    "random_graph",
    "readout_probe",
    "relabel",
    "usable_graphs",
]

if TYPE_CHECKING:
    from wlkit.testing.assertions import (
        assert_batch_independent,
        assert_conforms,
        assert_deterministic,
        assert_device_placement,
        assert_gradient_flow,
        assert_output_contract,
        assert_permutation_equivariant,
        assert_permutation_invariant,
        assert_record,
        assert_state_dict_roundtrip,
        available_devices,
        usable_graphs,
    )
    from wlkit.testing.device_audit import (
        AuditEvent,
        AuditReport,
        DeviceAudit,
        assert_device_audit,
        audit_component,
        audit_probe,
        audit_step,
    )
    from wlkit.testing.probes import (
        NODE_KEY,
        ComponentRefused,
        Probe,
        aggregator_probe,
        encoding_probe,
        graph_zoo,
        layer_probe,
        policy_probe,
        probe_for,
        random_graph,
        readout_probe,
        relabel,
    )


def __getattr__(name: str) -> Any:
    try:
        module = _HOME[name]
    except KeyError:
        raise AttributeError(f"module 'wlkit.testing' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"wlkit.testing.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
