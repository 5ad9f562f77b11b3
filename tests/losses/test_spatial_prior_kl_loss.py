# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""SpatialPriorKLLoss: zero when prediction equals prior (both modes, both directions, both grids), known
values, resampling, metadata checks, errors."""

from __future__ import annotations

import math

import pytest
import torch

from monai_dianet.losses import SpatialPriorKLLoss
from monai_dianet.networks.utils import save_spatial_prior


def _softmax_prior(shape=(3, 4, 4)):
    torch.manual_seed(0)
    return torch.rand(shape).add(0.1).softmax(0)


def _sigmoid_prior(shape=(3, 4, 4, 4)):
    torch.manual_seed(1)
    return torch.rand(shape).clamp(0.05, 0.95)


@pytest.mark.parametrize("direction", ["prior_to_prediction", "prediction_to_prior"])
@pytest.mark.parametrize("resample", ["prior", "prediction"])
def test_zero_when_prediction_equals_prior(direction, resample):
    q = _softmax_prior()
    loss = SpatialPriorKLLoss(q, mode="softmax", direction=direction, resample=resample)
    assert loss(q.log()[None].repeat(2, 1, 1, 1)).item() == pytest.approx(0.0, abs=1e-6)
    b = _sigmoid_prior()
    loss = SpatialPriorKLLoss(b, mode="sigmoid", direction=direction, resample=resample)
    assert loss(torch.logit(b)[None]).item() == pytest.approx(0.0, abs=1e-6)


def test_positive_otherwise_and_known_values():
    q = torch.tensor([0.25, 0.75]).view(2, 1, 1)
    logits = torch.log(torch.tensor([0.5, 0.5])).view(1, 2, 1, 1)
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert SpatialPriorKLLoss(q, mode="softmax")(logits).item() == pytest.approx(expected, rel=1e-5)
    reverse = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    value = SpatialPriorKLLoss(q, mode="softmax", direction="prediction_to_prior")(logits)
    assert value.item() == pytest.approx(reverse, rel=1e-5)
    # sigmoid: one Bernoulli per channel, q = 0.2, p = 0.5
    bern = SpatialPriorKLLoss(torch.full((1, 1, 1), 0.2), mode="sigmoid")(torch.zeros(1, 1, 1, 1))
    assert bern.item() == pytest.approx(0.2 * math.log(0.4) + 0.8 * math.log(1.6), rel=1e-5)


def test_reductions_and_grids():
    q = _softmax_prior((3, 4, 4))
    logits = torch.randn(2, 3, 8, 8)
    none_hi = SpatialPriorKLLoss(q, mode="softmax", reduction="none")(logits)
    assert none_hi.shape == (2, 1, 8, 8) and (none_hi >= -1e-6).all()
    none_lo = SpatialPriorKLLoss(q, mode="softmax", resample="prediction", reduction="none")(logits)
    assert none_lo.shape == (2, 1, 4, 4)
    b = _sigmoid_prior((2, 4, 4))
    none_sig = SpatialPriorKLLoss(b, mode="sigmoid", reduction="none")(torch.randn(2, 2, 8, 8))
    assert none_sig.shape == (2, 2, 8, 8)
    s = SpatialPriorKLLoss(q, mode="softmax", reduction="sum")(logits)
    assert torch.allclose(s, none_hi.sum())


def test_prediction_resampled_to_coarse_prior_exact():
    q = _softmax_prior((3, 2, 2))
    # a prediction that is piecewise constant on 4x4 blocks equal to the prior averages back to the prior
    logits = q.log().repeat_interleave(4, dim=1).repeat_interleave(4, dim=2)[None]
    loss = SpatialPriorKLLoss(q, mode="softmax", resample="prediction")
    assert loss(logits).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_is_p_minus_q_for_softmax():
    q = _softmax_prior((3, 1, 1))
    logits = torch.randn(1, 3, 1, 1, requires_grad=True)
    SpatialPriorKLLoss(q, mode="softmax", reduction="sum")(logits).backward()
    assert torch.allclose(logits.grad, logits.detach().softmax(1) - q[None], atol=1e-6)


def test_prior_from_file_carries_mode(tmp_path):
    q = _sigmoid_prior((2, 4, 4))
    path = save_spatial_prior(q, tmp_path / "prior.pt", mode="sigmoid")
    loss = SpatialPriorKLLoss(path)
    assert loss.mode == "sigmoid"
    with pytest.raises(ValueError, match="contradicts"):
        SpatialPriorKLLoss(path, mode="softmax")


def test_per_call_prior_and_errors():
    q = _softmax_prior((3, 4, 4))
    assert SpatialPriorKLLoss(mode="softmax")(q.log()[None], prior=q).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="no prior map"):
        SpatialPriorKLLoss()(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="does not match"):
        SpatialPriorKLLoss(q)(torch.randn(1, 2, 4, 4))
    with pytest.raises(ValueError, match="does not match"):
        SpatialPriorKLLoss(q)(torch.randn(1, 3, 4, 4, 4))
    with pytest.raises(ValueError, match="mode"):
        SpatialPriorKLLoss(q, mode="tanh")
    with pytest.raises(ValueError, match="direction"):
        SpatialPriorKLLoss(q, direction="both")
    with pytest.raises(ValueError):
        SpatialPriorKLLoss(q, reduction="batchmean")


def test_metatensor_prior_gives_plain_tensor():
    from monai.data import MetaTensor

    q = _softmax_prior((3, 4, 4))
    value = SpatialPriorKLLoss(mode="softmax")(torch.randn(2, 3, 8, 8), prior=MetaTensor(q[None].repeat(2, 1, 1, 1)))
    assert type(value) is torch.Tensor and value.item() > 0
