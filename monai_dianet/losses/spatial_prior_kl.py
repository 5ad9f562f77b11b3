# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""KL divergence between a statistical spatial prior map and the predicted spatial class distribution
(DIANet paper, "anatomical prior" paragraph).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from monai_dianet.networks.utils import as_prior_tensor, batch_prior, check_prior_mode, resize_to

__all__ = ["SpatialPriorKLLoss"]


class SpatialPriorKLLoss(_Loss):
    r"""Voxel-wise ``KL(prior || prediction)`` between a prior map ``q`` and the predicted distribution ``p``.

    - ``mode="softmax"`` (mutually exclusive classes):
      :math:`\mathrm{KL}_v = \sum_c q_{c,v} (\log q_{c,v} - \log p_{c,v})`, ``p = softmax(logits)``.
    - ``mode="sigmoid"`` (overlapping channels, e.g. BraTS TC/WT/ET; one Bernoulli per channel):
      :math:`\mathrm{KL}_{c,v} = q \log\frac{q}{p} + (1 - q)\log\frac{1 - q}{1 - p}`, ``p = sigmoid(logits)``.

    Direction: ``direction="prior_to_prediction"`` (default) computes ``KL(q || p)``: the expected log-ratio under
    the prior. It is the cross-entropy of the prediction against the soft prior minus the prior's (constant)
    entropy, so its gradient w.r.t. the logits is simply ``p - q`` (softmax) and it is computed from
    ``log_softmax``/``logsigmoid`` of the logits without ever taking the log of a resampled probability; it is
    mass-covering (penalises predicting nothing where the population prior expects a structure). The prior is
    floored at ``eps`` so ``log q`` is finite. ``"prediction_to_prior"`` gives ``KL(p || q)`` (mode-seeking).
    Both are 0 exactly when ``p == q``.

    Grids: ``resample="prior"`` (default) resamples the prior to the prediction's grid;
    ``resample="prediction"`` resamples the predicted probabilities to the prior's grid (area averaging, cheaper
    for full-resolution segmentation logits against a coarse prior).

    Reduction over the KL map (``(B, 1, *spatial)`` for softmax, ``(B, C, *spatial)`` for sigmoid):
    ``"none"`` returns the map, ``"mean"`` its mean (average KL per voxel [and channel]), ``"sum"`` its sum.

    Args:
        prior: ``(C, *spatial)`` prior map (tensor, ``MetaTensor`` or file from
            :func:`~monai_dianet.transforms.save_spatial_prior`); may instead be given per call.
        mode: ``"softmax"`` or ``"sigmoid"``; default the prior's ``mode`` metadata, else ``"softmax"``.
        direction: ``"prior_to_prediction"`` (``KL(q || p)``) or ``"prediction_to_prior"`` (``KL(p || q)``).
        resample: ``"prior"`` or ``"prediction"``.
        eps: floor for probabilities inside logarithms.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: for unknown options, a mode that contradicts the prior's metadata, channel/dimension
            mismatches, or a call without any prior.

    Example::

        prior = build_spatial_prior(datalist, spatial_size=(32, 32, 32), transform=to_brats_channels)
        loss = SpatialPriorKLLoss(prior, mode="sigmoid", resample="prediction")
        value = loss(segmentation_logits)   # (B, 3, 128, 128, 128)
    """

    def __init__(
        self,
        prior: torch.Tensor | str | os.PathLike | None = None,
        mode: str | None = None,
        direction: str = "prior_to_prediction",
        resample: str = "prior",
        eps: float = 1e-6,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        prior_mode = None
        if prior is not None:
            prior, prior_mode = as_prior_tensor(prior)
        if mode is None:
            mode = prior_mode or "softmax"
        check_prior_mode(mode)
        if prior_mode is not None and prior_mode != mode:
            raise ValueError(f"mode {mode!r} contradicts the prior map's mode metadata {prior_mode!r}.")
        if direction not in ("prior_to_prediction", "prediction_to_prior"):
            raise ValueError(f"direction must be 'prior_to_prediction' or 'prediction_to_prior', got {direction!r}.")
        if resample not in ("prior", "prediction"):
            raise ValueError(f"resample must be 'prior' or 'prediction', got {resample!r}.")
        if not 0.0 < eps < 0.5:
            raise ValueError(f"eps must be in (0, 0.5), got {eps}.")
        self.mode = mode
        self.direction = direction
        self.resample = resample
        self.eps = float(eps)
        self.prior: torch.Tensor | None
        self.register_buffer("prior", prior, persistent=False)

    def _log_probs(self, logits: torch.Tensor, size: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """log p (and log(1 - p) for sigmoid) on the grid ``size``."""
        if self.resample == "prior" or tuple(logits.shape[2:]) == size:
            if self.mode == "softmax":
                return F.log_softmax(logits, dim=1), None
            return F.logsigmoid(logits), F.logsigmoid(-logits)
        probs = logits.softmax(dim=1) if self.mode == "softmax" else logits.sigmoid()
        probs = resize_to(probs, size, mode="area")
        if self.mode == "softmax":
            return probs.clamp_min(self.eps).log(), None
        probs = probs.clamp(self.eps, 1.0 - self.eps)
        return probs.log(), (1.0 - probs).log()

    def forward(self, prediction: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            prediction: ``(B, C, H, W[, D])`` logits.
            prior: optional ``(C, *spatial)`` or ``(B or 1, C, *spatial)`` map overriding the stored one.

        Returns:
            the KL divergence, reduced.
        """
        prior = self.prior if prior is None else prior
        if prior is None:
            raise ValueError("SpatialPriorKLLoss has no prior map: pass one to the constructor or to forward().")
        prior = batch_prior(prior, prediction)
        size = tuple(prediction.shape[2:]) if self.resample == "prior" else tuple(prior.shape[2:])
        q = resize_to(prior, size, mode="area")
        q = q.clamp_min(self.eps) if self.mode == "softmax" else q.clamp(self.eps, 1.0 - self.eps)
        log_p, log_1mp = self._log_probs(prediction, size)
        log_q = q.log()
        if self.mode == "softmax":
            if self.direction == "prior_to_prediction":
                kl = (q * (log_q - log_p)).sum(dim=1, keepdim=True)
            else:
                kl = (log_p.exp() * (log_p - log_q)).sum(dim=1, keepdim=True)
        else:
            assert log_1mp is not None
            log_1mq = (1.0 - q).log()
            if self.direction == "prior_to_prediction":
                kl = q * (log_q - log_p) + (1.0 - q) * (log_1mq - log_1mp)
            else:
                p = log_p.exp()
                kl = p * (log_p - log_q) + (1.0 - p) * (log_1mp - log_1mq)
        if self.reduction == LossReduction.MEAN.value:
            return kl.mean()
        if self.reduction == LossReduction.SUM.value:
            return kl.sum()
        return kl
