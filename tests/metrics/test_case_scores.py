# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Case-level segmentation scores: regions against scipy morphology and hand counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from monai_dianet.metrics import (
    CASE_SCORES,
    SegmentationCaseScore,
    boundary_band,
    predicted_foreground,
    segmentation_case_scores,
)


@pytest.mark.parametrize("dims,width", [(2, 1), (2, 2), (3, 1)])
def test_boundary_band_equals_scipy_dilation_minus_erosion(dims, width):
    rng = np.random.default_rng(0)
    fg = ndimage.binary_opening(rng.random((1, 1) + (14,) * dims) > 0.4, np.ones((1, 1) + (2,) * dims))
    fg[(0, 0) + (slice(0, 3),) * dims] = True  # touches the image border, which is no boundary
    cube = np.ones((1, 1) + (2 * width + 1,) * dims, bool)
    ref = ndimage.binary_dilation(fg, cube) & ~ndimage.binary_erosion(fg, cube, border_value=1)
    got = boundary_band(torch.as_tensor(fg), width)
    assert got.dtype == torch.bool and np.array_equal(got.numpy(), ref)


def test_scores_by_hand_softmax():
    mean = torch.zeros(2, 3, 12, 12)
    mean[:, 0] = 1.0
    mean[0, :, 4:8, 4:8] = torch.tensor([0.1, 0.2, 0.7])[:, None, None]  # case 0: a 4x4 object (class 2)
    fg = predicted_foreground(mean, "softmax")
    assert int(fg[0].sum()) == 16 and int(fg[1].sum()) == 0
    u = torch.zeros(2, 1, 12, 12)
    u[0, 0, 3:9, 3:9] = 1.0  # uncertain ring around and over the object: 36 voxels
    u[0, 0, 5:7, 5:7] = 0.0  # certain core: 4 voxels
    u[1, 0, 0, 0] = 1.0  # one uncertain voxel, no object
    s = segmentation_case_scores({"mean": mean, "entropy": u}, "entropy", "softmax", band=1)
    assert set(s) == set(CASE_SCORES)
    assert torch.allclose(s["volume_mean"], torch.tensor([32 / 144, 1 / 144]))
    assert math.isclose(float(s["foreground_mean"][0]), 12 / 16, rel_tol=1e-6) and float(s["foreground_mean"][1]) == 0.0
    band = boundary_band(fg, 1)
    assert int(band[0].sum()) == 36 - 4  # the 6x6 square minus the 2x2 core
    assert math.isclose(float(s["boundary_mean"][0]), 1.0) and float(s["boundary_mean"][1]) == 0.0
    # threshold log(3) / 2: U = 32 voxels; F u U = 32 + the 4 certain core voxels
    assert math.isclose(float(s["uncertain_fraction"][0]), 32 / 36, rel_tol=1e-6)
    assert math.isclose(float(s["uncertain_fraction"][1]), 1.0)  # U alone: no object to weigh it against


def test_sigmoid_foreground_threshold_and_callable():
    mean = torch.zeros(1, 3, 8, 8, 8)
    mean[0, 1, 2:5, 2:5, 2:5] = 0.9
    assert int(predicted_foreground(mean, "sigmoid").sum()) == 27
    u = torch.full((1, 3, 8, 8, 8), 0.05)  # a per-channel map (variance): summed over channels for U
    u[0, :, 2:5, 2:5, 2:5] = 0.2
    s = segmentation_case_scores({"mean": mean, "variance": u}, "variance", "sigmoid", threshold=0.5)
    assert math.isclose(float(s["uncertain_fraction"][0]), 27 / 27)
    default = segmentation_case_scores({"mean": mean, "variance": u}, "variance", "sigmoid")  # 3 / 8 = 0.375
    assert math.isclose(float(default["uncertain_fraction"][0]), 27 / 27)
    score = SegmentationCaseScore("foreground_mean", "variance", "sigmoid")
    assert score.__name__ == "variance_foreground_mean"
    assert torch.allclose(score({"mean": mean, "variance": u}), torch.tensor([0.2]))
    with pytest.raises(ValueError, match="case score"):
        SegmentationCaseScore("median")
    with pytest.raises(KeyError, match="entropy"):
        score_e = SegmentationCaseScore("volume_mean")
        score_e({"mean": mean})
    with pytest.raises(ValueError, match="maps"):
        segmentation_case_scores({"mean": torch.rand(2, 3), "entropy": torch.rand(2, 1)})
