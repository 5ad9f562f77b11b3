# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Writing BraTS predictions: label maps in the case's own convention, uncertainty maps and a JSON record."""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform

from monai_dianet.apps.brats.data import BRATS_REGIONS, brats_layout
from monai_dianet.apps.brats.transforms import BraTSRegionsToLabels, filename_of

__all__ = ["brats_region_volumes_ml", "SaveBraTSPredictiond"]


def brats_region_volumes_ml(regions: NdarrayOrTensor, affine: NdarrayOrTensor, threshold: float = 0.5) -> dict:
    """Volume of each TC/WT/ET region in millilitres.

    Args:
        regions: ``(3, H, W, D)`` TC/WT/ET masks or probabilities (foreground where ``> threshold``).
        affine: ``(4, 4)`` voxel-to-world affine in mm; the voxel volume is ``|det(affine[:3, :3])|``.
        threshold: foreground threshold.

    Returns:
        ``{"TC": ml, "WT": ml, "ET": ml}``.
    """
    voxel_mm3 = float(abs(np.linalg.det(np.asarray(torch.as_tensor(affine).cpu(), dtype=np.float64)[:3, :3])))
    x = torch.as_tensor(regions)
    return {
        name: float((x[i] > threshold).sum().item()) * voxel_mm3 / 1000.0 for i, name in enumerate(BRATS_REGIONS)
    }


class SaveBraTSPredictiond(MapTransform):
    """Write one case's prediction: ``<case_id>_seg.nii.gz``, ``<case_id>_uncertainty.nii.gz``, ``<case_id>.json``.

    Runs after the spatial transforms have been inverted (:class:`monai.transforms.Invertd`), so that the arrays are
    on the input's grid; the NIfTI files take the affine of the loaded input (``affine`` of the MetaTensor meta).
    The label map is written in the case's own convention (0/1/2/4 or 0/1/2/3) as uint8.

    Args:
        keys: the key of the TC/WT/ET probabilities ``(3, H, W, D)`` (thresholded at ``threshold``).
        output_dir: folder for the files (created).
        uncertainty_key: key of the per-voxel uncertainty map ``(1, H, W, D)`` or ``(H, W, D)``; not written when
            absent from the data.
        record_keys: extra keys copied into the JSON record when present (e.g. ``"case_uncertainty"``,
            ``"route"``); tensors become numbers or lists.
        layout_key: key of the case's layout.
        case_key: key of the case id (file name stem).
        threshold: foreground threshold of the probabilities.
        save_png: also write ``<case_id>_overlay.png``, the FLAIR slice with the largest tumour area with the
            label map overlaid (needs ``image_key`` on the input grid).
        image_key: key of the input image (used for the PNG overlay).

    Returns (on call): the data with ``"<key>_files"`` listing the written paths.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        output_dir: str | os.PathLike = "./output",
        uncertainty_key: str = "uncertainty",
        record_keys: Sequence[str] = ("case_uncertainty", "route"),
        layout_key: str = "layout",
        case_key: str = "case_id",
        threshold: float = 0.5,
        save_png: bool = False,
        image_key: str = "image",
    ) -> None:
        super().__init__(keys, allow_missing_keys=False)
        self.output_dir = Path(output_dir)
        self.uncertainty_key = uncertainty_key
        self.record_keys = tuple(record_keys)
        self.layout_key = layout_key
        self.case_key = case_key
        self.threshold = threshold
        self.save_png = save_png
        self.image_key = image_key

    @staticmethod
    def _affine(value) -> np.ndarray:
        meta = getattr(value, "meta", None)
        if meta is None or "affine" not in meta:
            raise KeyError("SaveBraTSPredictiond needs a MetaTensor with an 'affine' in its meta data.")
        return np.asarray(torch.as_tensor(meta["affine"]).cpu(), dtype=np.float64)

    @staticmethod
    def _jsonable(value):
        if isinstance(value, (torch.Tensor, np.ndarray)):
            arr = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
            return arr.item() if arr.size == 1 else arr.tolist()
        if isinstance(value, Mapping):
            return {str(k): SaveBraTSPredictiond._jsonable(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [SaveBraTSPredictiond._jsonable(v) for v in value]
        if isinstance(value, (np.generic,)):
            return value.item()
        return value

    def _write_png(self, path: Path, image, labels: np.ndarray) -> None:
        import nibabel as nib
        from matplotlib.figure import Figure

        from monai_dianet.visualize.plots import save_figure

        img = np.asarray(torch.as_tensor(image).detach().cpu(), dtype=np.float32)
        img = img[-1] if img.ndim == 4 else img  # FLAIR is the last channel
        if img.shape != labels.shape:  # the image is still on the preprocessed grid: read the input file instead
            img = np.asarray(nib.load(filename_of(image)).dataobj, dtype=np.float32)
        z = int(np.argmax((labels > 0).sum(axis=(0, 1)))) if labels.any() else labels.shape[-1] // 2
        fig = Figure(figsize=(4, 4))
        ax = fig.add_subplot()
        ax.imshow(np.rot90(img[..., z]), cmap="gray")
        masked = np.ma.masked_equal(np.rot90(labels[..., z]), 0)
        ax.imshow(masked, cmap="autumn", alpha=0.5, vmin=0, vmax=4)
        ax.set_title(f"{path.stem} (slice {z})")
        ax.axis("off")
        save_figure(fig, path, dpi=100, bbox_inches="tight")

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        import nibabel as nib

        d = dict(data)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        case_id = str(d.get(self.case_key) or "case")
        layout = str(d.get(self.layout_key, "2021"))
        for key in self.key_iterator(d):
            pred = d[key]
            affine = self._affine(pred)
            regions = torch.as_tensor(pred).detach().cpu().float()
            labels = BraTSRegionsToLabels(layout, self.threshold)(regions)[0].numpy().astype(np.uint8)
            written = []
            seg_path = self.output_dir / f"{case_id}_seg.nii.gz"
            nib.save(nib.Nifti1Image(labels, affine), str(seg_path))
            written.append(str(seg_path))
            record = {
                "case_id": case_id,
                "layout": layout,
                "label_values": {"necrotic_core": 1, "edema": 2, "enhancing": brats_layout(layout).enhancing_label},
                "shape": list(labels.shape),
                "volumes_ml": brats_region_volumes_ml(regions, affine, self.threshold),
                "segmentation": seg_path.name,
            }
            if self.uncertainty_key in d:
                unc = np.asarray(torch.as_tensor(d[self.uncertainty_key]).detach().cpu(), dtype=np.float32)
                if unc.ndim == 4:
                    unc = unc[0] if unc.shape[0] == 1 else unc.max(axis=0)
                unc_path = self.output_dir / f"{case_id}_uncertainty.nii.gz"
                nib.save(nib.Nifti1Image(unc, affine), str(unc_path))
                written.append(str(unc_path))
                record["uncertainty"] = unc_path.name
            for rk in self.record_keys:
                if rk in d:
                    record[rk] = self._jsonable(d[rk])
            if self.save_png and self.image_key in d:
                png_path = self.output_dir / f"{case_id}_overlay.png"
                self._write_png(png_path, d[self.image_key], labels)
                written.append(str(png_path))
                record["overlay"] = png_path.name
            json_path = self.output_dir / f"{case_id}.json"
            tmp = json_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(record, indent=2))
            os.replace(tmp, json_path)
            written.append(str(json_path))
            d[f"{key}_files"] = written
        return d
