# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Lesions from a tumour-probability heat map: connected components (outlines, sizes in mm) and point detections by
MONAI's ``PathologyProbNMS`` (the points the CAMELYON16 FROC scores, as MONAI's ``LesionFROC`` picks them).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from monai.apps.pathology.utils import PathologyProbNMS
from skimage.measure import approximate_polygon, find_contours, label, regionprops

__all__ = ["Lesion", "detect_lesions", "nms_detections", "heatmap_level_exponent"]


@dataclass
class Lesion:
    """One connected region of the heat map at or above the threshold.

    Attributes:
        probability: the highest probability in the region.
        x, y: level-0 pixel coordinates of that maximum (centre of the heat-map pixel).
        area_mm2: area of the region.
        diameter_mm: its largest diameter (maximum Feret diameter), the measure of the CAMELYON17 categories.
        polygon: ``(N, 2)`` level-0 ``(x, y)`` outline (outer boundary, inside the slide).
    """

    probability: float
    x: float
    y: float
    area_mm2: float
    diameter_mm: float
    polygon: np.ndarray

    def summary(self) -> dict:
        """JSON-serialisable fields (no polygon)."""
        out = asdict(self)
        out.pop("polygon")
        return {k: float(v) for k, v in out.items()}


def detect_lesions(
    heatmap: np.ndarray,
    downsample: float,
    mpp: float,
    threshold: float = 0.5,
    dimensions: tuple[int, int] | None = None,
) -> list[Lesion]:
    """Connected components (8-connectivity) of ``heatmap >= threshold``, most probable first.

    Args:
        heatmap: ``(H, W)`` tumour probabilities at a pyramid level.
        downsample: level-0 pixels per heat-map pixel.
        mpp: microns per level-0 pixel.
        threshold: probability threshold.
        dimensions: level-0 ``(width, height)`` of the slide; outlines are clipped into it (default: the heat map's
            extent scaled by ``downsample``).

    Returns:
        list of :class:`Lesion`.
    """
    heatmap = np.asarray(heatmap, dtype=np.float32)
    width, height = dimensions or (heatmap.shape[1] * downsample, heatmap.shape[0] * downsample)
    pixel_mm = downsample * mpp / 1000.0
    lesions = []
    for region in regionprops(label(heatmap >= threshold, connectivity=2), intensity_image=heatmap):
        r0, c0, r1, c1 = region.bbox
        local = np.pad(region.image, 1).astype(np.float32)
        contour = max(find_contours(local, 0.5), key=len)
        contour = approximate_polygon(contour, tolerance=0.25)
        if len(contour) > 3:
            contour = contour[:-1]  # closed: first point repeated
        xy = np.stack([(contour[:, 1] - 1 + c0 + 0.5) * downsample, (contour[:, 0] - 1 + r0 + 0.5) * downsample], 1)
        xy = np.clip(xy, 0, [width, height])
        values = heatmap[r0:r1, c0:c1] * region.image
        peak = np.unravel_index(np.argmax(values), values.shape)
        diameter = region.feret_diameter_max if region.area > 1 else 1.0
        lesions.append(
            Lesion(
                probability=float(values[peak]),
                x=(c0 + peak[1] + 0.5) * downsample,
                y=(r0 + peak[0] + 0.5) * downsample,
                area_mm2=float(region.area) * pixel_mm**2,
                diameter_mm=float(diameter) * pixel_mm,
                polygon=xy,
            )
        )
    return sorted(lesions, key=lambda lesion: -lesion.probability)


def heatmap_level_exponent(downsample: float) -> int:
    """``k`` with ``2**k`` closest to a level's downsample: the "level" MONAI's ``LesionFROC``/NMS scale by.

    Raises:
        ValueError: the downsample is not within 2 % of a power of two (MONAI's FROC would misplace points).
    """
    k = int(round(math.log2(float(downsample))))
    if abs(2**k - downsample) > 0.02 * downsample:
        raise ValueError(
            f"heat-map downsample {downsample} is not a power of two: MONAI's LesionFROC and PathologyProbNMS "
            "scale coordinates by 2**level."
        )
    return k


def nms_detections(
    heatmap: np.ndarray, downsample: float, threshold: float = 0.5, box_size: int = 48
) -> list[tuple[float, int, int]]:
    """Point detections ``(probability, x, y)`` at level 0 by MONAI's ``PathologyProbNMS`` on the heat map.

    These are the detections MONAI's ``LesionFROC`` scores for the same map and settings, so the CAMELYON16 CSV
    written from them is what the FROC evaluates.

    Args:
        heatmap: ``(H, W)`` tumour probabilities.
        downsample: level-0 pixels per heat-map pixel (a power of two).
        threshold: NMS stops below this probability.
        box_size: side (heat-map pixels) of the square suppressed around each detection.
    """
    nms = PathologyProbNMS(prob_threshold=threshold, box_size=int(box_size))
    level = heatmap_level_exponent(downsample)
    points = nms(probs_map=np.array(heatmap, dtype=np.float32), resolution_level=level)  # a copy: NMS zeroes it
    return [(float(p), int(col), int(row)) for p, row, col in points]
