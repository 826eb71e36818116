"""``masked_loss``: without missing labels it is the plain loss; NaN labels are masked out."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wlkit.model.lightning import masked_loss

LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "bce": F.binary_cross_entropy_with_logits}


@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_no_missing_labels_is_the_plain_loss(kind):
    torch.manual_seed(0)
    pred = torch.randn(8, 3, requires_grad=True)
    target = torch.rand(8, 3)
    loss = masked_loss(kind, pred, target)
    torch.testing.assert_close(loss, LOSSES[kind](pred, target), rtol=0, atol=0)
    (grad,) = torch.autograd.grad(loss, pred)
    (ref,) = torch.autograd.grad(LOSSES[kind](pred, target), pred)
    torch.testing.assert_close(grad, ref, rtol=0, atol=0)


@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_missing_labels_are_masked(kind):
    torch.manual_seed(1)
    pred = torch.randn(6, 2, requires_grad=True)
    target = torch.rand(6, 2)
    target[1, 0] = target[4, 1] = float("nan")
    known = ~torch.isnan(target)
    loss = masked_loss(kind, pred, target)
    torch.testing.assert_close(loss, LOSSES[kind](pred[known], target[known]))
    (grad,) = torch.autograd.grad(loss, pred)
    assert grad[1, 0] == 0 and grad[4, 1] == 0 and grad[0, 0] != 0


def test_all_missing_gives_a_connected_zero():
    pred = torch.randn(3, 1, requires_grad=True)
    loss = masked_loss("mse", pred, torch.full((3,), float("nan")))
    assert loss.item() == 0.0 and loss.requires_grad


@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_no_host_sync(kind):
    from wlkit.testing import DeviceAudit

    pred = torch.randn(6, 2, requires_grad=True)
    target = torch.rand(6, 2)
    target[1, 0] = float("nan")
    with DeviceAudit() as audit, audit.phase("step"):
        masked_loss(kind, pred, target).backward()
    assert [e for e in audit.events if e.kind == "sync"] == []


def test_a_non_finite_loss_is_found_at_the_epoch_check_from_the_running_sum():
    import types

    from wlkit.model.lightning import GraphPredictionModule, NonFiniteLoss

    module = GraphPredictionModule(torch.nn.Linear(1, 1), None, lambda y, p: 0.0,
                                   {"loss": "mse"})
    module._trainer = types.SimpleNamespace(current_epoch=3, global_step=9)
    for loss in (1.0, float("nan"), 2.0):
        module._accumulate("train_loss", torch.tensor(loss), 4)  # no host read per step
    with pytest.raises(NonFiniteLoss, match="became nan in epoch 3 \\(by step 9\\)"):
        module._check_finite()
    module.on_train_epoch_start()
    module._accumulate("train_loss", torch.tensor(0.5), 4)
    module._check_finite()  # a finite epoch: nothing raised
