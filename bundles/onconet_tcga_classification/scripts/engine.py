"""Batch preparation of the OncoNet TCGA bundle for MONAI's SupervisedTrainer / SupervisedEvaluator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.engines import PrepareBatch

INPUT_KEYS = ("image", "genes", "clinical", "modality_mask", "graph")


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
        self, batchdata: Mapping[str, Any], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs
    ) -> tuple:
        missing = [k for k in ("label", "modality_mask") if k not in batchdata]
        if missing:
            raise KeyError(f"the batch lacks key(s) {missing}; expected TCGAMultimodalDataset items.")
        inputs = {
            k: batchdata[k].to(device=device, non_blocking=non_blocking)
            for k in INPUT_KEYS
            if k in batchdata and isinstance(batchdata[k], torch.Tensor)
        }
        label = batchdata["label"].to(device=device, non_blocking=non_blocking)
        if self.return_all:
            return inputs, label, (), {"return_all": True}
        return inputs, label
