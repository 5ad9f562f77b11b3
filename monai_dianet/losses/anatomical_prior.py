# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Anatomical prior regularisers on the predicted coarse class distribution P(h) (DIANet paper, eq 11 and 14).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from monai_dianet.networks.utils import batch_prior, resize_to

__all__ = ["AnatomicalPriorLoss"]


def to_distribution(logits: torch.Tensor, activation: str | None) -> torch.Tensor:
    """Class probabilities from logits ``(B, C, *spatial)``: softmax over channels, per-channel sigmoid, or as is."""
    if activation == "softmax":
        return logits.softmax(dim=1)
    if activation == "sigmoid":
        return logits.sigmoid()
    return logits


class AnatomicalPriorLoss(_Loss):
    r"""Distance between the predicted anatomical distribution ``P(h)`` and a reference map.

    - ``norm="l2"`` (eq 11): :math:`\mathcal{R}_{\text{domain}} = \lambda_1 \|P(h) - P_{\text{target}}\|_2^2`
    - ``norm="l1"`` (eq 14): :math:`\mathcal{R}_{\text{prior}} = \lambda_2 \|P(h) - P_{\text{prior}}\|_1`

    ``P(h)`` is ``activation(prediction)``: DIANet's ``prior_logits`` (coarse class logits from the latent
    ``h``). The reference (a case's own coarse mask, or the statistical prior map of
    :func:`~monai_dianet.transforms.build_spatial_prior`) is resampled to the prediction's grid when the
    spatial shapes differ, and may be shared by the batch (``(C, *spatial)`` or ``(1, C, *spatial)``).

    Reduction over the element-wise terms ``(P - R)^2`` or ``|P - R|``: ``"none"`` -> ``(B, C, *spatial)``;
    ``"sum"`` -> their sum (the squared L2 / L1 norm of the equations); ``"mean"`` -> their mean.

    Args:
        norm: ``"l2"`` (squared L2, eq 11) or ``"l1"`` (eq 14).
        weight: ``lambda_1`` / ``lambda_2``.
        activation: ``"softmax"``, ``"sigmoid"`` or ``None`` (prediction already holds probabilities).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: for an unknown option, or a reference whose channels or spatial dims do not match.

    Example::

        loss = AnatomicalPriorLoss(norm="l1", activation="sigmoid")
        value = loss(output.prior_logits, prior_map)   # prior_map: (C, H, W, D)
    """

    def __init__(
        self,
        norm: str = "l2",
        weight: float = 1.0,
        activation: str | None = "softmax",
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if norm not in ("l2", "l1"):
            raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}.")
        if activation not in ("softmax", "sigmoid", None):
            raise ValueError(f"activation must be 'softmax', 'sigmoid' or None, got {activation!r}.")
        self.norm = norm
        self.weight = float(weight)
        self.activation = activation

    def forward(self, prediction: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """
        Args:
            prediction: ``(B, C, H, W[, D])`` logits (or probabilities when ``activation=None``).
            reference: ``(C, *spatial)`` or ``(B or 1, C, *spatial)`` probability map.

        Returns:
            the weighted distance, reduced.
        """
        reference = resize_to(batch_prior(reference, prediction, "reference"), prediction.shape[2:], mode="area")
        diff = to_distribution(prediction, self.activation) - reference
        terms = self.weight * (diff.pow(2) if self.norm == "l2" else diff.abs())
        if self.reduction == LossReduction.MEAN.value:
            return terms.mean()
        if self.reduction == LossReduction.SUM.value:
            return terms.sum()
        return terms
