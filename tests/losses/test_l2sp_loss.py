# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""L2SPLoss: 0 at the source weights, known value after a change, filters, reductions, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from monai_dianet.losses import L2SPLoss


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_zero_at_source_then_known_value():
    model = _model()
    loss = L2SPLoss(model)
    assert loss().item() == 0.0
    with torch.no_grad():
        model[0].weight += 0.5  # 12 entries
        model[2].bias -= 2.0  # 2 entries
    assert loss().item() == pytest.approx(12 * 0.25 + 2 * 4.0)
    assert L2SPLoss(model, source_state=loss.source_state, weight=0.1)().item() == pytest.approx(1.1)


def test_gradient_is_twice_the_displacement():
    model = _model()
    loss = L2SPLoss(model)
    with torch.no_grad():
        model[2].weight += 0.3
    loss().backward()
    assert torch.allclose(model[2].weight.grad, torch.full_like(model[2].weight, 0.6))
    assert torch.all(model[0].weight.grad == 0)


def test_filter_reductions_and_frozen_params():
    model = _model()
    model[0].bias.requires_grad_(False)
    loss = L2SPLoss(model, param_filter=r"^0\.", reduction="none")
    assert loss.parameter_names == ["0.weight"]
    with torch.no_grad():
        for p in model.parameters():
            p += 1.0
    assert loss().shape == (1,) and loss().item() == pytest.approx(12.0)
    mean = L2SPLoss(model, source_state={k: v - 1.0 for k, v in model.state_dict().items()}, reduction="mean")
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert mean().item() == pytest.approx(1.0) and len(mean.parameter_names) == 3 and n == 22


def test_new_head_not_penalised():
    model = _model()
    source = {k: v for k, v in model.state_dict().items() if k.startswith("0.")}
    loss = L2SPLoss(model, source_state=source)
    assert loss.parameter_names == ["0.weight", "0.bias"]


def test_errors():
    model = _model()
    with pytest.raises(ValueError, match="shape"):
        L2SPLoss(model, source_state={"0.weight": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="no parameter"):
        L2SPLoss(model, param_filter="nothing-matches")
    with pytest.raises(ValueError):
        L2SPLoss(model, reduction="avg")
    with pytest.raises(KeyError, match="no parameter"):
        L2SPLoss(model)(nn.Linear(3, 4))
