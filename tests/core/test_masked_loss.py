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


def test_a_validation_inside_the_epoch_never_scores_diverged_weights():
    # val_check_interval < 1 (or a mid-epoch stop) validates before the epoch's last batch
    import types

    from wlkit.model.lightning import GraphPredictionModule, NonFiniteLoss

    module = GraphPredictionModule(torch.nn.Linear(1, 1), None, lambda y, p: 0.0,
                                   {"loss": "mse"})
    module._trainer = types.SimpleNamespace(current_epoch=0, global_step=2,
                                            sanity_checking=True, world_size=1)
    module.on_validation_epoch_start()  # the sanity check before any training: no sums yet
    module._accumulate("train_loss", torch.tensor(float("inf")), 4)
    module.on_validation_epoch_start()  # still a sanity check: not read
    module._trainer.sanity_checking = False
    with pytest.raises(NonFiniteLoss, match="became inf"):
        module.on_validation_epoch_start()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_sixteen_bit_losses_count_and_sum_exactly(dtype):
    # 70,000 known targets: a float16 count would be inf (loss 0), a bfloat16 one rounded
    pred = torch.full((70_000, 1), 0.5, dtype=dtype, requires_grad=True)
    target = torch.zeros(70_000)
    target[:10] = float("nan")
    loss = masked_loss("l1", pred, target)  # torch 2.2's CPU mse lacks 16-bit kernels
    assert loss.dtype == torch.float32 and loss.item() == 0.5
    loss.backward()
    assert torch.isfinite(pred.grad.float()).all() and pred.grad.float().abs().sum() > 0
    # the epoch's running loss sum is float32: a 16-bit sum would pass 65,504 (fp16: inf)
    import types

    from wlkit.model.lightning import GraphPredictionModule

    module = GraphPredictionModule(torch.nn.Linear(1, 1), None, lambda y, p: 0.0,
                                   {"loss": "mse"})
    module._trainer = types.SimpleNamespace(current_epoch=0, global_step=0)
    for _ in range(300):
        module._accumulate("train_loss", torch.tensor(2.0, dtype=dtype), 128)
    total = module._epoch_sums["train_loss"]
    assert total.dtype == torch.float32 and total.item() == 2.0 * 128 * 300
    module._check_finite()


def test_float64_losses_stay_float64():
    pred = torch.randn(5, 1, dtype=torch.float64)
    target = torch.randn(5, dtype=torch.float64)
    loss = masked_loss("mse", pred, target)
    assert loss.dtype == torch.float64
    assert loss.item() == F.mse_loss(pred, target.view(5, 1)).item()
