# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.image import imread

from monai_dianet.metrics import reliability_diagram_data
from monai_dianet.visualize import (
    infer_spatial_dims,
    save_fig5_panels,
    save_learning_curves,
    save_reliability_diagram,
    save_risk_coverage_curve,
    save_uncertainty_overlay,
    select_slice,
    to_display_2d,
)


def _check_png(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert float(img[..., :3].std()) > 0  # something was drawn


@pytest.mark.parametrize("spatial", [(32, 32), (24, 24, 16)])
def test_fig5_and_uncertainty_overlay(spatial, tmp_path):
    backend = matplotlib.get_backend()
    image = torch.rand(4, *spatial)
    label = torch.zeros(*spatial, dtype=torch.long)
    sl = (slice(8, 16),) * len(spatial)
    label[sl] = 1
    pred = torch.zeros(3, *spatial)
    pred[0] = 1.0
    pred[0][sl] = 0.0
    pred[2][sl] = 1.0
    sal = torch.rand(1, *spatial)
    p = save_fig5_panels(tmp_path / "sub" / "fig5.png", image, saliency=sal * image, cam=sal, uncertainty=sal,
                         prediction=pred, label=label)
    _check_png(p)
    p2 = save_uncertainty_overlay(tmp_path / "unc.png", image[None], torch.rand(1, 1, *spatial))
    _check_png(p2)
    assert matplotlib.get_backend() == backend  # the global backend is untouched


def test_slice_selection_and_display():
    vol = np.zeros((8, 8, 10))
    mask = np.zeros_like(vol)
    mask[2:5, 2:5, 7] = 1
    mask[3, 3, 2] = 1
    assert select_slice(vol, mask) == 7
    assert select_slice(vol) == 5
    assert select_slice(vol, mask, axis=0) in (2, 3, 4)
    assert to_display_2d(torch.rand(1, 2, 8, 8, 10), 3, mask=mask).shape == (8, 8)
    assert to_display_2d(torch.rand(3, 8, 8, 10), 3, labels=True, slice_index=0).shape == (8, 8)
    assert infer_spatial_dims(np.zeros((4, 16, 16))) == 2 and infer_spatial_dims(np.zeros((16, 16, 16))) == 3
    with pytest.raises(ValueError):
        to_display_2d(np.zeros((2, 3, 8, 8, 8)), 2)


def test_reliability_risk_coverage_learning_curves(tmp_path):
    probs = torch.softmax(torch.randn(200, 3) * 3, 1)
    labels = torch.randint(0, 3, (200,))
    data = reliability_diagram_data(probs, labels, num_bins=10)
    _check_png(save_reliability_diagram(tmp_path / "rel.png", data))
    cov = np.linspace(0.01, 1, 50)
    _check_png(save_risk_coverage_curve(tmp_path / "rc.png", {"fast": (cov, cov * 0.2)}, aurc={"fast": 0.1},
                                        operating_points={"accept": (0.5, 0.1)}, target_risk=0.1))
    _check_png(save_learning_curves(tmp_path / "lc.png", {"loss": [1.0, 0.5, 0.3], "val_dice": [0.2, 0.5, 0.7]}))
    with pytest.raises(ValueError):
        save_learning_curves(tmp_path / "x.png", {})
    with pytest.raises(KeyError):
        save_reliability_diagram(tmp_path / "x.png", {"accuracy": []})
