# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Soft attention over a set of embeddings: token pooling (OncoStrat eq 26) and modality fusion (OncoNet eq 16-17,
OncoStrat eq 21-22).

Hand-written here: PyTorch and MONAI have no masked attention pooling that also returns its weights and combines
them with inverse-variance (MC-dropout) weights.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["AttentionPooling", "ModalityAttentionFusion", "inverse_variance_weights"]


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dim of ``scores`` (B, N) where ``mask`` (B, N) bool marks the members that take part.

    Members outside the mask get a weight of exactly 0. Raises ValueError when a row has no member at all. The
    weights are computed in float32 (also under bf16/fp16 autocast), so that reported weights sum to 1.
    """
    scores = scores.float()
    if mask is None:
        return torch.softmax(scores, dim=-1)
    mask = mask.to(device=scores.device, dtype=torch.bool)
    if mask.shape != scores.shape:
        raise ValueError(f"mask must have shape {tuple(scores.shape)}, got {tuple(mask.shape)}.")
    if not bool(mask.any(dim=-1).all()):
        empty = torch.nonzero(~mask.any(dim=-1)).flatten().tolist()
        raise ValueError(f"every row needs at least one present member; rows {empty} have none.")
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return weights.masked_fill(~mask, 0.0)


class AttentionPooling(nn.Module):
    """Soft attention pooling of a set of vectors (OncoStrat eq 26):
    ``a_i = softmax_i(w . z_i)``, ``z = sum_i a_i z_i``.

    With ``hidden_features`` the score is gated as in attention-based MIL, ``w . tanh(V z_i)``. The weights ``a``
    serve as per-token attributions (genes, image regions).

    Args:
        in_features: size d of each vector.
        hidden_features: hidden size of the tanh-gated score; ``None`` uses the plain inner product with ``w``.
        bias: whether the score has a bias (it cancels in the softmax; off by default).

    Example::

        pool = AttentionPooling(32)
        pooled, weights = pool(torch.randn(2, 10, 32))  # (2, 32), (2, 10)
    """

    def __init__(self, in_features: int, hidden_features: int | None = None, bias: bool = False) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"in_features must be positive, got {in_features}.")
        if hidden_features is None:
            self.score: nn.Module = nn.Linear(in_features, 1, bias=bias)
        else:
            self.score = nn.Sequential(
                nn.Linear(in_features, hidden_features), nn.Tanh(), nn.Linear(hidden_features, 1)
            )

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores ``w . z_i`` of ``x`` (B, N, d) as (B, N)."""
        return self.score(x).squeeze(-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            x: (B, N, d) vectors.
            mask: optional (B, N) bool, True where a member is present; absent members get weight 0.

        Returns:
            pooled (B, d) and weights (B, N) (non-negative, each row sums to 1).
        """
        if x.ndim != 3:
            raise ValueError(f"x must be (B, N, d), got shape {tuple(x.shape)}.")
        weights = _masked_softmax(self.scores(x), mask)
        if mask is not None:
            x = torch.where(mask.to(x.device, torch.bool)[..., None], x, torch.zeros_like(x))
        return torch.einsum("bn,bnd->bd", weights, x), weights


def inverse_variance_weights(
    variance: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-6
) -> torch.Tensor:
    """OncoStrat eq 21: ``w_i = (1 / sigma_i^2) / sum_j (1 / sigma_j^2)`` over the present modalities.

    Args:
        variance: (B, M) non-negative per-modality variances.
        mask: optional (B, M) bool of present modalities (absent ones get weight 0).
        eps: added to the variance before inverting.

    Returns:
        (B, M) weights, each row summing to 1.
    """
    if bool((variance < 0).any()):
        raise ValueError("variance must be non-negative.")
    # log-domain softmax of -log(var): the same normalised inverse variance, numerically safe and maskable
    return _masked_softmax(-torch.log(variance + eps), mask)


class ModalityAttentionFusion(AttentionPooling):
    """Modality attention fusion of OncoNet (eq 16-17), optionally combined with uncertainty weights (eq 21-22).

    ``alpha_i = softmax_i(w . Z_i)`` over the modalities present for each patient (a missing modality is left out
    of the softmax, so its weight is exactly 0; nothing is imputed), ``z = sum_i alpha_i Z_i``. When per-modality
    variances ``sigma_i^2`` are given (MC dropout), the fusion weights become
    ``alpha_i w_i / sum_j alpha_j w_j`` with ``w_i`` of eq 21: with uniform attention this is exactly eq 21-22,
    otherwise the learned relevance and the reliability of each modality are multiplied (a product of experts).

    Args:
        embed_dim: size d of the shared embedding space.
        mode: ``"attention"`` (eq 16) or ``"mean"`` (masked average of the present modalities, the no-attention
            ablation).
        eps: added to the variances before inverting.

    Example::

        fusion = ModalityAttentionFusion(16)
        z = torch.randn(4, 3, 16)
        mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=torch.bool)
        fused, alpha, weights = fusion(z, mask)  # alpha[1, 1] == 0
    """

    def __init__(self, embed_dim: int, mode: str = "attention", eps: float = 1e-6) -> None:
        super().__init__(embed_dim, hidden_features=None, bias=False)
        if mode not in ("attention", "mean"):
            raise ValueError(f"mode must be 'attention' or 'mean', got {mode!r}.")
        self.mode = mode
        self.eps = eps

    @property
    def attention_vector(self) -> torch.Tensor:
        """The trainable vector w of eq 16, shape (d,)."""
        return self.score.weight.flatten()

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | None = None, variance: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Args:
            x: (B, M, d) modality embeddings Z_i.
            mask: (B, M) bool, True where the modality is present.
            variance: optional (B, M) per-modality variances sigma_i^2 (eq 21).

        Returns:
            fused (B, d), alpha (B, M) (eq 16 attention, or uniform over present modalities for ``mode="mean"``),
            weights (B, M) actually used for the sum (alpha, or alpha combined with eq 21).
        """
        if x.ndim != 3:
            raise ValueError(f"x must be (B, M, d), got shape {tuple(x.shape)}.")
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        if self.mode == "attention":
            scores = self.scores(x)
        else:
            scores = torch.zeros(x.shape[:2], device=x.device, dtype=x.dtype)
        alpha = _masked_softmax(scores, mask)
        weights = alpha
        if variance is not None:
            if variance.shape != alpha.shape:
                raise ValueError(f"variance must have shape {tuple(alpha.shape)}, got {tuple(variance.shape)}.")
            combined = alpha * inverse_variance_weights(variance, mask, self.eps)
            weights = combined / combined.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(combined.dtype).tiny)
        x = torch.where(mask.to(x.device, torch.bool)[..., None], x, torch.zeros_like(x))
        return torch.einsum("bm,bmd->bd", weights, x), alpha, weights
