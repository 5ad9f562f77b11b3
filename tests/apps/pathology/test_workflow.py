# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Bundle support: slide datalists from folders, router fitting and files, engine helpers."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from monai_dianet.apps.pathology import (
    PatchHeadsInferer,
    PrepareHeadTargets,
    SlideRouter,
    camelyon_datalist,
    fit_slide_router,
    load_router,
)
from monai_dianet.networks.nets import DIANet
from monai_dianet.utils.errors import InputError, MissingInputError


def test_datalist_layouts_and_stage_labels(camelyon_slides, tmp_path):
    root = tmp_path / "c16"
    for entry in camelyon_slides:
        kind = "tumor" if entry["annotation"] else "normal"
        (root / "training" / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(entry["slide"], root / "training" / kind)
        if entry["annotation"]:
            (root / "lesion_annotations").mkdir(exist_ok=True)
            shutil.copy(entry["annotation"], root / "lesion_annotations")
    entries = camelyon_datalist(root)
    assert [(e["case_id"], e["label"], bool(e["annotation"])) for e in entries] == [
        ("normal_001", "normal", False), ("tumor_001", "tumor", True), ("tumor_002", "tumor", True)
    ]
    # CAMELYON17 stage labels override the annotation-based label (tumor_002 says negative)
    (root / "stage_labels.csv").write_text("patient,stage\ntumor_001.tif,macro\ntumor_002.tif,negative\n")
    labels = [(e["label"], e["category"]) for e in camelyon_datalist(root)]
    assert labels == [("normal", ""), ("tumor", "macro"), ("normal", "negative")]
    (root / "stage_labels.csv").write_text("patient,stage\nnormal_001.tif,micro\n")
    with pytest.warns(UserWarning, match=r"normal_001\.tif: labelled 'micro' but has no annotation"):
        assert camelyon_datalist(root)[0]["label"] == "tumor"
    (root / "stage_labels.csv").unlink()
    shutil.copy(root / "lesion_annotations" / "tumor_001.xml", root / "lesion_annotations" / "ghost.xml")
    with pytest.raises(InputError, match=r"ghost\.xml: annotation without a slide"):
        camelyon_datalist(root)
    (root / "lesion_annotations" / "ghost.xml").unlink()
    shutil.copy(root / "training" / "normal" / "normal_001.tif", root / "normal_001.tif")
    with pytest.raises(InputError, match="two files named 'normal_001'"):
        camelyon_datalist(root)
    with pytest.raises(MissingInputError, match="is not a folder"):
        camelyon_datalist(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no slides"):
        camelyon_datalist(tmp_path / "empty")


def test_router_fit_ties_and_files(tmp_path):
    # sorted by score: 0.1 right, 0.2 right, 0.2 wrong, 0.5 wrong; the tie at 0.2 is accepted together
    router = fit_slide_router([0.5, 0.2, 0.1, 0.2], [False, True, True, False], target_error=0.34)
    assert router.threshold == 0.2  # 1 error among 3 accepted = 0.33
    assert fit_slide_router([0.5, 0.2, 0.1, 0.2], [False, True, True, False], target_error=0.2).threshold == 0.1
    assert fit_slide_router([0.1], [False], target_error=0.0).threshold is None
    assert router(0.2)["decision"] == "accept" and router(0.21)["decision"] == "review"
    assert SlideRouter(None)(0.0)["decision"] == "review"
    path = router.save(tmp_path / "r" / "router.json")
    assert load_router(path).threshold == 0.2 and load_router("none") is None
    with pytest.raises(MissingInputError, match="--router_file none"):
        load_router(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"thresholds": 1}))
    with pytest.raises(InputError, match="not a slide router file"):
        load_router(tmp_path / "bad.json")
    with pytest.raises(InputError, match="no validation slides"):
        fit_slide_router([], [])


def test_heads_inferer_and_targets():
    net = DIANet(2, 3, 1, tasks=("segmentation", "classification"), num_classes=1).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = PatchHeadsInferer()(x, net)
        full = net(x, return_all=True)
    assert set(out) == {"segmentation", "classification"}
    torch.testing.assert_close(out["segmentation"], torch.sigmoid(full.segmentation))
    torch.testing.assert_close(out["classification"], torch.sigmoid(full.classification))
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 1))
    assert set(PatchHeadsInferer()(x, classifier)) == {"classification"}
    batch = {"image": x, "mask": torch.zeros(2, 1, 32, 32), "label": torch.ones(2, 1)}
    image, targets = PrepareHeadTargets()(batch, "cpu")
    assert image is not None and set(targets) == {"segmentation", "classification"}
    assert set(PrepareHeadTargets(mask_key=None)(batch)[1]) == {"classification"}
