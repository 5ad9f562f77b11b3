# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Self-normalising network (SNN) encoder for tabular genomic features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from monai_dianet.networks.blocks.feature_gate import FeatureGate

__all__ = ["SNNEncoder"]


class SNNEncoder(nn.Module):
    """Self-normalising MLP (Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017): blocks of
    ``Linear -> SELU -> AlphaDropout`` with LeCun-normal weights, the genomic encoder of Pathomic Fusion
    (Chen et al., IEEE TMI 2020, doi:10.1109/TMI.2020.3021387), PORPOISE (Chen et al., Cancer Cell 2022) and MCAT
    (Chen et al., ICCV 2021), chosen there because plain MLPs and transformers overfit cohorts of a few hundred
    patients. AlphaDropout keeps the SELU activations' zero mean and unit variance, so no batch norm is needed
    (which also behaves badly with small batches).

    An optional :class:`FeatureGate` in front gives feature-wise gating with a sparsity penalty
    (``penalty()``). NaN inputs are treated as 0 (the training mean, once the features are standardised).

    Args:
        in_features: number of input features G.
        embed_dim: output size d.
        hidden_dims: widths of the hidden SELU layers.
        dropout: AlphaDropout rate after each hidden layer.
        feature_gate: put a :class:`FeatureGate` in front.

    Example::

        enc = SNNEncoder(80, embed_dim=16, hidden_dims=(32,))
        z = enc(torch.randn(8, 80))  # (8, 16)
    """

    def __init__(
        self,
        in_features: int,
        embed_dim: int = 32,
        hidden_dims: Sequence[int] = (64,),
        dropout: float = 0.25,
        feature_gate: bool = False,
    ) -> None:
        super().__init__()
        if in_features < 1 or embed_dim < 1:
            raise ValueError(f"in_features and embed_dim must be >= 1, got {in_features}, {embed_dim}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.in_features = in_features
        self.out_features = embed_dim
        self.gate = FeatureGate(in_features) if feature_gate else None
        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.SELU(), nn.AlphaDropout(dropout)]
            width = hidden
        layers += [nn.Linear(width, embed_dim), nn.SELU()]
        self.body = nn.Sequential(*layers)
        for module in self.body:
            if isinstance(module, nn.Linear):
                # LeCun normal: the initialisation under which SELU networks self-normalise
                nn.init.kaiming_normal_(module.weight, nonlinearity="linear")
                nn.init.zeros_(module.bias)

    def penalty(self) -> torch.Tensor:
        """The feature gates' L1 penalty (0 without gates)."""
        return self.gate.penalty() if self.gate is not None else self.body[0].weight.new_zeros(())

    @property
    def column_groups(self) -> list[slice]:
        """For each input feature, the slice of ``columns(x)`` it occupies (one column each; for attributions)."""
        return [slice(i, i + 1) for i in range(self.in_features)]

    def columns(self, x: torch.Tensor) -> torch.Tensor:
        """The validated input with NaN set to 0, (B, G): what :meth:`forward_columns` and attributions use."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"input must be (B, {self.in_features}), got shape {tuple(x.shape)}.")
        return torch.nan_to_num(x.float(), nan=0.0)

    def forward_columns(self, columns: torch.Tensor) -> torch.Tensor:
        """The gate and the SNN applied to ``columns(x)``."""
        return self.body(columns if self.gate is None else self.gate(columns))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, G) features (standardised on the training cases).

        Returns:
            (B, d) embedding.
        """
        return self.forward_columns(self.columns(x))
