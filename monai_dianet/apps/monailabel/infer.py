# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MONAI Label infer task for a DIANet segmentation bundle: label + uncertainty map + ACWI routing.

Everything model-specific comes from the bundle's ``configs/inference.json`` (network, preprocessing, router and its
refine inferer, router file), so serving another DIANet bundle is configuration. Per request:

1. the bundle's preprocessing (its file-layout checks dropped: MONAI Label hands one multi-channel file);
2. the ACWI router (:class:`~monai_dianet.inferers.ACWIRouter`) decides accept / refine / review;
3. the uncertainty map is the predictive entropy of the router's refine inferer (the BraTS bundle's default: the
   input and its flip, :class:`~monai_dianet.inferers.TTAInferer`; or :class:`~monai_dianet.inferers.MCDropoutInferer`):
   the router's refined prediction when it refined, else one refine pass run for the map;
4. prediction and map are inverted to the input grid, the label map written as NIfTI (BraTS labels), the map as
   a float NIfTI; the routing record, the case uncertainty and the map's file go into the result params.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from monai_dianet.bundle import load_bundle_config
from monai_dianet.handlers.routing import load_router_file
from monai_dianet.inferers import ACWIRouter, MCDropoutInferer
from monai_dianet.transforms.routing import routing_record

__all__ = ["DIANetInferTask", "BRATS_LABELS", "brats_regions_to_labels"]

logger = logging.getLogger(__name__)

BRATS_LABELS = {"necrotic tumour core": 1, "peritumoral oedema": 2, "enhancing tumour": 4}
"""Label map written by the BraTS app (BraTS 2021 values), as MONAI Label label names -> values."""


def brats_regions_to_labels(regions: np.ndarray, enhancing: int = 4) -> np.ndarray:
    """TC/WT/ET binary masks ``(3, ...)`` -> BraTS label map (ET where ET, else necrosis in TC, else oedema in WT)."""
    tc, wt, et = (np.asarray(r) > 0 for r in regions)
    out = np.zeros(tc.shape, dtype=np.uint8)
    out[wt] = 2
    out[tc] = 1
    out[et] = enhancing
    return out


