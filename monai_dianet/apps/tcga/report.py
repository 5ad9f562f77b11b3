# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Per-patient OncoNet report: class probabilities, MC-dropout uncertainty, modality weights, top genes and clinical
variables (JSON + CSV), and a PNG per patient in the style of Figure 6 of the OncoNet/OncoStrat paper."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from monai.data import DataLoader
from tqdm import tqdm

from monai_dianet.engines.prepare_batch import ONCONET_INPUT_KEYS
from monai_dianet.utils import MODALITIES

__all__ = ["clinical_variable", "figure6", "write_onconet_report"]


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


@torch.no_grad()
def write_onconet_report(
    network: torch.nn.Module,
    dataset: Any,
    output_dir: str,
    classes: Sequence[Any],
    gene_names: Sequence[str],
    clinical_names: Sequence[str],
    device: str | torch.device = "cpu",
    mc_samples: int = 20,
    top_k: int = 5,
    batch_size: int = 8,
    num_workers: int = 0,
    max_figures: int = -1,
) -> dict[str, str]:
    """Predict every case of ``dataset`` and write ``predictions.json``, ``predictions.csv`` and ``figures/*.png``.

    Uncertainty: ``mc_samples`` MC-dropout passes (OncoStrat eq 25); ``uncertainty`` is the standard deviation of
    the predicted class probability, with the predictive entropy and the mutual information (epistemic part).
    Modality weights, gene attention and clinical gradient x input attributions come from one deterministic pass.

    Args:
        network: a trained OncoNet.
        dataset: TCGAMultimodalDataset items.
        output_dir: output folder (created).
        classes: class names, index order.
        gene_names: names of the model's genes, node order.
        clinical_names: encoded clinical feature names (grouped per variable in the report).
        device: device.
        mc_samples: MC-dropout samples (>= 2).
        top_k: genes / clinical variables listed per patient.
        batch_size, num_workers: data loading.
        max_figures: figures written (-1: all).

    Returns:
        dict with the ``json``, ``csv`` and ``figures`` paths.
    """
    if mc_samples < 2:
        raise ValueError(f"mc_samples must be >= 2, got {mc_samples}.")
    os.makedirs(os.path.join(output_dir, "figures"), exist_ok=True)
    names = [str(c) for c in classes] or [str(i) for i in range(network.num_classes)]
    network.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    records: list[dict[str, Any]] = []
    for batch in tqdm(loader, desc="OncoNet inference"):
        inputs = {k: batch[k].to(device) for k in ONCONET_INPUT_KEYS if k in batch}
        out = network(inputs, return_all=True, attribute=True)
        with network.mc_dropout():
            probs = torch.stack([torch.softmax(network(inputs), dim=1) for _ in range(mc_samples)])  # (T, B, K)
        mean, std = probs.mean(0), probs.std(0)
        entropy = -(mean * mean.clamp_min(1e-12).log()).sum(1)
        mutual_info = entropy - (-(probs * probs.clamp_min(1e-12).log()).sum(2)).mean(0)
        for b, case_id in enumerate(batch["case_id"]):
            pred = int(mean[b].argmax())
            present = out.modality_mask[b].tolist()
            genes = out.gene_attributions[b].cpu().numpy() if out.gene_attributions is not None and present[1] else None
            clin = None
            if out.clinical_attributions is not None and present[2]:
                clin = out.clinical_attributions[b].cpu().numpy()
            record = {
                "case_id": str(case_id),
                "label": names[int(batch["label"][b])] if "label" in batch else None,
                "predicted_class": names[pred],
                "confidence": float(mean[b, pred]),
                "probabilities": {n: float(p) for n, p in zip(names, mean[b])},
                "probability_std": {n: float(s) for n, s in zip(names, std[b])},
                "uncertainty": float(std[b, pred]),
                "predictive_entropy": float(entropy[b]),
                "mutual_information": float(mutual_info[b].clamp_min(0)),
                "modality_weights": {m: float(a) for m, a in zip(MODALITIES, out.alpha[b])},
                "fusion_weights": {m: float(w) for m, w in zip(MODALITIES, out.fusion_weights[b])},
                "modalities_present": [m for m, p in zip(MODALITIES, present) if p],
                "top_genes": _top(dict(zip(gene_names, genes.tolist())), top_k) if genes is not None else [],
                "top_clinical": _top(_group_clinical(clin, clinical_names), top_k) if clin is not None else [],
            }
            records.append(record)
            if max_figures < 0 or len(records) <= max_figures:
                image = batch["image"][b].cpu().numpy() if present[0] else None
                region = None
                if image is not None and out.image_attributions is not None:
                    region = out.image_attributions[b, 0].cpu().numpy()
                figure6(record, image, region, os.path.join(output_dir, "figures", f"{record['case_id']}.png"))
    json_path = os.path.join(output_dir, "predictions.json")
    with open(json_path, "w") as f:
        json.dump(records, f, indent=2)
    csv_path = os.path.join(output_dir, "predictions.csv")
    header = ["case_id", "label", "predicted_class", "confidence"] + [f"prob_{n}" for n in names] + [
        "uncertainty", "predictive_entropy", "mutual_information"
    ] + [f"alpha_{m}" for m in MODALITIES] + [f"fusion_weight_{m}" for m in MODALITIES] + ["top_genes", "top_clinical"]
    with open(csv_path, "w", newline="") as f:
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
    return {"json": json_path, "csv": csv_path, "figures": os.path.join(output_dir, "figures")}
