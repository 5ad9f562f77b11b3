# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the BraTS transforms (monai_dianet.apps.brats)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, ConvertToMultiChannelBasedOnBratsClasses, LoadImaged

from monai_dianet.apps.brats import (
    BraTSLabelsToRegions,
    BraTSLabelsToRegionsd,
    BraTSRegionsToLabels,
    BraTSRegionsToLabelsd,
    ConvertToMultiChannelBasedOnBrats2023Classes,
    ConvertToMultiChannelBasedOnBrats2023Classesd,
    ValidateBraTSCased,
)
from tests.utils import BRATS_LABELS, exception_chain, random_brats_labels, write_brats_case



@pytest.mark.parametrize("as_numpy", [False, True])
def test_2023_conversion_known_values(as_numpy):
    img = torch.tensor([[[[0, 1, 2, 3]]]])
    out = ConvertToMultiChannelBasedOnBrats2023Classes()(img.numpy() if as_numpy else img)
    assert isinstance(out, np.ndarray) == as_numpy
    assert np.asarray(out).astype(int).reshape(3, 4).tolist() == [[0, 1, 0, 1], [0, 1, 1, 1], [0, 0, 0, 1]]
    d = ConvertToMultiChannelBasedOnBrats2023Classesd(keys="label")({"label": img})
    assert d["label"].shape == (3, 1, 1, 4)


def test_2023_conversion_equals_monai_on_relabelled_2021():
    """2023 labels mapped 3 -> 4 give the same regions through MONAI's 2021 converter."""
    lab23 = random_brats_labels("2023", seed=3)
    lab21 = torch.where(lab23 == 3, torch.tensor(4, dtype=lab23.dtype), lab23)
    ours = ConvertToMultiChannelBasedOnBrats2023Classes()(lab23)
    monai_regions = ConvertToMultiChannelBasedOnBratsClasses()(lab21)
    assert torch.equal(ours, monai_regions)


@pytest.mark.parametrize("layout", ["2021", "2023"])
def test_labels_regions_round_trip(layout):
    labels = random_brats_labels(layout, seed=1)
    regions = BraTSLabelsToRegions(layout)(labels)
    assert regions.shape == (3, *labels.shape[1:])
    back = BraTSRegionsToLabels(layout)(regions.float())
    assert back.dtype == torch.uint8 and torch.equal(back, labels)
    back_np = BraTSRegionsToLabels(layout)(regions.float().numpy())
    assert isinstance(back_np, np.ndarray) and set(np.unique(back_np)) <= set(BRATS_LABELS[layout])


@pytest.mark.parametrize("layout, bad", [("2021", 3), ("2023", 4), ("2021", 7)])
def test_unknown_label_values(layout, bad):
    labels = random_brats_labels(layout)
    labels[0, 0, 0, 0] = bad
    with pytest.raises(ValueError) as err:
        BraTSLabelsToRegions(layout)(labels, name="case X")
    msg = str(err.value)
    assert f"unknown label values [{bad}]" in msg and str(BRATS_LABELS[layout]) in msg and msg.startswith("case X")


def test_dict_conversion_uses_each_case_layout(tmp_path):
    e21 = write_brats_case(tmp_path, "BraTS2021_00001", "2021")
    e23 = write_brats_case(tmp_path, "BraTS-GLI-00001-000", "2023")
    load = Compose([LoadImaged(keys=["image", "label"], ensure_channel_first=True), BraTSLabelsToRegionsd("label")])
    for entry in (e21, e23):
        out = load(entry)
        raw = torch.as_tensor(np.asarray(nib.load(entry["label"]).dataobj))
        et = 4 if entry["layout"] == "2021" else 3
        assert out["image"].shape == (4, 8, 8, 6) and out["label"].shape == (3, 8, 8, 6)
        assert torch.equal(out["label"][2].bool(), raw == et)
    # a 2023 case whose label map holds 4 (2021 convention) is rejected with case, file and values
    bad = write_brats_case(tmp_path, "BraTS-GLI-00002-000", "2023", labels=np.full((8, 8, 6), 4))
    with pytest.raises(RuntimeError) as err:
        load(bad)
    msg = exception_chain(err.value)
    assert "ValueError" in msg and "BraTS-GLI-00002-000" in msg and "BraTS-GLI-00002-000-seg.nii.gz" in msg and "[0, 1, 2, 3]" in msg


def test_validate_case_shapes_and_files(tmp_path):
    entry = write_brats_case(tmp_path, "BraTS2021_00003", "2021")
    assert ValidateBraTSCased()(entry) == entry
    flair = entry["image"][3]
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 5), np.float32), np.eye(4)), flair)
    with pytest.raises(ValueError) as err:
        ValidateBraTSCased()(entry)
    assert "BraTS2021_00003" in str(err.value) and flair in str(err.value) and "(8, 8, 6)" in str(err.value)
    Path(flair).unlink()
    with pytest.raises(FileNotFoundError, match=f"BraTS2021_00003.*{Path(flair).name}"):
        ValidateBraTSCased()(entry)
    no_label = {k: v for k, v in entry.items() if k != "label"}
    no_label["image"] = entry["image"][:3]
    assert ValidateBraTSCased()(no_label) == no_label  # the label may be absent (inference)


def test_regions_to_labels_dict_and_meta():
    regions = MetaTensor(BraTSLabelsToRegions("2023")(random_brats_labels("2023")).float(), affine=torch.eye(4) * 2)
    out = BraTSRegionsToLabelsd(keys="pred")({"pred": regions, "layout": "2023"})["pred"]
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, regions.affine)
    with pytest.raises(ValueError, match=r"\(3, \.\.\.\)"):
        BraTSRegionsToLabels()(torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="unknown BraTS layout"):
        BraTSRegionsToLabels("2019")
