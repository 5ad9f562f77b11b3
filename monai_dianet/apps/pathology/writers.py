# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Files written per slide: pyramidal TIFF heat maps that OpenSlide opens, PNG overlays, lesion ASAP XML,
CAMELYON16 detection CSV.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import numpy as np
from monai.utils import optional_import
from PIL import Image

from monai_dianet.apps.pathology.lesions import Lesion
from monai_dianet.data.synthetic.camelyon import write_asap_polygons

tifffile, _ = optional_import("tifffile")

__all__ = ["write_heatmap_tiff", "write_overlay_png", "write_lesions_xml", "write_detections_csv", "DETECTION_GROUP"]

DETECTION_GROUP = "Detections"
"""ASAP group of the detected lesions (distinct from the ground truth's groups when both are opened together)."""


def write_heatmap_tiff(
    path: str | os.PathLike, heatmap: np.ndarray, mpp: float, tile: int = 128, description: str | None = None
) -> str:
    """Write a map of values in [0, 1] as a pyramidal tiled 8-bit TIFF that OpenSlide opens (generic TIFF).

    Level 0 is ``heatmap`` (value x 255, rounded), followed by 2x-reduced levels (2x2 means) until one tile covers
    a level, at least two levels in all. Each level is a separate top-level tiled, deflate-compressed page, the
    reduced ones with ``NewSubfileType=1``, and X/YResolution give OpenSlide ``mpp`` (the heat map's own microns
    per pixel: slide mpp x heat-map downsample), so the map lies over the slide at its physical scale.

    Args:
        path: output ``.tif``.
        heatmap: ``(H, W)`` float values in [0, 1] (NaN is written as 0).
        mpp: microns per heat-map pixel.
        tile: tile side (a multiple of 16).
        description: ImageDescription of the first page.

    Returns:
        the path.

    Raises:
        ValueError: not a 2D map, or a tile side that is not a positive multiple of 16.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2 or min(heatmap.shape) < 1:
        raise ValueError(f"heatmap must be a non-empty (H, W) array, got shape {heatmap.shape}.")
    if tile < 16 or tile % 16:
        raise ValueError(f"tile must be a positive multiple of 16, got {tile}.")
    level = np.nan_to_num(heatmap, nan=0.0).clip(0.0, 1.0)
    options = {"tile": (tile, tile), "photometric": "minisblack", "compression": "zlib", "metadata": None}
    path = os.fspath(path)
    with tifffile.TiffWriter(path) as tif:
        downsample = 1
        while True:
            tif.write(
                np.round(level * 255).astype(np.uint8),
                subfiletype=0 if downsample == 1 else 1,
                resolution=(1e4 / (mpp * downsample),) * 2,
                resolutionunit="CENTIMETER",
                description=description if downsample == 1 else None,
                **options,
            )
            if downsample > 1 and max(level.shape) <= tile or min(level.shape) < 2:
                break
            h, w = level.shape[0] // 2 * 2, level.shape[1] // 2 * 2
            level = level[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
            downsample *= 2
    return path


def write_overlay_png(
    path: str | os.PathLike,
    thumbnail: np.ndarray,
    heatmap: np.ndarray,
    lesions: Sequence[Lesion] = (),
    downsample: float = 1.0,
    alpha: float = 0.6,
) -> str:
    """Write the heat map over a slide thumbnail as PNG (``jet`` colours, opacity rising with probability) with the
    lesion outlines in black.

    Args:
        path: output ``.png``.
        thumbnail: ``(h, w, 3)`` uint8 RGB of the whole slide at any level.
        heatmap: ``(H, W)`` probabilities (resized to the thumbnail).
        lesions: detected lesions (level-0 outlines).
        downsample: level-0 pixels per thumbnail pixel (to draw the outlines).
        alpha: opacity of probability 1.

    Returns:
        the path.
    """
    from matplotlib import colormaps
    from PIL import ImageDraw

    base = Image.fromarray(np.asarray(thumbnail, dtype=np.uint8)).convert("RGB")
    heat = Image.fromarray(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)).clip(0, 1) * 255).convert("L")
    heat = np.asarray(heat.resize(base.size, Image.BILINEAR), dtype=np.float32) / 255.0
    colour = colormaps["jet"](heat)[..., :3] * 255.0
    weight = (alpha * heat)[..., None]
    blended = np.asarray(base, dtype=np.float32) * (1 - weight) + colour * weight
    image = Image.fromarray(blended.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for lesion in lesions:
        points = [tuple(p) for p in (lesion.polygon / downsample).tolist()]
        if len(points) >= 2:
            draw.line(points + [points[0]], fill=(0, 0, 0), width=1)
    image.save(os.fspath(path))
    return os.fspath(path)


def write_lesions_xml(path: str | os.PathLike, lesions: Sequence[Lesion]) -> str:
    """Write detected lesions as ASAP XML polygons (group :data:`DETECTION_GROUP`, names with the probability)
    that open in ASAP and QuPath beside the ground-truth annotation."""
    write_asap_polygons(
        path,
        [lesion.polygon for lesion in lesions],
        group=DETECTION_GROUP,
        names=[f"Lesion {i} p={lesion.probability:.4f}" for i, lesion in enumerate(lesions)],
    )
    return os.fspath(path)


def write_detections_csv(path: str | os.PathLike, detections: Sequence[tuple[float, int, int]]) -> str:
    """Write point detections in the CAMELYON16 lesion-submission format: one ``probability,x,y`` line per
    detection, level-0 integer pixel coordinates, no header (the order the challenge's ``Evaluation_FROC.py``
    reads)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        for probability, x, y in detections:
            writer.writerow([f"{probability:.6f}", int(x), int(y)])
    return os.fspath(path)
