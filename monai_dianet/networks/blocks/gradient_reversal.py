# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Gradient reversal layer (Ganin & Lempitsky, 2015) and the DANN reversal-weight schedule.

Hand-written here: neither MONAI nor PyTorch ships a gradient reversal layer.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GradientReversalFunction", "grad_reverse", "GradientReversal", "DANNSchedule"]


class GradientReversalFunction(torch.autograd.Function):
    """Autograd function: identity in the forward pass, ``-coeff * grad`` in the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:  # type: ignore[override]
        ctx.coeff = float(coeff)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.coeff * grad_output, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Functional gradient reversal: returns ``x`` unchanged; its gradient is multiplied by ``-coeff``.

    Args:
        x: any tensor.
        coeff: reversal weight lambda (>= 0).

    Returns:
        a tensor equal to ``x``.

    Raises:
        ValueError: when ``coeff`` is negative.
    """
    if coeff < 0:
        raise ValueError(f"gradient reversal coeff must be >= 0, got {coeff}.")
    return GradientReversalFunction.apply(x, coeff)


class GradientReversal(nn.Module):
    """Gradient reversal layer of domain-adversarial training (DIANet paper, eq 24).

    Forward: ``y = x``. Backward: ``dL/dx = -coeff * dL/dy``. Placed between a feature extractor and a
    domain discriminator, minimising the discriminator's loss trains the discriminator to tell the domains
    apart while it pushes the features to make them indistinguishable.

    Args:
        coeff: reversal weight lambda; change it during training with :meth:`set_coeff` (for example from
            :class:`DANNSchedule`).

    Example::

        grl = GradientReversal(coeff=0.5)
        x = torch.randn(4, 8, requires_grad=True)
        grl(x).sum().backward()   # x.grad == -0.5 everywhere
    """

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self.coeff = 0.0
        self.set_coeff(coeff)

    def set_coeff(self, coeff: float) -> None:
        """Set the reversal weight lambda.

        Raises:
            ValueError: when ``coeff`` is negative.
        """
        if coeff < 0:
            raise ValueError(f"gradient reversal coeff must be >= 0, got {coeff}.")
        self.coeff = float(coeff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return GradientReversalFunction.apply(x, self.coeff)

    def extra_repr(self) -> str:
        return f"coeff={self.coeff}"


class DANNSchedule:
    """Reversal-weight schedule of DANN: ``lambda(p) = max_value * (2 / (1 + exp(-gamma * p)) - 1)``.

    ``p`` is the training progress in [0, 1] (e.g. ``iteration / total_iterations``); lambda rises smoothly
    from 0 to about ``max_value``, which keeps the noisy discriminator signal out of the first iterations.

    Args:
        gamma: steepness (DANN uses 10).
        max_value: the value approached at ``p = 1``.

    Example::

        schedule = DANNSchedule(gamma=10.0)
        schedule(0.0), schedule(0.5), schedule(1.0)   # 0.0, ~0.987, ~0.9999
    """

    def __init__(self, gamma: float = 10.0, max_value: float = 1.0) -> None:
        if gamma <= 0:
            raise ValueError(f"DANNSchedule gamma must be > 0, got {gamma}.")
        if max_value < 0:
            raise ValueError(f"DANNSchedule max_value must be >= 0, got {max_value}.")
        self.gamma = float(gamma)
        self.max_value = float(max_value)

    def __call__(self, progress: float) -> float:
        """Return lambda at ``progress`` in [0, 1].

        Raises:
            ValueError: when ``progress`` is outside [0, 1].
        """
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"DANNSchedule progress must be in [0, 1], got {progress}.")
        return self.max_value * (2.0 / (1.0 + math.exp(-self.gamma * progress)) - 1.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(gamma={self.gamma}, max_value={self.max_value})"
