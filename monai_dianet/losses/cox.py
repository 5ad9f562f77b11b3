# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Cox partial likelihood loss for risk scores (Breslow ties)."""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["CoxPHLoss"]


def _check_survival_target(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> None:
    if risk.ndim != 1 or time.shape != risk.shape or event.shape != risk.shape:
        raise ValueError(
            f"risk, time and event must be (B,) of one size, got {tuple(risk.shape)}, {tuple(time.shape)}, "
            f"{tuple(event.shape)}."
        )
    if not bool(torch.isfinite(time).all()) or bool((time < 0).any()):
        raise ValueError("survival times must be finite and non-negative.")


class CoxPHLoss(_Loss):
    r"""Negative Cox partial log-likelihood of predicted log-risk scores, with Breslow's handling of tied times:

    .. math::

        \ell_i = \delta_i \Big( \log \sum_{j:\, t_j \ge t_i} e^{\eta_j} - \eta_i \Big)

    where :math:`\eta` is the network's risk score (higher = earlier event), :math:`t` the follow-up time and
    :math:`\delta` the event indicator (1 = event observed, 0 = censored). Every event tied at a time shares the
    whole risk set (Breslow). This is the objective of DeepSurv (Katzman et al., BMC Medical Research Methodology
    2018) and of the Cox variants of Pathomic Fusion; hand-written because neither PyTorch nor MONAI has it and
    scikit-survival's Cox models are not differentiable PyTorch code. The risk sets are computed in
    O(B log B) with a log-cumulative-sum-exp over the times in decreasing order, so large batches are fine.

    Risk sets are those of the batch: train with batches that hold enough events (full batch on small cohorts).

    Args:
        reduction: ``"mean"`` averages over the events of the batch (0 when there is none), ``"sum"`` sums, ``"none"``
            returns the (B,) terms (0 for censored patients).

    Example::

        loss = CoxPHLoss()
        value = loss(risk=torch.randn(8), time=torch.rand(8) * 100, event=torch.randint(0, 2, (8,)))
    """

    def __init__(self, reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=LossReduction(reduction).value)

    def forward(  # type: ignore[override]
        self, risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            risk: (B,) or (B, 1) log-risk scores.
            time: (B,) follow-up times (event or censoring), non-negative.
            event: (B,) 1/True where the event was observed, 0/False where censored.

        Returns:
            the loss (scalar, or (B,) with ``reduction="none"``).

        Raises:
            ValueError: mismatched shapes, negative or non-finite times.
        """
        risk = risk.reshape(-1) if risk.ndim == 2 and risk.shape[1] == 1 else risk
        time = torch.as_tensor(time, device=risk.device).reshape(-1).to(risk.dtype)
        event = torch.as_tensor(event, device=risk.device).reshape(-1).to(risk.dtype)
        _check_survival_target(risk, time, event)
        order = torch.argsort(time, descending=True)
        log_cumsum = torch.logcumsumexp(risk[order], dim=0)
        # size of each patient's risk set {j: t_j >= t_i}; ties share the last (largest) one: Breslow
        at_risk = time.numel() - torch.searchsorted(torch.sort(time).values, time, right=False)
        terms = event * (log_cumsum[at_risk - 1] - risk)
        if self.reduction == LossReduction.NONE.value:
            return terms
        if self.reduction == LossReduction.SUM.value:
            return terms.sum()
        return terms.sum() / event.sum().clamp_min(1.0)
