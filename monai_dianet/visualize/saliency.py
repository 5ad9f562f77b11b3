# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Attention saliency of ACWI (DIANet paper, eq 27-28): ``A = softmax_positions(Conv(z_fused))``, ``x~ = A * x``.

Hand-written (``monai.visualize`` has occlusion sensitivity and CAMs, not this attention form). Two sources for A:

- :class:`AttentionSaliency`: the literal eq 27, a learnable 1x1 convolution on the fused feature map followed by a
  softmax over all positions; the module is meant to be trained with a model (e.g. as its attention-pooling) or
  fitted as a probe; untrained it gives an arbitrary (but valid) map.
- :func:`fusion_attention_saliency`: no extra parameters; uses DIANet's own per-scale fusion attention maps (eq 9),
  each normalised over positions, combined with the pyramid's scale weights ``alpha_i`` (eq 8).

Either way A is upsampled (bilinear/trilinear) to the input size and, with ``normalize=True``, divided by its per-case
maximum so its peak is 1 (the softmax itself sums to 1 over the coarse positions, so raw values are tiny);
normalising does not change where the attention lies.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
from monai.networks.layers import Conv

from monai_dianet.networks.utils import resize_to

__all__ = ["AttentionSaliency", "fusion_attention_saliency"]


def _require_finite(saliency: torch.Tensor, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    for name, t in (("attention map", attention), ("saliency", saliency)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"the {name} has {int((~torch.isfinite(t)).sum())} non-finite values (NaN/inf): check the "
                             "input and the network's fused features for NaN/inf.")
    return saliency, attention


def _normalise(a: torch.Tensor) -> torch.Tensor:
    peak = a.flatten(1).amax(1).clamp_min(torch.finfo(a.dtype).tiny)
    return a / peak.view(-1, *([1] * (a.ndim - 1)))


class AttentionSaliency(nn.Module):
    """Eq 27-28 with a learnable 1x1 convolution on ``z_fused``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the fused map (DIANet's ``fusion_channels``).
        normalize: scale A so that its per-case maximum is 1 (see the module docstring).

    Returns (forward):
        ``(saliency, attention)``: ``A * x`` with the shape of ``x`` ``(B, C_in, *spatial)`` and
        ``A`` ``(B, 1, *spatial)``.

    Example:
        >>> sal = AttentionSaliency(spatial_dims=2, in_channels=64)
        >>> saliency, attention = sal.explain(dianet, image)  # runs dianet(image, return_all=True)
    """

    def __init__(self, spatial_dims: int, in_channels: int, normalize: bool = True) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        self.spatial_dims = spatial_dims
        self.normalize = normalize
        self.conv = Conv[Conv.CONV, spatial_dims](in_channels, 1, kernel_size=1)

    def attention_logits(self, fused: torch.Tensor) -> torch.Tensor:
        """``Conv(z_fused)``: ``(B, 1, *fused_spatial)``."""
        if fused.ndim != self.spatial_dims + 2:
            raise ValueError(f"fused map must be (B, C, *{self.spatial_dims} spatial dims), got {tuple(fused.shape)}.")
        return self.conv(fused)

    def attention(self, fused: torch.Tensor, spatial_size: Sequence[int] | None = None) -> torch.Tensor:
        """Eq 27: softmax over all positions of ``Conv(z_fused)``, upsampled to ``spatial_size`` (if given).

        Returns:
            ``(B, 1, *spatial)``; before normalisation the values over the coarse positions sum to 1.
        """
        logits = self.attention_logits(fused)
        a = torch.softmax(logits.flatten(1), dim=1).view_as(logits)
        if spatial_size is not None:
            a = resize_to(a, spatial_size)
        return _normalise(a) if self.normalize else a

    def forward(self, x: torch.Tensor, fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq 28: ``(A * x, A)`` with A upsampled to the spatial size of ``x``."""
        a = self.attention(fused, x.shape[2:])
        return _require_finite(a * x, a)

    def explain(self, network: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``network(x, return_all=True)`` (DIANet) and apply eq 27-28 to its ``fused`` map.

        Raises:
            ValueError: when the network output has no ``fused`` map, or the saliency is not finite.
        """
        out: Any = network(x, return_all=True)
        fused = getattr(out, "fused", None)
        if fused is None:
            raise ValueError("network(x, return_all=True) must return an object with a 'fused' map (DIANetOutput).")
        return self(x, fused)


def fusion_attention_saliency(
    network: nn.Module, x: torch.Tensor, normalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq 28 with DIANet's own fusion attention maps as A (no extra parameters).

    Each per-scale map ``a_i`` ``(B, 1, *level_spatial)`` of ``DIANetOutput.fusion_attention`` is upsampled to the
    input size and normalised to sum to 1 over its positions (the softmax-over-positions role of eq 27 for a map that
    is already non-negative; normalising after upsampling keeps coarse and fine levels on one scale), then combined
    as ``sum_i alpha_i * a_i`` with the pyramid scale weights
    ``network.scale_weights`` (uniform weights when their count differs).

    Args:
        network: a DIANet built with ``fusion_attention=True``.
        x: ``(B, C_in, *spatial)``.
        normalize: scale the combined map to a per-case maximum of 1.

    Returns:
        ``(saliency, attention)``: ``(B, C_in, *spatial)`` and ``(B, 1, *spatial)``.

    Raises:
        ValueError: when the network returns no fusion attention maps, or the saliency is not finite (NaN/inf).
    """
    out: Any = network(x, return_all=True)
    maps = list(getattr(out, "fusion_attention", None) or [])
    if not maps:
        raise ValueError("network returned no fusion_attention maps; build DIANet with fusion_attention=True.")
    weights = getattr(network, "scale_weights", None)
    if not isinstance(weights, torch.Tensor) or weights.numel() != len(maps):
        weights = torch.full((len(maps),), 1.0 / len(maps))
    weights = weights.detach().to(x.device, x.dtype)
    combined = torch.zeros(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
    for w, a in zip(weights, maps):
        a = resize_to(a.to(x.dtype), x.shape[2:]).clamp_min(0.0)
        a = a / a.flatten(1).sum(1).clamp_min(torch.finfo(a.dtype).tiny).view(-1, *([1] * (a.ndim - 1)))
        combined = combined + w * a
    if normalize:
        combined = _normalise(combined)
    return _require_finite(combined * x, combined)
