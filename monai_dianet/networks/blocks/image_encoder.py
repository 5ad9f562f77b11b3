# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Image encoders of OncoNet (sec. 3.3.2, eq 12): DIANet's multi-scale attention encoder, a plain residual CNN, or
MONAI's ViT, each pooled by spatial attention into one vector with an image-region attention map."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.layers import Conv
from monai.networks.nets import ViT
from monai.utils import ensure_tuple_rep

from monai_dianet.networks.blocks.backbone import DIANetBackbone
from monai_dianet.networks.blocks.feature_pyramid import FeaturePyramidFusion
from monai_dianet.networks.blocks.stage_attention import StageAttention
from monai_dianet.networks.blocks.modality_fusion import AttentionPooling
from monai_dianet.networks.utils import resize_to

__all__ = ["ImageEncoder"]


class ImageEncoder(nn.Module):
    """Image encoder of OncoNet: a feature map pooled by spatial soft attention (eq 26) into a vector ``Z_img``.

    ``encoder`` picks the feature extractor:

    - ``"dianet"``: DIANet's encoder - a MONAI ResNet backbone, CBAM-style stage attention on every stage and the
      feature pyramid fusion (FPN + PANet with per-scale spatial attention) over the stride 4-32 stages, taken at
      its finest fused scale (stride 4).
    - ``"cnn"``: the same residual backbone without attention or pyramid (last stage only); the Table 5 M1 CNN.
    - ``"vit"``: ``monai.networks.nets.ViT`` (convolutional patch embedding), patch tokens pooled by attention;
      the Table 5 M2/M3 ViT. Needs ``img_size``.

    The attention pooling weights over positions (pixels of the feature map, or patches) give the image-region
    attribution map, upsampled to the input size (values are the pooling weight of the covering position).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (3 for RGB histology).
        embed_dim: output size d.
        encoder: ``"dianet"``, ``"cnn"`` or ``"vit"``.
        backbone: ResNet name of the ``"dianet"``/``"cnn"`` backbone.
        width: width multiplier of the ResNet backbone.
        fusion_channels: pyramid width of ``"dianet"``.
        img_size: input size, required by ``"vit"``.
        patch_size: ViT patch size.
        num_layers: ViT blocks.
        num_heads: ViT heads.
        dropout: ViT dropout rate.

    Example::

        enc = ImageEncoder(2, 3, embed_dim=32, encoder="cnn")
        z, region = enc(torch.randn(2, 3, 64, 64))  # (2, 32), (2, 1, 64, 64)
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        embed_dim: int = 64,
        encoder: str = "dianet",
        backbone: str = "resnet10",
        width: float = 0.25,
        fusion_channels: int = 32,
        img_size: Sequence[int] | int | None = None,
        patch_size: Sequence[int] | int = 8,
        num_layers: int = 2,
        num_heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if encoder not in ("dianet", "cnn", "vit"):
            raise ValueError(f"encoder must be 'dianet', 'cnn' or 'vit', got {encoder!r}.")
        self.spatial_dims = spatial_dims
        self.encoder = encoder
        self.out_features = embed_dim
        if encoder == "vit":
            if img_size is None:
                raise ValueError("ImageEncoder(encoder='vit') needs img_size.")
            self.img_size = ensure_tuple_rep(img_size, spatial_dims)
            self.patch_size = ensure_tuple_rep(patch_size, spatial_dims)
            if any(i % p for i, p in zip(self.img_size, self.patch_size)):
                raise ValueError(f"img_size {self.img_size} must be a multiple of patch_size {self.patch_size}.")
            self.vit = ViT(
                in_channels,
                self.img_size,
                self.patch_size,
                hidden_size=embed_dim,
                mlp_dim=2 * embed_dim,
                num_layers=num_layers,
                num_heads=num_heads,
                dropout_rate=dropout,
                spatial_dims=spatial_dims,
                qkv_bias=True,
            )
            channels = embed_dim
        elif encoder == "cnn":
            self.backbone = DIANetBackbone(spatial_dims, in_channels, backbone=backbone, width=width)
            channels = self.backbone.out_channels[-1]
        else:
            self._build_dianet(spatial_dims, in_channels, backbone, width, fusion_channels)
            channels = fusion_channels
        self.proj: nn.Module = nn.Identity()
        if channels != embed_dim:
            self.proj = Conv[Conv.CONV, spatial_dims](channels, embed_dim, kernel_size=1)
        self.pool = AttentionPooling(embed_dim, hidden_features=embed_dim)

    def _build_dianet(
        self, spatial_dims: int, in_channels: int, backbone: str, width: float, fusion_channels: int
    ) -> None:
        self.backbone = DIANetBackbone(spatial_dims, in_channels, backbone=backbone, width=width)
        # FPN levels C2..C5 (strides 4..32): the stride-2 stem output is left out of the pyramid, as in FPN
        channels, strides = self.backbone.out_channels[1:], self.backbone.strides[1:]
        self.stage_attention = nn.ModuleList([StageAttention(spatial_dims, c) for c in channels])
        self.pyramid = FeaturePyramidFusion(spatial_dims, channels, strides, out_channels=fusion_channels)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, C, *spatial') feature map that is pooled."""
        if self.encoder == "vit":
            if tuple(x.shape[2:]) != self.img_size:
                raise ValueError(
                    f"the ViT image encoder expects images of size {self.img_size}, got {tuple(x.shape[2:])}."
                )
            tokens, _ = self.vit(x)  # (B, N, d)
            grid = [i // p for i, p in zip(self.img_size, self.patch_size)]
            return tokens.transpose(1, 2).reshape(x.shape[0], tokens.shape[-1], *grid)
        stages = self.backbone(x)
        if self.encoder == "cnn":
            return stages[-1]
        stages = [att(s)[0] for att, s in zip(self.stage_attention, stages[1:])]
        return self.pyramid(stages)[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            x: (B, C, H, W[, D]) images.

        Returns:
            embedding (B, d) and region attention map (B, 1, H, W[, D]).
        """
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"images must be (B, C, *spatial) with {self.spatial_dims} spatial dims, got {tuple(x.shape)}."
            )
        fmap = self.proj(self.feature_map(x))
        pooled, weights = self.pool(fmap.flatten(2).transpose(1, 2))
        region = weights.view(fmap.shape[0], 1, *fmap.shape[2:])
        region = resize_to(region, x.shape[2:])
        return pooled, region
