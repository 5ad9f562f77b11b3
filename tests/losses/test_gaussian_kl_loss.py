# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""GaussianKLLoss: 0 at the prior, closed-form values, reductions, errors."""

from __future__ import annotations

import math

import pytest
import torch

from monai_dianet.losses import GaussianKLLoss


@pytest.mark.parametrize("shape", [(2, 4), (2, 4, 3, 3), (1, 2, 2, 2, 2)])
def test_zero_at_standard_normal(shape):
    assert GaussianKLLoss()(torch.zeros(shape), torch.zeros(shape)).item() == 0.0


def test_known_values_and_reductions():
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    # 0.5 * (1 + 1 - 1 - 0) = 0.5 ; 0.5 * (2 + 0 - 1 - log 2)
    expected = torch.tensor([[0.5, 0.5 * (1.0 - math.log(2.0))]])
    assert torch.allclose(GaussianKLLoss(reduction="none")(mu, logvar), expected)
    assert GaussianKLLoss(reduction="sum")(mu, logvar).item() == pytest.approx(expected.sum().item())
    assert GaussianKLLoss()(mu, logvar).item() == pytest.approx(expected.mean().item())


def test_matches_torch_distributions_and_gradient():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 5, requires_grad=True), torch.randn(3, 5)
    ours = GaussianKLLoss(reduction="sum")(mu, logvar)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum()
    assert torch.allclose(ours, ref, atol=1e-5)
    ours.backward()
    assert torch.allclose(mu.grad, mu.detach())


def test_errors():
    with pytest.raises(ValueError, match="must match"):
        GaussianKLLoss()(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError):
        GaussianKLLoss(reduction="batchmean")
