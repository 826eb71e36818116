from __future__ import annotations

import dgl
import pytest
import torch

from wlkit.model.build import instantiate


def test_mixed_starts_halfway_between_max_and_mean_and_learns_the_proportion():
    g = dgl.graph(([0, 1, 2], [3, 3, 3]), num_nodes=4)
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [6.0, 3.0]])
    pool = instantiate("aggregator", {"name": "genpool"}, 2)
    out = pool(g, x)
    torch.testing.assert_close(out[3], torch.tensor([4.5, 2.0]))
    out[3].sum().backward()
    assert pool.alpha.grad.abs().sum() > 0
    single = instantiate("aggregator", {"name": "genpool", "per_channel": False}, 2)
    assert single.alpha.shape == (1,)


def test_gated_proportion_depends_on_the_neighbourhood():
    torch.manual_seed(0)
    pool = instantiate("aggregator", {"name": "genpool", "mode": "gated"}, 2)
    with torch.no_grad():
        pool.gate.weight.fill_(1.0)
    g = dgl.graph(([0, 1, 2, 3], [4, 4, 5, 5]), num_nodes=6)
    x = torch.tensor([[0.0, 0.0], [2.0, 2.0], [10.0, 10.0], [12.0, 12.0]])
    out = pool(g, x)
    # large inputs open the gate towards the max, small ones stay nearer the mean
    assert out[5, 0].item() == pytest.approx(12.0, abs=1e-3)
    assert 1.0 < out[4, 0].item() < 2.0
