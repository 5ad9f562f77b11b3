# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Whole-slide access through MONAI ``WSIReader(backend="openslide")``: validation, microns per pixel, resampling.

MONAI's reader opens slides and reads regions; what it lacks, and this module adds, is the checks a pipeline needs
before it trusts a file (OpenSlide can open it, it is pyramidal, its resolution is known, with a clear warning and
a stated fallback when it is not) and the arithmetic that reads patches at a working resolution from the pyramid
level just finer than it, for slides scanned at different resolutions.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
from monai.data import WSIReader
from monai.utils import optional_import

from monai_dianet.utils.errors import InputError, MissingInputError

openslide, _ = optional_import("openslide")

__all__ = ["SlideInfo", "read_slide_info", "slide_reader", "read_level", "MPP_TOLERANCE"]

MPP_TOLERANCE = 0.02
"""Relative tolerance within which a pyramid level counts as being at the working resolution (no resampling)."""


def slide_reader() -> WSIReader:
    """MONAI's whole-slide reader on the OpenSlide backend (about 40x faster for random patches than tifffile here)."""
    return WSIReader(backend="openslide")


@dataclass(frozen=True)
class SlideInfo:
    """What the pipeline needs to know about one slide.

    Attributes:
        path: absolute path of the slide file.
        name: file name without extension (the CAMELYON slide id).
        dimensions: level-0 ``(width, height)`` in pixels.
        level_dimensions: ``(width, height)`` of every pyramid level.
        level_downsamples: downsample of every level relative to level 0.
        mpp: microns per level-0 pixel (the file's value, or the fallback).
        mpp_from_file: False when the file has no resolution and ``mpp`` is the fallback.
    """

    path: str
    name: str
    dimensions: tuple[int, int]
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    mpp: float
    mpp_from_file: bool

    @property
    def level_count(self) -> int:
        return len(self.level_dimensions)

    def level_mpp(self, level: int) -> float:
        """Microns per pixel of pyramid ``level``."""
        return self.mpp * self.level_downsamples[level]

    def level_for_mpp(self, mpp: float) -> int:
        """The coarsest pyramid level whose resolution is at least as fine as ``mpp`` (within MPP_TOLERANCE)."""
        fine_enough = [lv for lv in range(self.level_count) if self.level_mpp(lv) <= mpp * (1 + MPP_TOLERANCE)]
        return max(fine_enough) if fine_enough else 0

    def read_plan(self, working_mpp: float, patch_size: int) -> tuple[int, int, float]:
        """How to read a ``patch_size`` patch at ``working_mpp``.

        Returns:
            ``(level, read_size, extent)``: the pyramid level to read from (the coarsest one at least as fine as
            the working resolution), the patch side to read there (resized to ``patch_size`` afterwards when
            different) and the patch side in level-0 pixels (``read_size * downsample(level)``).
        """
        level = self.level_for_mpp(working_mpp)
        scale = working_mpp / self.level_mpp(level)  # working pixel in pixels of that level
        read_size = max(1, int(round(patch_size * scale)))
        if abs(read_size - patch_size) <= MPP_TOLERANCE * patch_size:
            read_size = patch_size
        return level, read_size, read_size * float(self.level_downsamples[level])


def _file_mpp(properties, path: str) -> float | None:
    """Microns per level-0 pixel from OpenSlide's properties (``openslide.mpp-x/y``), or None when absent."""
    values = []
    for key in ("openslide.mpp-x", "openslide.mpp-y"):
        try:
            value = float(properties.get(key) or "nan")
        except ValueError:
            value = math.nan
        values.append(value)
    if not all(math.isfinite(v) and v > 0 for v in values):
        return None
    if abs(values[0] - values[1]) > MPP_TOLERANCE * max(values):
        warnings.warn(
            f"{path}: non-square pixels (mpp-x {values[0]}, mpp-y {values[1]}); using their mean {np.mean(values)}.",
            stacklevel=3,
        )
    return float(np.mean(values))


def read_slide_info(path: str | os.PathLike, fallback_mpp: float | None = None) -> SlideInfo:
    """Open a slide with OpenSlide (through MONAI's reader) and check that the pipeline can use it.

    Resolution comes from the file (``openslide.mpp-x/y``: TIFF X/YResolution in centimetres or inches, or the
    vendor's tags for SVS and other formats). When the file has none, ``fallback_mpp`` is used with a warning that
    names the file and the value assumed.

    Args:
        path: a ``.tif``/``.tiff``/``.svs`` or other slide OpenSlide opens.
        fallback_mpp: microns per level-0 pixel assumed for files without resolution; ``None`` makes such files an
            error.

    Returns:
        a :class:`SlideInfo`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: OpenSlide cannot open the file (corrupt, stripped TIFF, unsupported format), the slide has one
            pyramid level only, or it has no resolution and no fallback was given. The message names the file.

    Example::

        >>> info = read_slide_info("tumor_001.tif", fallback_mpp=0.5)
        >>> level, read_size, extent = info.read_plan(working_mpp=1.0, patch_size=64)
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise MissingInputError(f"slide {path} not found.")
    try:
        slide = slide_reader().read(path)
    except Exception as exc:  # OpenSlideUnsupportedFormatError, OpenSlideError, PIL errors: all mean "unusable"
        raise InputError(
            f"{path}: OpenSlide cannot open this slide ({type(exc).__name__}: {exc}); expected a tiled pyramidal "
            "TIFF, SVS or another format OpenSlide reads."
        ) from None
    try:
        if slide.level_count < 2:
            raise InputError(
                f"{path}: not pyramidal (OpenSlide sees 1 level of {slide.dimensions[0]}x{slide.dimensions[1]}); "
                "expected a tiled TIFF with reduced-resolution levels (each level a top-level page, reduced ones "
                "with NewSubfileType=1, as written by ASAP, vips or tifffile)."
            )
        mpp = _file_mpp(slide.properties, path)
        from_file = mpp is not None
        if mpp is None:
            if fallback_mpp is None:
                raise InputError(f"{path}: the file has no microns-per-pixel (openslide.mpp-x/y) and no fallback_mpp.")
            mpp = float(fallback_mpp)
            warnings.warn(
                f"{path}: no microns-per-pixel in the file (openslide.mpp-x/y missing); assuming {mpp} um/px at "
                "level 0 (fallback_mpp). Physical sizes, FROC rules and resampling rely on this value.",
                stacklevel=2,
            )
        return SlideInfo(
            path=path,
            name=os.path.splitext(os.path.basename(path))[0],
            dimensions=tuple(int(v) for v in slide.dimensions),
            level_dimensions=tuple(tuple(int(v) for v in d) for d in slide.level_dimensions),
            level_downsamples=tuple(float(d) for d in slide.level_downsamples),
            mpp=float(mpp),
            mpp_from_file=from_file,
        )
    finally:
        slide.close()


def read_level(info: SlideInfo, level: int) -> np.ndarray:
    """A whole pyramid level as an ``(H, W, 3)`` uint8 RGB array (for thumbnails and tissue detection).

    Raises:
        ValueError: ``level`` is not a level of the slide.
    """
    if not 0 <= level < info.level_count:
        raise ValueError(f"{info.path}: level {level} requested, the slide has levels 0-{info.level_count - 1}.")
    reader = WSIReader(backend="openslide", channel_dim=-1)
    slide = reader.read(info.path)
    try:
        data, _ = reader.get_data(slide, level=level)
    finally:
        slide.close()
    return np.ascontiguousarray(np.asarray(data, dtype=np.uint8))
