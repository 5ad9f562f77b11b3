# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Diffuser of DIANet (DIANet paper, text under Fig. 1): attention-based refinement of the spatial latent.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from monai.networks.layers.factories import Conv, Pool

from monai_dianet.networks.utils import resize_to

__all__ = ["Diffuser"]


class Diffuser(nn.Module):
    """Global self-attention over latent positions, run on a pooled grid so that it stays affordable in 3D.

    The latent map ``h`` (B, C, *spatial) is average-pooled by ``pool_factor`` (DIANet uses the ratio of
    the coarsest encoder stride to the latent stride, i.e. attention runs at the coarsest encoder scale:
    a 128^3 input with a stride-32 encoder gives 4^3 = 64 tokens). A depthwise convolution adds a
    conditional positional encoding, then pre-norm multi-head self-attention (``torch.nn.MultiheadAttention``)
    and a pre-norm MLP refine the tokens with residuals. The token update is upsampled (linear) back to the
    latent resolution, added to ``h`` and the result layer-normalised over channels:
    ``out = LN(h + up(refine(pool(h)) - pool(h)))``.

    Hand-written: MONAI's transformer blocks need einops and work on fixed token grids.

    Args:
        spatial_dims: 2 or 3.
        channels: latent channels ``C`` (must be divisible by ``num_heads``).
        pool_factor: pooling factor applied before attention (1 = full resolution).
        num_heads: attention heads.
        mlp_ratio: hidden width of the MLP relative to ``C``.

    Example::

        dif = Diffuser(3, channels=16, pool_factor=4, num_heads=4)
        out = dif(torch.randn(1, 16, 8, 8, 8))  # same shape, attention over 2^3 tokens
    """

    def __init__(
        self, spatial_dims: int, channels: int, pool_factor: int = 1, num_heads: int = 4, mlp_ratio: float = 2.0
    ) -> None:
        super().__init__()
        if channels % num_heads != 0:
            raise ValueError(f"Diffuser channels ({channels}) must be divisible by num_heads ({num_heads}).")
        if pool_factor < 1:
            raise ValueError(f"pool_factor must be >= 1, got {pool_factor}.")
        self.pool_factor = pool_factor
        self.pool = Pool[Pool.AVG, spatial_dims](kernel_size=pool_factor, stride=pool_factor)
        self.pos = Conv[Conv.CONV, spatial_dims](channels, channels, kernel_size=3, padding=1, groups=channels)
        self.norm_attn = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, num_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(channels)
        hidden = max(int(channels * mlp_ratio), 1)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        self.norm_out = nn.LayerNorm(channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(h) if self.pool_factor > 1 else h
        tokens = (pooled + self.pos(pooled)).flatten(2).transpose(1, 2)  # (B, N, C)
        x = self.norm_attn(tokens)
        tokens = tokens + self.attn(x, x, x, need_weights=False)[0]
        tokens = tokens + self.mlp(self.norm_mlp(tokens))
        update = tokens.transpose(1, 2).reshape(pooled.shape) - pooled
        out = h + resize_to(update, h.shape[2:])
        return self.norm_out(out.movedim(1, -1)).movedim(-1, 1)
