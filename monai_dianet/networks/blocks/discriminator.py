# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Small MLP discriminators for adversarial latent regularisation (DIANet paper, eq 15) and domain adaptation (eq 24).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Dropout
from monai.networks.layers.utils import get_act_layer
from torch import nn

__all__ = ["LatentDiscriminator", "DomainDiscriminator"]


def _mlp(in_features: int, hidden_features: Sequence[int], act: str | tuple, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for hidden in hidden_features:
        layers += [nn.Linear(width, hidden), get_act_layer(act)]
        if dropout > 0:
            layers.append(Dropout[Dropout.DROPOUT, 1](dropout))
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _check_mlp_args(in_features: int, hidden_features: Sequence[int], dropout: float) -> None:
    if in_features < 1:
        raise ValueError(f"in_features must be >= 1, got {in_features}.")
    if any(h < 1 for h in hidden_features):
        raise ValueError(f"hidden_features must all be >= 1, got {tuple(hidden_features)}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}.")


class LatentDiscriminator(nn.Module):
    """MLP that scores latent vectors: logit of "this vector was drawn from the prior" (adversarial autoencoder).

    Args:
        in_features: latent dimension ``C``.
        hidden_features: widths of the hidden layers.
        act: activation name or ``(name, kwargs)`` for MONAI's ``get_act_layer``.
        dropout: dropout after each hidden activation.

    Input ``(N, C)`` vectors; output ``(N, 1)`` logits (no sigmoid: losses use ``BCEWithLogits``).

    Raises:
        ValueError: for a non-positive width, a bad dropout rate, or an input that is not ``(N, in_features)``.

    Example::

        disc = LatentDiscriminator(32)
        logits = disc(torch.randn(10, 32))   # (10, 1)
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: Sequence[int] = (64, 64),
        act: str | tuple = ("leakyrelu", {"negative_slope": 0.2}),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_mlp_args(in_features, hidden_features, dropout)
        self.in_features = in_features
        self.mlp = _mlp(in_features, hidden_features, act, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"LatentDiscriminator expects (N, {self.in_features}) vectors, got {tuple(x.shape)}.")
        return self.mlp(x)


class DomainDiscriminator(nn.Module):
    """Domain classifier for domain-adversarial training: global average pooling + MLP -> one logit.

    Accepts feature vectors ``(B, C)`` or feature maps ``(B, C, H, W[, D])`` (pooled over the spatial dims, so
    one module serves 2D and 3D features). The logit is "this sample comes from the source domain".

    Args:
        in_channels: feature channels ``C``.
        hidden_features: widths of the hidden layers.
        act: activation name or ``(name, kwargs)`` for MONAI's ``get_act_layer``.
        dropout: dropout after each hidden activation.

    Raises:
        ValueError: for a non-positive width, a bad dropout rate, or an input whose channel dimension is not
            ``in_channels``.

    Example::

        disc = DomainDiscriminator(64)
        logits = disc(torch.randn(2, 64, 8, 8, 8))   # (2, 1)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_features: Sequence[int] = (128, 64),
        act: str | tuple = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_mlp_args(in_channels, hidden_features, dropout)
        self.in_channels = in_channels
        self.mlp = _mlp(in_channels, hidden_features, act, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"DomainDiscriminator expects (B, {self.in_channels}) or (B, {self.in_channels}, *spatial), "
                f"got {tuple(x.shape)}."
            )
        if x.ndim > 2:
            x = x.flatten(2).mean(dim=2)
        return self.mlp(x)
