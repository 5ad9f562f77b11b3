# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Engine helpers for patch training and validation with a segmentation + classification network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.inferers import Inferer
from monai.utils import CommonKeys

__all__ = ["PrepareHeadTargets", "PatchHeadsInferer", "prepare_image_only"]


class PrepareHeadTargets:
    """``prepare_batch`` giving a multi-head network its targets as a dict (what ``DIANetLoss`` reads).

    Returns ``(batch["image"], {"segmentation": batch[mask_key], "classification": batch[label_key]})`` on the
    device; heads whose key is None are left out.

    Args:
        mask_key: batch key of the segmentation target (None: no segmentation head).
        label_key: batch key of the classification target (None: no classification head).
    """

    def __init__(self, mask_key: str | None = "mask", label_key: str | None = CommonKeys.LABEL) -> None:
        self.keys = {"segmentation": mask_key, "classification": label_key}

    def __call__(
        self, batchdata: Mapping[str, Any], device: str | torch.device | None = None, non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        def to(value):
            return torch.as_tensor(value).to(device=device, non_blocking=non_blocking, **kwargs)

        targets = {head: to(batchdata[key]) for head, key in self.keys.items() if key is not None}
        return to(batchdata[CommonKeys.IMAGE]), targets


def prepare_image_only(
    batchdata: Mapping[str, Any], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any
) -> tuple[torch.Tensor, None]:
    """``prepare_batch`` for inference: the image batch as a plain tensor (no label).

    ``MetaTensor`` routes every operation of the network through ``__torch_function__`` (measured: about half of
    the CPU time of patch inference with DIANet); the metadata stays in ``engine.state.batch`` for handlers.
    """
    image = batchdata[CommonKeys.IMAGE]
    image = image.as_tensor() if hasattr(image, "as_tensor") else torch.as_tensor(image)
    return image.to(device=device, non_blocking=non_blocking, **kwargs), None


class PatchHeadsInferer(Inferer):
    """Run a patch network once and return the probabilities of its heads as a dict.

    A network with several heads (``DIANet(tasks=("segmentation", "classification"))``, called with
    ``return_all=True``) gives ``{"segmentation": (B, C, H, W), "classification": (B, K)}``; a plain classifier
    (e.g. MONAI's ``resnet18``) gives ``{"classification": (B, K)}``. Probabilities are ``sigmoid`` (or
    ``softmax``) of the logits. MONAI's ``FlattenSubKeysd`` then moves the heads to top-level keys for metrics.

    Args:
        heads: heads to return (those the network has).
        activation: ``"sigmoid"`` or ``"softmax"``.

    Example::

        evaluator = SupervisedEvaluator(..., inferer=PatchHeadsInferer(),
                                        postprocessing=FlattenSubKeysd("pred"))
    """

    def __init__(self, heads: Sequence[str] = ("segmentation", "classification"), activation: str = "sigmoid") -> None:
        super().__init__()
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(f"activation must be 'sigmoid' or 'softmax', got {activation!r}.")
        self.heads = tuple(heads)
        self.activation = activation

    def _act(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # probabilities in float32 under bf16/fp16 autocast too
        return torch.sigmoid(logits) if self.activation == "sigmoid" else torch.softmax(logits, 1)

    def __call__(self, inputs: torch.Tensor, network, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        if hasattr(network, "tasks") or hasattr(getattr(network, "module", None), "tasks"):
            output = network(inputs, *args, return_all=True, **kwargs)
            return {h: self._act(getattr(output, h)) for h in self.heads if getattr(output, h, None) is not None}
        if "classification" not in self.heads:
            raise ValueError("a single-output network is a classifier: include 'classification' in heads.")
        return {"classification": self._act(network(inputs, *args, **kwargs))}
