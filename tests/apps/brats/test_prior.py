# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the cached BraTS spatial prior (monai_dianet.apps.brats.prior)."""

from __future__ import annotations

import pytest
import torch
from monai.transforms import Compose, LoadImaged

from monai_dianet.apps.brats import BraTSLabelsToRegionsd, brats_spatial_prior
from tests.utils import write_brats_case


def test_spatial_prior_cached(tmp_path):
    entries = [write_brats_case(tmp_path / "data", f"BraTS2021_0000{i}", "2021") for i in range(2)]
    load = Compose([LoadImaged(keys=["image", "label"], ensure_channel_first=True), BraTSLabelsToRegionsd("label")])
    prior = brats_spatial_prior(entries, load, tmp_path / "ckpt", spatial_size=(4, 4, 3), smoothing_sigma=0.0)
    assert prior.shape == (3, 4, 4, 3) and prior.meta["mode"] == "sigmoid"
    assert float(prior.min()) > 0 and float(prior.max()) < 1
    files = list((tmp_path / "ckpt").glob("spatial_prior_*.pt"))
    assert len(files) == 1

    def fail(_):
        raise AssertionError("a cached prior must not reload the cases")

    again = brats_spatial_prior(entries, fail, tmp_path / "ckpt", spatial_size=(4, 4, 3), smoothing_sigma=0.0)
    assert torch.allclose(torch.as_tensor(again), torch.as_tensor(prior))
    with pytest.raises(ValueError, match="empty"):
        brats_spatial_prior([], load)
