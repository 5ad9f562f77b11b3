# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNet / OncoStrat losses: known values, masking, reductions, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from monai_dianet.losses import (
    AttentionCalibrationLoss,
    ConsistencyLoss,
    CrossModalContrastiveLoss,
    DomainAdversarialLoss,
    FusionRegularizationLoss,
    OncoNetLoss,
)
from monai_dianet.networks.nets import OncoNet


def _two_patients() -> torch.Tensor:
    # patient 0: modalities at e1, e1; patient 1: modalities at e2, e2 (perfectly aligned and separated)
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    return torch.stack([torch.stack([e1, e1]), torch.stack([e2, e2])])


def test_contrastive_known_values():
    z = _two_patients()
    # cosine: pos distance 0, neg distance 1 -> relu(margin - 1)
    assert float(CrossModalContrastiveLoss(margin=0.5)(z)) == 0.0
    assert float(CrossModalContrastiveLoss(margin=1.5)(z)) == pytest.approx(0.5)
    # swap patient 1's second modality onto patient 0's: positives far, negatives near
    bad = z.clone()
    bad[1, 1] = torch.tensor([1.0, 0.0])
    bad[0, 1] = torch.tensor([0.0, 1.0])
    # every triplet: relu(0.5 + 1 - 0) = 1.5
    assert float(CrossModalContrastiveLoss(margin=0.5)(bad)) == pytest.approx(1.5)
    # squared euclidean: pos 0, neg 2 -> relu(3 - 2) = 1
    assert float(CrossModalContrastiveLoss(margin=3.0, distance="euclidean")(z)) == pytest.approx(1.0)


def test_contrastive_mask_reduction_and_grad():
    torch.manual_seed(0)
    z = torch.randn(4, 3, 8, requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=torch.bool)
    loss = CrossModalContrastiveLoss(margin=1.0)
    per = CrossModalContrastiveLoss(margin=1.0, reduction="none")(z, mask).detach()
    assert per.shape == (4,) and float(per[2]) == 0.0  # a single modality forms no pair
    # masked-out embeddings do not matter
    z2 = z.detach().clone()
    z2[1, 1] = 1000.0
    z2[2, 0] = -5.0
    assert float(loss(z, mask)) == pytest.approx(float(loss(z2, mask)), rel=1e-5)
    loss(z, mask).backward()
    assert float(z.grad[2, 0].abs().sum()) == 0.0 and float(z.grad[0].abs().sum()) > 0
    total = CrossModalContrastiveLoss(margin=1.0, reduction="sum")(z, mask)
    assert float(total) >= float(loss(z, mask))
    hard = CrossModalContrastiveLoss(margin=1.0, hardest=True)(z, mask)
    assert float(hard) >= 0
    with pytest.raises(ValueError):
        CrossModalContrastiveLoss(distance="manhattan")


def test_consistency_known_values():
    a = torch.tensor([[0.0, 0.0], [10.0, -10.0]])
    b = torch.tensor([[0.0, 0.0], [-10.0, 10.0]])
    loss = ConsistencyLoss(softmax=True, reduction="none")(a, b)
    assert float(loss[0]) == 0.0 and float(loss[1]) == pytest.approx(2.0, abs=1e-6)
    assert float(ConsistencyLoss(softmax=False)(torch.ones(2, 3), torch.zeros(2, 3))) == pytest.approx(3.0)
    assert float(ConsistencyLoss(softmax=False, reduction="sum")(torch.ones(2, 3), torch.zeros(2, 3))) == pytest.approx(6.0)
    x = torch.randn(3, 4, requires_grad=True)
    y = torch.randn(3, 4, requires_grad=True)
    ConsistencyLoss(detach_target=True)(x, y).backward()
    assert x.grad is not None and y.grad is None
    with pytest.raises(ValueError, match="same shape"):
        ConsistencyLoss()(torch.zeros(2, 3), torch.zeros(3, 3))


