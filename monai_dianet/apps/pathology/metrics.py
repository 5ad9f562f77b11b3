# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Slide-level evaluation of CAMELYON heat maps: lesion FROC (MONAI ``LesionFROC``), slide AUC, CAMELYON17 kappa.

MONAI's ``LesionFROC`` implements the CAMELYON16 lesion rules (ground-truth lesions grown by 75 um and split into
instances, isolated tumour cells below 200 um excluded, NMS detections on the probability map, average
sensitivity at 1/4 ... 8 false positives per slide). It reads the ground-truth mask from a slide-sized image at the
heat-map level; :class:`AnnotationMaskReader` gives it the mask rasterised straight from the ASAP XML at that level
instead (no level-0 mask file of 10^10 pixels), and :class:`CamelyonFROC` also returns the curve.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from monai.apps.pathology.metrics import LesionFROC
from monai.metrics import compute_froc_curve_data, compute_froc_score
from sklearn.metrics import roc_auc_score

from monai_dianet.apps.pathology.annotations import read_asap_annotation
from monai_dianet.apps.pathology.lesions import heatmap_level_exponent
from monai_dianet.apps.pathology.staging import (
    PN_STAGES,
    SLIDE_CATEGORIES,
    patient_of,
    pn_stage,
    polygon_diameter,
    slide_category,
    stage_kappa,
)
from monai_dianet.apps.pathology.wsi import SlideInfo, read_slide_info
from monai_dianet.transforms.routing import routing_status
from monai_dianet.utils.errors import InputError

__all__ = [
    "AnnotationMaskReader",
    "CamelyonFROC",
    "true_category",
    "slide_auc",
    "evaluate_slides",
    "write_slide_table",
    "write_evaluation",
    "plot_froc",
]


class AnnotationMaskReader:
    """Reader with the two calls ``LesionFROC`` makes (``read``, ``get_data``) that returns the tumour mask of a
    slide's ASAP XML rasterised at a pyramid level (exclusions negative); slides without XML give an empty mask.

    ``read((xml_path_or_empty, slide_info))`` returns the pair; ``get_data(pair, level=k)`` the ``(1, H, W)`` uint8
    mask at the slide's pyramid level whose downsample is ``2**k``.
    """

    def read(self, spec):
        return spec

    def get_data(self, spec, level: int):
        annotation, info = spec
        matches = [lv for lv, d in enumerate(info.level_downsamples) if heatmap_level_exponent(d) == int(level)]
        if not matches:
            raise ValueError(f"{info.path}: no pyramid level with downsample 2**{level}.")
        width, height = info.level_dimensions[matches[0]]
        mask = np.zeros((height, width), dtype=np.uint8)
        if annotation:
            mask = read_asap_annotation(annotation).mask(mask.shape, info.level_downsamples[matches[0]])
        return mask[None], {}


class CamelyonFROC(LesionFROC):
    """MONAI's ``LesionFROC`` on ASAP XML ground truth, returning the FROC curve as well as the score.

    Args:
        data: one dict per slide: ``prob_map`` (``.npy`` heat map), ``annotation`` (ASAP XML or ``""``/None),
            ``slide`` (path or :class:`SlideInfo`), ``level`` (pyramid level of the heat map).
        grow_distance, itc_diameter, eval_thresholds, nms_prob_threshold, nms_box_size: as in MONAI's
            ``LesionFROC`` (CAMELYON16 defaults: 75 um, 200 um, (0.25, 0.5, 1, 2, 4, 8)). Its ``nms_sigma`` is not
            offered: MONAI 1.6 leaves a 2D heat map unsmoothed with it; smooth with ``SlideOutputWriter(smooth_um=)``.

    Example::

        >>> froc = CamelyonFROC([{"prob_map": "t1_heatmap.npy", "annotation": "t1.xml", "slide": "t1.tif",
        ...                       "level": 3}], nms_box_size=12)
        >>> froc.evaluate_curve()["froc"]
    """

    def __init__(
        self,
        data: Sequence[Mapping],
        grow_distance: int = 75,
        itc_diameter: int = 200,
        eval_thresholds: tuple = (0.25, 0.5, 1, 2, 4, 8),
        nms_prob_threshold: float = 0.5,
        nms_box_size: int = 48,
    ) -> None:
        samples = []
        for item in data:
            info = item["slide"] if isinstance(item["slide"], SlideInfo) else read_slide_info(item["slide"])
            level = heatmap_level_exponent(info.level_downsamples[int(item["level"])])
            samples.append(
                {
                    "prob_map": item["prob_map"],
                    "tumor_mask": (item.get("annotation") or "", info),
                    "level": level,
                    "pixel_spacing": info.mpp,
                }
            )
        super().__init__(
            samples,
            grow_distance=grow_distance,
            itc_diameter=itc_diameter,
            eval_thresholds=eval_thresholds,
            nms_prob_threshold=nms_prob_threshold,
            nms_box_size=nms_box_size,
            image_reader_name="OpenSlide",
        )
        self.image_reader = AnnotationMaskReader()

    def evaluate_curve(self) -> dict:
        """FROC score, the sensitivity at each of ``eval_thresholds``, the curve and the counts.

        Returns:
            ``{"froc", "sensitivities", "fps_per_image", "total_sensitivity", "num_targets", "num_images"}``;
            ``froc`` is None when no slide has a (non-ITC) lesion to find.
        """
        fp_probs, tp_probs, num_targets, num_images = self.compute_fp_tp()
        if num_targets == 0:
            return {"froc": None, "sensitivities": None, "fps_per_image": [], "total_sensitivity": [],
                    "num_targets": 0, "num_images": int(num_images)}
        fps, sensitivity = compute_froc_curve_data(fp_probs, tp_probs, num_targets, num_images)
        per_threshold = [
            float(np.interp(t, fps[::-1], sensitivity[::-1])) for t in self.eval_thresholds
        ]
        return {
            "froc": float(compute_froc_score(fps, sensitivity, self.eval_thresholds)),
            "sensitivities": dict(zip([str(t) for t in self.eval_thresholds], per_threshold)),
            "fps_per_image": np.asarray(fps).tolist(),
            "total_sensitivity": np.asarray(sensitivity).tolist(),
            "num_targets": int(num_targets),
            "num_images": int(num_images),
        }


