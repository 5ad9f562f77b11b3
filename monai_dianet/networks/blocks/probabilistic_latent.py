# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Gaussian latent of DIANet (DIANet paper eq 10, 12, 13): g_mu, g_Sigma and the reparameterised sample.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from monai.networks.layers.factories import Conv

__all__ = ["ProbabilisticLatent"]


class ProbabilisticLatent(nn.Module):
    """Spatial diagonal-Gaussian latent ``h ~ N(mu, diag(exp(logvar)))`` from a feature map.

    ``mu = g_mu(z)`` and ``logvar = g_Sigma(z)`` are separate 1x1 convolutions (eq 13); ``logvar`` is
    clamped to ``logvar_range`` for numerical stability. With ``sample=True`` the latent is drawn by
    reparameterisation ``h = mu + exp(logvar / 2) * eps`` (eq 12), otherwise ``h = mu``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the input feature map.
        latent_channels: dimensionality ``d`` of the latent at each position.
        logvar_range: clamp range of the log-variance.

    Returns (forward):
        ``(h, mu, logvar)``, each ``(B, latent_channels, *spatial)``.

    Example::

        lat = ProbabilisticLatent(2, 16, 8)
        h, mu, logvar = lat(torch.randn(2, 16, 8, 8), sample=True)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        latent_channels: int,
        logvar_range: tuple[float, float] = (-10.0, 10.0),
    ) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.g_mu = conv(in_channels, latent_channels, kernel_size=1)
        self.g_logvar = conv(in_channels, latent_channels, kernel_size=1)
        self.logvar_range = logvar_range

    def forward(self, x: torch.Tensor, sample: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu = self.g_mu(x)
        logvar = torch.clamp(self.g_logvar(x), *self.logvar_range)
        if not sample:
            return mu, mu, logvar
        h = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return h, mu, logvar
