# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""``prepare_batch`` callables for MONAI engines (``SupervisedTrainer``/``SupervisedEvaluator``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.engines import PrepareBatch, default_prepare_batch

__all__ = ["PrepareBatchWithPrior", "OncoNetPrepareBatch", "SurvivalPrepareBatch", "ONCONET_INPUT_KEYS"]

#: batch keys that OncoNet reads as its input dictionary
ONCONET_INPUT_KEYS = ("image", "genes", "clinical", "modality_mask", "graph")


class OncoNetPrepareBatch(PrepareBatch):
    """Turn a collated TCGA batch into ``(inputs, label[, args, kwargs])`` for a MONAI engine.

    ``inputs`` is the dictionary OncoNet takes (image, genes, clinical, modality_mask, graph) moved to the device;
    the engine's inferer then calls ``network(inputs, **kwargs)``. With ``return_all=True`` (training) the network
    returns an ``OncoNetOutput`` so that the loss can use the modality embeddings and attention.

    Args:
        return_all: ask the network for its full output.
    """

    def __init__(self, return_all: bool = False) -> None:
        self.return_all = return_all

    def __call__(
        self,
        batchdata: Mapping[str, Any],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple:
        missing = [k for k in ("label", "modality_mask") if k not in batchdata]
        if missing:
            raise KeyError(f"the batch lacks key(s) {missing}; expected TCGAMultimodalDataset items.")
        inputs = {
            k: batchdata[k].to(device=device, non_blocking=non_blocking)
            for k in ONCONET_INPUT_KEYS
            if k in batchdata and isinstance(batchdata[k], torch.Tensor)
        }
        label = batchdata["label"].to(device=device, non_blocking=non_blocking)
        if self.return_all:
            return inputs, label, (), {"return_all": True}
        return inputs, label


class PrepareBatchWithPrior(PrepareBatch):
    """``prepare_batch`` for DIANet training with a per-sample spatial prior.

    Returns ``(image, {"segmentation": label, "prior": prior})``, the dictionary target that
    :class:`~monai_dianet.losses.DIANetLoss` reads: the prior map of each sample (``(B, C, *spatial)``, cropped and
    flipped together with the image by the training transforms) replaces the loss's global prior for the
    ``prior_kl`` term. Without ``prior_key`` in the batch it falls back to MONAI's ``(image, label)``.

    Args:
        prior_key: batch key of the per-sample prior (``"image_prior"`` from
            ``ResampleSpatialPriord(keys="image")``).
    """

    def __init__(self, prior_key: str = "image_prior") -> None:
        self.prior_key = prior_key

    def __call__(
        self,
        batchdata: dict[str, torch.Tensor],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, Any]:
        image, label = default_prepare_batch(batchdata, device, non_blocking, **kwargs)
        if self.prior_key not in batchdata:
            return image, label
        prior = batchdata[self.prior_key].to(device=device, non_blocking=non_blocking, **kwargs)
        return image, {"segmentation": label, "prior": prior}


class SurvivalPrepareBatch(PrepareBatch):
    """Turn a collated batch into ``(inputs, target)`` for a survival network in a MONAI engine: ``inputs`` the
    dictionary of ``input_keys`` on the device (e.g. the genomic and clinical columns that
    :class:`~monai_dianet.estimators.OncoNetEnsemble` reads), ``target`` the (B, 2) float tensor of (time, event)
    that :func:`~monai_dianet.metrics.stack_survival_output` and the survival metrics read (NaN time and event 0
    where the batch has no outcome, e.g. inference on new patients).

    Args:
        input_keys: batch keys passed to the network.
        time_key / event_key: batch keys of the follow-up time and the event indicator.
    """

    def __init__(
        self, input_keys: tuple[str, ...] = ("genes", "clinical"), time_key: str = "time", event_key: str = "event"
    ) -> None:
        self.input_keys = tuple(input_keys)
        self.time_key = time_key
        self.event_key = event_key

    def __call__(
        self,
        batchdata: Mapping[str, Any],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        missing = [k for k in self.input_keys if k not in batchdata]
        if missing:
            raise KeyError(f"the batch lacks input key(s) {missing}; it has {sorted(batchdata)}.")
        to_device = {"device": device, "non_blocking": non_blocking}
        inputs = {k: torch.as_tensor(batchdata[k]).to(**to_device) for k in self.input_keys}
        size = next(iter(inputs.values())).shape[0]
        time = torch.as_tensor(batchdata.get(self.time_key, torch.full((size,), float("nan"))), dtype=torch.float32)
        event = torch.as_tensor(batchdata.get(self.event_key, torch.zeros(size)), dtype=torch.float32)
        return inputs, torch.stack([time.reshape(-1), event.reshape(-1)], 1).to(**to_device)
