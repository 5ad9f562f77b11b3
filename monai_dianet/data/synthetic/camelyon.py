# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Synthetic lymph-node whole-slide images in the CAMELYON16/17 on-disk formats.

Slides are pyramidal tiled JPEG TIFFs that OpenSlide opens as generic TIFF (each pyramid level a separate
top-level tiled page, reduced levels marked ``NewSubfileType=1``), tumour outlines are ASAP XML polygons in
level-0 pixel coordinates, and slide labels are a ``slide,label`` CSV. The tissue is a hand-written
procedural H&E model (no library makes such slides); it exists so that the CAMELYON loaders and bundles of
this package run end to end without the real data.
"""

from __future__ import annotations

import csv
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from monai.utils import optional_import
from scipy import ndimage
from tqdm.auto import tqdm

from monai_dianet.data.synthetic._fields import smooth_noise
from monai_dianet.utils.errors import InputError, MissingInputError

tifffile, _ = optional_import("tifffile")

__all__ = ["HE_STAIN_VECTORS", "generate_camelyon", "read_asap_polygons", "write_asap_polygons"]

TILE = 256
"""Tile side of every pyramid level, in pixels."""

_CELL = 16  # side of the jittered nucleus grid, in level-0 pixels (divides TILE)
_REACH = 8  # nuclei (semi-axes <= 7 px, soft edge 0.5 px) reach at most this far past their cell's border
_NODES = 256  # the tissue/tumour level-set fields have about this many nodes along the slide's longer side
_FINE_STEP = 8  # level-0 pixels between nodes of the fine stroma texture
_MIN_SIDE, _MAX_SIDE = 1024, 65536

HE_STAIN_VECTORS = np.array([[0.5626, 0.7201, 0.4062], [0.2159, 0.8012, 0.5581]], dtype=np.float32)
"""Optical density per unit concentration (R, G, B) of hematoxylin (row 0) and eosin (row 1); MONAI's
``HEStainExtractor`` reference stain matrix (Macenko et al. 2009), so stain normalisation finds them."""

_BACKGROUND = 242.0  # incident light (glass) intensity


def _check_size(size: int | Sequence[int]) -> tuple[int, int]:
    """Validate a level-0 size (an int or ``(width, height)``); each side a multiple of 256 in [1024, 65536]."""
    try:
        values = (int(size), int(size)) if np.ndim(size) == 0 else tuple(int(s) for s in size)  # type: ignore[arg-type]
        exact = all(float(s) == int(s) for s in (np.ravel(size)))
    except (TypeError, ValueError):
        raise ValueError(f"size must be an integer or (width, height), got {size!r}.") from None
    if (
        len(values) != 2
        or not exact
        or not all(_MIN_SIDE <= s <= _MAX_SIDE and s % TILE == 0 for s in values)
    ):
        raise ValueError(
            f"size must be an integer or (width, height), each a multiple of {TILE} between {_MIN_SIDE} and "
            f"{_MAX_SIDE} (at least 3 pyramid levels of {TILE}-pixel tiles), got {size!r}."
        )
    return values  # type: ignore[return-value]


def _sample(field: np.ndarray, step: float, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """Bilinear samples of a node field (node ``(i, j)`` at pixel ``(i*step, j*step)``) on a pixel block.

    Elementwise gathers rather than interpolation matrices: tiny BLAS calls are slow on busy multi-core machines.
    """
    return _sample_at(field, step, np.arange(y0, y0 + h), np.arange(x0, x0 + w))


def _sample_at(field: np.ndarray, step: float, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples of a node field on the grid of pixel rows ``ys`` x pixel columns ``xs``."""
    ty, tx = np.asarray(ys, dtype=np.float64) / step, np.asarray(xs, dtype=np.float64) / step
    iy, ix = np.floor(ty).astype(np.int64), np.floor(tx).astype(np.int64)
    fy, fx = (ty - iy).astype(np.float32), (tx - ix).astype(np.float32)
    rows = field[iy] * (1.0 - fy)[:, None] + field[iy + 1] * fy[:, None]
    return rows[:, ix] * (1.0 - fx) + rows[:, ix + 1] * fx


