# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Classification metrics as functions for ``ignite.metrics.EpochMetric`` (the ``compute_fn``) and the output
transform that stacks a decollated evaluator output into ``(probabilities, class indices)``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sklearn.metrics import f1_score

from monai_dianet.metrics.calibration import expected_calibration_error

__all__ = ["stack_output", "macro_f1", "top_label_ece"]


def stack_output(output: Sequence[dict] | dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Decollated evaluator output -> (probabilities (N, K), class indices (N,)); one-hot labels are argmaxed."""
    if isinstance(output, dict):
        pred, label = output["pred"], output["label"]
    else:
        pred = torch.stack([torch.as_tensor(o["pred"]) for o in output])
        label = torch.stack([torch.as_tensor(o["label"]) for o in output])
    if label.ndim == 2:
        label = label.argmax(dim=1)
    return pred.float(), label.reshape(-1).long()


def macro_f1(pred: torch.Tensor, label: torch.Tensor) -> float:
    """Macro-averaged F1 of the argmax predictions (scikit-learn)."""
    return float(f1_score(label.cpu().numpy(), pred.argmax(dim=1).cpu().numpy(), average="macro", zero_division=0))


def top_label_ece(pred: torch.Tensor, label: torch.Tensor) -> float:
    """Top-label expected calibration error (15 bins) of probabilities ``pred``."""
    return expected_calibration_error(pred, label, num_bins=15, mode="top_label", activation="softmax")
