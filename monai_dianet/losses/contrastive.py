# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Cross-modal contrastive margin loss (OncoNet eq 15)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["CrossModalContrastiveLoss"]


class CrossModalContrastiveLoss(_Loss):
    r"""Margin loss aligning the modality embeddings of the same patient (OncoNet eq 15).

    For every patient ``b``, every ordered pair of different modalities ``(i, j)`` present for ``b`` and every other
    patient ``n`` with modality ``j`` present:

    .. math::

        \ell_{b,i,j,n} = \max\left(0,\ \tau + \mathrm{dist}(Z_{b,i}, Z_{b,j}) - \mathrm{dist}(Z_{b,i}, Z_{n,j})\right)

    i.e. the matched (same patient) embedding ``Z_j^+`` must be closer than each mismatched (other patient)
    embedding ``Z_j^-`` by the margin ``tau``. ``dist`` is the cosine distance ``1 - cos`` (default) or the
    squared Euclidean distance. With ``hardest=True`` only the closest negative of each (b, i, j) counts.

    Args:
        margin: tau.
        distance: ``"cosine"`` or ``"euclidean"`` (squared).
        hardest: use the hardest negative only instead of all negatives.
        reduction: ``"mean"`` over all triplets, ``"sum"`` over all triplets, or ``"none"``: (B,) mean per anchor
            patient (0 for a patient without any triplet).

    Example::

        loss = CrossModalContrastiveLoss(margin=0.5)
        z = torch.randn(8, 3, 32)           # (B, M, d) embeddings, e.g. OncoNetOutput.embeddings
        mask = torch.ones(8, 3, dtype=torch.bool)
        value = loss(z, mask)
    """

    def __init__(
        self,
        margin: float = 0.5,
        distance: str = "cosine",
        hardest: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if distance not in ("cosine", "euclidean"):
            raise ValueError(f"distance must be 'cosine' or 'euclidean', got {distance!r}.")
        if margin < 0:
            raise ValueError(f"margin must be non-negative, got {margin}.")
        self.margin = margin
        self.distance = distance
        self.hardest = hardest

    def _dist(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Pairwise distances between rows of a (B, d) and b (B, d): (B, B)."""
        if self.distance == "cosine":
            return 1.0 - F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
        return torch.cdist(a, b).pow(2)

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            embeddings: (B, M, d) per-modality embeddings in the shared space.
            mask: (B, M) bool presence (default: all present).

        Returns:
            the loss (scalar, or (B,) for ``reduction="none"``); 0 when no triplet exists.
        """
        if embeddings.ndim != 3:
            raise ValueError(f"embeddings must be (B, M, d), got shape {tuple(embeddings.shape)}.")
        batch, num_mod = embeddings.shape[:2]
        if mask is None:
            mask = torch.ones(batch, num_mod, dtype=torch.bool, device=embeddings.device)
        mask = mask.to(embeddings.device).bool()
        eye = torch.eye(batch, dtype=torch.bool, device=embeddings.device)
        total = embeddings.new_zeros(batch)
        count = embeddings.new_zeros(batch)
        for i in range(num_mod):
            for j in range(num_mod):
                if i == j:
                    continue
                dist = self._dist(embeddings[:, i], embeddings[:, j])  # (anchor b, candidate n)
                pos = dist.diagonal()[:, None]
                valid = (mask[:, i] & mask[:, j])[:, None] & mask[None, :, j] & ~eye
                hinge = F.relu(self.margin + pos - dist)
                if self.hardest:
                    has = valid.any(dim=1)
                    hardest = torch.where(valid, dist, torch.full_like(dist, float("inf"))).argmin(dim=1)
                    value = hinge.gather(1, hardest[:, None])[:, 0]
                    total = total + torch.where(has, value, torch.zeros_like(value))
                    count = count + has.to(count.dtype)
                else:
                    total = total + torch.where(valid, hinge, torch.zeros_like(hinge)).sum(dim=1)
                    count = count + valid.sum(dim=1).to(count.dtype)
        if self.reduction == LossReduction.SUM.value:
            return total.sum()
        if self.reduction == LossReduction.NONE.value:
            return total / count.clamp_min(1)
        return total.sum() / count.sum().clamp_min(1)
