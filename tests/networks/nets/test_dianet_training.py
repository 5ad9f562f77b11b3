# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""End-to-end: DIANet learns to segment generated BraTS-format data (TC/WT/ET channels) in a short CPU run."""

from __future__ import annotations

import pytest
import torch

from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.transforms import (
    Compose,
    ConvertToMultiChannelBasedOnBratsClassesd,
    EnsureChannelFirstd,
    LoadImaged,
    NormalizeIntensityd,
)

from monai_dianet.data.synthetic.brats import generate_brats
from monai_dianet.networks.nets import DIANet


def _dice(net: DIANet, image: torch.Tensor, label: torch.Tensor) -> float:
    net.eval()
    with torch.no_grad():
        pred = (torch.sigmoid(net(image)) > 0.5).float()
    metric = DiceMetric(include_background=True, reduction="mean", ignore_empty=False)
    metric(pred, label)
    return float(metric.aggregate())


@pytest.mark.slow
def test_dianet_learns_brats_segmentation(tmp_path):
    entries = generate_brats(tmp_path / "brats", num=2, seed=0, shape=(32, 32, 32), layout="2021")
    load = Compose(
        [
            LoadImaged(keys=["image", "label"], image_only=True),
            EnsureChannelFirstd(keys=["image", "label"]),
            ConvertToMultiChannelBasedOnBratsClassesd(keys="label"),
            NormalizeIntensityd(keys="image", nonzero=True, channel_wise=True),
        ]
    )
    cases = [load(e) for e in entries]
    image = torch.stack([torch.as_tensor(c["image"]).float() for c in cases]).as_subclass(torch.Tensor)
    label = torch.stack([torch.as_tensor(c["label"]).float() for c in cases]).as_subclass(torch.Tensor)
    assert image.shape == (2, 4, 32, 32, 32) and label.shape == (2, 3, 32, 32, 32)
    assert label.sum() > 0

    torch.manual_seed(0)
    net = DIANet(
        3,
        in_channels=4,
        out_channels=3,
        backbone_width=0.25,
        fusion_channels=16,
        latent_channels=16,
        codebook_size=8,
        decoder_channels=8,
        norm=("group", {"num_groups": 4}),
    )
    loss_fn = DiceCELoss(sigmoid=True, batch=True)
    untrained = _dice(net, image, label)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-2)
    losses = []
    for _ in range(24):
        net.train()
        optimizer.zero_grad()
        loss = loss_fn(net(image), label)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    trained = _dice(net, image, label)
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3, losses
    assert trained > untrained + 0.3, (untrained, trained)
    assert trained > 0.5
