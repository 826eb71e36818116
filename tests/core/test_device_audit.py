"""The device audit (wlkit.testing.device_audit): what it counts as a host sync or a stray
tensor, on made-up components, and the built-in components' counts held to the checked-in
table tests/core/device_audit_expected.json (issue 21), so that none can grow unnoticed."""

from __future__ import annotations

import json
import types
from pathlib import Path

import dgl
import numpy as np
import pytest
import torch

from wlkit import Aggregator, AggregatorRecord, hookimpl
from wlkit.testing import (
    AuditReport,
    DeviceAudit,
    aggregator_probe,
    assert_device_audit,
    audit_component,
    audit_probe,
    audit_step,
)

EXPECTED = Path(__file__).with_name("device_audit_expected.json")

# --- what counts ----------------------------------------------------------------------------

X = torch.arange(6.0)
MASK = X > 2
LENGTHS = torch.tensor([1, 0, 2])

SYNCS = {
    ".item()": lambda: X.sum().item(),
    ".tolist()": lambda: X.tolist(),
    ".cpu()": lambda: X.cpu(),
    ".numpy()": lambda: X.numpy(),
    "numpy.asarray(tensor)": lambda: np.asarray(X),
    "repr(tensor)": lambda: repr(X),
    "format(tensor)": lambda: f"{X.sum():.3f}",
    '.to("cpu")': lambda: X.to("cpu"),
    "bool(tensor)": lambda: bool(MASK.any()),
    "int(tensor)": lambda: int(X.sum()),
    "float(tensor)": lambda: float(X.max()),
    "nonzero": lambda: MASK.nonzero(),
    "argwhere": lambda: torch.argwhere(MASK),
    "masked_select": lambda: X.masked_select(MASK),
    "unique": lambda: torch.unique(LENGTHS),
    "bincount": lambda: torch.bincount(LENGTHS),
    "torch.equal": lambda: torch.equal(X, X),
    "boolean-mask indexing": lambda: X[MASK],
    "repeat_interleave without output_size": lambda: X[:3].repeat_interleave(LENGTHS),
    "one-argument where": lambda: torch.where(MASK),
    "masked assignment": lambda: X.clone().__setitem__(MASK, 0.0),
    "a tensor as a size": lambda: torch.zeros(LENGTHS.sum(), device=X.device),
}

NOT_SYNCS = {
    "arithmetic": lambda: (X * 2 + 1).sum(),
    "masked_fill": lambda: X.masked_fill(MASK, 0.0),
    "torch.where with values": lambda: torch.where(MASK, X, 0.0),
    "repeat_interleave with output_size": lambda: X[:3].repeat_interleave(LENGTHS,
                                                                          output_size=3),
    ".to(x.device)": lambda: LENGTHS.to(X.device),
    "integer indexing": lambda: X[torch.tensor([0, 2], device=X.device)],
    "shape": lambda: X.shape[0] + len(X),
}

STRAY = {
    "torch.zeros": lambda: torch.zeros(3),
    "torch.arange": lambda: torch.arange(3),
    "torch.tensor": lambda: torch.tensor([1, 2]),
    "torch.randn": lambda: torch.randn(2),
    "torch.full": lambda: torch.full((2,), 1.0),
    "torch.as_tensor of a list": lambda: torch.as_tensor([1, 2]),
}

NOT_STRAY = {
    "device=x.device": lambda: torch.arange(3, device=X.device),
    "zeros_like": lambda: torch.zeros_like(X),
    "new_zeros": lambda: X.new_zeros(3),
    "torch.as_tensor of a tensor": lambda: torch.as_tensor(X),
}


def _events(step):
    with DeviceAudit() as audit, audit.phase("forward"):
        step()
    return audit.events


@pytest.mark.parametrize("name", sorted(SYNCS))
def test_each_kind_of_sync_is_counted_once(name):
    events = _events(SYNCS[name])
    assert [e.kind for e in events] == ["sync"], (name, [str(e) for e in events])
    assert events[0].where.startswith(__name__), events[0]  # the line that asked


@pytest.mark.parametrize("name", sorted(NOT_SYNCS))
def test_device_side_work_is_not_a_sync(name):
    assert _events(NOT_SYNCS[name]) == []


@pytest.mark.parametrize("name", sorted(STRAY))
def test_a_factory_without_the_input_device_is_stray(name):
    kinds = [e.kind for e in _events(STRAY[name])]
    assert "stray" in kinds, name


@pytest.mark.parametrize("name", sorted(NOT_STRAY))
def test_a_factory_following_its_input_is_not_stray(name):
    assert _events(NOT_STRAY[name]) == []


def test_a_cpu_device_is_stray_when_the_inputs_are_elsewhere():
    # explicit device="cpu" passes a CPU audit but not one of CUDA inputs; .to(cpu) syncs
    with DeviceAudit("cuda") as audit, audit.phase("forward"):
        torch.zeros(2, device="cpu")
        X.to(torch.device("cpu"))
    assert [e.kind for e in audit.events] == ["stray", "sync"]


def test_nothing_is_recorded_outside_a_phase():
    with DeviceAudit() as audit:
        X.sum().item()
        torch.zeros(2)
    assert audit.events == []


class _ItemInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        grad.abs().max().item()
        return grad * 2


def test_backward_is_audited_as_its_own_phase():
    x = torch.randn(4, requires_grad=True)
    report = audit_step(lambda _: _ItemInBackward.apply(x).unsqueeze(-1))
    assert report.syncs == {"collate": 0, "forward": 0, "backward": 1}, report.format()
    assert x.grad is not None


