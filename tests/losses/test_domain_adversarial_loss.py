# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DomainAdversarialLoss: BCE value, reversed gradients into the features, schedule, reductions, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from monai_dianet.losses import DomainAdversarialLoss
from monai_dianet.networks.blocks import DANNSchedule


class _ConstantLogit(nn.Module):
    """Discriminator returning w * mean(features) so values and gradients are known."""

    def __init__(self, w: float = 1.0) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return self.w * x.flatten(1).mean(1, keepdim=True)


def test_known_value_with_zero_logits():
    loss = DomainAdversarialLoss(discriminator=_ConstantLogit())
    value = loss(torch.zeros(3, 4), torch.zeros(2, 4))
    # logit 0 -> BCE log(2) per sample; "mean" sums the two domain means
    assert value.item() == pytest.approx(2 * math.log(2.0))
    none = DomainAdversarialLoss(discriminator=_ConstantLogit(), reduction="none")(torch.zeros(3, 4), torch.zeros(2, 4))
    assert none.shape == (5,)
    total = DomainAdversarialLoss(discriminator=_ConstantLogit(), reduction="sum")(torch.zeros(3, 4), torch.zeros(2, 4))
    assert total.item() == pytest.approx(5 * math.log(2.0))


def test_features_get_reversed_scaled_gradient_and_discriminator_normal_one():
    torch.manual_seed(0)
    disc = _ConstantLogit(0.7)
    source, target = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    loss = DomainAdversarialLoss(discriminator=disc, coeff=0.5)
    loss(source, target).backward()
    grads_rev = (source.grad.clone(), target.grad.clone(), disc.w.grad.clone())

    # same computation without the reversal layer
    source.grad = target.grad = disc.w.grad = None
    ls = nn.functional.binary_cross_entropy_with_logits(disc(source)[:, 0], torch.ones(4))
    lt = nn.functional.binary_cross_entropy_with_logits(disc(target)[:, 0], torch.zeros(4))
    (ls + lt).backward()
    assert torch.allclose(grads_rev[0], -0.5 * source.grad, atol=1e-6)
    assert torch.allclose(grads_rev[1], -0.5 * target.grad, atol=1e-6)
    assert torch.allclose(grads_rev[2], disc.w.grad, atol=1e-6)


def test_schedule_step_and_default_discriminator_on_maps():
    loss = DomainAdversarialLoss(in_channels=6, schedule=DANNSchedule(gamma=10.0))
    assert loss.step(0.0) == 0.0 and loss.coeff == 0.0
    assert loss.step(1.0) == pytest.approx(2.0 / (1.0 + math.exp(-10.0)) - 1.0)
    value = loss(torch.randn(2, 6, 4, 4, 4), torch.randn(3, 6, 4, 4, 4))
    assert value.ndim == 0 and 0.0 <= loss.last_accuracy <= 1.0


def test_errors():
    with pytest.raises(ValueError, match="in_channels"):
        DomainAdversarialLoss()
    with pytest.raises(ValueError, match="match past the batch dim"):
        DomainAdversarialLoss(in_channels=4)(torch.randn(2, 4), torch.randn(2, 5))
    with pytest.raises(ValueError):
        DomainAdversarialLoss(in_channels=4, reduction="max")
    with pytest.raises(ValueError, match=r"\(B, 1\) or \(B,\) logits"):
        DomainAdversarialLoss(discriminator=nn.Linear(4, 3))(torch.randn(2, 4), torch.randn(2, 4))