class DIANetInferTask(BasicInferTask):
    """Segmentation + uncertainty map + ACWI routing decision, from a DIANet bundle's inference config.

    Args:
        bundle: the bundle folder (holds ``configs/inference.json``).
        model_file: weights (default the bundle's ``ckpt_path``); the task is listed only when it exists.
        router_file: the fitted ACWI thresholds (default the bundle's ``router_file``); required.
        labels: label names -> values of the written label map.
        regions_to_labels: turns the thresholded multi-label output ``(C, ...)`` into that label map.
        description: shown by MONAI Label.
        overrides: bundle config overrides (e.g. ``{"mc_samples": 4, "roi_size": [64, 64, 32]}``).
        skip_transforms: names of preprocessing transforms to drop (file-layout checks that expect several files).

    Raises:
        FileNotFoundError: a missing bundle config or router file (at first use for the router).

    Example:
        >>> task = DIANetInferTask("bundles/dianet_brats_segmentation")
        >>> label_file, params = task({"image": "case.nii.gz", "device": "cpu"})
        >>> params["acwi"]["decision"], params["uncertainty"]["case_score"]
    """

    def __init__(
        self,
        bundle: str,
        model_file: str | None = None,
        router_file: str | None = None,
        labels: Mapping[str, int] = BRATS_LABELS,
        regions_to_labels: Callable[[np.ndarray], np.ndarray] = brats_regions_to_labels,
        description: str = "DIANet segmentation with an uncertainty map and ACWI routing",
        overrides: Mapping[str, Any] | None = None,
        skip_transforms: Sequence[str] = ("ValidateBraTSCased",),
    ) -> None:
        self.bundle = os.path.abspath(bundle)
        self.parser = load_bundle_config(self.bundle, overrides=self._overrides(overrides))
        self.model_file = model_file or self.parser.get_parsed_content("ckpt_path")
        self.router_file = router_file or self.parser.get_parsed_content("router_file")
        self.regions_to_labels = regions_to_labels
        self.skip_transforms = tuple(skip_transforms)
        network = self.parser.get_parsed_content("network_def")
        super().__init__(
            path=self.model_file,
            network=network,
            type=InferType.SEGMENTATION,
            labels=dict(labels),
            dimension=int(getattr(network, "spatial_dims", 3)),
            description=description,
            load_strict=True,
            config={"mc_samples": int(self.parser.get_parsed_content("mc_samples"))},
        )

    def _overrides(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"bundle_root": self.bundle, "device": "$torch.device('cpu')", **(extra or {})}

    def info(self) -> dict[str, Any]:
        out = super().info()
        refine = type(self.parser.get_parsed_content("router#refine_inferer", instantiate=True)).__name__
        out.update({"bundle": self.bundle, "router_file": self.router_file, "uncertainty": f"predictive entropy ({refine})",
                    "routing": ["accept", "refine", "review"]})
        return out

    def pre_transforms(self, data: Any = None) -> Sequence[Callable]:
        compose = self.parser.get_parsed_content("preprocessing", instantiate=True)
        return [t for t in compose.transforms if type(t).__name__ not in self.skip_transforms]

    def run_pre_transforms(self, data: dict[str, Any], transforms: Sequence[Callable]) -> dict[str, Any]:
        # MONAI's Spacingd updates every "image_*" entry with the image meta data, so MONAI Label's "image_path"
        # string would crash it: keep it aside while the transforms run.
        path = data.pop("image_path", None)
        data = super().run_pre_transforms(data, transforms)
        if path is not None:
            data["image_path"] = path
        return data

    def inferer(self, data: Any = None):
        """The bundle's MC-dropout inferer (``mc_inferer``), which the epistemic scoring samples; inference itself runs
        the router (:meth:`run_inferer`)."""
        return self.parser.get_parsed_content("mc_inferer", instantiate=True)

    def inverse_transforms(self, data: Any = None) -> None:
        return None  # done in post_transforms for the prediction and the uncertainty map together

    def _router(self) -> ACWIRouter:
        if not os.path.isfile(self.router_file):
            raise FileNotFoundError(
                f"ACWI router file {self.router_file} does not exist: fit it with the bundle's evaluate.json "
                "(python -m monai.bundle run --config_file \"['configs/train.json','configs/evaluate.json']\")."
            )
        parser = load_bundle_config(self.bundle, overrides=self._overrides())
        parser["mc_samples"] = self.parser["mc_samples"]
        router = parser.get_parsed_content("router", instantiate=True)
        load_router_file(self.router_file, router)
        return router

    def run_inferer(self, data: dict[str, Any], convert_to_batch: bool = True, device: str = "cuda") -> dict:
        network = self._get_network(device, data).eval()
        router = self._router()
        if isinstance(router.refine_inferer, MCDropoutInferer):  # the bundle's default refine path is flip TTA
            router.refine_inferer.num_samples = int(data.get("mc_samples", router.refine_inferer.num_samples))
        image = data[self.input_key]
        x = (image if torch.is_tensor(image) else torch.as_tensor(image))[None].to(torch.device(device))
        out = router(x, network)
        record = routing_record({k: v[0] for k, v in out.items()}, router)
        if record["decision"] == "accept":  # the map comes from the refine path, which an accepted case skipped
            with torch.no_grad():
                refined = router.refine_inferer(x, network)
        else:
            refined = out
        # Invertd only inverts MetaTensors: the router's outputs are plain tensors
        data["pred"] = MetaTensor(out["mean"][0].float().cpu())
        data["uncertainty"] = MetaTensor(refined["entropy"][0].float().cpu())
        data["uncertainty_method"] = type(router.refine_inferer).__name__
        data["acwi"] = record
        data["case_uncertainty"] = float(router.case_score(refined)[0])  # the score chosen on validation (router.json)
        return data

    def post_transforms(self, data: Any = None) -> Sequence[Callable]:
        pre = Compose(self.pre_transforms(data))
        return [Invertd(keys=["pred", "uncertainty"], transform=pre, orig_keys=self.input_key, nearest_interp=False,
                        to_tensor=True)]

    def writer(self, data: dict[str, Any], extension: str | None = None, dtype: Any = None) -> tuple[str, dict]:
        import nibabel as nib

        pred, unc = data["pred"], data["uncertainty"]
        affine = np.asarray(pred.affine, dtype=float)
        labels = self.regions_to_labels(np.asarray(pred.detach().cpu()) > 0.5)
        label_file = tempfile.NamedTemporaryFile(suffix=".nii.gz", delete=False).name
        unc_file = tempfile.NamedTemporaryFile(suffix=".uncertainty.nii.gz", delete=False).name
        nib.save(nib.Nifti1Image(labels, affine), label_file)
        nib.save(nib.Nifti1Image(np.asarray(unc.detach().cpu(), dtype=np.float32)[0], affine), unc_file)
        result = {
            "acwi": data["acwi"],
            "uncertainty": {"map": f"predictive entropy (nats) of {data['uncertainty_method']}", "file": unc_file,
                            "case_score": data["case_uncertainty"]},
            "voxels_per_label": {name: int((labels == value).sum()) for name, value in self.labels.items()},
        }
        return label_file, result
