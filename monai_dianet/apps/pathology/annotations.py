# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""CAMELYON lesion annotations (ASAP XML) as masks at any pyramid level.

The CAMELYON16 and CAMELYON17 annotations are ASAP XML polygons in level-0 pixel coordinates. Their group
(``PartOfGroup``) says what a polygon is: ``Tumor``, ``_0`` and ``_1`` (CAMELYON16) and ``metastases``
(CAMELYON17) outline tumour; ``Exclusion`` and ``_2`` (CAMELYON16) outline non-tumour tissue inside a tumour
outline, the holes of the lesion. A pixel is tumour when its centre lies inside a tumour polygon and outside every
exclusion polygon, so excluded pixels are never positive (the rule of the challenge's own mask conversion, where
``_2`` is drawn over ``_0``/``_1`` with label 0). MONAI has no reader for this format; parsing uses the
package's ASAP reader and rasterisation ``skimage.draw.polygon``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from skimage.draw import polygon as draw_polygon

from monai_dianet.data.synthetic.camelyon import read_asap_polygons
from monai_dianet.utils.errors import InputError

__all__ = ["TUMOUR_GROUPS", "EXCLUSION_GROUPS", "SlideAnnotation", "read_asap_annotation", "load_annotation"]

TUMOUR_GROUPS = ("Tumor", "_0", "_1", "metastases")
"""ASAP groups of tumour outlines in CAMELYON16 (``Tumor``, ``_0``, ``_1``) and CAMELYON17 (``metastases``)."""
EXCLUSION_GROUPS = ("Exclusion", "_2")
"""ASAP groups of non-tumour regions inside tumour outlines (CAMELYON16)."""
_AREA_TYPES = ("polygon", "spline", "rectangle")  # annotation types that enclose an area


@dataclass(frozen=True)
class SlideAnnotation:
    """The tumour and exclusion polygons of one slide (``(N, 2)`` float arrays of level-0 ``(x, y)``).

    Attributes:
        path: the XML file (for messages).
        tumour: tumour outlines.
        exclusion: excluded regions (never tumour).
    """

    path: str
    tumour: tuple[np.ndarray, ...]
    exclusion: tuple[np.ndarray, ...] = ()
    _boxes: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _bounds(self, kind: str) -> np.ndarray:
        """``(P, 4)`` boxes ``(x_min, y_min, x_max, y_max)`` of the ``tumour`` or ``exclusion`` polygons."""
        if kind not in self._boxes:
            polys = getattr(self, kind)
            self._boxes[kind] = np.array(
                [[*p.min(axis=0), *p.max(axis=0)] for p in polys], dtype=np.float64
            ).reshape(-1, 4)
        return self._boxes[kind]

    def _draw(self, kind: str, out: np.ndarray, value: int, downsample: float, origin: Sequence[float]) -> None:
        height, width = out.shape
        y0, x0 = float(origin[0]), float(origin[1])
        region = np.array([x0, y0, x0 + width * downsample, y0 + height * downsample])
        boxes = self._bounds(kind)
        hit = (boxes[:, 0] <= region[2]) & (boxes[:, 2] >= region[0]) & (boxes[:, 1] <= region[3])
        hit &= boxes[:, 3] >= region[1]
        for index in np.flatnonzero(hit):
            poly = getattr(self, kind)[index]
            # pixel (r, c) covers level-0 [x0 + c*d, x0 + (c+1)*d); it is inside when its centre is
            cols = (poly[:, 0] - x0) / downsample - 0.5
            rows = (poly[:, 1] - y0) / downsample - 0.5
            rr, cc = draw_polygon(rows, cols, shape=out.shape)
            out[rr, cc] = value

    def mask(
        self, shape: Sequence[int], downsample: float = 1.0, origin: Sequence[float] = (0.0, 0.0)
    ) -> np.ndarray:
        """Binary tumour mask of a pixel grid: tumour polygons minus exclusion polygons.

        Args:
            shape: ``(height, width)`` of the grid.
            downsample: level-0 pixels per grid pixel (a pyramid level's downsample, or a patch's scale).
            origin: level-0 ``(y, x)`` of the grid's top-left corner.

        Returns:
            uint8 ``(height, width)``, 1 where the pixel centre is inside a tumour polygon and outside every
            exclusion polygon.
        """
        out = np.zeros(tuple(int(s) for s in shape), dtype=np.uint8)
        self._draw("tumour", out, 1, float(downsample), origin)
        self._draw("exclusion", out, 0, float(downsample), origin)
        return out

    def exclusion_mask(
        self, shape: Sequence[int], downsample: float = 1.0, origin: Sequence[float] = (0.0, 0.0)
    ) -> np.ndarray:
        """Binary mask (uint8) of the exclusion polygons on a pixel grid (same arguments as :meth:`mask`)."""
        out = np.zeros(tuple(int(s) for s in shape), dtype=np.uint8)
        self._draw("exclusion", out, 1, float(downsample), origin)
        return out

    def check_inside(self, dimensions: Sequence[int], tolerance: float = 1.0) -> None:
        """Raise when a coordinate lies outside a slide of level-0 ``(width, height)`` (by more than ``tolerance``).

        Raises:
            ValueError: naming the XML file, the extent of its coordinates and the slide size.
        """
        width, height = (float(v) for v in dimensions)
        for kind in ("tumour", "exclusion"):
            boxes = self._bounds(kind)
            if not len(boxes):
                continue
            low, high = boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)
            if low.min() < -tolerance or high[0] > width + tolerance or high[1] > height + tolerance:
                raise InputError(
                    f"{self.path}: {kind} coordinates span x {low[0]:.1f}..{high[0]:.1f}, "
                    f"y {low[1]:.1f}..{high[1]:.1f}, outside the slide ({int(width)}x{int(height)} pixels at level 0); "
                    "is it the annotation of another slide?"
                )