def true_category(annotation: str | None, mpp: float) -> str:
    """CAMELYON17 category of a slide from its ASAP XML: that of the largest tumour polygon (maximum Feret
    diameter in mm); ``negative`` without annotation."""
    if not annotation:
        return "negative"
    polygons = read_asap_annotation(annotation).tumour
    return slide_category(polygon_diameter(p) * mpp / 1000.0 for p in polygons)


def slide_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC AUC of slide scores against tumour/normal labels (scikit-learn); None with a single class."""
    labels = [int(v) for v in labels]
    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(labels, [float(s) for s in scores]))


def evaluate_slides(
    records: Sequence[Mapping],
    truth: Mapping[str, Mapping],
    nms_box_size: int | None = None,
    stage_labels: Mapping[str, str] | None = None,
    patient_stages: Mapping[str, str] | None = None,
) -> tuple[dict, list[dict]]:
    """Slide-level evaluation of inference records against the ground truth.

    Args:
        records: per-slide records of :class:`~monai_dianet.apps.pathology.inference.SlideOutputWriter`.
        truth: slide name -> ``{"annotation": XML or None, "label": 0/1}``.
        nms_box_size: NMS box (heat-map pixels) for the FROC; default the box the records' CSV used
            (``nms_box``), so the FROC scores exactly the written detections.
        stage_labels: slide -> CAMELYON17 category (``stage_labels.csv``); default from the XML
            (:func:`true_category`).
        patient_stages: patient -> pN-stage from ``stage_labels.csv``; default derived from the slide categories.

    Returns:
        ``(summary, rows)``: the summary (``slides``, ``slide_auc``, FROC dict, ``category_kappa``, ``pn_kappa``,
        ``category_accuracy``) and one row per slide (name, label, score, categories, lesion count, uncertainty,
        routing decision).

    Raises:
        KeyError: a record's slide is missing from ``truth``.
    """
    rows = []
    froc_data = []
    for record in records:
        name = record["slide"]
        if name not in truth:
            raise KeyError(f"no ground truth for slide {name!r}.")
        gt = truth[name]
        category = (stage_labels or {}).get(name) or true_category(gt.get("annotation"), record["mpp"])
        rows.append(
            {
                "slide": name,
                "label": int(gt["label"]),
                "slide_score": float(record["slide_score"]),
                "true_category": category,
                "predicted_category": record["predicted_category"],
                "lesion_count": int(record["lesion_count"]),
                "case_uncertainty": record.get("case_uncertainty"),
                "decision": (record.get("routing") or {}).get("decision"),
            }
        )
        with warnings.catch_warnings():  # a missing mpp was reported at inference; the record holds the value used
            warnings.simplefilter("ignore")
            info = read_slide_info(record["file"], fallback_mpp=record["mpp"])
        froc_data.append(
            {
                "prob_map": record["files"]["heatmap_npy"],
                "annotation": gt.get("annotation"),
                "slide": info,
                "level": record["heatmap_level"],
            }
        )
    boxes = {int(r["nms_box"]) for r in records if "nms_box" in r}
    box = nms_box_size if nms_box_size is not None else (boxes.pop() if len(boxes) == 1 else 48)
    thresholds = {float(r.get("lesion_threshold", 0.5)) for r in records}
    froc = CamelyonFROC(froc_data, nms_box_size=int(box), nms_prob_threshold=min(thresholds) if thresholds else 0.5)
    true_cat = {r["slide"]: r["true_category"] for r in rows}
    pred_cat = {r["slide"]: r["predicted_category"] for r in rows}
    patients: dict[str, list[str]] = {}
    for r in rows:
        patients.setdefault(patient_of(r["slide"]), []).append(r["slide"])
    true_pn = dict(patient_stages or {}) or {p: pn_stage(true_cat[s] for s in slides) for p, slides in patients.items()}
    pred_pn = {p: pn_stage(pred_cat[s] for s in slides) for p, slides in patients.items()}
    summary = {
        "slides": len(rows),
        "slide_auc": slide_auc([r["label"] for r in rows], [r["slide_score"] for r in rows]),
        "froc": froc.evaluate_curve() if rows else None,
        "nms_box_size": int(box),
        "category_accuracy": float(np.mean([true_cat[s] == pred_cat[s] for s in true_cat])) if rows else None,
        "category_kappa": stage_kappa(true_cat, pred_cat, SLIDE_CATEGORIES),
        "pn_kappa": stage_kappa(true_pn, pred_pn, PN_STAGES),
        "patients": len(patients),
    }
    return summary, rows


def write_slide_table(path: str | os.PathLike, rows: Sequence[Mapping]) -> str:
    """Write per-slide evaluation rows as CSV (columns of the first row)."""
    path = os.fspath(path)
    with open(path, "w", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def plot_froc(path: str | os.PathLike, froc: Mapping, title: str = "") -> str | None:
    """Save the FROC curve (sensitivity against false positives per slide, log axis) as PNG; None without one."""
    if not froc or not froc.get("fps_per_image"):
        return None
    from matplotlib.figure import Figure

    from monai_dianet.visualize.plots import save_figure

    fig = Figure(figsize=(4.5, 3.5))
    ax = fig.add_subplot()
    fps, sens = np.asarray(froc["fps_per_image"]), np.asarray(froc["total_sensitivity"])
    ax.step(np.maximum(fps, 1e-3), sens, where="post")
    for t, s in (froc.get("sensitivities") or {}).items():
        ax.plot(float(t), s, "o", color="tab:red", ms=3)
    ax.set_xscale("log")
    ax.set_xlim(0.1, 10)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positives per slide")
    ax.set_ylabel("lesion sensitivity")
    score = froc.get("froc")
    ax.set_title(f"{title} FROC {score:.3f}" if score is not None else title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def write_evaluation(
    output_dir: str | os.PathLike,
    records: Sequence[Mapping],
    entries: Sequence[Mapping],
    split: str,
    checkpoint: str,
    router_file: str | None,
    patch_metrics: Mapping[str, float] | None = None,
) -> tuple[dict, list[dict]]:
    """Evaluate slide records against their datalist entries and write ``metrics.json``, ``slides.csv`` and
    ``froc.png`` into ``output_dir``.

    Args:
        output_dir: folder (created if missing).
        records: slide records (:class:`~monai_dianet.apps.pathology.inference.SlideOutputWriter`).
        entries: datalist entries of the evaluated slides (``case_id``, ``annotation``, ``label``, ``category``).
        split: name of the evaluated split (written into the summary).
        checkpoint: the model file used.
        router_file: the router file used (None: no routing; ``routing`` in ``metrics.json`` then says that no
            router was used, else it counts the slides accepted and sent to review).
        patch_metrics: patch-level metrics to include (e.g. ``{"patch_auc": ..., "patch_dice": ...}``).

    Returns:
        ``(summary, rows)``: the summary written to ``metrics.json`` and the per-slide rows of ``slides.csv``.

    Raises:
        InputError: a slide of ``entries`` has no record (its inference did not finish).
    """
    os.makedirs(output_dir, exist_ok=True)
    truth = {e["case_id"]: {"annotation": e.get("annotation") or None, "label": int(e["label"] == "tumor")}
             for e in entries}
    missing = sorted(set(truth) - {r["slide"] for r in records})
    if missing:
        raise InputError(f"no inference output for slides {missing}; see the log for the slide that failed.")
    stages = {e["case_id"]: e["category"] for e in entries if e.get("category")}
    summary, rows = evaluate_slides(records, truth, stage_labels=stages or None)
    router_file = os.path.abspath(router_file) if router_file else None
    routing = routing_status(router_file is not None, router_file, "validation slides",
                             "no slide was accepted or flagged for review")
    if router_file is not None:
        decisions = [r["decision"] for r in rows]
        routing.update({d: decisions.count(d) for d in ("accept", "review")})
    summary = {
        "split": split,
        "slides": len(rows),
        "tumour_slides": sum(r["label"] for r in rows),
        "checkpoint": os.path.abspath(checkpoint),
        "router_file": router_file,
        **{k: float(v) for k, v in (patch_metrics or {}).items()},
        **{k: v for k, v in summary.items() if k != "slides"},
        "routing": routing,
    }
    write_slide_table(os.path.join(output_dir, "slides.csv"), rows)
    plot_froc(os.path.join(output_dir, "froc.png"), summary["froc"], title=f"{split} slides:")
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary, rows
