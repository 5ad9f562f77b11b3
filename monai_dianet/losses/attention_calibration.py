# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Entropy-attention calibration loss (OncoStrat eq 27)."""

from __future__ import annotations


import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["AttentionCalibrationLoss", "normalized_entropy"]


def normalized_entropy(p: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-12) -> torch.Tensor:
    """Entropy of each row of ``p`` (B, N) divided by log(number of members), in [0, 1].

    Args:
        p: (B, N) probabilities (rows sum to 1 over the members in ``mask``).
        mask: optional (B, N) bool of the members that count; default all N.
        eps: inside the log.

    Returns:
        (B,) normalised entropies; 0 for rows with a single member.
    """
    if mask is None:
        mask = torch.ones_like(p, dtype=torch.bool)
    mask = mask.bool()
    entropy = -(torch.where(mask, p * torch.log(p.clamp_min(eps)), torch.zeros_like(p))).sum(dim=1)
    members = mask.sum(dim=1).to(p.dtype)
    return torch.where(members > 1, entropy / torch.log(members.clamp_min(2)), torch.zeros_like(entropy))


class AttentionCalibrationLoss(_Loss):
    r"""Match predictive uncertainty with attention dispersion (OncoStrat eq 27):

    .. math::

        \mathcal{L}_{cal} = \left| \frac{H(\hat y)}{\log K} - \frac{H(\alpha)}{\log M} \right|

    with ``H(y) = -sum_k p_k log p_k`` over the K classes and ``H(alpha)`` the entropy of the attention weights
    over the M members (modalities or tokens) present for that sample. It asks the model to be uncertain when its
    attention is diffuse and confident only when its attention is focused. Samples with fewer than two present
    members are left out (their attention entropy is not defined).

    Args:
        softmax: apply a softmax over dim 1 to the predictions (pass logits); False for probabilities.
        reduction: ``"mean"`` over the valid samples, ``"sum"``, or ``"none"`` (B,) (0 for left-out samples).

    Example::

        loss = AttentionCalibrationLoss()
        out = onconet(batch, return_all=True)
        value = loss(out.logits, out.alpha, out.modality_mask)
    """

    def __init__(self, softmax: bool = True, reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        self.softmax = softmax

    def forward(self, pred: torch.Tensor, attention: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            pred: (B, K) logits (or probabilities with ``softmax=False``), K >= 2.
            attention: (B, M) attention weights.
            mask: (B, M) bool of present members (default: all).

        Returns:
            the loss (scalar, or (B,) for ``reduction="none"``).
        """
        if pred.ndim != 2 or pred.shape[1] < 2:
            raise ValueError(f"pred must be (B, K) with K >= 2, got shape {tuple(pred.shape)}.")
        if attention.ndim != 2 or attention.shape[0] != pred.shape[0]:
            raise ValueError(f"attention must be (B, M) with B = {pred.shape[0]}, got shape {tuple(attention.shape)}.")
        probs = torch.softmax(pred, dim=1) if self.softmax else pred
        if mask is None:
            mask = torch.ones_like(attention, dtype=torch.bool)
        mask = mask.to(attention.device).bool()
        h_pred = normalized_entropy(probs) if pred.shape[1] > 1 else torch.zeros_like(probs[:, 0])
        h_att = normalized_entropy(attention, mask)
        valid = mask.sum(dim=1) > 1
        per_sample = torch.where(valid, (h_pred - h_att).abs(), torch.zeros_like(h_pred))
        if self.reduction == LossReduction.SUM.value:
            return per_sample.sum()
        if self.reduction == LossReduction.NONE.value:
            return per_sample
        return per_sample.sum() / valid.sum().clamp_min(1)