def test_collate_is_audited_apart_and_its_result_reaches_forward():
    report = audit_step(lambda batch: batch * 1.0, collate=lambda: torch.arange(3.0))
    assert report.stray == {"collate": 1, "forward": 0, "backward": 0}
    assert report.step_syncs == 0 and report.step_stray == 1


# --- on components ----------------------------------------------------------------------------


class SumAggregator(Aggregator):
    def reduce(self, graph, messages):
        return dgl.ops.copy_e_sum(graph, messages)


class ItemAggregator(Aggregator):
    """A sum that asks the host for the size of the messages first: one sync per call."""

    def reduce(self, graph, messages):
        if messages.abs().sum().item() > 1e9:
            messages = messages.clamp(-1e9, 1e9)
        return dgl.ops.copy_e_sum(graph, messages)


class ArangeAggregator(Aggregator):
    """Builds an index on the CPU whatever the input's device: one stray tensor per call."""

    def reduce(self, graph, messages):
        order = torch.arange(graph.num_edges())
        return dgl.ops.copy_e_sum(graph, messages[order.to(messages.device)])


def test_a_clean_aggregator_passes():
    report = assert_device_audit(aggregator_probe(SumAggregator))
    assert isinstance(report, AuditReport)
    assert report.step_syncs == 0 and report.step_stray == 0 and report.events == []


def test_an_item_in_an_aggregator_fails_the_audit_with_its_line():
    probe = aggregator_probe(ItemAggregator)
    report = audit_probe(probe)
    assert report.syncs["forward"] == 1 and report.syncs["backward"] == 0
    (event,) = report.events
    assert event.op == ".item()" and f"{__name__}:" in event.where and "reduce" in event.where
    with pytest.raises(AssertionError, match=r"1 host sync\(s\) per step.*\n.*\.item\(\) at "
                                             + __name__):
        assert_device_audit(probe)
    assert_device_audit(probe, syncs=1)  # a declared count passes, and holds it there


def test_a_stray_tensor_in_an_aggregator_fails_the_audit():
    probe = aggregator_probe(ArangeAggregator)
    report = audit_probe(probe)
    assert report.step_syncs == 0 and report.stray["forward"] == 1
    with pytest.raises(AssertionError, match="without the input's device"):
        assert_device_audit(report)


PLUGIN = types.SimpleNamespace(wlkit_aggregators=hookimpl(lambda: [
    AggregatorRecord(name="item_sum", factory=ItemAggregator, summary="Sum, asking first.")]))


def test_a_registered_plugin_is_audited_by_name(wlkit_register):
    wlkit_register(PLUGIN, "item-plugin")
    report = audit_component("aggregator", "item_sum")
    assert report.name == "aggregator item_sum" and report.step_syncs == 1


# --- the built-ins, held to the table ---------------------------------------------------------


@pytest.fixture(scope="module")
def reports():
    from benchmarks.device_audit import collect

    return {r.name: r for r in collect()}


def _changed(reports, expected):
    from benchmarks.device_audit import expected_row

    changed = []
    for name, row in expected.items():
        report = reports.get(name)
        if report is None:
            continue  # a component of the table not registered here (e.g. not yet merged)
        measured = expected_row(report)
        if measured != row:
            changed.append(f"{name}: expected {row}, measured {measured}\n"
                           + report.format())
    return changed


def test_the_builtins_match_the_checked_in_table(reports):
    changed = _changed(reports, json.loads(EXPECTED.read_text()))
    assert not changed, (
        "device audit counts changed (a new .item(), boolean mask, unique, tensor without "
        "device=...?):\n" + "\n".join(changed)
        + "\nhint: after a fix that lowers a count, refresh the table with "
          "`.venv/bin/python benchmarks/device_audit.py --write-expected`")


def test_every_builtin_has_a_row_in_the_table(reports):
    expected = json.loads(EXPECTED.read_text())
    missing = sorted(set(reports) - set(expected))
    assert not missing, (f"no row in {EXPECTED.name} for {', '.join(missing)}\nhint: "
                         "`.venv/bin/python benchmarks/device_audit.py --write-expected`")


def test_the_zero_rows_stay_at_zero(reports):
    # the goal of issue 21: these are done; any sync here is a regression to fix, not to
    # record (the table would let it in with --write-expected, this test does not)
    done = ["aggregator sum", "aggregator mean", "aggregator max", "aggregator min",
            "aggregator pna", "aggregator std", "aggregator softmax", "aggregator powermean",
            "aggregator deepsets", "aggregator genpool", "readout sum", "readout mean",
            "layer gin", "layer gine", "positional_encoding lappe", "subgraph_policy rni"]
    for name in done:
        assert_device_audit(reports[name])


def test_an_item_added_to_a_builtin_aggregator_breaks_the_table(monkeypatch):
    from wlkit.plugins.aggregators.basic import MeanAggregator

    plain = MeanAggregator.reduce

    def reduce(self, graph, messages):
        messages.sum().item()  # the regression the table is there to catch
        return plain(self, graph, messages)

    monkeypatch.setattr(MeanAggregator, "reduce", reduce)
    report = audit_component("aggregator", "mean")
    expected = json.loads(EXPECTED.read_text())
    (changed,) = _changed({report.name: report}, {report.name: expected[report.name]})
    assert "measured {'forward': 1" in changed and ".item() at " + __name__ in changed
