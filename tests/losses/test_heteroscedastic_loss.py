# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""HeteroscedasticLoss: Gaussian NLL known values, small-variance limits, attenuation, shapes, errors."""

from __future__ import annotations

import math

import pytest
import torch

from monai_dianet.losses import HeteroscedasticLoss


def test_gaussian_known_values():
    pred, target = torch.zeros(1, 2), torch.tensor([[2.0, 0.0]])
    logvar = torch.tensor([[math.log(4.0), 0.0]])
    terms = HeteroscedasticLoss(mode="gaussian", reduction="none")(pred, logvar, target)
    assert torch.allclose(terms, torch.tensor([[0.5 * 4.0 / 4.0 + 0.5 * math.log(4.0), 0.0]]))
    assert HeteroscedasticLoss(mode="gaussian", reduction="sum")(pred, logvar, target).item() == pytest.approx(
        terms.sum().item()
    )


def test_small_variance_recovers_cross_entropy_and_bce():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4)
    low = torch.full_like(logits, -10.0)
    labels = torch.randint(0, 3, (2, 1, 4, 4))
    ce = torch.nn.functional.cross_entropy(logits, labels[:, 0])
    assert HeteroscedasticLoss(mode="softmax")(logits, low, labels).item() == pytest.approx(ce.item(), rel=1e-2)
    binary = (torch.rand(2, 3, 4, 4) > 0.5).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, binary)
    assert HeteroscedasticLoss(mode="sigmoid")(logits, low, binary).item() == pytest.approx(bce.item(), rel=1e-2)
    cls = torch.randn(4, 5)
    idx = torch.tensor([0, 4, 2, 1])
    ce_cls = torch.nn.functional.cross_entropy(cls, idx)
    value = HeteroscedasticLoss(mode="softmax")(cls, torch.full_like(cls, -10.0), idx)
    assert value.item() == pytest.approx(ce_cls.item(), rel=1e-2)


def test_variance_attenuates_confidently_wrong_logits():
    torch.manual_seed(0)
    logits = torch.tensor([[8.0, -8.0]])
    labels = torch.tensor([1])
    loss = HeteroscedasticLoss(mode="softmax", num_samples=256)
    low = loss(logits, torch.full_like(logits, -5.0), labels)
    high = loss(logits, torch.full_like(logits, 4.0), labels)
    assert high.item() < low.item()
    logvar = torch.zeros(1, 2, requires_grad=True)
    loss(logits, logvar, labels).backward()
    assert logvar.grad.sum() < 0  # raising the variance lowers the loss here


def test_reduction_shapes():
    logits, logvar = torch.randn(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    per_voxel = HeteroscedasticLoss(mode="softmax", reduction="none")(logits, logvar, torch.zeros(2, 4, 4))
    assert per_voxel.shape == (2, 4, 4)
    binary = torch.ones(2, 3, 4, 4)
    assert HeteroscedasticLoss(mode="sigmoid", reduction="none")(logits, logvar, binary).shape == (2, 3, 4, 4)


def test_errors():
    with pytest.raises(ValueError, match="mode"):
        HeteroscedasticLoss(mode="poisson")
    with pytest.raises(ValueError, match="num_samples"):
        HeteroscedasticLoss(num_samples=0)
    with pytest.raises(ValueError, match="logvar"):
        HeteroscedasticLoss()(torch.randn(2, 3), torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="does not fit"):
        HeteroscedasticLoss()(torch.randn(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="must match"):
        HeteroscedasticLoss(mode="gaussian")(torch.randn(2, 3), torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError):
        HeteroscedasticLoss(reduction="avg")
