# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Task heads of DIANet (DIANet paper eq 16-21): decoders (deterministic unless given a dropout rate) and output
projections (stochastic).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Conv, Dropout

__all__ = ["SegmentationDecoder", "ReconstructionDecoder", "OutputProjection"]


def _channel_dropouts(spatial_dims: int, rate: float, count: int) -> nn.ModuleList | None:
    """``count`` channel-dropout modules (MONAI ``Dropout`` factory), or None for ``rate == 0``."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {rate}.")
    if rate == 0.0:
        return None
    return nn.ModuleList(Dropout[Dropout.DROPOUT, spatial_dims](rate) for _ in range(count))


class SegmentationDecoder(nn.Module):
    """Transposed-convolution decoder from the latent map back to input resolution with skip connections (eq 19).

    Starting from ``h`` at stride ``latent_stride``, each level upsamples with a transposed convolution
    (kernel = stride = the stride ratio), concatenates the skip feature map of that resolution and applies a
    3x3 convolution block (conv, norm, act). The skip list holds the encoder stages finer than the latent,
    finest first; when none of them is at full resolution the input image itself is the last skip.
    The level at stride ``t`` has ``channels * t`` channels, so the full-resolution output has ``channels``.
    With ``dropout > 0`` each level's input (``h``, then every level's output but the last, which the head's
    own dropout follows) passes a channel dropout first (DIANet's ``dropout_placement="decoder"``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: latent channels.
        latent_stride: stride of the latent map w.r.t. the input.
        skip_channels: channels of the skip maps, finest first (include the image's channels for stride 1).
        skip_strides: strides of the skip maps, finest first, each < ``latent_stride``; must contain 1.
        channels: width at full resolution.
        norm: normalisation of the conv blocks.
        act: activation of the conv blocks.
        dropout: channel-dropout rate before every level (0: none, the decoder is deterministic).

    Returns (forward):
        ``(B, channels, *input_spatial)`` features (before the head's dropout and final projection).

    Example::

        dec = SegmentationDecoder(2, 8, latent_stride=4, skip_channels=(3, 16), skip_strides=(1, 2))
        y = dec(torch.randn(1, 8, 4, 4), [torch.randn(1, 3, 16, 16), torch.randn(1, 16, 8, 8)])  # (1, 16, 16, 16)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        latent_stride: int,
        skip_channels: Sequence[int],
        skip_strides: Sequence[int],
        channels: int = 16,
        norm: str | tuple = "batch",
        act: str | tuple = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(skip_channels) != len(skip_strides) or not skip_strides or skip_strides[0] != 1:
            raise ValueError(f"skip strides must start at full resolution (1), got {tuple(skip_strides)}.")
        if any(s >= latent_stride for s in skip_strides):
            raise ValueError(f"skip strides {tuple(skip_strides)} must all be below latent_stride {latent_stride}.")
        self.up = nn.ModuleList()
        self.blocks = nn.ModuleList()
        prev_ch, prev_stride = in_channels, latent_stride
        for ch_skip, stride in zip(reversed(skip_channels), reversed(skip_strides)):
            ratio = prev_stride // stride
            out_ch = channels * stride
            self.up.append(
                Conv[Conv.CONVTRANS, spatial_dims](prev_ch, out_ch, kernel_size=ratio, stride=ratio, bias=False)
            )
            self.blocks.append(
                Convolution(spatial_dims, out_ch + ch_skip, out_ch, kernel_size=3, norm=norm, act=act)
            )
            prev_ch, prev_stride = out_ch, stride
        self.out_channels = channels
        self.dropout = _channel_dropouts(spatial_dims, dropout, len(self.blocks))

    def forward(self, h: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        x = h
        drops = self.dropout if self.dropout is not None else [None] * len(self.blocks)
        for up, block, drop, skip in zip(self.up, self.blocks, drops, reversed(list(skips))):
            x = block(torch.cat([up(x if drop is None else drop(x)), skip], dim=1))
        return x


class ReconstructionDecoder(nn.Module):
    """Upsampling decoder back to input resolution (eq 20-21): conv at the latent scale, upsample, conv.

    ``h`` is mapped by a 3x3 conv block to ``2 * channels``, upsampled (linear interpolation, MONAI
    ``UpSample`` non-trainable mode) by ``scale_factor`` and refined by a 3x3 conv block at full
    resolution; the final projection to the image channels is the :class:`OutputProjection` that follows.
    With ``dropout > 0`` a channel dropout precedes each conv block (at the latent scale, before upsampling).

    Args:
        spatial_dims: 2 or 3.
        in_channels: latent channels.
        scale_factor: upsampling factor (the latent stride).
        channels: width of the full-resolution features.
        norm: normalisation of the conv blocks.
        act: activation of the conv blocks.
        dropout: channel-dropout rate before each conv block (0: none).

    Example::

        dec = ReconstructionDecoder(2, 8, scale_factor=4)
        y = dec(torch.randn(1, 8, 4, 4))  # (1, 8, 16, 16)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        scale_factor: int,
        channels: int = 8,
        norm: str | tuple = "batch",
        act: str | tuple = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.pre = Convolution(spatial_dims, in_channels, 2 * channels, kernel_size=3, norm=norm, act=act)
        self.upsample = UpSample(
            spatial_dims, scale_factor=scale_factor, mode="nontrainable", interp_mode="linear", align_corners=False
        )
        self.post = Convolution(spatial_dims, 2 * channels, channels, kernel_size=3, norm=norm, act=act)
        self.out_channels = channels
        self.dropout = _channel_dropouts(spatial_dims, dropout, 2)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.dropout is None:
            return self.post(self.upsample(self.pre(h)))
        # channel dropout commutes with the linear upsampling: applied at the latent scale, where it is cheaper
        return self.post(self.upsample(self.dropout[1](self.pre(self.dropout[0](h)))))


class OutputProjection(nn.Module):
    """The stochastic, cheap end of a head: dropout, then a 1x1 projection (and an optional log-variance).

    Dropout is MONAI's ``Dropout[Dropout.DROPOUT, spatial_dims]`` (channel dropout for maps; for ``(B, C)``
    vectors, ``spatial_dims=None``, element dropout and a linear projection). With ``heteroscedastic=True`` a
    second projection predicts the per-output log-variance (aleatoric uncertainty) from the same dropped-out
    features.

    Args:
        spatial_dims: 2 or 3 for maps, ``None`` for ``(B, C)`` vectors.
        in_channels: feature channels.
        out_channels: output channels / classes.
        dropout: dropout probability in [0, 1).
        heteroscedastic: add the log-variance projection.

    Returns (forward):
        ``(output, logvar)`` where ``logvar`` is ``None`` unless heteroscedastic.

    Example::

        proj = OutputProjection(3, 16, 3, dropout=0.1, heteroscedastic=True)
        y, logvar = proj(torch.randn(1, 16, 8, 8, 8))
    """

    def __init__(
        self,
        spatial_dims: int | None,
        in_channels: int,
        out_channels: int,
        dropout: float = 0.0,
        heteroscedastic: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        if spatial_dims is None:
            self.dropout = Dropout[Dropout.DROPOUT, 1](dropout)
            self.proj = nn.Linear(in_channels, out_channels)
            self.logvar = nn.Linear(in_channels, out_channels) if heteroscedastic else None
        else:
            conv = Conv[Conv.CONV, spatial_dims]
            self.dropout = Dropout[Dropout.DROPOUT, spatial_dims](dropout)
            self.proj = conv(in_channels, out_channels, kernel_size=1)
            self.logvar = conv(in_channels, out_channels, kernel_size=1) if heteroscedastic else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.dropout(x)
        return self.proj(x), (self.logvar(x) if self.logvar is not None else None)

    def forward_samples(self, x: torch.Tensor, num_samples: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``num_samples`` dropout samples at once: equals ``forward(x.repeat(num_samples, 1, ...))``.

        For maps (channel dropout followed by a 1x1 convolution) the dropout masks are folded into the projection
        weights instead of being applied to ``num_samples`` copies of the full-resolution features. This is exact:
        channel dropout multiplies channel ``i`` of batch item ``k`` by one scalar ``m_ki`` (0 or ``1/(1-p)``), and
        a 1x1 convolution is linear in its input channels, so ``conv(m_k * x, W) = conv(x, W * m_k)`` with the
        column ``i`` of ``W`` scaled by ``m_ki`` (results equal up to float rounding). All samples come from ONE
        grouped convolution over the un-repeated ``x`` with the per-sample weights stacked along the output
        channels, so the work at full resolution scales with ``num_samples * out_channels`` instead of
        ``num_samples * in_channels`` and no repeated feature tensor is allocated.

        The masks are drawn by calling ``self.dropout`` on a ``(num_samples * B, C, 1, ..., 1)`` tensor of ones:
        channel dropout draws one value per (item, channel) whatever the spatial size, so the masks (and the RNG
        stream they consume, global or through ``seeded_mc_dropout``'s hooks) are those of
        ``forward(x.repeat(...))``. Element dropout on ``(B, C)`` vectors (``spatial_dims=None``) has nothing to
        fold and runs ``forward`` on the repeated input.

        Args:
            x: ``(B, C, *spatial)`` features (or ``(B, C)`` vectors).
            num_samples: number of stacked samples (>= 1).

        Returns:
            ``(output, logvar)`` of shape ``(num_samples * B, out_channels, *spatial)``, sample-major
            (items ``t * B .. t * B + B - 1`` are sample ``t``); ``logvar`` is ``None`` unless heteroscedastic.

        Raises:
            ValueError: ``num_samples < 1``.

        Example::

            proj = OutputProjection(3, 16, 3, dropout=0.1)
            y, _ = proj.forward_samples(torch.randn(1, 16, 8, 8, 8), 10)  # (10, 3, 8, 8, 8)
        """
        n = int(num_samples)
        if n < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        if isinstance(self.proj, nn.Linear):
            return self(x.repeat(n, *([1] * (x.ndim - 1))))
        b, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
        mask = self.dropout(x.new_ones((n * b, c) + (1,) * len(spatial))).reshape(n, b, 1, c)
        convs = [self.proj] if self.logvar is None else [self.proj, self.logvar]
        weight = torch.cat([m.weight.reshape(m.weight.shape[0], c) for m in convs], 0)  # (O, C), O = all outputs
        bias = torch.cat([m.bias for m in convs], 0)  # (O,)
        o = weight.shape[0]
        # per-group (batch item) weights: group k holds the n samples' (O, C) weights, sample-major inside
        w = (weight * mask).permute(1, 0, 2, 3).reshape(b * n * o, c, *([1] * len(spatial)))
        conv_fn = getattr(nn.functional, f"conv{len(spatial)}d")  # the functional form of self.proj's Conv class
        out = conv_fn(x.reshape(1, b * c, *spatial), w, bias.repeat(b * n), groups=b)
        out = out.reshape(b, n, o, *spatial).transpose(0, 1).reshape(n * b, o, *spatial)
        k = self.proj.out_channels
        return out[:, :k], (out[:, k:] if self.logvar is not None else None)
