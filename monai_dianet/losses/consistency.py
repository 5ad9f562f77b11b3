# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Prediction consistency between paired source/target inputs (OncoStrat eq 23)."""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["ConsistencyLoss"]


class ConsistencyLoss(_Loss):
    r"""Squared distance between the predictions on paired inputs of two domains (OncoStrat eq 23):

    .. math::

        \mathcal{L}_{cons} = \mathbb{E}_{(x_s, x_t)} \left\| f(x_s) - f(x_t) \right\|_2^2

    where ``x_s``, ``x_t`` are the same sample seen in two domains (two stain or scanner variants, two
    acquisitions). The predictions are compared as probabilities (``softmax=True`` applies a softmax over dim 1 to
    logits; ``sigmoid=True`` a sigmoid) or as given.

    Args:
        softmax: apply softmax over dim 1 to both inputs.
        sigmoid: apply sigmoid to both inputs.
        detach_target: stop the gradient through the target prediction (teacher-style).
        reduction: ``"mean"`` / ``"sum"`` over the batch of per-sample squared distances, or ``"none"`` (B,).

    Example::

        loss = ConsistencyLoss(softmax=True)
        value = loss(net(x_stain_a), net(x_stain_b))
    """

    def __init__(
        self,
        softmax: bool = True,
        sigmoid: bool = False,
        detach_target: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if softmax and sigmoid:
            raise ValueError("softmax and sigmoid are mutually exclusive.")
        self.softmax = softmax
        self.sigmoid = sigmoid
        self.detach_target = detach_target

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            source: (B, K[, *spatial]) predictions on the source inputs.
            target: predictions on the paired target inputs, same shape.

        Returns:
            the loss (scalar, or (B,) for ``reduction="none"``).
        """
        if source.shape != target.shape:
            raise ValueError(
                "source and target predictions must have the same shape, got "
                f"{tuple(source.shape)} and {tuple(target.shape)}."
            )
        if self.detach_target:
            target = target.detach()
        if self.softmax:
            source, target = torch.softmax(source, dim=1), torch.softmax(target, dim=1)
        elif self.sigmoid:
            source, target = torch.sigmoid(source), torch.sigmoid(target)
        per_sample = (source - target).pow(2).flatten(1).sum(dim=1)
        if self.reduction == LossReduction.SUM.value:
            return per_sample.sum()
        if self.reduction == LossReduction.NONE.value:
            return per_sample
        return per_sample.mean()