def read_asap_annotation(
    path: str | os.PathLike,
    slide_dimensions: Sequence[int] | None = None,
    tumour_groups: Sequence[str] = TUMOUR_GROUPS,
    exclusion_groups: Sequence[str] = EXCLUSION_GROUPS,
) -> SlideAnnotation:
    """Read a CAMELYON16/17 ASAP XML annotation into tumour and exclusion polygons.

    Polygon, spline (its control points taken as polygon vertices) and rectangle annotations are read; dots and
    point sets enclose no area and are skipped with a warning, as are annotations of unknown groups.

    Args:
        path: the ``.xml`` file.
        slide_dimensions: level-0 ``(width, height)`` of the slide; when given, coordinates outside it are an error.
        tumour_groups: groups read as tumour.
        exclusion_groups: groups read as excluded (non-tumour inside a tumour outline).

    Returns:
        a :class:`SlideAnnotation`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not ASAP XML, an area annotation with fewer than 3 points, no tumour or exclusion polygon in the
            file, or (with ``slide_dimensions``) coordinates outside the slide. Messages name the file.

    Example::

        >>> ann = read_asap_annotation("tumor_001.xml", slide_dimensions=(4096, 4096))
        >>> ann.mask((256, 256), downsample=16).sum()  # tumour pixels at the 16x level
    """
    path = os.fspath(path)
    tumour, exclusion, skipped = [], [], set()
    for item in read_asap_polygons(path):
        group, kind = item["group"], str(item["type"] or "polygon").lower()
        if group not in tumour_groups and group not in exclusion_groups:
            skipped.add(f"group {group!r}")
            continue
        if kind not in _AREA_TYPES:
            skipped.add(f"type {item['type']!r}")
            continue
        coords = item["coordinates"]
        if len(coords) < 3 or not np.isfinite(coords).all():
            raise InputError(
                f"{path}: annotation {item['name']!r} ({item['type']}) needs at least 3 finite points, "
                f"got {len(coords)}."
            )
        (tumour if group in tumour_groups else exclusion).append(coords)
    if skipped:
        warnings.warn(f"{path}: skipped annotations of {', '.join(sorted(skipped))}.", stacklevel=2)
    if not tumour and not exclusion:
        raise InputError(
            f"{path}: no polygon annotations in groups {list(tumour_groups) + list(exclusion_groups)}; a tumour "
            "slide's XML must outline its metastases (normal slides have no XML file)."
        )
    annotation = SlideAnnotation(path=path, tumour=tuple(tumour), exclusion=tuple(exclusion))
    if slide_dimensions is not None:
        annotation.check_inside(slide_dimensions)
    return annotation


@lru_cache(maxsize=64)
def load_annotation(path: str) -> SlideAnnotation:
    """:func:`read_asap_annotation` with a per-process cache (DataLoader workers parse each file once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_asap_annotation(path)
