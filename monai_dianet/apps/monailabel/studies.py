# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MONAI Label local datastore files for multi-sequence cases (no ``monailabel`` import needed).

MONAI Label's local datastore holds one image file per study and its labels under ``labels/<tag>/`` with the same
name. A BraTS case (four sequence files) becomes one 4D NIfTI with the sequences on the last axis, the layout of the
Medical Segmentation Decathlon brain-tumour task, which MONAI's ``LoadImage(ensure_channel_first=True)`` reads
channel first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["save_case_nifti", "write_study_files", "labels_to_regions"]


def labels_to_regions(labels: np.ndarray, enhancing: int = 4) -> np.ndarray:
    """BraTS label map (1 necrotic core, 2 oedema, ``enhancing``) -> TC/WT/ET masks ``(3, ...)``."""
    labels = np.asarray(labels)
    return np.stack([np.isin(labels, (1, enhancing)), labels > 0, labels == enhancing])


def save_case_nifti(image: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> str:
    """Write a channel-first case ``(C, X, Y, Z)`` as a 4D NIfTI with channels last (atomic); returns the path."""
    import nibabel as nib

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    data = np.moveaxis(np.asarray(image), 0, -1)
    img = nib.Nifti1Image(data, np.asarray(affine, dtype=float))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    tmp = Path(f"{path}.part.nii.gz")
    nib.save(img, str(tmp))
    os.replace(tmp, path)
    return str(path)


def write_study_files(case: Mapping, out_dir: str | os.PathLike, labelled: bool = False) -> str:
    """Write one BraTS case into a MONAI Label local datastore folder.

    Args:
        case: ``{"image": [4 sequence files], "case_id": id[, "label": label file]}`` (a BraTS datalist entry).
        out_dir: the datastore folder (``--studies``).
        labelled: also copy the label map to ``labels/final/<id>.nii.gz`` (BraTS 2021 values; a 2023 case's
            enhancing label 3 is written as 4).

    Returns:
        the image path.

    Raises:
        ValueError: sequences that do not share one grid, or ``labelled`` without a label file.
    """
    import nibabel as nib

    images = [nib.load(str(p)) for p in case["image"]]
    for p, img in zip(case["image"][1:], images[1:]):
        if img.shape != images[0].shape or not np.allclose(img.affine, images[0].affine, atol=1e-4):
            raise ValueError(f"case {case['case_id']}: {p} does not share the grid of {case['image'][0]}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = np.stack([np.asanyarray(img.dataobj) for img in images])
    path = save_case_nifti(data, images[0].affine, out / f"{case['case_id']}.nii.gz")
    if labelled:
        if not case.get("label"):
            raise ValueError(f"case {case['case_id']} has no label file to copy.")
        label_dir = out / "labels" / "final"
        label_dir.mkdir(parents=True, exist_ok=True)
        label = nib.load(str(case["label"]))
        values = np.asanyarray(label.dataobj).astype(np.uint8)
        if case.get("layout") == "2023":
            values[values == 3] = 4
        nib.save(nib.Nifti1Image(values, label.affine), str(label_dir / f"{case['case_id']}.nii.gz"))
    return path