def test_attention_calibration_known_values():
    loss = AttentionCalibrationLoss(softmax=False, reduction="none")
    uniform_pred = torch.full((1, 4), 0.25)
    onehot_pred = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    uniform_att = torch.full((1, 3), 1 / 3)
    focused_att = torch.tensor([[1.0, 0.0, 0.0]])
    assert float(loss(uniform_pred, uniform_att)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(onehot_pred, focused_att)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(uniform_pred, focused_att)) == pytest.approx(1.0, abs=1e-6)
    # |H(p)/log 2 - H(alpha)/log 3| for p = (0.5, 0.5), alpha = (0.5, 0.5, 0)
    att = torch.tensor([[0.5, 0.5, 0.0]])
    expected = abs(1.0 - math.log(2) / math.log(3))
    assert float(loss(torch.tensor([[0.5, 0.5]]), att)) == pytest.approx(expected, abs=1e-6)
    # with the third modality missing, the attention entropy is normalised by log 2
    assert float(loss(torch.tensor([[0.5, 0.5]]), att, torch.tensor([[True, True, False]]))) == pytest.approx(0.0, abs=1e-6)
    # a single present modality: left out
    mean_loss = AttentionCalibrationLoss(softmax=False)
    single = mean_loss(torch.tensor([[0.5, 0.5], [0.5, 0.5]]), torch.tensor([[1.0, 0.0], [0.5, 0.5]]),
                       torch.tensor([[True, False], [True, True]]))
    assert float(single) == pytest.approx(0.0, abs=1e-6)
    logits = torch.randn(3, 4, requires_grad=True)
    AttentionCalibrationLoss()(logits, torch.softmax(torch.randn(3, 3), 1)).backward()
    assert logits.grad is not None


def test_fusion_regularization_known_values():
    w = torch.tensor([1.0, 2.0])
    wo = torch.ones(3, 2)
    assert float(FusionRegularizationLoss(0.1, 0.01)(w, wo)) == pytest.approx(0.1 * 5 + 0.01 * 6)
    assert float(FusionRegularizationLoss(1.0, 1.0, reduction="mean")(w, wo)) == pytest.approx(2.5 + 1.0)
    parts = FusionRegularizationLoss(1.0, 2.0, reduction="none")(w, wo)
    assert parts.tolist() == pytest.approx([5.0, 12.0])
    with pytest.raises(ValueError):
        FusionRegularizationLoss(-1.0)


def test_onconet_objective_and_domain_alignment():
    torch.manual_seed(0)
    net = OncoNet(image_encoder=None, genomic_encoder="mlp", num_genes=6, num_clinical=3, num_classes=2, embed_dim=8)
    genes, clinical = torch.randn(6, 6), torch.randn(6, 3)
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    loss = OncoNetLoss(net, lambda_attention=0.1, lambda_classifier=0.1, contrastive_weight=0.5, calibration_weight=0.5)
    out = net(genes=genes, clinical=clinical, return_all=True)
    value = loss(out, labels)
    parts = loss.last_parts
    expected = parts["ce"] + parts["l2"] + 0.5 * parts["contrastive"] + 0.5 * parts["calibration"]
    assert float(value) == pytest.approx(expected, rel=1e-5)
    assert parts["l2"] == pytest.approx(float(FusionRegularizationLoss(0.1, 0.1)(net.attention_vector, net.classifier_weight)))
    value.backward()
    assert net.fusion.score.weight.grad is not None
    assert not list(loss.parameters())  # the network is not registered inside the loss
    # one-hot targets and plain logits are accepted
    assert float(loss(out.logits, torch.nn.functional.one_hot(labels, 2))) == pytest.approx(
        loss.last_parts["ce"] + loss.last_parts["l2"]
    )
    # eq 20: DomainAdversarialLoss (GRL + discriminator) on the fused shared-space features
    adv = DomainAdversarialLoss(in_channels=8, hidden_features=(8,))
    net.zero_grad()
    source = net(genes=genes[:3], clinical=clinical[:3], return_all=True).fused
    target = net(genes=genes[3:] + 2.0, clinical=clinical[3:], return_all=True).fused
    adv(source, target).backward()
    assert net.projections["genes"].weight.grad is not None
