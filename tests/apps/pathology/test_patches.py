# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tissue detection, inference grid, balanced training patches read by PatchWSIDataset with DataLoader workers."""

from __future__ import annotations

import numpy as np
import openslide
import torch
from monai.data import DataLoader

from monai_dianet.apps.pathology import (
    PatchAnnotationMaskd,
    load_annotation,
    patch_dataset,
    plan_slide,
    read_slide_info,
    sample_training_patches,
    tissue_mask,
)


def _stained(rgb: np.ndarray) -> np.ndarray:
    """Independent tissue reference: darker or more saturated than the glass."""
    rgb = rgb.astype(np.int32)
    return (rgb.mean(axis=-1) < 215) | (rgb.max(axis=-1) - rgb.min(axis=-1) > 30)


def test_tissue_mask_matches_stain(camelyon_slides):
    for entry in camelyon_slides:
        info = read_slide_info(entry["slide"])
        mask, level = tissue_mask(info, tissue_mpp=8.0)
        assert level == 3 and mask.shape == (256, 256)
        with openslide.OpenSlide(entry["slide"]) as slide:
            rgb = np.asarray(slide.read_region((0, 0), level, slide.level_dimensions[level]).convert("RGB"))
        reference = _stained(rgb)
        iou = (mask & reference).sum() / (mask | reference).sum()
        assert iou > 0.85 and 0.05 < mask.mean() < 0.6


def test_grid_covers_tissue_inside_the_slide(camelyon_slides):
    entry = camelyon_slides[0]
    plan = plan_slide(entry["slide"], 1.0, 64, heatmap_level=2, annotation=entry["annotation"], min_tissue=0.0)
    size = entry["size"]
    assert plan.locations.min() >= 0 and plan.locations.max() + plan.extent <= size
    covered = np.zeros(plan.tissue.shape, bool)
    ds = size / plan.tissue.shape[0]
    for r, c in plan.locations:
        end = np.ceil((np.array([r, c]) + plan.extent) / ds).astype(int)
        covered[int(r // ds) : end[0], int(c // ds) : end[1]] = 1
    assert covered[plan.tissue].all()
    strict = plan_slide(entry["slide"], 1.0, 64, heatmap_level=2, min_tissue=0.5)
    assert 0 < len(strict.locations) < len(plan.locations)
    for r, c in strict.locations:  # each kept patch is at least half tissue on the mask
        box = plan.tissue[int(r / ds) : int((r + plan.extent) / ds), int(c / ds) : int((c + plan.extent) / ds)]
        assert box.mean() >= 0.5
    assert plan.heatmap_shape == (size // 4, size // 4) and plan.heatmap_downsample == 4.0


def test_balanced_training_patches_with_workers(camelyon_slides):
    plans = [plan_slide(e["slide"], 1.0, 64, 2, annotation=e["annotation"]) for e in camelyon_slides]
    entries = sample_training_patches(plans, 24, tumour_fraction=0.5, seed=1)
    assert len(entries) == 24 and sum(e["centre"] == "tumour" for e in entries) == 12
    assert {e["name"] for e in entries if e["centre"] == "tumour"} == {"tumor_001", "tumor_002"}
    assert {e["name"] for e in entries if e["centre"] == "normal"} == {"tumor_001", "tumor_002", "normal_001"}
    assert entries == sample_training_patches(plans, 24, tumour_fraction=0.5, seed=1)
    loader = DataLoader(patch_dataset(entries, PatchAnnotationMaskd("image", size=64)), batch_size=8, num_workers=2)
    labels, centres = [], []
    for batch in loader:
        assert batch["image"].shape == (8, 3, 64, 64) and batch["mask"].shape == (8, 1, 64, 64)
        for i in range(8):  # the mask of each patch is the annotation rasterised over its level-0 box
            name = batch["image"].meta["name"][i]
            location = batch["image"].meta["location"][i]
            plan = next(p for p in plans if p.name == name)
            expected = load_annotation(plan.annotation).mask((64, 64), 1.0, location) if plan.annotation else 0
            np.testing.assert_array_equal(batch["mask"][i, 0].numpy(), expected)
        labels.append(batch["label"].reshape(-1))
        centres += [e for e in batch["image"].meta["name"]]
    labels = torch.cat(labels).numpy()
    tumour = np.array([e["centre"] == "tumour" for e in entries])
    assert labels[tumour].mean() >= 0.9 and labels[~tumour].mean() <= 0.1
