# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Feature Pyramid Fusion of DIANet (DIANet paper eq 6-9): FPN + PANet paths, per-scale attention, alpha_i.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from monai.networks.blocks import Convolution

from monai_dianet.networks.blocks.stage_attention import SpatialAttention
from monai_dianet.networks.utils import resize_to

__all__ = ["FeaturePyramidFusion"]


class FeaturePyramidFusion(nn.Module):
    """Feature Pyramid Fusion (FPF) with top-down (FPN) and bottom-up (PANet) paths and learnable scale weights.

    For pyramid levels ``z_1..z_L`` (finest first):

    1. lateral 1x1 convolutions map every level to ``out_channels``;
    2. top-down path (FPN): ``p_L = l_L``, ``p_i = smooth(l_i + up(p_{i+1}))``;
    3. bottom-up path (PANet): ``n_1 = p_1``, ``n_i = smooth(p_i + down(n_{i-1}))`` with strided convs;
    4. per-scale spatial attention (eq 9): ``n_i <- n_i * a_i`` with :class:`SpatialAttention`;
    5. weighted fusion at the finest level's resolution (eq 8):
       ``z_fused = sum_i alpha_i * up(n_i)``, ``alpha_i = relu(w_i) / (sum_j relu(w_j) + eps)`` (the
       fast normalised fusion of BiFPN, Tan et al. 2020), so ``alpha`` is non-negative and sums to 1.

    Hand-written: MONAI's ``FeaturePyramidNetwork`` has only the top-down path and no scale weights.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of each level, finest first.
        strides: cumulative stride of each level (each divides the next).
        out_channels: common width of the pyramid (``fusion_channels`` of DIANet).
        attention: apply the per-scale spatial attention (eq 9).
        norm: normalisation of the smoothing/downsampling convolutions.
        act: activation of the smoothing/downsampling convolutions.
        eps: stabiliser of the weight normalisation.

    Returns (forward):
        ``(fused, attention_maps)``: ``(B, out_channels, *finest_spatial)`` and a list of ``(B, 1, *level_spatial)``
        maps (empty when ``attention=False``).

    Example::

        fpf = FeaturePyramidFusion(2, in_channels=(16, 32, 64), strides=(4, 8, 16), out_channels=32)
        feats = [torch.randn(1, 16, 16, 16), torch.randn(1, 32, 8, 8), torch.randn(1, 64, 4, 4)]
        fused, maps = fpf(feats)  # fused: (1, 32, 16, 16); fpf.scale_weights sums to 1
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: Sequence[int],
        strides: Sequence[int],
        out_channels: int = 64,
        attention: bool = True,
        norm: str | tuple = "batch",
        act: str | tuple = "relu",
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(strides) or len(in_channels) == 0:
            raise ValueError(f"in_channels {tuple(in_channels)} and strides {tuple(strides)} must match in length.")
        num = len(in_channels)
        self.eps = eps
        self.lateral = nn.ModuleList(
            Convolution(spatial_dims, c, out_channels, kernel_size=1, conv_only=True) for c in in_channels
        )

        def block(stride: int = 1) -> Convolution:
            return Convolution(
                spatial_dims, out_channels, out_channels, strides=stride, kernel_size=3, norm=norm, act=act
            )

        self.smooth_top_down = nn.ModuleList(block() for _ in range(num))
        self.down = nn.ModuleList(block(strides[i + 1] // strides[i]) for i in range(num - 1))
        self.smooth_bottom_up = nn.ModuleList(block() for _ in range(num - 1))
        self.attention = nn.ModuleList(SpatialAttention(spatial_dims) for _ in range(num)) if attention else None
        self.weights = nn.Parameter(torch.ones(num))

    @property
    def scale_weights(self) -> torch.Tensor:
        """The normalised, non-negative scale weights ``alpha_i`` of eq 8 (sum to 1), finest level first."""
        w = F.relu(self.weights)
        return w / (w.sum() + self.eps)

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if len(features) != len(self.lateral):
            raise ValueError(f"expected {len(self.lateral)} pyramid levels, got {len(features)}.")
        lat = [conv(f) for conv, f in zip(self.lateral, features)]
        top_down: list[torch.Tensor] = [self.smooth_top_down[-1](lat[-1])]
        for i in range(len(lat) - 2, -1, -1):
            merged = lat[i] + resize_to(top_down[0], lat[i].shape[2:], mode="nearest")
            top_down.insert(0, self.smooth_top_down[i](merged))
        levels = [top_down[0]]
        for i in range(1, len(top_down)):
            levels.append(self.smooth_bottom_up[i - 1](top_down[i] + self.down[i - 1](levels[-1])))
        maps: list[torch.Tensor] = []
        if self.attention is not None:
            attended = []
            for att, level in zip(self.attention, levels):
                y, a = att(level)
                attended.append(y)
                maps.append(a)
            levels = attended
        alpha = self.scale_weights
        size = levels[0].shape[2:]
        fused = sum(alpha[i] * resize_to(level, size) for i, level in enumerate(levels))
        return fused, maps  # type: ignore[return-value]
