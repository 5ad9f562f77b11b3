# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_dianet.transforms import CheckedLoadImage, CheckedLoadImaged
from monai_dianet.utils import InputError, MissingInputError


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good.nii.gz"
    nib.save(nib.Nifti1Image(np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4), np.eye(4)), str(good))
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(good.read_bytes()[:-40])
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_text("not a NIfTI file")
    return {"good": str(good), "truncated": str(truncated), "garbage": str(garbage), "missing": str(tmp_path / "m.nii")}


def test_good_files_load_as_with_monai(files):
    image = CheckedLoadImage(image_only=True, ensure_channel_first=True)([files["good"], files["good"]])
    assert image.shape == (2, 6, 5, 4) and float(image[1, 1, 0, 0]) == 20.0
    out = CheckedLoadImaged(keys="image", image_only=True)({"image": files["good"]})
    assert isinstance(out["image"], torch.Tensor) and out["image"].shape == (6, 5, 4)


@pytest.mark.parametrize("bad", ["truncated", "garbage"])
def test_unreadable_file_is_named(files, bad):
    with pytest.raises(InputError, match=f"image file {files[bad]} cannot be read"):
        CheckedLoadImage(image_only=True)(files[bad])
    # among the four sequences of a case, the unreadable one is named
    with pytest.raises(InputError, match=f"image file {files[bad]} cannot be read"):
        CheckedLoadImaged(keys="image", image_only=True)({"image": [files["good"], files[bad], files["good"]]})


def test_missing_file(files):
    with pytest.raises(MissingInputError, match=f"image file {files['missing']} does not exist"):
        CheckedLoadImaged(keys="image")({"image": [files["good"], files["missing"]]})