class _SlideModel:
    """Level-set fields of one slide: tissue ``T`` and tumour ``U`` (negative inside, in node units).

    Tissue: 1-3 irregular elliptical lymph-node sections (low-frequency shape noise) kept at least 4 nodes
    away from the slide border. Tumour (only when ``tumour``): 1-3 irregular metastases placed in the tissue,
    each at least 3 nodes inside the tissue border and containing its centre node, holes filled, so its
    outline is a non-empty set of simple polygons. With ``exclusion``, a disc of normal tissue (radius half
    the depth of the deepest tumour node, only when that depth is at least 3 nodes) is carved out of the
    tumour: the CAMELYON16 "exclusion" region, non-tumour tissue inside a tumour outline.
    """

    def __init__(self, seed: tuple[int, int], width: int, height: int, tumour: bool, exclusion: bool = False):
        rng = np.random.default_rng(seed)
        self.seed, self.width, self.height = seed, width, height
        self.step = max(width, height) / _NODES
        gh, gw = int(height / self.step) + 2, int(width / self.step) + 2
        rows = np.arange(gh, dtype=np.float32)[:, None]
        cols = np.arange(gw, dtype=np.float32)[None, :]
        extent_r, extent_c = height / self.step, width / self.step

        tissue = np.full((gh, gw), np.inf, dtype=np.float32)
        count = int(rng.integers(1, 4))
        for _ in range(count):
            half = np.array([extent_r, extent_c]) * rng.uniform(0.18, 0.34, 2) / math.sqrt(count)
            centre = np.array([extent_r, extent_c]) * rng.uniform(0.3, 0.7, 2)
            angle = rng.uniform(0.0, math.pi)
            u = (rows - centre[0]) * math.cos(angle) + (cols - centre[1]) * math.sin(angle)
            v = -(rows - centre[0]) * math.sin(angle) + (cols - centre[1]) * math.cos(angle)
            dist = np.sqrt((u / half[0]) ** 2 + (v / half[1]) ** 2)
            tissue = np.minimum(tissue, (dist - 1.0) * float(half.min()))
        scale = min(extent_r, extent_c)
        tissue += 0.05 * scale * np.clip(smooth_noise(rng, (gh, gw), (8, 8)), -3, 3)
        tissue += 0.012 * scale * np.clip(smooth_noise(rng, (gh, gw), (32, 32)), -3, 3)
        border = 4.0 - np.minimum(np.minimum(rows, extent_r - rows), np.minimum(cols, extent_c - cols))
        self.tissue = np.maximum(tissue, border).astype(np.float32)
        if self.tissue.min() > -8.0:  # degenerate draw (noise ate the sections): one central section instead
            dist = np.hypot((rows - extent_r / 2) / (0.3 * extent_r), (cols - extent_c / 2) / (0.3 * extent_c))
            self.tissue = ((dist - 1.0) * 0.3 * scale).astype(np.float32)

        self.tumour: np.ndarray | None = None
        if tumour:
            depth = -self.tissue
            noise = np.exp(0.25 * np.clip(smooth_noise(rng, (gh, gw), (24, 24)), -2, 2))
            field = np.full((gh, gw), np.inf, dtype=np.float32)
            for _ in range(int(rng.integers(1, 4))):
                radius = min(rng.uniform(4.0, 18.0), 0.8 * (float(depth.max()) - 3.0))
                candidates = np.argwhere(depth > radius + 3.0)
                r0, c0 = candidates[rng.integers(len(candidates))]
                stretch = rng.uniform(0.7, 1.3)
                dist = np.sqrt(((rows - r0) / (radius * stretch)) ** 2 + ((cols - c0) / (radius / stretch)) ** 2)
                field = np.minimum(field, (dist * noise - 1.0) * radius)
            field = np.maximum(field, self.tissue + 3.0)
            inside = field < 0
            holes = ndimage.binary_fill_holes(inside) & ~inside
            self.tumour = np.where(holes, -np.abs(field), field).astype(np.float32)
        self.outline = self.tumour  # the annotated outline: the tumour without its exclusion region
        self.exclusion: np.ndarray | None = None
        if self.tumour is not None and exclusion and -self.tumour.min() >= 3.0:
            r0, c0 = np.unravel_index(np.argmin(self.tumour), self.tumour.shape)
            radius = -0.5 * float(self.tumour.min())
            self.exclusion = ((np.hypot(rows - r0, cols - c0) / radius - 1.0) * radius).astype(np.float32)
            self.tumour = np.maximum(self.tumour, -self.exclusion)

        fine_shape = (int(height / _FINE_STEP) + 2, int(width / _FINE_STEP) + 2)
        self.fine = rng.standard_normal(fine_shape, dtype=np.float32)
        self.stain = np.clip(smooth_noise(rng, (gh, gw), (6, 6)), -2.5, 2.5)

    def polygons(self, field: np.ndarray | None) -> list[np.ndarray]:
        """Zero contours of a level-set field (``outline`` or ``exclusion``) as ``(N, 2)`` arrays of level-0
        ``(x, y)`` pixel coordinates (empty when the field is None)."""
        if field is None:
            return []
        from skimage.measure import approximate_polygon, find_contours

        out = []
        for contour in find_contours(field, 0.0):
            contour = approximate_polygon(contour, tolerance=0.2)
            if len(contour) >= 4:  # closed contour: first point repeated
                out.append(contour[:-1, ::-1] * self.step)
        return out

    def tile(self, ty: int, tx: int) -> np.ndarray:
        """Render level-0 tile ``(ty, tx)`` (top-left pixel ``(ty * TILE, tx * TILE)``); uint8 ``(TILE, TILE, 3)``.

        Tiles depend only on the slide fields, the seed and their indices, and join without seams.
        """
        rng = np.random.default_rng((*self.seed, ty, tx, 0))
        step, y0, x0 = self.step, ty * TILE, tx * TILE
        # nodes around the tile and its rim of nucleus cells; bilinear values never go below their minimum
        near = tuple(slice(max(int((p - _CELL) / step), 0), int((p + TILE + _CELL) / step) + 2) for p in (y0, x0))
        conc_h = np.full((TILE, TILE), 0.008, dtype=np.float32)
        conc_e = np.full((TILE, TILE), 0.012, dtype=np.float32)
        if self.tissue[near].min() * step < 2.0:
            tissue = self._membership(self.tissue, y0, x0, TILE, 2.0)
            tumour = self._membership(self.tumour, y0, x0, TILE, 3.0)
            fine = _sample(self.fine, _FINE_STEP, y0, x0, TILE, TILE)
            stain = _sample(self.stain, step, y0, x0, TILE, TILE)
            # stroma / cytoplasm: eosin-rich; tumour cytoplasm paler and more basophilic
            conc_e += tissue * (0.26 + 0.05 * fine + 0.04 * stain - 0.09 * tumour)
            conc_h += tissue * (0.05 + 0.015 * fine + 0.10 * tumour)
            nuclei, dark = self._nuclei(ty, tx)
            grain = 0.85 + 0.15 * rng.standard_normal((TILE, TILE), dtype=np.float32)
            conc_h += nuclei * dark * grain
            conc_e *= 1.0 - 0.6 * nuclei
        density = conc_h[..., None] * HE_STAIN_VECTORS[0] + conc_e[..., None] * HE_STAIN_VECTORS[1]
        rgb = _BACKGROUND * np.exp(-math.log(10.0) * density)
        rgb += 1.5 * rng.standard_normal((TILE, TILE, 1), dtype=np.float32)
        return np.clip(rgb, 0, 255).astype(np.uint8)

    def _membership(self, field: np.ndarray | None, y0: int, x0: int, length: int, edge: float) -> np.ndarray:
        """Soft inside-membership (0..1, ``edge`` pixels wide) of a level-set field on a square pixel block."""
        if field is None:
            return np.zeros((length, length), dtype=np.float32)
        return np.clip(0.5 - _sample(field, self.step, y0, x0, length, length) * (self.step / edge), 0.0, 1.0)

    def _nuclei(self, ty: int, tx: int) -> tuple[np.ndarray, np.ndarray]:
        """Nucleus coverage and hematoxylin load per pixel of tile ``(ty, tx)``.

        One candidate nucleus per ``_CELL``-pixel cell of a slide-wide lattice, centred anywhere in its cell,
        present with probability 0.45 in normal tissue and 0.9 in tumour (tissue and tumour taken at the cell
        centre); semi-axes 2.5-4 px, axis ratio 0.8-1 (round, lymphocyte-like) in normal tissue vs 4.5-7 px,
        ratio 0.5-0.95 (large, pleomorphic) in tumour; hematoxylin 0.9-1.2 vs 1.3-1.8 (darker). A cell's
        random draws come from its tile's seed, and every pixel looks at the nuclei of its own and the 8
        neighbouring cells, so nuclei cross cell and tile borders without seams.
        """
        cells = TILE // _CELL
        draws = np.zeros((7, 3 * cells, 3 * cells), dtype=np.float32)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if 0 <= ty + dy < self.height // TILE and 0 <= tx + dx < self.width // TILE:
                    rng = np.random.default_rng((*self.seed, ty + dy, tx + dx, 1))
                    rows, cols = slice((dy + 1) * cells, (dy + 2) * cells), slice((dx + 1) * cells, (dx + 2) * cells)
                    draws[:, rows, cols] = rng.random((7, cells, cells), dtype=np.float32)
                else:
                    draws[0, (dy + 1) * cells : (dy + 2) * cells, (dx + 1) * cells : (dx + 2) * cells] = 1.0  # absent
        draws = draws[:, cells - 1 : 2 * cells + 1, cells - 1 : 2 * cells + 1]  # the tile's cells and a 1-cell rim
        # tissue / tumour at the centres of those cells (clamped to the slide: the rim there is tissue-free)
        centres_y = np.clip(ty * TILE + (np.arange(cells + 2) - 1) * _CELL + _CELL // 2, 0, self.height - 1)
        centres_x = np.clip(tx * TILE + (np.arange(cells + 2) - 1) * _CELL + _CELL // 2, 0, self.width - 1)
        tissue = np.clip(0.5 - _sample_at(self.tissue, self.step, centres_y, centres_x) * (self.step / 2.0), 0, 1)
        tumour = np.zeros_like(tissue)
        if self.tumour is not None:
            tumour = np.clip(0.5 - _sample_at(self.tumour, self.step, centres_y, centres_x) * (self.step / 3.0), 0, 1)
        present = draws[0] < tissue * (0.45 + 0.45 * tumour)
        a = (1 - tumour) * (2.5 + 1.5 * draws[1]) + tumour * (4.5 + 2.5 * draws[1])
        b = a * ((1 - tumour) * (0.8 + 0.2 * draws[2]) + tumour * (0.5 + 0.45 * draws[2]))
        cos, sin = np.cos(math.pi * draws[3]), np.sin(math.pi * draws[3])
        centre_y, centre_x = _CELL * draws[4], _CELL * draws[5]
        dark = (1 - tumour) * (0.9 + 0.3 * draws[6]) + tumour * (1.3 + 0.5 * draws[6])

        local = np.arange(_CELL, dtype=np.float32) + 0.5
        cover = np.zeros((cells, _CELL, cells, _CELL), dtype=np.float32)
        shade = np.zeros_like(cover)
        # pixels a neighbour's nucleus can reach: within _REACH of the shared border (a <= 7 px)
        band = {-1: slice(0, _REACH), 0: slice(0, _CELL), 1: slice(_CELL - _REACH, _CELL)}
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                rim = (slice(1 + dy, 1 + dy + cells), slice(1 + dx, 1 + dx + cells))
                if not present[rim].any():
                    continue

                def cell(v: np.ndarray, rim=rim) -> np.ndarray:
                    return v[rim][:, None, :, None]

                py, px = band[dy], band[dx]
                off_y = local[py][None, :, None, None] - (cell(centre_y) + dy * _CELL)
                off_x = local[px][None, None, None, :] - (cell(centre_x) + dx * _CELL)
                u = (off_x * cell(cos) + off_y * cell(sin)) / cell(a)
                v = (off_y * cell(cos) - off_x * cell(sin)) / cell(b)
                c = np.clip((1.0 - np.sqrt(u * u + v * v)) * cell(a) + 0.5, 0.0, 1.0) * cell(present)
                block = (slice(None), py, slice(None), px)
                shade[block] = np.where(c > cover[block], cell(dark), shade[block])
                np.maximum(cover[block], c, out=cover[block])
        return cover.reshape(TILE, TILE), shade.reshape(TILE, TILE)


def write_asap_polygons(
    path: str | os.PathLike,
    polygons: Sequence[np.ndarray],
    group: str | Sequence[str] = "Tumor",
    names: Sequence[str] | None = None,
) -> None:
    """Write polygons as an ASAP XML annotation file, the format of the CAMELYON16/17 lesion annotations.

    Args:
        path: output ``.xml`` file.
        polygons: each an ``(N, 2)`` array of level-0 ``(x, y)`` pixel coordinates (N >= 3).
        group: ``PartOfGroup`` of every annotation, or one group per polygon; each group is also declared under
            ``<AnnotationGroups>`` (in order of first use).
        names: ``Name`` of each annotation (default ``"Annotation i"``).

    Raises:
        ValueError: when a polygon is not an ``(N, 2)`` array with N >= 3, or ``group``/``names`` do not have one
            entry per polygon.

    Example::

        >>> write_asap_polygons("/tmp/a.xml", [np.array([[0, 0], [10, 0], [10, 10]])])
        >>> read_asap_polygons("/tmp/a.xml")[0]["coordinates"].shape
        (3, 2)
    """
    groups = [group] * len(polygons) if isinstance(group, str) else [str(g) for g in group]
    names = [f"Annotation {i}" for i in range(len(polygons))] if names is None else [str(n) for n in names]
    if len(groups) != len(polygons) or len(names) != len(polygons):
        raise ValueError(
            f"group and names need one entry per polygon ({len(polygons)}), got {len(groups)} and {len(names)}."
        )
    root = ET.Element("ASAP_Annotations")
    annotations = ET.SubElement(root, "Annotations")
    for index, polygon in enumerate(polygons):
        polygon = np.asarray(polygon, dtype=np.float64)
        if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3:
            raise ValueError(
                f"polygon {index} must be an (N, 2) array of (x, y) with N >= 3, got shape {polygon.shape}."
            )
        node = ET.SubElement(
            annotations, "Annotation", Name=names[index], Type="Polygon", PartOfGroup=groups[index], Color="#F4FA58"
        )
        coordinates = ET.SubElement(node, "Coordinates")
        for order, (x, y) in enumerate(polygon):
            ET.SubElement(coordinates, "Coordinate", Order=str(order), X=f"{x:.4f}", Y=f"{y:.4f}")
    declared = ET.SubElement(root, "AnnotationGroups")
    for name in dict.fromkeys(groups if groups else ([group] if isinstance(group, str) else [])):
        ET.SubElement(ET.SubElement(declared, "Group", Name=name, PartOfGroup="None", Color="#F4FA58"), "Attributes")
    ET.indent(root, space="\t")
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def read_asap_polygons(path: str | os.PathLike) -> list[dict]:
    """Read the polygons of an ASAP XML annotation file (CAMELYON16/17 lesion annotations).

    Args:
        path: ``.xml`` file.

    Returns:
        ``[{"name", "group", "type", "coordinates": (N, 2) float array of level-0 (x, y)}, ...]`` in file
        order (points sorted by their ``Order`` attribute).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is not well-formed XML, not ASAP XML, or a coordinate is not a number.
    """
    if not os.path.isfile(path):
        raise MissingInputError(f"ASAP annotation file {path} not found.")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path} is not well-formed XML ({exc}); expected an ASAP annotation file.") from None
    if root.tag != "ASAP_Annotations":
        raise InputError(
            f"{path} is not an ASAP annotation file (root element {root.tag!r}, expected 'ASAP_Annotations')."
        )
    out = []
    for node in root.iter("Annotation"):
        try:
            points = sorted(node.iter("Coordinate"), key=lambda c: int(c.get("Order", 0)))
            coords = np.array([[float(c.get("X")), float(c.get("Y"))] for c in points], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"{path}: annotation {node.get('Name')!r} has a coordinate without numeric Order/X/Y."
            ) from None
        coords = coords.reshape(-1, 2)
        out.append(
            {
                "name": node.get("Name"),
                "group": node.get("PartOfGroup"),
                "type": node.get("Type"),
                "coordinates": coords,
            }
        )
    return out


def _tiles(model: _SlideModel, level1: np.ndarray, bar: tqdm) -> Iterator[np.ndarray]:
    """Level-0 tiles in TIFF order (rows of tiles, left to right), filling the 2x-reduced level on the way."""
    for ty in range(model.height // TILE):
        for tx in range(model.width // TILE):
            tile = model.tile(ty, tx)
            half = TILE // 2
            level1[ty * half : (ty + 1) * half, tx * half : (tx + 1) * half] = _halve(tile)
            bar.update(1)
            yield tile


def _halve(image: np.ndarray) -> np.ndarray:
    """2x2 box-filter downsampling of an ``(H, W, 3)`` uint8 image (odd edges dropped), in row blocks."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    out = np.empty((h, w, 3), dtype=np.uint8)
    for start in range(0, h, TILE):
        stop = min(start + TILE, h)
        block = image[2 * start : 2 * stop, : 2 * w].reshape(stop - start, 2, w, 2, 3)
        out[start:stop] = (block.sum(axis=(1, 3), dtype=np.uint16) + 2) // 4
    return out


def _write_slide(path: Path, model: _SlideModel, mpp: float | None, quality: int, bar: tqdm) -> None:
    """Write one slide: level 0 from a tile generator, then 2x-reduced levels until one tile covers a level.

    ``mpp=None`` writes no resolution (tifffile's unitless 1/1), so OpenSlide reports no ``openslide.mpp-x/y``.
    """
    options = {
        "tile": (TILE, TILE),
        "photometric": "rgb",
        "compression": "jpeg",
        "compressionargs": {"level": quality},
        "metadata": None,
    }

    def resolution(downsample: int) -> dict:
        if mpp is None:
            return {}
        return {"resolution": (1e4 / (mpp * downsample),) * 2, "resolutionunit": "CENTIMETER"}

    level1 = np.empty((model.height // 2, model.width // 2, 3), dtype=np.uint8)
    with tifffile.TiffWriter(path, bigtiff=model.width * model.height > 2**31) as tif:
        tif.write(
            _tiles(model, level1, bar),
            shape=(model.height, model.width, 3),
            dtype=np.uint8,
            subfiletype=0,
            **resolution(1),
            **options,
        )
        level, downsample = level1, 2
        while True:
            tif.write(level, subfiletype=1, **resolution(downsample), **options)
            if max(level.shape[:2]) <= TILE:
                break
            level, downsample = _halve(level), downsample * 2


def generate_camelyon(
    out_dir: str | os.PathLike,
    num: int = 2,
    seed: int = 0,
    size: int | Sequence[int] = 8192,
    tumor_fraction: float = 0.5,
    mpp: float | None = 0.5,
    quality: int = 90,
    progress: bool = False,
    exclusions: bool = False,
    groups: tuple[str, str] = ("Tumor", "Exclusion"),
) -> list[dict]:
    """Write synthetic lymph-node whole-slide images with CAMELYON-style annotations and slide labels.

    Output (``out_dir``):

    - ``images/{tumor,normal}_NNN.tif``: pyramidal tiled JPEG TIFF (RGB, 256-pixel tiles), level 0 of
      ``size`` and 2x-reduced levels down to one tile (8192 -> 6 levels; at least 3), each level a separate
      top-level page with ``NewSubfileType=1`` on the reduced ones, so OpenSlide (generic TIFF) and MONAI's
      ``WSIReader(backend="openslide")`` open every level; X/YResolution give ``openslide.mpp-x/y = mpp``.
    - ``annotations/tumor_NNN.xml``: ASAP XML polygons in level-0 pixel coordinates, for tumour slides only
      (normal slides have no annotation file, as in CAMELYON16): tumour outlines in group ``groups[0]``
      (``Tumor``; CAMELYON16 also uses ``_0``/``_1``, CAMELYON17 ``metastases``) and, with ``exclusions``,
      the non-tumour region inside an outline in group ``groups[1]`` (``Exclusion``; CAMELYON16 also ``_2``).
    - ``labels.csv``: ``slide,label`` rows with the slide name (no extension) and ``tumor`` / ``normal``.

    Planted signal: a pale glass background (about RGB 240) holds 1-3 irregular tissue sections
    (:class:`_SlideModel`). Colours follow the Beer-Lambert law with the hematoxylin/eosin optical densities
    of :data:`HE_STAIN_VECTORS`: pink eosin stroma with a fine texture and slow stain-intensity drift, dotted
    with small round purple nuclei (about 45 % of 16-px cells). Tumour slides add 1-3 metastases, each at
    least 3 field nodes inside the tissue, where nuclei are denser (90 % of cells), larger (semi-axes 4.5-7 px
    vs 2.5-4 px), pleomorphic and darker (hematoxylin 1.3-1.8 vs 0.9-1.2) and the cytoplasm is paler and more
    basophilic; the annotation polygons trace exactly that region (to within about a pixel). With
    ``exclusions``, each tumour slide whose deepest tumour point lies at least 3 field nodes inside the tumour
    gets a disc of normal tissue around that point (radius half that depth) carved out of the metastasis and
    annotated as an exclusion polygon inside the unchanged tumour outline. Slide ``i`` depends only on
    ``(seed, i)``, its size, whether it is a tumour slide and ``exclusions``.

    Args:
        out_dir: output folder (created if missing; files with the same names are overwritten).
        num: number of slides (>= 1).
        seed: base random seed; equal seeds give identical slides.
        size: level-0 size, an int (square) or ``(width, height)``; each side a multiple of 256 in
            ``[1024, 65536]``. Memory use is about ``width * height * 0.75`` bytes (the 2x-reduced level).
        tumor_fraction: fraction of tumour slides (the first ``ceil(num * tumor_fraction)`` are tumour).
        mpp: microns per level-0 pixel written in the resolution tags (0.5 ~ a 20x scan); ``None`` writes no
            resolution (a slide without mpp metadata).
        quality: JPEG quality of the tiles (1-100).
        progress: show a tqdm progress bar over all tiles.
        exclusions: carve an annotated exclusion region out of the tumour of each tumour slide.
        groups: ASAP ``PartOfGroup`` names of the tumour and the exclusion polygons.

    Returns:
        ``[{"slide": path, "annotation": path or None, "label": "tumor" | "normal"}, ...]`` (absolute paths).

    Raises:
        ValueError: for ``num < 1``, a bad ``size``, ``tumor_fraction`` outside ``[0, 1]``, ``mpp <= 0`` or
            ``quality`` outside ``[1, 100]``.

    Example::

        >>> slides = generate_camelyon("/tmp/camelyon", num=2, size=2048)
        >>> [s["label"] for s in slides]
        ['tumor', 'normal']
    """
    width, height = _check_size(size)
    if int(num) < 1:
        raise ValueError(f"num must be a positive number of slides, got {num}.")
    if not 0.0 <= float(tumor_fraction) <= 1.0:
        raise ValueError(f"tumor_fraction must lie in [0, 1], got {tumor_fraction}.")
    if mpp is not None and not float(mpp) > 0:
        raise ValueError(f"mpp must be positive or None, got {mpp}.")
    if isinstance(groups, str) or len(groups) != 2 or not all(isinstance(g, str) and g for g in groups):
        raise ValueError(f"groups must be two non-empty names (tumour, exclusion), got {groups!r}.")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must lie in [1, 100], got {quality}.")
    root = Path(out_dir).resolve()
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(exist_ok=True)
    num_tumour = math.ceil(int(num) * float(tumor_fraction))
    tiles_per_slide = (width // TILE) * (height // TILE)

    entries = []
    with tqdm(total=int(num) * tiles_per_slide, desc="CAMELYON slides", unit="tile", disable=not progress) as bar:
        for index in range(int(num)):
            tumour = index < num_tumour
            name = f"tumor_{index + 1:03d}" if tumour else f"normal_{index - num_tumour + 1:03d}"
            bar.set_postfix_str(name)
            model = _SlideModel((int(seed), index), width, height, tumour, exclusion=bool(exclusions))
            slide = root / "images" / f"{name}.tif"
            _write_slide(slide, model, None if mpp is None else float(mpp), int(quality), bar)
            annotation = None
            if tumour:
                annotation = root / "annotations" / f"{name}.xml"
                outlines, excluded = model.polygons(model.outline), model.polygons(model.exclusion)
                write_asap_polygons(
                    annotation, outlines + excluded, group=[groups[0]] * len(outlines) + [groups[1]] * len(excluded)
                )
            entries.append(
                {
                    "slide": str(slide),
                    "annotation": None if annotation is None else str(annotation),
                    "label": "tumor" if tumour else "normal",
                }
            )
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["slide", "label"])
        for entry in entries:
            writer.writerow([Path(entry["slide"]).stem, entry["label"]])
    return entries
