# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tissue detection on a low-resolution pyramid level: Otsu's threshold on HSV saturation.

Stained tissue is saturated, glass and most scanner background is not: the challenge pipelines (e.g. the
CAMELYON16 winners, Wang et al., "Deep Learning for Identifying Metastatic Breast Cancer", arXiv:1606.05718)
threshold the saturation channel of a thumbnail with Otsu's method. This uses MONAI's ``ForegroundMask``
with the saturation threshold only (its RGB thresholds off).
"""

from __future__ import annotations

import numpy as np
from monai.transforms import ForegroundMask

from monai_dianet.apps.pathology.wsi import SlideInfo, read_level

__all__ = ["tissue_level", "tissue_mask", "TISSUE_MPP"]

TISSUE_MPP = 16.0
"""Default resolution (microns per pixel) for tissue detection: CAMELYON's level 6 at 0.243 um/px is 15.6."""


def tissue_level(info: SlideInfo, tissue_mpp: float = TISSUE_MPP) -> int:
    """The coarsest pyramid level at least as fine as ``tissue_mpp``."""
    return info.level_for_mpp(tissue_mpp)


def tissue_mask(info: SlideInfo, level: int | None = None, tissue_mpp: float = TISSUE_MPP) -> tuple[np.ndarray, int]:
    """Tissue mask of a slide at a low-resolution level (Otsu on saturation).

    Args:
        info: the slide.
        level: pyramid level to threshold; default :func:`tissue_level` of ``tissue_mpp``.
        tissue_mpp: resolution used to choose the level when ``level`` is None.

    Returns:
        ``(mask, level)``: a boolean ``(H, W)`` mask of that level (True = tissue) and the level.

    Example::

        >>> mask, level = tissue_mask(read_slide_info("normal_001.tif"))
        >>> mask.mean()  # tissue fraction
    """
    level = tissue_level(info, tissue_mpp) if level is None else int(level)
    rgb = read_level(info, level)
    mask = ForegroundMask(threshold=None, hsv_threshold={"S": "otsu"})(np.moveaxis(rgb, -1, 0))
    return np.asarray(mask)[0].astype(bool), level
