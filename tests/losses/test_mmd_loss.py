# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MMDLoss: known values, same vs shifted distributions, reductions and errors."""

from __future__ import annotations

import pytest
import torch

from monai_dianet.losses import MMDLoss


def _samples(shift: float, n: int = 200, c: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g), torch.randn(n, c, generator=g) + shift


@pytest.mark.parametrize("kernel", ["gaussian", "linear"])
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_same_distribution_near_zero_shifted_clearly_positive(kernel, estimator):
    loss = MMDLoss(kernel=kernel, estimator=estimator)
    same = loss(*_samples(0.0))
    shifted = loss(*_samples(1.0))
    assert abs(float(same)) < 0.05
    assert float(shifted) > 0.1
    assert float(shifted) > 10 * abs(float(same))


def test_linear_biased_sum_is_eq23_squared_mean_distance():
    s, t = torch.randn(5, 3), torch.randn(7, 3)
    value = MMDLoss(kernel="linear", reduction="sum")(s, t)
    assert torch.allclose(value, (s.mean(0) - t.mean(0)).pow(2).sum())
    per_feature = MMDLoss(kernel="linear", reduction="none")(s, t)
    assert per_feature.shape == (3,)


def test_linear_unbiased_known_value():
    s = torch.tensor([[1.0], [3.0]])
    t = torch.tensor([[0.0], [2.0], [4.0]])
    # sum_{i!=j} s_i s_j / (2*1) = 3 ; sum_{i!=j} t_i t_j / (3*2) = (0+0+8)*2/6 = 8/3 ; 2 * mean_s * mean_t = 8
    value = MMDLoss(kernel="linear", estimator="unbiased", reduction="sum")(s, t)
    assert value.item() == pytest.approx(3.0 + 8.0 / 3.0 - 8.0)


def test_gaussian_known_value_fixed_bandwidth():
    s = torch.tensor([[0.0]])
    t = torch.tensor([[1.0]])
    # biased, one kernel exp(-d2 / h): k(s,s)=k(t,t)=1, k(s,t)=exp(-1/2) with h=2
    loss = MMDLoss(kernel_multipliers=(1.0,), bandwidth=2.0, reduction="none")
    value = loss(s, t)
    assert value.shape == (1,)
    assert value.item() == pytest.approx(2.0 - 2.0 * torch.exp(torch.tensor(-0.5)).item(), rel=1e-5)


def test_reductions_and_spatial_features():
    s, t = torch.randn(6, 4, 3, 3), torch.randn(5, 4, 3, 3) + 0.5
    none = MMDLoss(reduction="none")(s, t)
    assert none.shape == (5,)
    assert torch.allclose(MMDLoss(reduction="sum")(s, t), none.sum())
    assert torch.allclose(MMDLoss(reduction="mean")(s, t), none.mean())
    pooled = MMDLoss(kernel="linear", reduction="sum")(s, t)
    assert torch.allclose(pooled, (s.mean((0, 2, 3)) - t.mean((0, 2, 3))).pow(2).sum(), atol=1e-6)
    flat = MMDLoss(kernel="linear", spatial="flatten", reduction="none")(s, t)
    assert flat.shape == (4 * 9,)


def test_gradient_reaches_features():
    s = torch.randn(8, 4, requires_grad=True)
    MMDLoss()(s, torch.randn(8, 4) + 1.0).backward()
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


def test_errors():
    with pytest.raises(ValueError, match="match past the batch dim"):
        MMDLoss()(torch.randn(4, 3), torch.randn(4, 5))
    with pytest.raises(ValueError):
        MMDLoss(reduction="avg")
    with pytest.raises(ValueError, match="kernel"):
        MMDLoss(kernel="rbf")
    with pytest.raises(ValueError, match="at least 2"):
        MMDLoss(estimator="unbiased")(torch.randn(1, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="bandwidth"):
        MMDLoss(bandwidth=0.0)
