# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Gradient reversal layer, DANN schedule and the MLP discriminators."""

from __future__ import annotations

import math

import pytest
import torch

from monai_dianet.networks.blocks import (
    DANNSchedule,
    DomainDiscriminator,
    GradientReversal,
    LatentDiscriminator,
    grad_reverse,
)


@pytest.mark.parametrize("coeff", [0.0, 0.5, 1.0, 3.0])
def test_grl_identity_forward_reversed_scaled_backward(coeff):
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 5, dtype=torch.float64)
    y = GradientReversal(coeff)(x)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    # without reversal d/dx sum(w * x) = w; reversed and scaled: -coeff * w
    assert torch.allclose(x.grad, -coeff * w)


def test_grl_matches_negated_autograd_of_downstream_function():
    torch.manual_seed(0)
    x = torch.randn(4, 6, requires_grad=True)
    layer = torch.nn.Linear(6, 2)
    (g_plain,) = torch.autograd.grad(layer(x).pow(2).sum(), x)
    (g_rev,) = torch.autograd.grad(layer(grad_reverse(x, 0.25)).pow(2).sum(), x)
    assert torch.allclose(g_rev, -0.25 * g_plain, atol=1e-6)


def test_grl_set_coeff_and_errors():
    grl = GradientReversal()
    grl.set_coeff(2.0)
    x = torch.ones(2, requires_grad=True)
    grl(x).sum().backward()
    assert torch.allclose(x.grad, torch.full((2,), -2.0))
    with pytest.raises(ValueError, match="coeff"):
        grl.set_coeff(-1.0)
    with pytest.raises(ValueError, match="coeff"):
        grad_reverse(x, -0.1)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_dann_schedule_values(p):
    schedule = DANNSchedule(gamma=10.0, max_value=2.0)
    assert schedule(p) == pytest.approx(2.0 * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0))


def test_dann_schedule_monotone_and_errors():
    schedule = DANNSchedule()
    values = [schedule(i / 10) for i in range(11)]
    assert values[0] == 0.0 and all(a < b for a, b in zip(values, values[1:])) and values[-1] < 1.0
    with pytest.raises(ValueError, match="progress"):
        schedule(1.5)
    with pytest.raises(ValueError, match="gamma"):
        DANNSchedule(gamma=0.0)


@pytest.mark.parametrize("shape", [(4, 8), (2, 8, 5, 6), (2, 8, 3, 4, 5)])
def test_domain_discriminator_shapes(shape):
    assert DomainDiscriminator(8, hidden_features=(16,))(torch.randn(shape)).shape == (shape[0], 1)


def test_discriminator_errors():
    with pytest.raises(ValueError, match="DomainDiscriminator expects"):
        DomainDiscriminator(8)(torch.randn(2, 7))
    with pytest.raises(ValueError, match="LatentDiscriminator expects"):
        LatentDiscriminator(4)(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="dropout"):
        LatentDiscriminator(4, dropout=1.0)
    assert LatentDiscriminator(4, dropout=0.1)(torch.randn(7, 4)).shape == (7, 1)
