# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""SlideHeatmapHandler in a MONAI SupervisedEvaluator with DataLoader workers and MC-dropout outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import DataLoader
from monai.engines import SupervisedEvaluator
from monai.transforms import Compose, Resized, ScaleIntensityRanged

from monai_dianet.apps.pathology import (
    PatchMetaToKeysd,
    SlideHeatmapHandler,
    SlideOutputWriter,
    patch_dataset,
    plan_slide,
    prepare_image_only,
)
from monai_dianet.inferers import MCDropoutInferer


class DarkNet(torch.nn.Module):
    """Logit rises with darkness (nuclei are dark); dropout so MC samples differ."""

    def __init__(self):
        super().__init__()
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(10.0 * (0.6 - x.mean(1, keepdim=True)))


@pytest.mark.parametrize("decollate, meta_keys", [(True, False), (False, True)])
def test_evaluator_writes_every_slide(camelyon_slides, tmp_path, decollate, meta_keys):
    plans = [plan_slide(e["slide"], 4.0, 32, heatmap_level=3, annotation=e["annotation"]) for e in camelyon_slides]
    entries = [entry for plan in plans for entry in plan.entries()]
    transform = Compose(
        [PatchMetaToKeysd("image")] * meta_keys
        + [Resized("image", (32, 32), mode="bilinear", anti_aliasing=True), ScaleIntensityRanged("image", 0, 255, 0, 1)]
    )
    loader = DataLoader(patch_dataset(entries, transform), batch_size=16, num_workers=2)
    writer = SlideOutputWriter(tmp_path, router=lambda u: {"decision": "review" if u > 0.01 else "accept"},
                               router_file="models/router.json")
    handler = SlideHeatmapHandler(plans, writer)
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=DarkNet(),
        inferer=MCDropoutInferer(num_samples=4, activation="sigmoid", seed=0),
        prepare_batch=prepare_image_only,
        decollate=decollate,
    )
    handler.attach(evaluator)
    evaluator.run()
    assert sorted(r["slide"] for r in handler.results) == sorted(p.name for p in plans)
    for record in handler.results:
        heat = np.load(record["files"]["heatmap_npy"])
        plan = next(p for p in plans if p.name == record["slide"])
        assert heat.shape == plan.heatmap_shape and heat.max() > 0.5  # nuclei are dark
        assert record["case_uncertainty"] > 0 and record["routing"]["decision"] in ("accept", "review")
        assert record["routing"]["enabled"] is True and record["routing"]["router_file"] == "models/router.json"
        assert (tmp_path / f"{record['slide']}_uncertainty.tif").exists()
