"""``roofline.py --profile`` at tiny sizes: the breakdown by kind of operator is written and
adds up (no timing is asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks import common, roofline


def test_profile_breakdown_is_written(tmp_path):
    out = tmp_path / "roofline.json"
    roofline.main(["--tiny", "--no-memory", "--profile", "--batch-size", "3", "--hidden", "8",
                   "--out", str(out)])
    result = json.loads(out.read_text())
    common.check_result(result)
    assert result["settings"]["batch_size"] == 3 and result["settings"]["hidden"] == 8
    step = result["breakdown"]["wlkit_step"]
    kinds = step["kinds_ms"]
    assert "GEMM (mm, addmm)" in kinds and "optimizer (Adam, zero_grad)" in kinds
    assert all(ms >= 0 for ms in kinds.values())
    # the kinds (self times plus the time outside operators) cover the profiled step
    assert sum(kinds.values()) == pytest.approx(step["profiled_step_ms"], rel=0.05)
    assert result["breakdown"]["gemm_in_step_over_alone"] > 0


def test_kinds_of_operators():
    class Event:
        def __init__(self, name, parent=None):
            self.name, self.cpu_parent = name, parent

    step = Event("Optimizer.step#Adam.step")
    assert roofline._kind(Event("aten::add_", Event("aten::_foreach_add_", step))) == (
        "optimizer (Adam, zero_grad)")
    assert roofline._kind(Event("aten::addmm")) == "GEMM (mm, addmm)"
    assert roofline._kind(Event("aten::index_select")) == "gathers, scatters, embeddings"
    assert roofline._kind(Event("GSpMM")) == "DGL kernels and other autograd Functions"
    assert roofline._kind(Event("autograd::engine::evaluate_function: AddBackward0")) == (
        "autograd bookkeeping")
