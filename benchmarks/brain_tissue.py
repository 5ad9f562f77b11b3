# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Grey/white-matter segmentation on real brain MRI that ships inside installable packages (nothing downloaded).

Two real data sets, both T1-weighted, both in MNI space at 1 mm:

- **ICBM 2009a** (development set): the ICBM152 non-linear symmetric 2009a T1 template with its grey- and
  white-matter probability maps (Fonov et al., "Unbiased average age-appropriate atlases for pediatric
  studies", NeuroImage 54(1), 2011), shipped in the ``nilearn`` wheel (``nilearn.datasets.data``; PyPI,
  ``pip install nilearn``, the ``bench`` extra). Labels: GM and WM channels, each voxel labelled with its most
  probable class of (other, GM, WM) after resampling.
  Training, validation and test cases are independent random draws (separate RNG streams) of the task's
  augmentation (random affine, bias field, noise) of this one anatomy: validation and test measure
  robustness to pose, field and noise, not generalisation to a new brain.
- **Colin27 + AAL** (kept aside, final check only): the single-subject Colin27 T1, brain-extracted like the
  ICBM template (``ch2bet``; Holmes et al., "Enhancement of MR images using registration for signal
  averaging", JCAT 22(2), 1998) with the AAL parcellation
  drawn on its grey matter (Tzourio-Mazoyer et al., "Automated anatomical labeling of activations in SPM...",
  NeuroImage 15(1), 2002), shipped in Debian's ``mricron-data`` (``apt-get install mricron-data``,
  ``/usr/share/mricron/templates``). A different real brain; its label is grey matter only (AAL > 0), so only
  the GM channel is scored on it. AAL parcels cover the cortical mantle generously (gyral white-matter cores
  included at 4 mm), so absolute GM Dice on it is low for every network; only the comparison means something.
  Never used for any choice.

Each volume is reoriented to RAS, resampled to ``spacing`` mm and padded/cropped to ``size``^3 (issue 16's task:
1-channel T1, 64^3 at 4 mm; 32^3 at 8 mm holds the same whole brain at 1/8 of the cost); the image is z-scored
over its non-zero voxels.
"""

from __future__ import annotations

import importlib.resources
import os

import numpy as np
import torch

from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    NormalizeIntensityd,
    Orientationd,
    RandAffined,
    RandBiasFieldd,
    RandGaussianNoised,
    ResizeWithPadOrCropd,
    Spacingd,
)

__all__ = ["COLIN27_DIR", "load_icbm152", "load_colin27", "augmentation", "draw_cases"]

COLIN27_DIR = "/usr/share/mricron/templates"
ICBM_FILES = {k: f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")}


def _preprocess(keys: list[str], label_keys: list[str], spacing: float, size: int) -> Compose:
    modes = ["bilinear" if k not in label_keys else "nearest" for k in keys]
    return Compose(
        [
            LoadImaged(keys=keys, image_only=True),
            EnsureChannelFirstd(keys=keys),
            Orientationd(keys=keys, axcodes="RAS"),
            Spacingd(keys=keys, pixdim=(spacing,) * 3, mode=modes),
            ResizeWithPadOrCropd(keys=keys, spatial_size=(int(size),) * 3),
            NormalizeIntensityd(keys="image", nonzero=True),
        ]
    )


def load_icbm152(spacing: float = 4.0, size: int | float = 64) -> dict[str, torch.Tensor]:
    """ICBM152 2009a from the nilearn package: ``image`` ``(1, S, S, S)``, ``label`` ``(2, S, S, S)`` (GM, WM).

    Raises:
        ImportError: nilearn is not installed (``pip install nilearn`` or the ``bench`` extra).
    """
    try:
        folder = importlib.resources.files("nilearn.datasets.data")
    except ModuleNotFoundError as err:
        raise ImportError("the ICBM152 task needs nilearn (pip install 'monai-dianet[bench]').") from err
    files = {"image": str(folder / ICBM_FILES["t1"]), "gm": str(folder / ICBM_FILES["gm"])}
    files["wm"] = str(folder / ICBM_FILES["wm"])
    data = _preprocess(["image", "gm", "wm"], [], spacing, size)(files)
    # probability maps stored as 0..255; each voxel takes its most probable class of (other, GM, WM)
    gm, wm = (torch.as_tensor(data[k]).float().as_subclass(torch.Tensor) / 255.0 for k in ("gm", "wm"))
    label = torch.cat([(gm >= wm) & (gm > 1 - gm - wm), (wm > gm) & (wm > 1 - gm - wm)]).float()
    return {"image": torch.as_tensor(data["image"]).float().as_subclass(torch.Tensor), "label": label}


def load_colin27(spacing: float = 4.0, size: int | float = 64, folder: str = COLIN27_DIR) -> dict[str, torch.Tensor]:
    """Colin27 T1 and AAL grey matter from Debian's mricron-data: ``image`` ``(1, S^3)``, ``label`` ``(1, S^3)`` GM.

    Raises:
        FileNotFoundError: mricron-data is not installed (``apt-get install mricron-data``).
    """
    files = {"image": os.path.join(folder, "ch2bet.nii.gz"), "aal": os.path.join(folder, "aal.nii.gz")}
    missing = [f for f in files.values() if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"Colin27/AAL not found ({', '.join(missing)}): apt-get install mricron-data.")
    data = _preprocess(["image", "aal"], ["aal"], spacing, size)(files)
    label = (torch.as_tensor(data["aal"]) > 0).float().as_subclass(torch.Tensor)
    return {"image": torch.as_tensor(data["image"]).float().as_subclass(torch.Tensor), "label": label}


def augmentation() -> Compose:
    """The task's augmentation: random affine (rotation +-0.2 rad, scale +-10 %, shift +-3 voxels), bias field,
    Gaussian noise. Labels follow the affine with nearest-neighbour interpolation."""
    return Compose(
        [
            RandAffined(
                keys=["image", "label"],
                prob=1.0,
                rotate_range=(0.2, 0.2, 0.2),
                scale_range=(0.1, 0.1, 0.1),
                translate_range=(3, 3, 3),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            RandBiasFieldd(keys="image", prob=1.0, coeff_range=(0.1, 0.3)),
            RandGaussianNoised(keys="image", prob=1.0, std=0.1),
        ]
    )


def draw_cases(base: dict[str, torch.Tensor], num: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """``num`` fixed augmented copies of ``base`` from their own RNG stream (validation / test cases)."""
    aug = augmentation()
    aug.set_random_state(seed=seed)
    cases = []
    for _ in range(num):
        out = aug({k: v.clone() for k, v in base.items()})
        cases.append({k: torch.as_tensor(v).float().as_subclass(torch.Tensor) for k, v in out.items()})
    return cases


def sample_stream(base: dict[str, torch.Tensor], seed: int):
    """Endless training samples ``(image, label)`` with a leading batch dim of 1, one augmentation draw each."""
    aug = augmentation()
    aug.set_random_state(seed=seed)
    while True:
        out = aug({k: v.clone() for k, v in base.items()})
        yield tuple(torch.as_tensor(out[k]).float().as_subclass(torch.Tensor)[None] for k in ("image", "label"))


def dice_per_channel(pred: torch.Tensor, label: torch.Tensor) -> np.ndarray:
    """Hard Dice per channel of binary ``(C, *spatial)`` maps (1 when both are empty)."""
    pred, label = pred.flatten(1).float(), label.flatten(1).float()
    inter = (pred * label).sum(1)
    denom = pred.sum(1) + label.sum(1)
    return torch.where(denom > 0, 2 * inter / denom.clamp_min(1e-8), torch.ones_like(denom)).numpy()
