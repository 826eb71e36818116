from __future__ import annotations

import dgl
import networkx as nx
import numpy as np
import pytest
import torch

from wlkit.model.build import instantiate


def rwse(steps):
    return instantiate("positional_encoding", {"name": "rwse", "steps": steps})


def test_matches_dense_numpy_powers():
    G = nx.gnm_random_graph(9, 16, seed=3)
    g = dgl.from_networkx(G)
    A = nx.to_numpy_array(G, nodelist=range(9))
    deg = A.sum(1, keepdims=True)
    P = np.divide(A, deg, out=np.zeros_like(A), where=deg > 0)
    expected = np.stack([np.diag(np.linalg.matrix_power(P, k)) for k in range(1, 7)], 1)
    np.testing.assert_allclose(rwse(6).compute(g).numpy(), expected, atol=1e-6)


def test_cycle_return_probabilities():
    g = dgl.to_bidirected(dgl.graph((torch.arange(6), (torch.arange(6) + 1) % 6)))
    out = rwse(4).compute(g)
    torch.testing.assert_close(out[0], torch.tensor([0.0, 0.5, 0.0, 0.375]))
    assert torch.allclose(out, out[0].expand_as(out))  # vertex-transitive


def test_isolated_nodes_are_zero():
    g = dgl.graph(([0], [1]), num_nodes=4)
    g = dgl.to_bidirected(g)
    assert torch.equal(rwse(3).compute(g)[3], torch.zeros(3))


def test_separates_csl_classes_that_1wl_cannot():
    from wlkit.datasets.synthetic import CSL_SKIPS
    from wlkit.graphs import csl

    signatures = {tuple(rwse(20).compute(csl(41, r).to_dgl())[0].round(decimals=6).tolist())
                  for r in CSL_SKIPS}
    assert len(signatures) == len(CSL_SKIPS)


def test_cache_key_changes_with_parameters():
    assert rwse(4).cache_key() != rwse(5).cache_key()
    assert rwse(4).cache_key() == rwse(4).cache_key()


def test_invalid_steps():
    with pytest.raises(ValueError):
        from wlkit.plugins.encodings import RandomWalkSE

        RandomWalkSE(0)
