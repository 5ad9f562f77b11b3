# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Heteroscedastic (aleatoric) losses for heads that predict a per-output log-variance (DIANet paper, "aleatoric
and epistemic" paragraph; Kendall & Gal, 2017).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["HeteroscedasticLoss"]

_MODES = ("gaussian", "softmax", "sigmoid")


class HeteroscedasticLoss(_Loss):
    r"""Loss attenuated by a predicted per-output log-variance ``s = log sigma^2`` (Kendall & Gal, 2017).

    - ``mode="gaussian"`` (regression, e.g. reconstruction): the Gaussian negative log-likelihood without its
      constant, :math:`\tfrac12 e^{-s}(y - \hat y)^2 + \tfrac12 s`.
    - ``mode="softmax"`` / ``"sigmoid"`` (logits of segmentation or classification): the logits are corrupted
      with Gaussian noise :math:`\hat x_t = x + \sigma \epsilon_t`, ``t = 1..T``, and the loss is the negative
      log of the Monte-Carlo averaged likelihood,
      :math:`-\log \tfrac1T \sum_t p(y \mid \hat x_t)` (categorical over channels for softmax, one Bernoulli
      per channel for sigmoid), computed with ``logsumexp`` for stability.

    Large ``s`` lowers the weight of the residual where the data are ambiguous, at the price of the ``s``
    (or noise) penalty, so the head learns where the data are noisy. Hand-written: MONAI has no such loss.

    Reduction over the per-element terms (``gaussian``/``sigmoid``: shape of the prediction; ``softmax``:
    ``(B, *spatial)``): ``"none"`` returns them, ``"mean"`` their mean, ``"sum"`` their sum.

    Args:
        mode: ``"gaussian"``, ``"softmax"`` or ``"sigmoid"``.
        num_samples: Monte-Carlo samples ``T`` for the logit modes.
        logvar_clamp: ``s`` is clamped to ``[-logvar_clamp, logvar_clamp]``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: for unknown options or mismatched prediction / log-variance / target shapes.

    Example::

        loss = HeteroscedasticLoss(mode="sigmoid")
        value = loss(output.segmentation, output.aleatoric_logvar["segmentation"], label)
    """

    def __init__(
        self,
        mode: str = "softmax",
        num_samples: int = 8,
        logvar_clamp: float = 10.0,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        if logvar_clamp <= 0:
            raise ValueError(f"logvar_clamp must be > 0, got {logvar_clamp}.")
        self.mode = mode
        self.num_samples = int(num_samples)
        self.logvar_clamp = float(logvar_clamp)

    def _class_target(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One-hot / soft class target of the prediction's shape from indices ``(B[, 1], *spatial)``."""
        if target.shape == prediction.shape and target.is_floating_point():
            return target
        if target.ndim == prediction.ndim and target.shape[1] == 1:
            target = target[:, 0]
        if target.shape != prediction.shape[:1] + prediction.shape[2:]:
            raise ValueError(
                f"softmax target of shape {tuple(target.shape)} does not fit prediction {tuple(prediction.shape)}: "
                "expected class indices (B[, 1], *spatial) or probabilities of the prediction's shape."
            )
        return F.one_hot(target.long(), prediction.shape[1]).movedim(-1, 1).to(prediction.dtype)

    def forward(self, prediction: torch.Tensor, logvar: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            prediction: regression output or logits, ``(B, C[, *spatial])``.
            logvar: predicted log-variance, same shape as ``prediction``.
            target: regression target / binary channels (prediction's shape) or class indices (softmax).

        Returns:
            the loss, reduced.
        """
        prediction, logvar, target = (
            t.as_tensor() if isinstance(t, MetaTensor) else t for t in (prediction, logvar, target)
        )
        if logvar.shape != prediction.shape:
            raise ValueError(
                f"logvar of shape {tuple(logvar.shape)} must match the prediction {tuple(prediction.shape)}."
            )
        s = logvar.clamp(-self.logvar_clamp, self.logvar_clamp)
        if self.mode == "softmax":
            target = self._class_target(prediction, target)
        elif target.shape != prediction.shape:
            raise ValueError(
                f"{self.mode} target of shape {tuple(target.shape)} must match the prediction "
                f"{tuple(prediction.shape)}."
            )
        target = target.to(prediction.dtype)
        if self.mode == "gaussian":
            terms = 0.5 * torch.exp(-s) * (target - prediction).pow(2) + 0.5 * s
        else:
            noise = torch.randn(
                (self.num_samples, *prediction.shape), device=prediction.device, dtype=prediction.dtype
            )
            logits = prediction.unsqueeze(0) + torch.exp(0.5 * s).unsqueeze(0) * noise  # (T, B, C, ...)
            log_t = math.log(self.num_samples)
            if self.mode == "softmax":
                log_mean_p = torch.logsumexp(F.log_softmax(logits, dim=2), dim=0) - log_t
                terms = -(target * log_mean_p).sum(dim=1)
            else:
                log_mean_p = torch.logsumexp(F.logsigmoid(logits), dim=0) - log_t
                log_mean_1mp = torch.logsumexp(F.logsigmoid(-logits), dim=0) - log_t
                terms = -(target * log_mean_p + (1.0 - target) * log_mean_1mp)
        if self.reduction == LossReduction.MEAN.value:
            return terms.mean()
        if self.reduction == LossReduction.SUM.value:
            return terms.sum()
        return terms
