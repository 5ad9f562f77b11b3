# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Patch lists of whole slides for MONAI's ``PatchWSIDataset``: an inference grid over tissue and balanced training
samples of tumour and normal tissue, read at a working resolution.

MONAI's WSI datasets read patches (``PatchWSIDataset``) and pick patch centres on a tissue mask
(``MaskedPatchWSIDataset``, one patch per mask pixel at a fixed level). What they lack is reading at a physical
resolution across slides scanned at different ones, a patch grid independent of the mask level, and sampling
balanced between annotated tumour and normal tissue; this module builds those patch lists, and
``PatchWSIDataset`` (OpenSlide backend) reads them, in DataLoader workers.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from monai.data import PatchWSIDataset
from monai.utils import ProbMapKeys, WSIPatchKeys

from monai_dianet.apps.pathology.annotations import SlideAnnotation, read_asap_annotation
from monai_dianet.apps.pathology.staging import read_stage_labels
from monai_dianet.apps.pathology.tissue import TISSUE_MPP, tissue_mask
from monai_dianet.apps.pathology.wsi import SlideInfo, read_slide_info, slide_reader
from monai_dianet.utils.errors import InputError, MissingInputError

__all__ = [
    "SlidePlan",
    "plan_slide",
    "plan_slides",
    "sample_training_patches",
    "patch_dataset",
    "camelyon_datalist",
    "PATCH_META_KEYS",
]

PATCH_META_KEYS = (ProbMapKeys.NAME.value, "annotation", "extent")
"""Entry keys copied into each patch's metadata: slide name, annotation file ("" when none), level-0 patch side."""


