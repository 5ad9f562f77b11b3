# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Survival metrics from scikit-survival: Harrell's C-index, cumulative/dynamic time-dependent AUC, and their forms
for ignite's ``EpochMetric`` in MONAI evaluators (risk (N,) or (N, 1), target (N, 2) = time, event)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from monai_dianet.utils.errors import InputError

__all__ = [
    "survival_array",
    "check_survival_data",
    "concordance_index",
    "time_dependent_auc",
    "stack_survival_output",
    "concordance_index_metric",
    "time_dependent_auc_metric",
]


def check_survival_data(
    time: np.ndarray, event: np.ndarray, name: str = "survival data"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate follow-up times and event indicators and return them as float / bool arrays.

    Raises:
        InputError: (a ``ValueError``; one line naming ``name``) mismatched lengths, NaN, infinite or negative
            times, event values other than 0/1, or no observed event at all (censored-only data carries no
            information on risk).
    """
    time = np.asarray(time, dtype=float).reshape(-1)
    raw = np.asarray(event).reshape(-1)
    if time.shape != raw.shape:
        raise InputError(f"{name}: {time.size} times but {raw.size} event indicators.")
    if np.isnan(time).any() or not np.isfinite(time).all():
        raise InputError(f"{name}: {int((~np.isfinite(time)).sum())} times are NaN or infinite.")
    if (time < 0).any():
        raise InputError(f"{name}: {int((time < 0).sum())} times are negative (min {time.min():g}).")
    if raw.dtype != bool:
        values = raw.astype(float)
        if np.isnan(values).any() or not np.isin(values, (0.0, 1.0)).all():
            raise InputError(f"{name}: event indicators must be 0/1 or boolean.")
    event = raw.astype(bool)
    if not event.any():
        raise InputError(f"{name}: every patient is censored (no observed event); survival needs events.")
    return time, event


def survival_array(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """scikit-survival's structured array (fields ``event``, ``time``) from two arrays."""
    from sksurv.util import Surv

    time, event = np.asarray(time, dtype=float).reshape(-1), np.asarray(event).reshape(-1).astype(bool)
    return Surv.from_arrays(event=event, time=time, name_event="event", name_time="time")


def concordance_index(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index of risk scores (higher risk = earlier event), by scikit-survival's
    ``concordance_index_censored`` (ties in risk count one half).

    Args:
        time: (N,) follow-up times.
        event: (N,) event indicators.
        risk: (N,) predicted risk scores.

    Returns:
        C-index in [0, 1] (0.5 = random ranking).

    Example::

        concordance_index([5, 3, 9], [1, 1, 0], [0.2, 0.9, 0.1])  # 1.0
    """
    from sksurv.metrics import concordance_index_censored

    time, event = check_survival_data(time, event, "concordance_index")
    risk = np.asarray(risk, dtype=float).reshape(-1)
    if risk.shape != time.shape or not np.isfinite(risk).all():
        raise ValueError(f"concordance_index: risk must be {time.size} finite values, got shape {risk.shape}.")
    return float(concordance_index_censored(event, time, risk)[0])


def time_dependent_auc(
    train_time: np.ndarray,
    train_event: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    times: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Cumulative/dynamic AUC at follow-up times (Uno et al. 2007; Hung & Chiang 2010), by scikit-survival's
    ``cumulative_dynamic_auc`` with inverse-probability-of-censoring weights estimated on the training data.

    Args:
        train_time / train_event: training patients (for the censoring distribution).
        time / event / risk: evaluated patients and their risk scores.
        times: evaluation times; default: the 25th, 50th and 75th percentiles of the evaluated event times, kept
            inside the range where AUC is defined (below the largest evaluated follow-up time).

    Returns:
        times (K,), AUC at each (K,), and the mean AUC over the follow-up.
    """
    from sksurv.metrics import cumulative_dynamic_auc

    train_time, train_event = check_survival_data(train_time, train_event, "time_dependent_auc (training data)")
    time, event = check_survival_data(time, event, "time_dependent_auc")
    if times is None:
        lo, hi = time.min(), min(time.max(), train_time.max())
        times = np.percentile(time[event], [25, 50, 75])
        times = np.unique(times[(times >= lo) & (times < hi)])
        if times.size == 0:
            raise ValueError("time_dependent_auc: no event time lies inside the follow-up range; pass `times`.")
    times = np.asarray(times, dtype=float)
    auc, mean_auc = cumulative_dynamic_auc(
        survival_array(train_time, train_event), survival_array(time, event), np.asarray(risk, dtype=float), times
    )
    return times, np.asarray(auc), float(mean_auc)


def stack_survival_output(output: Sequence[dict] | dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluator output (decollated list or batch dict with ``pred`` risk and ``label`` (time, event)) ->
    (risk (N,), target (N, 2)), for ignite's ``EpochMetric`` ``output_transform``."""
    if isinstance(output, dict):
        pred, label = torch.as_tensor(output["pred"]), torch.as_tensor(output["label"])
    else:
        pred = torch.stack([torch.as_tensor(o["pred"]) for o in output])
        label = torch.stack([torch.as_tensor(o["label"]) for o in output])
    return pred.float().reshape(-1), label.float().reshape(-1, 2)


def concordance_index_metric(risk: torch.Tensor, target: torch.Tensor) -> float:
    """:func:`concordance_index` of (N,) risks and (N, 2) (time, event) targets, as ignite's ``EpochMetric``
    ``compute_fn``.

    Example (a MONAI bundle config)::

        "cindex": {"_target_": "ignite.metrics.EpochMetric", "check_compute_fn": false,
                   "compute_fn": "$monai_dianet.metrics.concordance_index_metric",
                   "output_transform": "$monai_dianet.metrics.stack_survival_output"}
    """
    target = target.detach().cpu().double().reshape(-1, 2).numpy()
    return concordance_index(target[:, 0], target[:, 1], risk.detach().cpu().double().reshape(-1).numpy())


def time_dependent_auc_metric(
    risk: torch.Tensor, target: torch.Tensor, train_time: Sequence[float], train_event: Sequence[bool]
) -> float:
    """Mean :func:`time_dependent_auc` of (N,) risks and (N, 2) (time, event) targets at the default times, with
    the censoring distribution of the training outcomes; bind ``train_time`` / ``train_event`` with
    ``functools.partial`` for ignite's ``EpochMetric``. NaN, with a warning, where the AUC is not defined (no event
    time of these patients inside the follow-up range).
    """
    target = target.detach().cpu().double().reshape(-1, 2).numpy()
    try:
        return time_dependent_auc(train_time, train_event, target[:, 0], target[:, 1],
                                  risk.detach().cpu().double().reshape(-1).numpy())[2]
    except ValueError as err:
        if isinstance(err, InputError):
            raise
        warnings.warn(f"time-dependent AUC not defined here ({err}); reported as NaN.", stacklevel=2)
        return float("nan")
