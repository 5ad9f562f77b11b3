# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the prepare_batch callables (monai_dianet.engines.prepare_batch)."""

from __future__ import annotations

import torch

from monai_dianet.engines import PrepareBatchWithPrior


def test_prepare_batch_with_prior():
    batch = {"image": torch.rand(2, 4, 8, 8, 8), "label": torch.rand(2, 3, 8, 8, 8)}
    image, label = PrepareBatchWithPrior()(batch)
    assert torch.equal(label, batch["label"])
    batch["image_prior"] = torch.rand(2, 3, 8, 8, 8)
    image, target = PrepareBatchWithPrior()(batch, torch.device("cpu"))
    assert torch.equal(target["prior"], batch["image_prior"]) and torch.equal(target["segmentation"], batch["label"])
