# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Per-patient OncoNet report: class probabilities, MC-dropout uncertainty, modality weights, top genes and clinical
variables (JSON + CSV), and a PNG per patient in the style of Figure 6 of the OncoNet/OncoStrat paper."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from monai.utils import IgniteInfo, min_version, optional_import

from monai_dianet.utils import MODALITIES

if TYPE_CHECKING:
    from ignite.engine import Engine, Events
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

__all__ = ["clinical_variable", "figure6", "OncoNetReportSaver"]


def clinical_variable(feature: str) -> str:
    """Clinical variable of an encoded feature name (``gender=male`` -> ``gender``, ``age__missing`` -> ``age``)."""
    return feature.split("=", 1)[0].removesuffix("__missing")


def _group_clinical(values: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    grouped: dict[str, float] = {}
    for value, name in zip(values, names):
        key = clinical_variable(name)
        grouped[key] = grouped.get(key, 0.0) + float(value)
    return grouped


def _top(scores: dict[str, float], k: int) -> list[dict[str, Any]]:
    ranked = sorted(scores.items(), key=lambda kv: abs(kv[1]), reverse=True)[:k]
    return [{"name": n, "score": round(v, 6)} for n, v in ranked]


def figure6(record: dict[str, Any], image: np.ndarray | None, region: np.ndarray | None, path: str) -> None:
    """One patient's summary figure: image with attention heat map, gene and clinical attributions, modality pie,
    prediction with uncertainty."""
    fig = Figure(figsize=(20, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 5)
    ax = axes[0]
    if image is not None:
        ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1))
        if region is not None:
            ax.imshow(region, cmap="jet", alpha=0.4)
        ax.set_title("histology + attention")
    else:
        ax.text(0.5, 0.5, "no image", ha="center", va="center")
        ax.set_title("histology")
    ax.axis("off")
    for ax, key, title in ((axes[1], "top_genes", "gene attention"), (axes[2], "top_clinical", "clinical attribution")):
        items = record[key][::-1]
        if items:
            values = [it["score"] for it in items]
            ax.barh([it["name"] for it in items], values, color=["tab:red" if v > 0 else "tab:blue" for v in values])
        else:
            ax.text(0.5, 0.5, "modality absent", ha="center", va="center")
        ax.set_title(title)
    ax = axes[3]
    alpha = {m: w for m, w in record["modality_weights"].items() if w > 0}
    ax.pie(list(alpha.values()), labels=list(alpha.keys()), autopct="%1.0f%%")
    ax.set_title("modality weights (alpha)")
    ax = axes[4]
    classes = list(record["probabilities"])
    ax.bar(classes, [record["probabilities"][c] for c in classes], yerr=[record["probability_std"][c] for c in classes],
           capsize=4, color="tab:gray")
    ax.set_ylim(0, 1)
    ax.set_title(
        f"{record['case_id']}: {record['predicted_class']} ({record['confidence']:.0%})\n"
        f"MC std {record['uncertainty']:.3f}, entropy {record['predictive_entropy']:.2f}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)


class OncoNetReportSaver:
    """Per-patient OncoNet report of an inference run: ``predictions.json``, ``predictions.csv`` and
    ``figures/<case_id>.png`` (the Figure-6-style summary of :func:`figure6`) in ``output_dir``.

    Attach it to a ``SupervisedEvaluator`` whose inferer is :class:`~monai_dianet.inferers.OncoNetInferer`: after
    each iteration it reads every decollated case (its ``"pred"`` dictionary and the batch's ``case_id``,
    ``label`` and ``image``), builds the record and draws the figure; when the run completes it writes the JSON
    and CSV files. ``uncertainty`` is the MC standard deviation of the predicted class probability, with the
    predictive entropy and the mutual information (epistemic part); modality weights, gene attention and clinical
    gradient x input attributions come from the deterministic pass.

    Args:
        output_dir: output folder (created).
        classes: class names, index order (empty: class indices).
        gene_names: names of the model's genes, node order.
        clinical_names: encoded clinical feature names (grouped per variable in the report).
        top_k: genes / clinical variables listed per patient.
        max_figures: figures written (-1: all).
        pred_key: key of the inferer's output in the engine output.

    Raises (when the run completes):
        RuntimeError: the network produced NaN probabilities.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        classes: Sequence[Any],
        gene_names: Sequence[str],
        clinical_names: Sequence[str],
        top_k: int = 5,
        max_figures: int = -1,
        pred_key: str = "pred",
    ) -> None:
        self.output_dir = os.fspath(output_dir)
        self.classes = [str(c) for c in classes]
        self.gene_names = list(gene_names)
        self.clinical_names = list(clinical_names)
        self.top_k = top_k
        self.max_figures = max_figures
        self.pred_key = pred_key
        self.records: list[dict[str, Any]] = []
        self.names: list[str] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.COMPLETED, self._write)

    def _start(self, engine: Engine) -> None:
        os.makedirs(os.path.join(self.output_dir, "figures"), exist_ok=True)
        self.names = self.classes or [str(i) for i in range(engine.network.num_classes)]
        self.records = []

    def _record(self, item: Mapping[str, Any], out: Mapping[str, Any]) -> dict[str, Any]:
        names = self.names
        mean, std = out["mean"], out["std"]
        pred = int(mean.argmax())
        present = torch.as_tensor(out["modality_mask"]).tolist()
        genes = out["gene_attributions"].cpu().numpy() if "gene_attributions" in out and present[1] else None
        clin = out["clinical_attributions"].cpu().numpy() if "clinical_attributions" in out and present[2] else None
        return {
            "case_id": str(item["case_id"]),
            "label": names[int(item["label"])] if "label" in item else None,
            "predicted_class": names[pred],
            "confidence": float(mean[pred]),
            "probabilities": {n: float(p) for n, p in zip(names, mean)},
            "probability_std": {n: float(s) for n, s in zip(names, std)},
            "uncertainty": float(std[pred]),
            "predictive_entropy": float(out["entropy"]),
            "mutual_information": float(out["mutual_information"]),
            "modality_weights": {m: float(a) for m, a in zip(MODALITIES, out["alpha"])},
            "fusion_weights": {m: float(w) for m, w in zip(MODALITIES, out["fusion_weights"])},
            "modalities_present": [m for m, p in zip(MODALITIES, present) if p],
            "top_genes": _top(dict(zip(self.gene_names, genes.tolist())), self.top_k) if genes is not None else [],
            "top_clinical": (
                _top(_group_clinical(clin, self.clinical_names), self.top_k) if clin is not None else []
            ),
        }

    def _collect(self, engine: Engine) -> None:
        batch, output = engine.state.batch, engine.state.output
        for item, out in zip(batch, output):
            record = self._record(item, out[self.pred_key])
            self.records.append(record)
            if self.max_figures < 0 or len(self.records) <= self.max_figures:
                present = record["modalities_present"]
                image = item["image"].cpu().numpy() if "image" in present else None
                region = None
                if image is not None and "image_attributions" in out[self.pred_key]:
                    region = out[self.pred_key]["image_attributions"][0].cpu().numpy()
                figure6(record, image, region, os.path.join(self.output_dir, "figures", f"{record['case_id']}.png"))

    def _write(self, engine: Engine) -> None:
        names, records = self.names, self.records
        with open(os.path.join(self.output_dir, "predictions.json"), "w") as f:
            json.dump(records, f, indent=2)
        header = ["case_id", "label", "predicted_class", "confidence"] + [f"prob_{n}" for n in names] + [
            "uncertainty", "predictive_entropy", "mutual_information"
        ] + [f"alpha_{m}" for m in MODALITIES] + [f"fusion_weight_{m}" for m in MODALITIES] + [
            "top_genes", "top_clinical"
        ]
        with open(os.path.join(self.output_dir, "predictions.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for r in records:
                writer.writerow(
                    [r["case_id"], r["label"], r["predicted_class"], f"{r['confidence']:.6f}"]
                    + [f"{r['probabilities'][n]:.6f}" for n in names]
                    + [f"{r['uncertainty']:.6f}", f"{r['predictive_entropy']:.6f}", f"{r['mutual_information']:.6f}"]
                    + [f"{r['modality_weights'][m]:.6f}" for m in MODALITIES]
                    + [f"{r['fusion_weights'][m]:.6f}" for m in MODALITIES]
                    + [";".join(g["name"] for g in r["top_genes"]), ";".join(c["name"] for c in r["top_clinical"])]
                )
        if any(math.isnan(r["confidence"]) for r in records):
            raise RuntimeError("OncoNet produced NaN probabilities; check the checkpoint and the inputs.")
