# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import math

import pytest
import torch

from monai_dianet.metrics import (
    RunningUncertainty,
    case_uncertainty,
    expected_aleatoric,
    expected_entropy,
    mutual_information,
    predictive_entropy,
    sample_variance,
    uncertainty_maps,
)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("spatial", [(), (4, 4), (3, 4, 5)])
def test_entropy_uniform_is_log_k_and_one_hot_is_zero(k, spatial):
    uniform = torch.full((2, k, *spatial), 1.0 / k)
    ent = predictive_entropy(uniform)
    assert ent.shape == (2, 1, *spatial)
    assert torch.allclose(ent, torch.full_like(ent, math.log(k)), atol=1e-6)
    one_hot = torch.zeros(2, k, *spatial)
    one_hot[:, 1] = 1.0
    assert torch.allclose(predictive_entropy(one_hot), torch.zeros_like(ent), atol=1e-6)
    # any other distribution lies strictly between
    p = torch.softmax(torch.randn(2, k, *spatial) * 3, 1)
    e = predictive_entropy(p)
    assert bool((e >= 0).all()) and bool((e <= math.log(k) + 1e-6).all())


def test_sigmoid_entropy_sums_binary_entropies():
    half = torch.full((1, 3, 2, 2), 0.5)
    assert torch.allclose(predictive_entropy(half, "sigmoid"), torch.full((1, 1, 2, 2), 3 * math.log(2)))
    per = predictive_entropy(half, "sigmoid", reduce_channels=False)
    assert per.shape == (1, 3, 2, 2) and torch.allclose(per, torch.full_like(per, math.log(2)))
    certain = torch.tensor([[0.0, 1.0, 1.0]])
    assert float(predictive_entropy(certain, "sigmoid")) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        predictive_entropy(half, "tanh")


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_identical_samples_zero_variance_and_mi(activation):
    p = torch.softmax(torch.randn(2, 3, 4, 4), 1)
    samples = p.unsqueeze(0).repeat(6, 1, 1, 1, 1)
    assert torch.equal(sample_variance(samples), torch.zeros_like(p))
    assert float(mutual_information(samples, activation).abs().max()) < 1e-6
    maps = uncertainty_maps(samples, activation)
    assert torch.allclose(maps["entropy"], predictive_entropy(p, activation), atol=1e-6)


def test_variance_matches_eq34_and_mi_positive_on_disagreement():
    samples = torch.rand(10, 2, 3)
    var = sample_variance(samples)
    eq34 = (samples**2).mean(0) - samples.mean(0) ** 2
    assert torch.allclose(var, eq34, atol=1e-6)
    # two confident but contradicting samples: MI = log 2 (all uncertainty is epistemic)
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[0.0, 1.0]])
    mi = mutual_information(torch.stack([a, b]))
    assert float(mi) == pytest.approx(math.log(2), abs=1e-5)
    assert float(expected_entropy(torch.stack([a, b]))) == pytest.approx(0.0, abs=1e-6)


def test_expected_aleatoric_and_case_reductions():
    lv = torch.zeros(4, 1, 2, 3, 3)
    assert torch.allclose(expected_aleatoric(lv), torch.ones(1, 2, 3, 3))
    m = torch.arange(8.0).reshape(2, 1, 2, 2)
    assert torch.allclose(case_uncertainty(m), torch.tensor([1.5, 5.5]))
    assert torch.allclose(case_uncertainty(m, "max"), torch.tensor([3.0, 7.0]))
    assert torch.allclose(case_uncertainty(m, "sum"), torch.tensor([6.0, 22.0]))
    assert torch.allclose(case_uncertainty(m, "quantile", quantile=0.0), torch.tensor([0.0, 4.0]))
    mask = torch.tensor([[[[True, False], [False, False]]], [[[False, False], [False, False]]]])
    assert torch.allclose(case_uncertainty(m, mask=mask), torch.tensor([0.0, 0.0]))
    mask[0, 0, 1, 1] = True
    assert torch.allclose(case_uncertainty(m, "mean", mask=mask), torch.tensor([1.5, 0.0]))
    with pytest.raises(ValueError):
        case_uncertainty(m, "median")


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_running_uncertainty_equals_stacked_maps(activation):
    logits = torch.randn(6, 2, 3, 4, 5) * 2
    logvar = torch.randn(6, 2, 3, 4, 5)
    acc = RunningUncertainty(activation)
    for t in range(6):
        acc.add(logits[t], logvar[t])
    act = (lambda z: torch.softmax(z, 2)) if activation == "softmax" else torch.sigmoid
    ref = uncertainty_maps(act(logits), activation, logvar_samples=logvar)
    out = acc.moments()
    assert acc.count == 6 and set(out) == set(ref)
    for key in ref:
        assert torch.allclose(out[key], ref[key], atol=1e-5), key
    assert "entropy" not in acc.moments(with_entropy=False)


def test_running_uncertainty_errors():
    acc = RunningUncertainty()
    with pytest.raises(ValueError, match="no prediction"):
        acc.moments()
    acc.add(torch.randn(1, 3, 4))
    with pytest.raises(ValueError, match="shape"):
        acc.add(torch.randn(1, 3, 5))
    with pytest.raises(ValueError, match="log-variance"):
        acc.add(torch.randn(1, 3, 4), torch.zeros(1, 3, 4))
