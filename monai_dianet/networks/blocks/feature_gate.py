# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Feature-wise sigmoid gates with a sparsity penalty, for small tabular cohorts."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["FeatureGate"]


class FeatureGate(nn.Module):
    """Multiply each input feature by a learnable gate ``g_j = sigmoid(theta_j)`` in (0, 1).

    With an L1 penalty on the gates (:meth:`penalty`, added to the training loss) most gates shrink towards 0 and
    only the features that help the objective stay open: a differentiable feature selection in front of an
    encoder, in the spirit of the stochastic gates of Yamada et al., "Feature Selection using Stochastic Gates",
    ICML 2020 (deterministic here: small cohorts do not need the noise). Hand-written because neither PyTorch nor
    MONAI has a gated input layer. The gates are exposed for inspection (``gates``) and serve as global
    feature importances.

    Args:
        num_features: number of input features F.
        init: initial gate value in (0, 1) (default 0.5: the penalty and the task start on equal terms).

    Example::

        gate = FeatureGate(80)
        y = gate(torch.randn(4, 80))  # (4, 80)
        loss = task_loss + 1e-3 * gate.penalty()
    """

    def __init__(self, num_features: int, init: float = 0.5) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}.")
        if not 0.0 < init < 1.0:
            raise ValueError(f"init must be in (0, 1), got {init}.")
        self.logits = nn.Parameter(torch.full((num_features,), float(torch.logit(torch.tensor(init)))))

    @property
    def gates(self) -> torch.Tensor:
        """(F,) gate values in (0, 1)."""
        return torch.sigmoid(self.logits)

    def penalty(self) -> torch.Tensor:
        """L1 norm of the gates (they are positive, so their sum), a scalar."""
        return self.gates.sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, F) features.

        Returns:
            (B, F) gated features.
        """
        if x.ndim != 2 or x.shape[1] != self.logits.numel():
            raise ValueError(f"input must be (B, {self.logits.numel()}), got shape {tuple(x.shape)}.")
        return x * self.gates
