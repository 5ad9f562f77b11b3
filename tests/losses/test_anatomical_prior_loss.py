# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""AnatomicalPriorLoss (eq 11 / eq 14): zero at the reference, known values, resampling, errors."""

from __future__ import annotations

import pytest
import torch

from monai_dianet.losses import AnatomicalPriorLoss


@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("spatial", [(4, 4), (2, 3, 4)])
def test_zero_when_prediction_equals_reference(norm, spatial):
    torch.manual_seed(0)
    logits = torch.randn(2, 3, *spatial)
    reference = logits.softmax(1)
    assert AnatomicalPriorLoss(norm=norm)(logits, reference).item() == pytest.approx(0.0, abs=1e-7)
    sig = AnatomicalPriorLoss(norm=norm, activation="sigmoid")(logits, logits.sigmoid())
    assert sig.item() == pytest.approx(0.0, abs=1e-7)


def test_known_values_and_reductions():
    probs = torch.tensor([[[[0.2, 0.8]], [[0.8, 0.2]]]])  # (1, 2, 1, 2)
    reference = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]])  # (2, 1, 2), shared by the batch
    l2 = AnatomicalPriorLoss(norm="l2", activation=None, weight=2.0, reduction="sum")(probs, reference)
    assert l2.item() == pytest.approx(2.0 * 4 * 0.04)  # lambda_1 * ||P - P_target||_2^2
    l1 = AnatomicalPriorLoss(norm="l1", activation=None, weight=0.5, reduction="sum")(probs, reference)
    assert l1.item() == pytest.approx(0.5 * 4 * 0.2)  # lambda_2 * ||P - P_prior||_1
    none = AnatomicalPriorLoss(norm="l1", activation=None, reduction="none")(probs.repeat(3, 1, 1, 1), reference)
    assert none.shape == (3, 2, 1, 2)
    mean = AnatomicalPriorLoss(norm="l1", activation=None)(probs, reference)
    assert mean.item() == pytest.approx(0.2)


def test_reference_resampled_to_prediction_grid():
    reference = torch.zeros(2, 8, 8)
    reference[0, :4] = 1.0
    reference[1, 4:] = 1.0
    coarse = torch.zeros(1, 2, 2, 2)
    coarse[0, 0, 0] = 1.0
    coarse[0, 1, 1] = 1.0
    assert AnatomicalPriorLoss(activation=None)(coarse, reference).item() == pytest.approx(0.0)


def test_gradient_flows_to_logits():
    logits = torch.randn(1, 2, 3, 3, requires_grad=True)
    AnatomicalPriorLoss(norm="l1")(logits, torch.full((2, 3, 3), 0.5)).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_errors():
    loss = AnatomicalPriorLoss()
    with pytest.raises(ValueError, match="does not match"):
        loss(torch.randn(1, 3, 4, 4), torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="does not match"):
        loss(torch.randn(1, 2, 4, 4), torch.rand(2, 4, 4, 4))
    with pytest.raises(ValueError, match="batch size"):
        loss(torch.randn(2, 2, 4, 4), torch.rand(3, 2, 4, 4))
    with pytest.raises(ValueError, match="norm"):
        AnatomicalPriorLoss(norm="l3")
    with pytest.raises(ValueError, match="activation"):
        AnatomicalPriorLoss(activation="relu")
    with pytest.raises(ValueError):
        AnatomicalPriorLoss(reduction="avg")