def _box_fraction(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mean of a boolean mask over boxes ``(N, 4)`` = ``(r0, c0, r1, c1)`` in mask pixels (summed-area table)."""
    table = np.pad(mask.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    r0, c0, r1, c1 = (np.clip(boxes[:, i], 0, mask.shape[i % 2]).astype(int) for i in range(4))
    r1, c1 = np.maximum(r1, r0 + 1).clip(max=mask.shape[0]), np.maximum(c1, c0 + 1).clip(max=mask.shape[1])
    area = np.maximum((r1 - r0) * (c1 - c0), 1)
    return (table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]) / area


def _positions(length: int, extent: float, step: float) -> np.ndarray:
    """Top-left positions of patches of ``extent`` covering ``[0, length)`` with ``step``, all inside."""
    last = length - extent
    if last <= 0:
        return np.zeros(1)
    starts = np.arange(0.0, last, step)
    return np.append(starts, last) if last - starts[-1] > 1e-6 else starts


@dataclass
class SlidePlan:
    """How one slide is read and where its heat map lives.

    Attributes:
        info: the slide (:class:`~monai_dianet.apps.pathology.wsi.SlideInfo`).
        annotation: its ASAP XML file, or None.
        working_mpp: microns per pixel of the patches given to the network.
        patch_size: patch side at the working resolution.
        level, read_size, extent: the read plan (:meth:`SlideInfo.read_plan`).
        heatmap_level: the pyramid level at which the heat map is stitched.
        tissue: boolean tissue mask at ``tissue_level``.
        tissue_level: its pyramid level.
        locations: ``(N, 2)`` level-0 ``(row, col)`` top-left corners of the patches.
    """

    info: SlideInfo
    annotation: str | None
    working_mpp: float
    patch_size: int
    level: int
    read_size: int
    extent: float
    heatmap_level: int
    tissue: np.ndarray
    tissue_level: int
    locations: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def heatmap_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the heat map: the slide's ``heatmap_level``."""
        width, height = self.info.level_dimensions[self.heatmap_level]
        return height, width

    @property
    def heatmap_downsample(self) -> float:
        return self.info.level_downsamples[self.heatmap_level]

    def tissue_at(self, shape: Sequence[int]) -> np.ndarray:
        """The tissue mask resampled (nearest) to a grid of ``shape`` covering the slide."""
        rows = np.minimum((np.arange(shape[0]) + 0.5) * self.tissue.shape[0] / shape[0], self.tissue.shape[0] - 1)
        cols = np.minimum((np.arange(shape[1]) + 0.5) * self.tissue.shape[1] / shape[1], self.tissue.shape[1] - 1)
        return self.tissue[rows.astype(int)[:, None], cols.astype(int)[None, :]]

    def entry(self, location: Sequence[int], **extra) -> dict:
        """One ``PatchWSIDataset`` entry (top-left ``location`` at level 0)."""
        return {
            "image": self.info.path,
            WSIPatchKeys.LOCATION.value: [int(location[0]), int(location[1])],
            WSIPatchKeys.SIZE.value: [self.read_size, self.read_size],
            WSIPatchKeys.LEVEL.value: self.level,
            ProbMapKeys.NAME.value: self.name,
            ProbMapKeys.COUNT.value: len(self.locations),
            "annotation": self.annotation or "",
            "extent": self.extent,
            **extra,
        }

    def entries(self) -> list[dict]:
        """``PatchWSIDataset`` entries of the inference grid."""
        return [self.entry(loc) for loc in self.locations]


def plan_slide(
    path: str | os.PathLike,
    working_mpp: float,
    patch_size: int,
    heatmap_level: int,
    stride: int | None = None,
    annotation: str | os.PathLike | None = None,
    tissue_mpp: float = TISSUE_MPP,
    min_tissue: float = 0.1,
    fallback_mpp: float | None = None,
) -> SlidePlan:
    """Plan the inference of one slide: read plan, tissue mask, and a patch grid over tissue.

    Args:
        path: the slide.
        working_mpp: microns per pixel the network works at; each slide is read from its pyramid level just finer
            than this and resized, so slides scanned at different resolutions give the network the same scale.
        patch_size: patch side at the working resolution.
        heatmap_level: pyramid level of the heat map (clamped, with a warning, to the slide's coarsest level).
        stride: grid step at the working resolution (default ``patch_size``: adjacent patches).
        annotation: the slide's ASAP XML (checked against the slide size), or None.
        tissue_mpp: resolution of tissue detection (:func:`~monai_dianet.apps.pathology.tissue.tissue_mask`).
        min_tissue: a grid patch is kept when at least this fraction of it is tissue.
        fallback_mpp: microns per pixel for slides without resolution (default: ``working_mpp``).

    Returns:
        a :class:`SlidePlan`.

    Raises:
        ValueError: an unusable slide or annotation (see :func:`read_slide_info`, :func:`read_asap_annotation`),
            or a non-positive ``patch_size``/``stride``/``working_mpp``.
    """
    if int(patch_size) < 1 or (stride is not None and int(stride) < 1) or not float(working_mpp) > 0:
        raise InputError(
            f"patch_size and stride must be >= 1 and working_mpp > 0, got {patch_size}, {stride}, {working_mpp}."
        )
    info = read_slide_info(path, fallback_mpp=working_mpp if fallback_mpp is None else fallback_mpp)
    if annotation:
        read_asap_annotation(annotation, slide_dimensions=info.dimensions)
    if not 0 <= int(heatmap_level) < info.level_count:
        warnings.warn(
            f"{info.path}: heat map level {heatmap_level} does not exist (levels 0-{info.level_count - 1}); "
            f"using level {info.level_count - 1}.",
            stacklevel=2,
        )
        heatmap_level = info.level_count - 1
    level, read_size, extent = info.read_plan(working_mpp, patch_size)
    mask, mask_level = tissue_mask(info, tissue_mpp=tissue_mpp)
    step = extent * (patch_size if stride is None else int(stride)) / int(patch_size)
    width, height = info.dimensions
    rows, cols = _positions(height, extent, step), _positions(width, extent, step)
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    mask_ds = info.level_downsamples[mask_level]
    boxes = np.concatenate([grid / mask_ds, (grid + extent) / mask_ds], axis=1)
    keep = _box_fraction(mask, np.round(boxes)) >= float(min_tissue)
    return SlidePlan(
        info=info,
        annotation=None if not annotation else os.path.abspath(os.fspath(annotation)),
        working_mpp=float(working_mpp),
        patch_size=int(patch_size),
        level=level,
        read_size=read_size,
        extent=extent,
        heatmap_level=int(heatmap_level),
        tissue=mask,
        tissue_level=mask_level,
        locations=np.round(grid[keep]).astype(np.int64),
    )


def sample_training_patches(
    plans: Sequence[SlidePlan],
    num_patches: int,
    tumour_fraction: float = 0.5,
    seed: int = 0,
) -> list[dict]:
    """Random training patches, balanced between tumour and normal tissue.

    ``round(num_patches * tumour_fraction)`` patches are centred on annotated tumour (spread evenly over the slides
    that have tumour), the rest on tissue that is neither tumour nor excluded (spread evenly over all slides).
    Candidate centres are pixels of the tissue-mask level (tumour rasterised there from the annotation), jittered
    uniformly within the pixel; a patch is kept inside the slide. Labels are not decided here: the patch's mask is
    rasterised from the annotation when the patch is read (:class:`~monai_dianet.apps.pathology.transforms.
    PatchAnnotationMaskd`), so a "normal" patch near a lesion carries the tumour it contains.

    Args:
        plans: slide plans (:func:`plan_slide`); those with an annotation contribute tumour patches.
        num_patches: total number of patches.
        tumour_fraction: fraction of tumour-centred patches (when no slide has tumour, all are normal).
        seed: random seed.

    Returns:
        ``PatchWSIDataset`` entries with ``"centre"``: ``"tumour"`` or ``"normal"``.

    Raises:
        ValueError: no plans, ``num_patches < 1``, or ``tumour_fraction`` outside ``[0, 1]``.
    """
    if not plans or int(num_patches) < 1 or not 0.0 <= float(tumour_fraction) <= 1.0:
        raise ValueError(
            f"need slides, num_patches >= 1 and tumour_fraction in [0, 1], got {len(plans)} slides, {num_patches}, "
            f"{tumour_fraction}."
        )
    rng = np.random.default_rng(seed)
    candidates = []
    for plan in plans:
        ds = plan.info.level_downsamples[plan.tissue_level]
        tumour = excluded = np.zeros(plan.tissue.shape, dtype=bool)
        if plan.annotation:
            annotation: SlideAnnotation = read_asap_annotation(plan.annotation)
            tumour = annotation.mask(plan.tissue.shape, ds).astype(bool)
            excluded = annotation.exclusion_mask(plan.tissue.shape, ds).astype(bool)
        normal = plan.tissue & ~tumour & ~excluded
        candidates.append((plan, ds, np.argwhere(tumour), np.argwhere(normal)))
    with_tumour = [c for c in candidates if len(c[2])]
    num_tumour = int(round(int(num_patches) * float(tumour_fraction))) if with_tumour else 0
    with_normal = [c for c in candidates if len(c[3])]
    entries = []
    for pool, count, key in ((with_tumour, num_tumour, 2), (with_normal, int(num_patches) - num_tumour, 3)):
        if count and not pool:
            raise ValueError(f"no {'tumour' if key == 2 else 'normal'} tissue found on any of {len(plans)} slides.")
        shares = np.full(len(pool), count // max(len(pool), 1))
        shares[: count - shares.sum()] += 1
        for (plan, ds, tumour_px, normal_px), share in zip(pool, shares):
            pixels = (tumour_px, normal_px)[key - 2]
            picks = pixels[rng.integers(len(pixels), size=share)]
            centres = (picks + rng.random((share, 2))) * ds
            height, width = plan.info.dimensions[1], plan.info.dimensions[0]
            top_left = np.clip(centres - plan.extent / 2, 0, [height - plan.extent, width - plan.extent])
            name = "tumour" if key == 2 else "normal"
            entries.extend(plan.entry(np.round(loc), centre=name) for loc in np.maximum(top_left, 0))
    order = rng.permutation(len(entries))
    return [entries[i] for i in order]


def patch_dataset(entries: Sequence[dict], transform: Callable | None = None) -> PatchWSIDataset:
    """MONAI ``PatchWSIDataset`` (OpenSlide backend) over patch entries from :class:`SlidePlan`.

    Each item is ``{"image": MetaTensor (3, read_size, read_size) uint8}`` whose metadata carries the slide name,
    the level-0 top-left ``location``, the annotation file and the level-0 ``extent`` (:data:`PATCH_META_KEYS`).
    """
    return PatchWSIDataset(
        data=list(entries),
        patch_size=None,
        patch_level=None,
        transform=transform,
        include_label=False,
        center_location=False,
        additional_meta_keys=PATCH_META_KEYS,
        reader=slide_reader(),
    )


_SLIDE_SUFFIXES = (".tif", ".tiff", ".svs")


def camelyon_datalist(root: str | os.PathLike) -> list[dict]:
    """The slides of a CAMELYON-style folder, with their annotations and labels.

    Slides are the ``.tif``/``.tiff``/``.svs`` files anywhere under ``root`` (hidden folders skipped); the ASAP XML
    of a slide is the ``.xml`` file with the same stem anywhere under ``root`` (CAMELYON16: ``lesion_annotations/``,
    the generator: ``annotations/``). A slide's label is ``tumor`` when it has an annotation, ``normal``
    otherwise; a CAMELYON17 ``stage_labels.csv`` under ``root`` overrides it (any category but ``negative`` is
    tumour) and gives the slide's ``category``.

    Args:
        root: the data folder.

    Returns:
        ``[{"case_id", "image", "annotation" (path or ""), "label" ("tumor"/"normal"), "category" (or "")}, ...]``
        sorted by slide name.

    Raises:
        MissingInputError: ``root`` is not a folder.
        InputError: no slide in it, two slides or two annotations with the same name, or an annotation without a
            slide.
    """
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise MissingInputError(f"dataset_dir {root} is not a folder.")
    slides: dict[str, str] = {}
    xmls: dict[str, str] = {}
    stage_files = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            path = os.path.join(folder, name)
            target = slides if suffix.lower() in _SLIDE_SUFFIXES else xmls if suffix.lower() == ".xml" else None
            if name == "stage_labels.csv":
                stage_files.append(path)
            if target is None:
                continue
            if stem in target:
                raise InputError(f"{root}: two files named {stem!r} ({target[stem]} and {path}); names must be unique.")
            target[stem] = path
    if not slides:
        raise InputError(f"dataset_dir {root} holds no slides (.tif, .tiff or .svs files).")
    orphans = sorted(set(xmls) - set(slides))
    if orphans:
        raise InputError(f"{xmls[orphans[0]]}: annotation without a slide named {orphans[0]!r} under {root}.")
    categories: dict[str, str] = {}
    for path in stage_files:
        categories.update(read_stage_labels(path)[0])
    entries = []
    for stem in sorted(slides):
        category = categories.get(stem, "")
        tumour = category not in ("", "negative") if category else stem in xmls
        if tumour and stem not in xmls:
            warnings.warn(f"{slides[stem]}: labelled {category!r} but has no annotation; no tumour patches or FROC "
                          "targets come from it.", stacklevel=2)
        entries.append({"case_id": stem, "image": slides[stem], "annotation": xmls.get(stem, ""),
                        "label": "tumor" if tumour else "normal", "category": category})
    return entries


def plan_slides(entries: Sequence[dict], **kwargs) -> list[SlidePlan]:
    """:func:`plan_slide` for datalist entries (``image``, ``annotation``) with the same settings (``kwargs``)."""
    return [plan_slide(e["image"], annotation=e.get("annotation") or None, **kwargs) for e in entries]
