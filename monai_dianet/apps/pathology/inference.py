# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Stitching patch predictions into slide heat maps, and the per-slide outputs built from them.

MONAI's ``ProbMapProducer`` writes one probability per patch at the mask level. A segmentation head predicts a
probability per pixel, and MC dropout adds an uncertainty per pixel: :class:`HeatmapStitcher` pastes both maps
(or one value per patch, for classifiers) into the patch's footprint at the heat-map level, averaging overlaps,
and hands a slide over as soon as its last patch arrives. :class:`SlideOutputWriter` turns a finished slide into
its files (pyramidal TIFF heat and uncertainty maps, PNG overlay, lesion ASAP XML, CAMELYON16 CSV, ``.npy`` heat
map for MONAI's ``LesionFROC``) and a JSON record (slide score, predicted category, lesions in mm, case-level
uncertainty, routing decision).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from monai_dianet.apps.pathology.data import SlidePlan
from monai_dianet.apps.pathology.lesions import detect_lesions, nms_detections
from monai_dianet.apps.pathology.staging import slide_category
from monai_dianet.apps.pathology.writers import (
    write_detections_csv,
    write_heatmap_tiff,
    write_lesions_xml,
    write_overlay_png,
)
from monai_dianet.apps.pathology.wsi import read_level
from monai_dianet.metrics.uncertainty import case_uncertainty
from monai_dianet.transforms.routing import routing_status

__all__ = ["SlideMaps", "HeatmapStitcher", "SlideOutputWriter"]


@dataclass
class SlideMaps:
    """The stitched maps of one slide at its heat-map level.

    Attributes:
        plan: the slide's :class:`~monai_dianet.apps.pathology.data.SlidePlan`.
        heatmap: ``(H, W)`` float32 tumour probability (0 where no patch was predicted).
        uncertainty: ``(H, W)`` float32 uncertainty (e.g. MC-dropout mutual information), or None.
        covered: ``(H, W)`` bool, pixels covered by at least one patch.
    """

    plan: SlidePlan
    heatmap: np.ndarray
    uncertainty: np.ndarray | None
    covered: np.ndarray


def _as_maps(values, size: int) -> np.ndarray:
    """Patch predictions ``(B,)`` (one value per patch) or ``(B, h, w)`` as ``(B, size, size)`` maps over each patch
    (area averaging when shrinking, bilinear when enlarging), in one call for the batch."""
    values = torch.as_tensor(values, dtype=torch.float32).detach().cpu()
    if values.ndim == 1:
        return values[:, None, None].expand(-1, size, size).numpy()
    values = values[:, None]
    if values.shape[-2:] == (size, size):
        return values[:, 0].numpy()
    mode = "area" if size <= values.shape[-1] else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(values, size=(size, size), mode=mode, **kwargs)[:, 0].numpy()


