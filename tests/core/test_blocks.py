"""wlkit.mlp: the one MLP builder, module for module what the built-ins built by hand."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn

import wlkit
import wlkit.blocks
from wlkit import mlp
from wlkit.plugins.aggregators import DeepSetsAggregator
from wlkit.plugins.layers import GINELayer, GINLayer


def _seeded(build):
    torch.manual_seed(0)
    return build().state_dict()


def _same(a, b):
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_same_modules_and_seeded_weights_as_the_builders_it_replaces():
    # GIN's update (was plugins/layers.mlp): Linear, BatchNorm, ReLU between, width dim
    gin = _seeded(lambda: GINLayer(6, nn.Identity(), mlp_layers=3).mlp)
    by_hand = _seeded(lambda: nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.ReLU(),
                                            nn.Linear(6, 6), nn.BatchNorm1d(6), nn.ReLU(),
                                            nn.Linear(6, 6)))
    assert _same(gin, by_hand)
    # GINE's OGB form
    gine = _seeded(lambda: GINELayer(4, nn.Identity(), edge_encoder=nn.Identity).mlp)
    assert _same(gine, _seeded(lambda: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8),
                                                     nn.ReLU(), nn.Linear(8, 4))))
    # DeepSets' phi (was aggregators/deepsets.set_mlp): ReLU only, hidden width
    phi = _seeded(lambda: DeepSetsAggregator(4, hidden=5, phi_layers=2).phi)
    assert _same(phi, _seeded(lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(),
                                                    nn.Linear(5, 4))))
    assert isinstance(DeepSetsAggregator(4, phi_layers=0).phi, nn.Identity)


def test_activation_and_one_layer():
    net = mlp([3, 2], norm=nn.BatchNorm1d, activation=nn.ELU)
    assert [type(m) for m in net] == [nn.Linear]  # nothing after the last layer
    net = mlp([3, 3, 2], activation=nn.ELU)
    assert [type(m) for m in net] == [nn.Linear, nn.ELU, nn.Linear]


def test_docstring_examples():
    assert doctest.testmod(wlkit.blocks).failed == 0


class _Shift(nn.Module):
    """A layer that subtracts 10: its outputs are negative, where activations differ."""

    def forward(self, graph, h, edge_feats=None):
        return h - 10.0


def _parts(activation, activate_last=False):
    from wlkit import ModelParts

    return ModelParts(hidden=2, num_layers=2, node_input=nn.Identity(), make_layer=_Shift,
                      make_norm=nn.Identity, make_readout=None, make_edge_encoder=None,
                      uses_edge_features=False, dropout=0.0, residual=False,
                      virtual_node=False, activation=activation, activate_last=activate_last)


def test_message_passing_applies_the_model_activation_between_layers_not_after_the_last():
    import dgl

    from wlkit import LAYER_ACTIVATIONS, MessagePassing

    g = dgl.graph(([0], [1]))
    h = torch.zeros(2, 2)
    expected = {"relu": -10.0, "tanh": float(torch.tanh(torch.tensor(-10.0))) - 10.0,
                "identity": -20.0, "elu": float(nn.functional.elu(torch.tensor(-10.0))) - 10.0}
    for name, value in expected.items():
        out = MessagePassing(_parts(name))(g, h)
        torch.testing.assert_close(out, torch.full((2, 2), value))
    assert set(expected) <= set(LAYER_ACTIVATIONS)
    from wlkit import ModelParts
    assert ModelParts.__dataclass_fields__["activation"].default == "relu"


def test_activate_last_and_every_layers_states():
    import dgl

    from wlkit import MessagePassing

    g = dgl.graph(([0], [1]))
    h = torch.zeros(2, 2)
    stack = MessagePassing(_parts("relu", activate_last=True))
    torch.testing.assert_close(stack(g, h), torch.zeros(2, 2))  # relu(-10 + 0) after both
    states = MessagePassing(_parts("identity")).states(g, h)
    assert [float(s[0, 0]) for s in states] == [0.0, -10.0, -20.0]  # input, layer 1, layer 2


def test_layer_activation_names_and_a_clear_error():
    import pytest

    from wlkit import LAYER_ACTIVATIONS, layer_activation
    from wlkit.pipeline.schema import MODEL

    choices = next(p for p in MODEL if p.name == "activation").choices
    assert tuple(choices) == LAYER_ACTIVATIONS  # the schema offers exactly these
    with pytest.raises(ValueError, match="unknown activation 'swish'; one of relu"):
        layer_activation("swish")


def test_sigmoid_equals_torch_sigmoid_in_value_and_gradient():
    x = torch.cat([torch.linspace(-120, 120, 241, dtype=torch.float64),
                   torch.tensor([-1e4, 1e4], dtype=torch.float64)]).requires_grad_()
    out = wlkit.sigmoid(x)
    torch.testing.assert_close(out, torch.sigmoid(x), rtol=1e-14, atol=0)
    assert torch.isfinite(out).all() and out[-2] == 0 and out[-1] == 1
    (grad,) = torch.autograd.grad(out.sum(), x)
    (expected,) = torch.autograd.grad(torch.sigmoid(x).sum(), x)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=0)
    assert torch.isfinite(grad).all()  # exp(-x) = inf must not give inf * 0 = nan
    torch.autograd.gradcheck(wlkit.sigmoid, torch.randn(5, 3, dtype=torch.float64,
                                                        requires_grad=True))
    low = torch.randn(64, 8).to(torch.bfloat16)
    torch.testing.assert_close(wlkit.sigmoid(low).float(), torch.sigmoid(low).float(),
                               rtol=2e-2, atol=1e-2)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_is_nn_gru_cell_with_its_gradients(bias):
    torch.manual_seed(0)
    cell = nn.GRUCell(6, 5, bias=bias).double()
    x = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    h = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    ours, theirs = wlkit.gru_cell(x, h, cell), cell(x, h)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    inputs = [x, h, *cell.parameters()]
    weight = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad((ours * weight).sum(), inputs),
                    torch.autograd.grad((theirs * weight).sum(), inputs)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
