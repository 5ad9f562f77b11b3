# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Discrete-time survival: negative log-likelihood with censoring, time bins, survival curves and risk."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["DiscreteTimeNLLLoss", "survival_time_bins", "discretize_survival_times", "hazards_to_survival"]


def survival_time_bins(time: np.ndarray, event: np.ndarray, num_bins: int) -> np.ndarray:
    """Inner edges of ``num_bins`` time intervals at the quantiles of the observed event times (as PORPOISE and
    MCAT bin their labels), so that each interval holds about as many events.

    Args:
        time: (N,) follow-up times of the training patients.
        event: (N,) event indicators.
        num_bins: number of intervals T (>= 2).

    Returns:
        (T - 1,) increasing inner edges (interval k is ``[edge_{k-1}, edge_k)``, the first starts at 0 and the last
        is open-ended). Duplicate quantiles are merged, so fewer intervals come back when events are few.

    Raises:
        ValueError: ``num_bins < 2`` or no event at all.
    """
    time, event = np.asarray(time, dtype=float), np.asarray(event).astype(bool)
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}.")
    if not event.any():
        raise ValueError("survival_time_bins needs at least one observed event (all patients are censored).")
    edges = np.quantile(time[event], np.linspace(0, 1, num_bins + 1)[1:-1])
    return np.unique(edges)


def discretize_survival_times(time: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Interval index (0 .. len(edges)) of each time for the inner ``edges`` of :func:`survival_time_bins`."""
    return np.searchsorted(np.asarray(edges, dtype=float), np.asarray(time, dtype=float), side="right")


def hazards_to_survival(logits: torch.Tensor) -> torch.Tensor:
    """Survival curve ``S_k = prod_{j <= k} (1 - h_j)`` from (B, T) hazard logits (``h = sigmoid(logit)``).

    The risk score used for ranking (C-index) is ``-S.sum(1)``, the negative expected number of intervals survived,
    as in PORPOISE.
    """
    return torch.exp(torch.cumsum(F.logsigmoid(-logits), dim=1))


class DiscreteTimeNLLLoss(_Loss):
    r"""Negative log-likelihood of discrete-time survival with censoring, the objective of MCAT (Chen et al.,
    "Multimodal Co-Attention Transformer for Survival Prediction in Gigapixel Whole Slide Images", ICCV 2021) and
    PORPOISE (Chen et al., Cancer Cell 2022), after Zadeh & Schmid (IEEE TPAMI 2021):

    .. math::

        \ell = -\delta \big(\log S_{y-1} + \log h_y\big) - (1 - \delta) \log S_y, \qquad
        \mathcal{L} = (1 - \alpha)\, \ell + \alpha\, \ell_{uncensored}

    with hazards :math:`h_k = \sigma(\text{logit}_k)`, survival :math:`S_k = \prod_{j \le k} (1 - h_j)`,
    :math:`S_{-1} = 1`, :math:`y` the interval of the event or censoring time (:func:`discretize_survival_times`)
    and :math:`\delta` the event indicator. Computed in the log domain (log-sigmoid), so saturated hazards do not
    give infinities. Hand-written: PyTorch and MONAI have no survival likelihood.

    Args:
        alpha: extra weight on the uncensored patients' term (PORPOISE uses 0 to 0.4).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` ((B,) terms).

    Example::

        loss = DiscreteTimeNLLLoss()
        value = loss(torch.randn(8, 4), interval=torch.randint(0, 4, (8,)), event=torch.randint(0, 2, (8,)))
    """

    def __init__(self, alpha: float = 0.0, reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
        self.alpha = alpha

    def forward(  # type: ignore[override]
        self, logits: torch.Tensor, interval: torch.Tensor, event: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            logits: (B, T) hazard logits.
            interval: (B,) interval index of each patient's event or censoring time, in ``0 .. T - 1``.
            event: (B,) 1/True where the event was observed, 0/False where censored.

        Returns:
            the loss (scalar, or (B,) with ``reduction="none"``).

        Raises:
            ValueError: wrong shapes or intervals outside ``0 .. T - 1``.
        """
        if logits.ndim != 2:
            raise ValueError(f"logits must be (B, T), got shape {tuple(logits.shape)}.")
        interval = torch.as_tensor(interval, device=logits.device).reshape(-1).long()
        event = torch.as_tensor(event, device=logits.device).reshape(-1).to(logits.dtype)
        if interval.shape[0] != logits.shape[0] or event.shape[0] != logits.shape[0]:
            raise ValueError(f"interval and event must be ({logits.shape[0]},).")
        if bool((interval < 0).any()) or bool((interval >= logits.shape[1]).any()):
            raise ValueError(f"interval indices must be in 0 .. {logits.shape[1] - 1}.")
        log_surv = torch.cumsum(F.logsigmoid(-logits), dim=1)  # log S_k
        log_surv_prev = torch.cat([log_surv.new_zeros(logits.shape[0], 1), log_surv], dim=1)  # log S_{k-1}
        idx = interval[:, None]
        log_hazard = F.logsigmoid(logits).gather(1, idx).squeeze(1)
        uncensored = -event * (log_surv_prev.gather(1, idx).squeeze(1) + log_hazard)
        censored = -(1.0 - event) * log_surv.gather(1, idx).squeeze(1)
        terms = (1.0 - self.alpha) * (uncensored + censored) + self.alpha * uncensored
        if self.reduction == LossReduction.NONE.value:
            return terms
        return terms.sum() if self.reduction == LossReduction.SUM.value else terms.mean()
