# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""L2 penalty on the fusion attention vector and the classifier weights (OncoNet eq 10 / 19)."""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["FusionRegularizationLoss"]


class FusionRegularizationLoss(_Loss):
    r"""The penalty term of OncoNet's objective (eq 10, eq 19):

    .. math::

        R = \lambda_w \lVert w \rVert_2^2 + \lambda_o \lVert W_o \rVert_F^2

    where ``w`` is the modality attention vector (eq 16) and ``W_o`` the classifier weight (eq 18); the full
    objective is cross-entropy + R (see :class:`monai_dianet.losses.OncoNetLoss`). Unlike weight decay it only
    touches these two parameter tensors.

    Args:
        lambda_attention: lambda_w.
        lambda_classifier: lambda_o.
        reduction: ``"sum"`` gives the squared norms of the equation; ``"mean"`` divides each squared norm by
            its number of elements; ``"none"`` returns the two weighted terms as a (2,) tensor.

    Example::

        reg = FusionRegularizationLoss(1e-3, 1e-3)
        penalty = reg(net.attention_vector, net.classifier_weight)
    """

    def __init__(
        self,
        lambda_attention: float = 1e-4,
        lambda_classifier: float = 1e-4,
        reduction: LossReduction | str = LossReduction.SUM,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if lambda_attention < 0 or lambda_classifier < 0:
            raise ValueError("the regularisation weights must be non-negative.")
        self.lambda_attention = lambda_attention
        self.lambda_classifier = lambda_classifier

    def forward(self, attention_vector: torch.Tensor, classifier_weight: torch.Tensor) -> torch.Tensor:
        """
        Args:
            attention_vector: w, (d,) (``OncoNet.attention_vector``).
            classifier_weight: W_o, (K, d) (``OncoNet.classifier_weight``).

        Returns:
            the penalty (scalar, or (2,) for ``reduction="none"``).
        """
        terms = [attention_vector.pow(2), classifier_weight.pow(2)]
        if self.reduction == LossReduction.MEAN.value:
            values = [t.mean() for t in terms]
        else:
            values = [t.sum() for t in terms]
        weighted = torch.stack([self.lambda_attention * values[0], self.lambda_classifier * values[1]])
        return weighted if self.reduction == LossReduction.NONE.value else weighted.sum()
