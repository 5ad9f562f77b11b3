# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""EWCLoss: 0 at the old optimum, Fisher-weighted known values, Fisher estimation, save/load, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from monai_dianet.losses import EWCLoss


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _hand_fisher(model):
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    fisher["0.weight"][0, 0] = 2.0
    fisher["2.bias"][1] = 3.0
    return fisher


def test_zero_at_optimum_and_known_value():
    model = _model()
    ewc = EWCLoss(model, _hand_fisher(model), weight=0.5)
    assert ewc().item() == 0.0
    with torch.no_grad():
        for p in model.parameters():
            p += 0.1
    # 0.5 * (2 * 0.1^2 + 3 * 0.1^2)
    assert ewc().item() == pytest.approx(0.5 * 5 * 0.01)
    with torch.no_grad():
        for p in model.parameters():
            p += 0.1
    assert ewc().item() == pytest.approx(0.5 * 5 * 0.04)  # quadratic growth with distance


def test_only_fisher_weighted_directions_count():
    model = _model()
    ewc = EWCLoss(model, _hand_fisher(model))
    with torch.no_grad():
        model[0].weight[1, 1] += 5.0  # zero Fisher: free to move
    assert ewc().item() == 0.0
    with torch.no_grad():
        model[0].weight[0, 0] += 1.0
    assert ewc().item() == pytest.approx(2.0)


def test_reductions():
    model = _model()
    with torch.no_grad():
        opt = {n: p - 1.0 for n, p in model.named_parameters()}
    fisher = {n: torch.ones_like(p) for n, p in model.named_parameters()}
    none = EWCLoss(model, fisher, optimum=opt, reduction="none")()
    assert none.shape == (4,) and torch.allclose(none, torch.tensor([12.0, 4.0, 8.0, 2.0]))
    assert EWCLoss(model, fisher, optimum=opt, reduction="mean")().item() == pytest.approx(1.0)


def test_fisher_from_dataloader_matches_manual_per_sample_estimate_and_restores_state():
    model = _model()
    x = torch.randn(6, 3)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    loader = [(x[:3], y[:3]), {"image": x[3:], "label": y[3:]}]
    model.train()
    ewc = EWCLoss.from_dataloader(model, loader, progress=False)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for i in range(6):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        for n, p in model.named_parameters():
            expected[n] += p.grad**2 / 6
    for n in expected:
        assert torch.allclose(ewc.fisher[n], expected[n], atol=1e-6)
    assert ewc().item() == 0.0
    with torch.no_grad():
        model[2].bias += 1.0
    assert ewc().item() == pytest.approx(float(expected["2.bias"].sum()), rel=1e-5)


def test_num_batches_filter_and_save_load(tmp_path):
    model = _model()
    batches = [(torch.randn(2, 3), torch.tensor([0, 1])) for _ in range(4)]
    ewc = EWCLoss.from_dataloader(model, batches, num_batches=2, param_filter="^2", per_sample=False, progress=False)
    assert sorted(ewc.fisher) == ["2.bias", "2.weight"]
    path = tmp_path / "ewc.pt"
    ewc.weight = 3.0
    ewc.save(path)
    with torch.no_grad():
        model[2].weight += 0.2
    loaded = EWCLoss.load(path, model)
    assert loaded.weight == 3.0
    assert loaded().item() == pytest.approx(ewc().item())


def test_errors(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match="empty"):
        EWCLoss(model, {})
    with pytest.raises(ValueError, match="unknown parameter"):
        EWCLoss(model, {"nope": torch.ones(1)})
    with pytest.raises(ValueError, match="shape"):
        EWCLoss(model, {"0.weight": torch.ones(2)})
    with pytest.raises(ValueError, match="negative"):
        EWCLoss(model, {"0.bias": -torch.ones(4)})
    with pytest.raises(ValueError, match="no batch"):
        EWCLoss.from_dataloader(model, [], progress=False)
    with pytest.raises(KeyError, match="'label'"):
        EWCLoss.from_dataloader(model, [{"image": torch.randn(1, 3)}], progress=False)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        EWCLoss.load(tmp_path / "missing.pt", model)
    with pytest.raises(ValueError):
        EWCLoss(model, _hand_fisher(model), reduction="avg")
