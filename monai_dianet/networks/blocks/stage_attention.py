# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""CBAM-style channel-then-spatial recalibration applied after each encoder stage.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from monai.networks.layers.factories import Conv, Pool

__all__ = ["SpatialAttention", "StageAttention"]


class SpatialAttention(nn.Module):
    """Spatial attention map from the channel-wise mean and max (CBAM's spatial branch).

    ``a = sigmoid(conv_k([mean_c(x), max_c(x)]))`` of shape ``(B, 1, *spatial)``; the block returns
    ``(x * a, a)``. Hand-written: MONAI has no CBAM block (only SE blocks, and an attention block that
    needs einops).

    Args:
        spatial_dims: 2 or 3.
        kernel_size: odd kernel size of the attention convolution.

    Example::

        att = SpatialAttention(2)
        y, a = att(torch.randn(2, 8, 16, 16))  # a: (2, 1, 16, 16)
    """

    def __init__(self, spatial_dims: int, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
        self.conv = Conv[Conv.CONV, spatial_dims](2, 1, kernel_size=kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        att = torch.sigmoid(self.conv(desc))
        return x * att, att


class StageAttention(nn.Module):
    """CBAM-style recalibration (Woo et al., 2018): channel attention, then spatial attention.

    Channel attention: ``c = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` with a shared two-layer MLP (1x1
    convolutions, reduction ``reduction``); spatial attention: :class:`SpatialAttention` on ``x * c``.
    Placed after every encoder stage of DIANet, independent of the backbone weights (DIANet paper,
    Discussion). Hand-written: MONAI provides squeeze-and-excitation blocks but no CBAM block.

    Args:
        spatial_dims: 2 or 3.
        channels: number of channels of the stage output.
        reduction: MLP reduction ratio (hidden width ``max(channels // reduction, 1)``).
        kernel_size: kernel size of the spatial attention convolution.

    Returns (forward):
        ``(y, a)``: recalibrated features ``(B, C, *spatial)`` and spatial attention ``(B, 1, *spatial)``.

    Example::

        cbam = StageAttention(3, channels=16)
        y, a = cbam(torch.randn(1, 16, 8, 8, 8))
    """

    def __init__(self, spatial_dims: int, channels: int, reduction: int = 8, kernel_size: int = 7) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        conv = Conv[Conv.CONV, spatial_dims]
        self.avg_pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](1)
        self.max_pool = Pool[Pool.ADAPTIVEMAX, spatial_dims](1)
        self.mlp = nn.Sequential(conv(channels, hidden, 1), nn.ReLU(inplace=True), conv(hidden, channels, 1))
        self.spatial = SpatialAttention(spatial_dims, kernel_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        channel = torch.sigmoid(self.mlp(self.avg_pool(x)) + self.mlp(self.max_pool(x)))
        return self.spatial(x * channel)
