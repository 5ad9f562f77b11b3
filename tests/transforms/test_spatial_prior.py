# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Spatial prior map: building from datalists (arrays, NIfTI, BraTS), smoothing/floor, save/load, transforms."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses

from monai_dianet.data.synthetic.brats import generate_brats
from monai_dianet.networks.utils import load_spatial_prior, save_spatial_prior
from monai_dianet.transforms import ResampleSpatialPrior, ResampleSpatialPriord, build_spatial_prior


def _label_maps():
    a = torch.zeros(1, 4, 4)
    a[0, :2] = 1  # top half class 1
    b = torch.zeros(1, 4, 4)
    b[0, :, :2] = 2  # left half class 2
    return [{"label": a}, {"label": b}]


def test_softmax_prior_is_mean_of_one_hot_masks():
    prior = build_spatial_prior(_label_maps(), spatial_size=(4, 4), mode="softmax", num_classes=3, eps=1e-4,
                                progress=False)
    assert isinstance(prior, MetaTensor) and prior.shape == (3, 4, 4)
    assert prior.meta["mode"] == "softmax" and prior.meta["num_samples"] == 2
    assert torch.allclose(prior.sum(0), torch.ones(4, 4), atol=1e-6)
    # top-left quadrant: class 1 in case a, class 2 in case b -> (0, 0.5, 0.5) up to the floor
    assert torch.allclose(prior[:, 0, 0], torch.tensor([0.0, 0.5, 0.5]), atol=1e-3)
    # bottom-right: background in both cases
    assert prior[0, 3, 3] > 0.999 and prior[1, 3, 3] >= 1e-4 * 0.99


def test_resampled_to_grid_and_smoothing():
    coarse = build_spatial_prior(_label_maps(), spatial_size=(2, 2), mode="softmax", num_classes=3, progress=False)
    assert torch.allclose(coarse[:, 0, 1], torch.tensor([0.5, 0.5, 0.0]), atol=1e-3)
    smooth = build_spatial_prior(_label_maps(), spatial_size=(4, 4), mode="softmax", num_classes=3,
                                 smoothing_sigma=1.0, progress=False)
    sharp = build_spatial_prior(_label_maps(), spatial_size=(4, 4), mode="softmax", num_classes=3, progress=False)
    assert torch.allclose(smooth.sum(0), torch.ones(4, 4), atol=1e-5)
    assert smooth[0].max() < sharp[0].max()


def test_sigmoid_prior_from_nifti_datalist_json(tmp_path):
    items = []
    for i in range(3):
        mask = np.zeros((8, 8, 6), dtype=np.uint8)
        mask[: 2 + 2 * i] = 1
        path = tmp_path / f"case{i}_seg.nii.gz"
        nib.save(nib.Nifti1Image(mask, np.eye(4)), str(path))
        items.append({"image": str(path), "label": path.name})
    (tmp_path / "dataset.json").write_text(json.dumps({"training": items}))
    prior = build_spatial_prior(tmp_path / "dataset.json", spatial_size=(8, 8, 6), mode="sigmoid", eps=0.01,
                                progress=False)
    assert prior.shape == (1, 8, 8, 6)
    expected_rows = torch.tensor([3, 3, 2, 2, 1, 1, 0, 0]) / 3
    assert torch.allclose(prior[0, :, 0, 0], expected_rows.clamp(0.01, 0.99), atol=1e-5)


def test_brats_prior_with_label_transform(tmp_path):
    entries = generate_brats(tmp_path / "brats", num=2, seed=0, shape=(32, 32, 32))
    prior = build_spatial_prior(entries, spatial_size=(8, 8, 8), transform=ConvertToMultiChannelBasedOnBratsClasses(),
                                mode="sigmoid", smoothing_sigma=0.5, progress=False)
    assert prior.shape == (3, 8, 8, 8)
    assert float(prior.min()) >= 1e-4 - 1e-9 and float(prior.max()) <= 1 - 1e-4 + 1e-9
    tc, wt, et = prior
    assert (wt >= tc - 1e-5).all() and (tc >= et - 1e-5).all()  # ET in TC in WT
    assert wt.max() > 0.1


@pytest.mark.parametrize("suffix", [".pt", ".npy", ".nii.gz"])
@pytest.mark.parametrize("shape", [(2, 4, 5), (3, 4, 5, 6)])
def test_save_load_roundtrip(tmp_path, suffix, shape):
    prior = MetaTensor(torch.rand(shape), meta={"mode": "sigmoid", "num_samples": 7})
    path = save_spatial_prior(prior, tmp_path / f"prior{suffix}")
    loaded = load_spatial_prior(path)
    assert loaded.shape == shape and torch.allclose(loaded.as_tensor(), prior.as_tensor())
    assert loaded.meta["mode"] == "sigmoid" and loaded.meta["spatial_size"] == list(shape[1:])
    assert loaded.meta["num_samples"] == 7


def test_resample_transforms():
    prior = torch.rand(2, 4, 4, 4)
    image = MetaTensor(torch.rand(4, 8, 8, 8), affine=torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0])))
    out = ResampleSpatialPrior(prior)(image)
    assert out.shape == (2, 8, 8, 8) and torch.equal(out.affine, image.affine)
    d = ResampleSpatialPriord(keys="image", prior=prior)({"image": torch.rand(1, 2, 2, 2)})
    assert d["image_prior"].shape == (2, 2, 2, 2)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_seg.nii.gz"):
        build_spatial_prior([{"label": str(tmp_path / "missing_seg.nii.gz")}], progress=False)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        build_spatial_prior(tmp_path / "nope.json", progress=False)
    with pytest.raises(KeyError, match="'label'"):
        build_spatial_prior([{"seg": torch.zeros(1, 4, 4)}], spatial_size=(4, 4), progress=False)
    with pytest.raises(ValueError, match="empty"):
        build_spatial_prior([], progress=False)
    with pytest.raises(ValueError, match="num_classes"):
        build_spatial_prior(_label_maps(), spatial_size=(4, 4), mode="softmax", progress=False)
    with pytest.raises(ValueError, match="outside"):
        build_spatial_prior(_label_maps(), spatial_size=(4, 4), mode="softmax", num_classes=2, progress=False)
    with pytest.raises(ValueError, match="binary channels"):
        build_spatial_prior(_label_maps(), spatial_size=(4, 4), mode="sigmoid", progress=False)
    with pytest.raises(ValueError, match="spatial dims"):
        build_spatial_prior(_label_maps(), spatial_size=(4, 4, 4), mode="softmax", num_classes=3, progress=False)
    with pytest.raises(ValueError, match="channels"):
        build_spatial_prior([{"label": torch.zeros(2, 4, 4)}, {"label": torch.zeros(3, 4, 4)}], spatial_size=(4, 4),
                            progress=False)
    with pytest.raises(ValueError, match="mode"):
        build_spatial_prior(_label_maps(), mode="tanh")
    with pytest.raises(ValueError, match="unsupported"):
        save_spatial_prior(torch.rand(2, 4, 4), tmp_path / "prior.txt")
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_spatial_prior(tmp_path / "absent.pt")
    with pytest.raises(ValueError, match="spatial dims"):
        ResampleSpatialPrior(torch.rand(2, 4, 4))(torch.rand(1, 4, 4, 4))
