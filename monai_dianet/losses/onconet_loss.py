# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Training objective of OncoNet: cross-entropy + eq 10/19 penalty + optional eq 15 and eq 27 terms."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from monai_dianet.losses.attention_calibration import AttentionCalibrationLoss
from monai_dianet.losses.contrastive import CrossModalContrastiveLoss
from monai_dianet.losses.fusion_regularization import FusionRegularizationLoss

__all__ = ["OncoNetLoss"]


class OncoNetLoss(_Loss):
    r"""OncoNet objective (eq 10 / 19) with the optional auxiliary terms of eq 15 and OncoStrat eq 27:

    .. math::

        \mathcal{L} = \mathrm{CE}(\hat y, y) + \lambda_w \lVert w \rVert^2 + \lambda_o \lVert W_o \rVert^2
        + \beta\, \mathcal{L}_{contrastive}(Z) + \gamma\, \mathcal{L}_{cal}(\hat y, \alpha)

    The network is held by reference (not registered as a submodule) to read ``w`` and ``W_o``. After each call
    ``last_parts`` holds the detached parts (``ce``, ``l2``, ``contrastive``, ``calibration``, ``total``).
    The eq 20 domain-adversarial term is :class:`monai_dianet.losses.DomainAdversarialLoss` applied to
    ``OncoNetOutput.fused`` of a source and a target batch.

    Args:
        network: the :class:`~monai_dianet.networks.nets.OncoNet` being trained (None: no L2 term).
        lambda_attention: lambda_w.
        lambda_classifier: lambda_o.
        contrastive_weight: beta (0 disables).
        calibration_weight: gamma (0 disables).
        margin: contrastive margin tau.
        label_smoothing: of the cross-entropy.

    Example::

        loss = OncoNetLoss(net, contrastive_weight=0.1)
        value = loss(net(batch, return_all=True), labels)
    """

    def __init__(
        self,
        network: nn.Module | None = None,
        lambda_attention: float = 1e-4,
        lambda_classifier: float = 1e-4,
        contrastive_weight: float = 0.0,
        calibration_weight: float = 0.0,
        margin: float = 0.5,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self._network = (network,)  # a tuple keeps it out of this module's parameters and state dict
        self.regularization = FusionRegularizationLoss(lambda_attention, lambda_classifier)
        self.contrastive = CrossModalContrastiveLoss(margin=margin)
        self.calibration = AttentionCalibrationLoss()
        self.contrastive_weight = contrastive_weight
        self.calibration_weight = calibration_weight
        self.label_smoothing = label_smoothing
        self.last_parts: dict[str, float] = {}

    def forward(self, output, target: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """
        Args:
            output: an ``OncoNetOutput`` (``return_all=True``), or (B, K) logits (then only CE + L2).
            target: (B,) class indices, or (B, 1) / (B, K) one-hot.

        Returns:
            the scalar total loss.
        """
        logits = output if isinstance(output, torch.Tensor) else output.logits
        target = torch.as_tensor(target, device=logits.device)
        if target.ndim == 2 and target.shape[1] == logits.shape[1] and target.shape[1] > 1:
            target = target.argmax(dim=1)
        target = target.reshape(-1).long()
        ce = F.cross_entropy(logits, target, label_smoothing=self.label_smoothing)
        total = ce
        parts = {"ce": float(ce.detach())}
        network = self._network[0]
        if network is not None:
            l2 = self.regularization(network.attention_vector, network.classifier_weight)
            total = total + l2
            parts["l2"] = float(l2.detach())
        if not isinstance(output, torch.Tensor):
            if self.contrastive_weight > 0:
                con = self.contrastive(output.embeddings, output.modality_mask)
                total = total + self.contrastive_weight * con
                parts["contrastive"] = float(con.detach())
            if self.calibration_weight > 0:
                cal = self.calibration(logits, output.alpha, output.modality_mask)
                total = total + self.calibration_weight * cal
                parts["calibration"] = float(cal.detach())
        parts["total"] = float(total.detach())
        self.last_parts = parts
        return total
