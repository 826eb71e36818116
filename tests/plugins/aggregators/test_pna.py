from __future__ import annotations

import math

import dgl
import pytest
import torch

from wlkit.model.build import instantiate
from wlkit.plugins.aggregators import PNAAggregator


def test_equals_scaled_aggregators_through_one_linear_map():
    torch.manual_seed(0)
    g = dgl.graph(([0, 1, 2, 0], [3, 3, 3, 1]), num_nodes=4)  # degrees 0, 1, 0, 3
    x = torch.randn(4, 2)
    pna = PNAAggregator(2, aggregators=["mean", "max"], delta=0.5)
    out = pna(g, x)
    mean = dgl.ops.copy_e_mean(g, x)
    top = torch.where(torch.isinf(dgl.ops.copy_e_max(g, x)), 0.0, dgl.ops.copy_e_max(g, x))
    stacked = torch.cat([mean, top], -1)
    log_deg = torch.log1p(g.in_degrees().clamp(min=1).float()).unsqueeze(-1)
    expected = pna.post(torch.cat([stacked, stacked * log_deg / 0.5, stacked * 0.5 / log_deg],
                                  -1))
    torch.testing.assert_close(out, expected)


def test_delta_is_a_running_estimate_frozen_in_eval():
    g = dgl.graph(([0, 1, 2], [3, 3, 3]), num_nodes=4)  # degrees 0, 0, 0, 3
    pna = instantiate("aggregator", {"name": "pna"}, 3)
    pna(g, torch.randn(3, 3))
    expected = math.log(4) / 4
    assert float(pna.log_degree_sum / pna.num_seen) == pytest.approx(expected)
    pna.eval()
    pna(dgl.graph(([0], [1]), num_nodes=2), torch.randn(1, 3))
    assert float(pna.num_seen) == 4  # not updated in eval mode
    assert "log_degree_sum" in pna.state_dict()


def test_unknown_aggregator_or_scaler_is_refused():
    with pytest.raises(ValueError, match="median"):
        PNAAggregator(3, aggregators=["median"])
    with pytest.raises(ValueError, match="cube"):
        PNAAggregator(3, scalers=["cube"])
