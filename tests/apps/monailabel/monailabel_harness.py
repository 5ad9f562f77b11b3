# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Harness of the MONAI Label / PACS tests: the package's server launcher
(:mod:`monai_dianet.apps.monailabel.servers`: private network namespace, Orthanc with DICOMweb, MONAI Label server in
its own environment) plus what only the tests need: a tiny trained BraTS bundle and its server options.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from monai_dianet.apps.monailabel.servers import REPO_ROOT as ROOT
from monai_dianet.apps.monailabel.servers import (
    NetNamespace,
    missing_pacs_tools,
    start_monailabel,
    start_orthanc,
)

__all__ = ["ROOT", "NAMESPACE_MISSING", "NetNamespace", "TINY_OVERRIDES", "make_tiny_brats_bundle",
           "start_orthanc", "start_bundle_server"]

NAMESPACE_MISSING = missing_pacs_tools(orthanc=False, monailabel=False)
"""Why no network namespace can be made here (None when it can); the fixtures install Orthanc and the MONAI Label
environment themselves (scripts/setup_monailabel.sh)."""


TINY_OVERRIDES = {"roi_size": [64, 64, 32], "mc_samples": 2}
"""Bundle overrides of the tests (``--conf dianet_brats_overrides``): one window per 64 x 64 x 32 case."""


def _normalised(case: dict):
    """A case's (4, X, Y, Z) image, channel-wise z-scored over the head, and its TC/WT/ET regions."""
    import nibabel as nib
    import numpy as np
    import torch

    image = np.stack([nib.load(p).get_fdata(dtype=np.float32) for p in case["image"]])
    for c in image:
        inside = c > 0
        c[inside] = (c[inside] - c[inside].mean()) / (c[inside].std() + 1e-6)
    label = nib.load(case["label"]).get_fdata()
    regions = np.stack([np.isin(label, (1, 4)), label > 0, label == 4]).astype(np.float32)
    return torch.as_tensor(image), torch.as_tensor(regions)


def make_tiny_brats_bundle(folder: Path, train_case: dict, router_cases: list[dict], steps: int = 8) -> Path:
    """A copy of the BraTS bundle with weights from a few Adam steps on one generated case and an ACWI router
    fitted (``fit_router_thresholds``) on ``router_cases``. The configs are the shipped ones.

    The tests compare the DICOM path with the NIfTI path of the same model, so the model has to segment something,
    not to be good.
    """
    import torch
    from monai.losses import DiceCELoss

    from monai_dianet.bundle import load_bundle_config
    from monai_dianet.handlers.routing import save_router_file
    from monai_dianet.inferers import case_correct, fit_router_thresholds

    src = ROOT / "bundles" / "dianet_brats_segmentation"
    shutil.copytree(src / "configs", folder / "configs")
    (folder / "models").mkdir()
    torch.manual_seed(0)
    parser = load_bundle_config(str(folder), overrides={"bundle_root": str(folder), "device": "$torch.device('cpu')",
                                                     **TINY_OVERRIDES})
    net = parser.get_parsed_content("network_def")
    x, y = _normalised(train_case)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss_fn = DiceCELoss(sigmoid=True)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        out = net(x[None])
        loss_fn(out.main if hasattr(out, "main") else out, y[None]).backward()
        opt.step()
    net.eval()
    torch.save(net.state_dict(), folder / "models" / "model.pt")
    router = parser.get_parsed_content("router", instantiate=True)  # thresholds None: both paths on every case
    fast, refined, fast_ok, refined_ok = [], [], [], []
    for image, regions in (_normalised(c) for c in router_cases):
        out = router(image[None], net)
        fast.append(float(out["fast_score"][0]))
        refined.append(float(out["refined_score"][0]))
        fast_ok.append(case_correct(out["fast_mean"][0], regions, "sigmoid"))
        refined_ok.append(case_correct(out["mean"][0], regions, "sigmoid"))
    report = fit_router_thresholds(fast, refined, fast_ok, refined_ok, target_error=0.5, review_budget=0.5)
    save_router_file(folder / "models" / "router.json", router, report)
    return folder


def start_bundle_server(ns: NetNamespace, python: Path, studies: str, bundle: Path, folder: Path):
    """MONAI Label on ``studies`` serving ``bundle`` with :data:`TINY_OVERRIDES`; returns (proc, url, log)."""
    return start_monailabel(ns, studies, folder, python=python,
                            conf={"dianet_brats_bundle": bundle, "dianet_brats_overrides": TINY_OVERRIDES})