class HeatmapStitcher:
    """Paste patch predictions of several slides into heat maps at each slide's heat-map level.

    A patch with level-0 top-left ``(row, col)`` and level-0 side ``extent`` covers heat-map pixels from
    ``round(row / d)`` over ``max(1, round(extent / d))`` pixels (``d`` the heat-map downsample); its map is resized
    there (area averaging when shrinking) and overlapping patches are averaged.

    Args:
        plans: the slides, each with its patch grid (``plan.locations``).

    Example::

        >>> stitcher = HeatmapStitcher(plans)
        >>> maps = stitcher.add("tumor_001", (1024, 2048), prob_map, mi_map)  # SlideMaps when the slide is complete
    """

    def __init__(self, plans: Sequence[SlidePlan]) -> None:
        self.plans = {plan.name: plan for plan in plans}
        if len(self.plans) != len(plans):
            raise ValueError("slide names must be unique.")
        self.remaining = {plan.name: len(plan.locations) for plan in plans}
        self._sums: dict[str, np.ndarray] = {}
        self._counts: dict[str, np.ndarray] = {}
        self._has_uncertainty = False

    @property
    def pending(self) -> list[str]:
        """Slides with patches still to come."""
        return [name for name, count in self.remaining.items() if count > 0]

    def empty_slides(self) -> list[SlideMaps]:
        """Maps (all zero) of slides whose grid has no patch (no tissue found)."""
        return [self._finish(name) for name, count in list(self.remaining.items()) if count == 0]

    def add(self, name: str, location: Sequence[float], prob, uncertainty=None) -> SlideMaps | None:
        """Add one patch prediction.

        Args:
            name: slide name.
            location: level-0 ``(row, col)`` of the patch's top-left corner.
            prob: tumour probability: a scalar (classifier) or an ``(h, w)`` map over the patch.
            uncertainty: the same for the uncertainty, or None.

        Returns:
            the slide's :class:`SlideMaps` when this was its last patch, else None.

        Raises:
            KeyError: an unknown slide, or more patches than its grid has.
        """
        def one(value) -> torch.Tensor:
            value = torch.as_tensor(value, dtype=torch.float32)
            return value.reshape(1) if value.numel() == 1 else value.reshape(1, *value.shape[-2:])

        done = self.add_batch([name], [location], one(prob), None if uncertainty is None else one(uncertainty))
        return done[0] if done else None

    def add_batch(self, names: Sequence[str], locations, probs, uncertainties=None) -> list[SlideMaps]:
        """Add a batch of patch predictions (any mix of slides); resizing is done once per slide in the batch.

        Args:
            names: slide name of each patch.
            locations: ``(B, 2)`` level-0 ``(row, col)`` top-left corners.
            probs: ``(B,)`` (classifier) or ``(B, h, w)`` tumour probabilities.
            uncertainties: the same shape for the uncertainty, or None.

        Returns:
            the :class:`SlideMaps` of the slides this batch completed (often none).

        Raises:
            KeyError: an unknown slide, or more patches than its grid has.
        """
        locations = locations.detach().cpu().numpy() if isinstance(locations, torch.Tensor) else locations
        locations = np.asarray(locations, dtype=np.float64).reshape(len(names), -1)
        finished = []
        for name in dict.fromkeys(names):
            index = [i for i, n in enumerate(names) if n == name]
            if name not in self.plans or self.remaining[name] < len(index):
                raise KeyError(f"no pending patches of slide {name!r} for {len(index)} more.")
            plan = self.plans[name]
            shape = plan.heatmap_shape
            if name not in self._sums:
                self._sums[name] = np.zeros((2, *shape), dtype=np.float64)
                self._counts[name] = np.zeros(shape, dtype=np.int32)
            d = plan.heatmap_downsample
            size = max(1, int(round(plan.extent / d)))
            prob_maps = _as_maps(torch.as_tensor(probs)[index], size)
            unc_maps = None if uncertainties is None else _as_maps(torch.as_tensor(uncertainties)[index], size)
            sums, counts = self._sums[name], self._counts[name]
            for k, i in enumerate(index):
                r0, c0 = (int(round(v / d)) for v in locations[i, :2])
                r1, c1 = min(r0 + size, shape[0]), min(c0 + size, shape[1])
                if r1 > r0 and c1 > c0:
                    sums[0, r0:r1, c0:c1] += prob_maps[k, : r1 - r0, : c1 - c0]
                    if unc_maps is not None:
                        sums[1, r0:r1, c0:c1] += unc_maps[k, : r1 - r0, : c1 - c0]
                    counts[r0:r1, c0:c1] += 1
            self.remaining[name] -= len(index)
            self._has_uncertainty |= uncertainties is not None
            if self.remaining[name] == 0:
                finished.append(self._finish(name))
        return finished

    def _finish(self, name: str) -> SlideMaps:
        plan = self.plans[name]
        sums = self._sums.pop(name, np.zeros((2, *plan.heatmap_shape)))
        counts = self._counts.pop(name, np.zeros(plan.heatmap_shape, dtype=np.int32))
        self.remaining[name] = -1  # done
        mean = sums / np.maximum(counts, 1)
        return SlideMaps(
            plan=plan,
            heatmap=mean[0].astype(np.float32),
            uncertainty=mean[1].astype(np.float32) if self._has_uncertainty else None,
            covered=counts > 0,
        )


