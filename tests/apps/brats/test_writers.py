# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the BraTS prediction writer (monai_dianet.apps.brats.writers)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_dianet.apps.brats import BraTSLabelsToRegions, SaveBraTSPredictiond, brats_region_volumes_ml
from tests.utils import BRATS_LABELS, global_backend_kept, random_brats_labels


def test_region_volumes_ml():
    regions = torch.zeros(3, 10, 10, 10)
    regions[1, :5] = 1.0  # WT: 500 voxels of 2 x 2 x 2 mm = 4 ml
    regions[0, :1] = 0.9  # TC: 100 voxels = 0.8 ml
    volumes = brats_region_volumes_ml(regions, np.diag([2.0, -2.0, 2.0, 1.0]))
    assert volumes == pytest.approx({"TC": 0.8, "WT": 4.0, "ET": 0.0})


@pytest.mark.parametrize("layout", ["2021", "2023"])
def test_save_prediction_files(tmp_path, layout):
    affine = np.array([[-1.0, 0, 0, 10], [0, -1.0, 0, 20], [0, 0, 1.5, -5], [0, 0, 0, 1]])
    regions = BraTSLabelsToRegions(layout)(random_brats_labels(layout, shape=(7, 6, 5))).float()
    pred = MetaTensor(regions, affine=torch.as_tensor(affine))
    data = {
        "pred": pred,
        "uncertainty": torch.rand(1, 7, 6, 5),
        "case_uncertainty": torch.tensor(0.25),
        "route": "review",
        "case_id": "case7",
        "layout": layout,
        "image": MetaTensor(torch.rand(4, 7, 6, 5), affine=torch.as_tensor(affine)),
    }
    with global_backend_kept():
        out = SaveBraTSPredictiond(keys="pred", output_dir=tmp_path, save_png=True)(data)
    seg = nib.load(tmp_path / "case7_seg.nii.gz")
    assert seg.shape == (7, 6, 5) and np.allclose(seg.affine, affine)
    assert set(np.unique(np.asarray(seg.dataobj))) <= set(BRATS_LABELS[layout])
    assert np.asarray(seg.dataobj).dtype == np.uint8
    unc = nib.load(tmp_path / "case7_uncertainty.nii.gz")
    assert unc.shape == (7, 6, 5) and np.allclose(unc.affine, affine)
    record = json.loads((tmp_path / "case7.json").read_text())
    assert record["case_uncertainty"] == pytest.approx(0.25) and record["route"] == "review"
    assert record["layout"] == layout and set(record["volumes_ml"]) == {"TC", "WT", "ET"}
    assert record["volumes_ml"]["WT"] == pytest.approx(float((regions[1] > 0.5).sum()) * 1.5 / 1000)
    assert (tmp_path / "case7_overlay.png").stat().st_size > 0
    assert len(out["pred_files"]) == 4
