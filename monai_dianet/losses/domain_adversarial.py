# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Domain-adversarial loss with gradient reversal (DANN; DIANet paper, eq 24).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch import nn
from torch.nn.modules.loss import _Loss

from monai_dianet.networks.blocks.discriminator import DomainDiscriminator
from monai_dianet.networks.blocks.gradient_reversal import DANNSchedule, GradientReversal

__all__ = ["DomainAdversarialLoss"]


class DomainAdversarialLoss(_Loss):
    r"""Domain discriminator + gradient reversal layer (Ganin et al. 2016) for eq 24.

    Eq 24 is the discriminator's log-likelihood
    ``E_s[log D(f(x_s))] + E_t[log(1 - D(f(x_t)))]``; this loss is its negative, the binary cross-entropy
    with source = 1 and target = 0:

    .. math::

        \mathcal{L} = -\mathbb{E}_{x_s}[\log D(R_\lambda(f(x_s)))] - \mathbb{E}_{x_t}[\log(1 - D(R_\lambda(f(x_t))))]

    where ``R_lambda`` is the gradient reversal layer. Minimising it with one optimiser over the feature
    extractor and the discriminator trains ``D`` to separate the domains, while the reversed gradient
    (scaled by ``lambda``) trains the features to confuse it. ``lambda`` follows ``schedule`` when
    :meth:`step` is called with the training progress.

    Reduction: ``"none"`` returns the per-sample BCE ``(B_s + B_t,)`` (source first); ``"mean"`` the sum of
    the two domain means (the two expectations of eq 24); ``"sum"`` the sum over all samples.
    After each call ``last_accuracy`` holds the discriminator's accuracy on that batch (for logging).

    Args:
        in_channels: feature channels; builds a :class:`DomainDiscriminator` when ``discriminator`` is None.
        discriminator: any module mapping features to ``(B, 1)`` or ``(B,)`` logits.
        hidden_features: hidden widths of the default discriminator.
        coeff: initial reversal weight lambda.
        schedule: callable mapping progress ``p`` in [0, 1] to lambda; default :class:`DANNSchedule`.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: when neither ``in_channels`` nor ``discriminator`` is given, or for mismatched features.

    Example::

        loss = DomainAdversarialLoss(in_channels=64)
        optimizer = torch.optim.Adam([*encoder.parameters(), *loss.parameters()])
        loss.step(progress=epoch / num_epochs)
        value = loss(encoder(x_source), encoder(x_target))
    """

    def __init__(
        self,
        in_channels: int | None = None,
        discriminator: nn.Module | None = None,
        hidden_features: Sequence[int] = (128, 64),
        coeff: float = 1.0,
        schedule: Callable[[float], float] | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if discriminator is None:
            if in_channels is None:
                raise ValueError("DomainAdversarialLoss needs `in_channels` or a `discriminator` module.")
            discriminator = DomainDiscriminator(in_channels, hidden_features=hidden_features)
        self.discriminator = discriminator
        self.grl = GradientReversal(coeff)
        self.schedule = schedule if schedule is not None else DANNSchedule()
        self.last_accuracy = float("nan")

    @property
    def coeff(self) -> float:
        """The current reversal weight lambda."""
        return self.grl.coeff

    def step(self, progress: float) -> float:
        """Set lambda from the schedule at training progress ``progress`` in [0, 1]; returns the new lambda."""
        self.grl.set_coeff(self.schedule(progress))
        return self.grl.coeff

    def _logits(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.discriminator(self.grl(features))
        if logits.ndim == 2 and logits.shape[1] == 1:
            logits = logits[:, 0]
        if logits.shape != features.shape[:1]:
            raise ValueError(
                f"the domain discriminator must return (B, 1) or (B,) logits, got {tuple(logits.shape)} "
                f"for features of shape {tuple(features.shape)}."
            )
        return logits

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            source: source-domain features ``(B_s, C[, *spatial])``.
            target: target-domain features ``(B_t, C[, *spatial])``.

        Returns:
            the domain classification loss (see the class docstring for the reduction).
        """
        if source.shape[1:] != target.shape[1:]:
            raise ValueError(
                f"DomainAdversarialLoss source and target must match past the batch dim, got "
                f"{tuple(source.shape)} and {tuple(target.shape)}."
            )
        logit_s, logit_t = self._logits(source), self._logits(target)
        loss_s = F.binary_cross_entropy_with_logits(logit_s, torch.ones_like(logit_s), reduction="none")
        loss_t = F.binary_cross_entropy_with_logits(logit_t, torch.zeros_like(logit_t), reduction="none")
        with torch.no_grad():
            correct = (logit_s > 0).sum() + (logit_t <= 0).sum()
            self.last_accuracy = float(correct) / (logit_s.numel() + logit_t.numel())
        if self.reduction == LossReduction.MEAN.value:
            return loss_s.mean() + loss_t.mean()
        if self.reduction == LossReduction.SUM.value:
            return loss_s.sum() + loss_t.sum()
        return torch.cat([loss_s, loss_t])