class SlideOutputWriter:
    """Write the outputs of a finished slide into ``output_dir`` and return its JSON record.

    Files, per slide ``NAME``:

    - ``NAME_heatmap.tif``: tumour probability, pyramidal tiled TIFF (OpenSlide opens it; its level 0 is the
      slide's heat-map level, so its extent times the heat-map downsample is the slide's level-0 extent);
    - ``NAME_uncertainty.tif``: the uncertainty map, same layout, scaled by ``uncertainty_scale`` (when any);
    - ``NAME_heatmap.npy``: the float32 heat map (what MONAI's ``LesionFROC`` loads);
    - ``NAME_overlay.png``: the heat map over the slide thumbnail, lesion outlines drawn;
    - ``NAME_uncertainty.png``: the uncertainty map the same way, divided by its slide maximum
      (``uncertainty_max`` in the record) so that it spans the colour scale (when any);
    - ``NAME_lesions.xml``: detected lesions as ASAP XML polygons (level-0 coordinates);
    - ``NAME.csv``: CAMELYON16 detections ``probability,x,y`` (MONAI ``PathologyProbNMS`` points);
    - ``NAME.json``: the record below.

    Record: ``slide``, ``file``, ``mpp`` (and whether it came from the file), ``heatmap_level``,
    ``heatmap_downsample``, ``slide_score`` (highest heat-map probability), ``predicted_category`` (CAMELYON17
    category of the largest detected lesion: ``negative``/``itc``/``micro``/``macro``), ``lesion_count``,
    ``lesions`` (probability, level-0 peak, area mm^2, largest diameter mm), ``detections`` (NMS points),
    ``case_uncertainty`` (the uncertainty map reduced over covered tissue), ``uncertainty_max``, ``routing``
    (:func:`~monai_dianet.transforms.routing.routing_status`, the same entry as the BraTS case records: with a
    router, ``enabled`` true, ``router_file``, and the router's ``decision``, ``score`` and ``threshold`` when the
    maps carry an uncertainty; without one, ``enabled`` false and a note that no router was used) and ``files``.

    Args:
        output_dir: folder (created if missing).
        lesion_threshold: probability threshold of lesions and NMS detections.
        nms_box_um: side of the NMS suppression box in microns (converted to heat-map pixels per slide).
        smooth_um: Gaussian smoothing (sigma, microns) of the stitched heat map, before anything is written or
            taken from it (the heat-map files, lesions, detections and the FROC all see the smoothed map): it joins
            the pixel-level segmentation into regions; 0 for none. Done here with ``scipy.ndimage`` because the
            ``sigma`` of MONAI 1.6's ``ProbNMS`` leaves a 2D ``(H, W)`` map unsmoothed (its ``GaussianFilter``
            reads the first two dimensions as batch and channel).
        uncertainty_reduction: case reduction of the uncertainty map (``mean``, ``max``, ``quantile``, ``sum``).
        uncertainty_scale: the uncertainty TIFF stores ``min(1, value / uncertainty_scale)`` as 8 bits (the record
            keeps the exact case-level value); ``log(2)`` bounds binary entropy and mutual information.
        router: ``callable(case_uncertainty) -> dict`` giving the routing decision, or None (routing off).
        router_file: the file ``router`` was read from, named in each record.
        tile: tile side of the TIFF heat maps.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        lesion_threshold: float = 0.5,
        nms_box_um: float = 400.0,
        smooth_um: float = 0.0,
        uncertainty_reduction: str = "quantile",
        uncertainty_scale: float = float(np.log(2.0)),
        router: Callable[[float], dict] | None = None,
        router_file: str | os.PathLike | None = None,
        tile: int = 128,
    ) -> None:
        self.output_dir = os.fspath(output_dir)
        self.lesion_threshold = float(lesion_threshold)
        self.nms_box_um = float(nms_box_um)
        self.smooth_um = float(smooth_um)
        self.uncertainty_reduction = uncertainty_reduction
        self.uncertainty_scale = float(uncertainty_scale)
        self.router = router
        self.router_file = router_file
        self.tile = int(tile)
        self.records: list[dict] = []

    def __call__(self, maps: SlideMaps) -> dict:
        plan, info = maps.plan, maps.plan.info
        os.makedirs(self.output_dir, exist_ok=True)
        stem = os.path.join(self.output_dir, info.name)
        d = plan.heatmap_downsample
        heat_mpp = info.mpp * d
        if self.smooth_um > 0:
            maps = replace(maps, heatmap=ndimage.gaussian_filter(maps.heatmap, self.smooth_um / heat_mpp))
        lesions = detect_lesions(maps.heatmap, d, info.mpp, self.lesion_threshold, info.dimensions)
        box = max(1, int(round(self.nms_box_um / heat_mpp)))
        detections = nms_detections(maps.heatmap, d, self.lesion_threshold, box)
        files = {
            "heatmap": write_heatmap_tiff(
                f"{stem}_heatmap.tif", maps.heatmap, heat_mpp, self.tile, f"tumour probability of {info.name}"
            ),
            "heatmap_npy": f"{stem}_heatmap.npy",
            "lesions_xml": write_lesions_xml(f"{stem}_lesions.xml", lesions),
            "detections_csv": write_detections_csv(f"{stem}.csv", detections),
        }
        np.save(files["heatmap_npy"], maps.heatmap)
        tissue = plan.tissue_at(maps.heatmap.shape) & maps.covered
        uncertainty = None
        if maps.uncertainty is not None:
            files["uncertainty"] = write_heatmap_tiff(
                f"{stem}_uncertainty.tif",
                maps.uncertainty / self.uncertainty_scale,
                heat_mpp,
                self.tile,
                f"uncertainty of {info.name} (value / {self.uncertainty_scale:.6g})",
            )
            uncertainty = float(
                case_uncertainty(torch.as_tensor(maps.uncertainty)[None], self.uncertainty_reduction,
                                 mask=torch.as_tensor(tissue)[None])[0]
            )
        thumbnail = read_level(info, plan.heatmap_level)
        thumbnail_downsample = info.level_downsamples[plan.heatmap_level]
        files["overlay"] = write_overlay_png(f"{stem}_overlay.png", thumbnail, maps.heatmap, lesions,
                                             thumbnail_downsample)
        uncertainty_max = None
        if maps.uncertainty is not None:
            # per-pixel MC-dropout values are small next to their bound, so the PNG spans the slide's own range
            uncertainty_max = float(maps.uncertainty.max())
            files["uncertainty_overlay"] = write_overlay_png(
                f"{stem}_uncertainty.png", thumbnail, maps.uncertainty / max(uncertainty_max, 1e-12), lesions,
                thumbnail_downsample,
            )
        routing = routing_status(self.router is not None, self.router_file, "validation slides",
                                 "no slide was accepted or flagged for review")
        if self.router is not None and uncertainty is not None:
            routing.update(self.router(uncertainty))
        record = {
            "slide": info.name,
            "file": info.path,
            "mpp": info.mpp,
            "mpp_from_file": info.mpp_from_file,
            "heatmap_level": plan.heatmap_level,
            "heatmap_downsample": d,
            "patches": int(len(plan.locations)),
            "slide_score": float(maps.heatmap.max()) if maps.heatmap.size else 0.0,
            "predicted_category": slide_category(lesion.diameter_mm for lesion in lesions),
            "lesion_threshold": self.lesion_threshold,
            "nms_box": box,
            "smooth_um": self.smooth_um,
            "uncertainty_max": uncertainty_max,
            "lesion_count": len(lesions),
            "lesions": [lesion.summary() for lesion in lesions],
            "detections": [{"probability": p, "x": x, "y": y} for p, x, y in detections],
            "case_uncertainty": uncertainty,
            "uncertainty_reduction": self.uncertainty_reduction,
            "routing": routing,
            "files": files,
        }
        files["json"] = f"{stem}.json"
        with open(files["json"], "w") as f:
            json.dump(record, f, indent=2)
        self.records.append(record)
        return record
