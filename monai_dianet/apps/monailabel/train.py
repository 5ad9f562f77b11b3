# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MONAI Label train task that runs a BraTS bundle's ``train.json`` on the datastore's labelled studies.

Reuses MONAI Label's ``BundleTrainTask`` (checkpoint loading, overrides, validation split, multi-GPU torchrun).
The datastore holds one 4D NIfTI per study; the bundle reads a case as four sequence files (its input checks and
spatial prior expect the BraTS layout), so each labelled study is written once into a cache folder in the BraTS
2021 layout and the bundle trains on that, unchanged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from monailabel.interfaces.datastore import Datastore
from monailabel.tasks.train.bundle import BundleTrainTask

__all__ = ["BraTSBundleTrainTask", "study_to_brats_case"]

logger = logging.getLogger(__name__)

_SUFFIXES = ("t1", "t1ce", "t2", "flair")


def study_to_brats_case(image: str, label: str, case_id: str, cache_dir: str | os.PathLike) -> dict[str, Any]:
    """One datastore study (4D NIfTI + label map) as a BraTS 2021 case folder; reused when newer than the inputs.

    Returns:
        the bundle datalist entry ``{"image": [t1, t1ce, t2, flair], "label", "case_id", "layout": "2021"}``.

    Raises:
        ValueError: the image does not hold four sequences.
    """
    import nibabel as nib

    folder = Path(cache_dir) / case_id
    files = [folder / f"{case_id}_{s}.nii.gz" for s in _SUFFIXES]
    seg = folder / f"{case_id}_seg.nii.gz"
    newest = max(os.path.getmtime(image), os.path.getmtime(label))
    if not all(p.is_file() and p.stat().st_mtime >= newest for p in [*files, seg]):
        folder.mkdir(parents=True, exist_ok=True)
        img = nib.load(image)
        data = np.asanyarray(img.dataobj)
        if data.ndim != 4 or data.shape[-1] != len(_SUFFIXES):
            raise ValueError(f"study {image} has shape {data.shape}, expected (X, Y, Z, 4) with T1, T1ce, T2, FLAIR.")
        for c, path in enumerate(files):
            nib.save(nib.Nifti1Image(np.ascontiguousarray(data[..., c]), img.affine), str(path))
        lab = nib.load(label)
        nib.save(nib.Nifti1Image(np.asanyarray(lab.dataobj).astype(np.uint8), lab.affine), str(seg))
    return {"image": [str(p) for p in files], "label": str(seg), "case_id": case_id, "layout": "2021"}


class BraTSBundleTrainTask(BundleTrainTask):
    """``BundleTrainTask`` for the BraTS bundle: datastore studies -> BraTS cases, then the bundle's train.json.

    Args:
        path: the bundle folder.
        conf: the app's ``--conf`` dictionary.
        cache_dir: where the BraTS-layout copies go (default ``<bundle>/data/monailabel_cases``).
        overrides: bundle config overrides applied to every run (e.g. ``{"roi_size": [64, 64, 32]}``).
    """

    def __init__(self, path: str, conf: dict[str, str], cache_dir: str | None = None,
                 overrides: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(path, conf, **kwargs)
        self.cache_dir = cache_dir or os.path.join(path, "data", "monailabel_cases")
        self.overrides = dict(overrides or {})

    def _fetch_datalist(self, request: dict[str, Any], datastore: Datastore) -> list[dict[str, Any]]:
        entries = []
        for item in datastore.datalist():
            case_id = Path(item["image"]).name.split(".")[0]
            entries.append(study_to_brats_case(item["image"], item["label"], case_id, self.cache_dir))
        if len(entries) < 2:
            raise ValueError(f"training needs at least 2 labelled studies (final labels), found {len(entries)}.")
        return entries

    def _load_checkpoint(self, model_pytorch: str, pretrained: bool, train_handlers: list) -> None:
        # MONAI Label 0.8.5 calls os.path.exists(None) when pretrained is false
        if pretrained and os.path.exists(model_pytorch):
            super()._load_checkpoint(model_pytorch, pretrained, train_handlers)

    def _update_overrides(self, overrides: dict[str, Any]) -> None:
        overrides.update(self.overrides)
        overrides["train_datalist"] = overrides["train#dataset#data"]
        overrides["val_datalist"] = overrides.get("validate#dataset#data") or []
        overrides.pop("train#dataset#data", None)
        overrides.pop("validate#dataset#data", None)
