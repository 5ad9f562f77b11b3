# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Kaplan-Meier curves of predicted risk groups with a log-rank test (scikit-survival), saved as PNG."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from monai_dianet.metrics.survival import check_survival_data, survival_array

__all__ = ["risk_groups", "save_kaplan_meier_risk_groups"]


def risk_groups(
    risk: np.ndarray, num_groups: int = 2, thresholds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split patients into ``num_groups`` risk groups (0 = lowest risk) by risk quantiles.

    Args:
        risk: (N,) risk scores.
        num_groups: number of groups (2: below/above the median).
        thresholds: (num_groups - 1,) cut points; default: the risk quantiles of these patients. Pass cut points
            fitted on training data to keep the evaluated patients out of the choice.

    Returns:
        (N,) group index and the (num_groups - 1,) thresholds used.
    """
    risk = np.asarray(risk, dtype=float).reshape(-1)
    if num_groups < 2:
        raise ValueError(f"num_groups must be >= 2, got {num_groups}.")
    if thresholds is None:
        thresholds = np.quantile(risk, np.linspace(0, 1, num_groups + 1)[1:-1])
    thresholds = np.asarray(thresholds, dtype=float).reshape(-1)
    if thresholds.size != num_groups - 1:
        raise ValueError(f"thresholds must hold {num_groups - 1} values, got {thresholds.size}.")
    return np.searchsorted(thresholds, risk, side="right"), thresholds


def save_kaplan_meier_risk_groups(
    path: str,
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    num_groups: int = 2,
    thresholds: np.ndarray | None = None,
    title: str = "Kaplan-Meier curves of predicted risk groups",
    time_unit: str = "days",
) -> dict:
    """Plot the Kaplan-Meier survival curve of each predicted risk group (scikit-survival's
    ``kaplan_meier_estimator``, with its 95 % confidence band) and test the groups' difference with the log-rank test
    (``compare_survival``); write the figure as a PNG.

    Args:
        path: output PNG file (folders are created).
        time / event / risk: (N,) follow-up times, event indicators and predicted risk scores.
        num_groups: number of risk groups (quantiles of ``risk`` unless ``thresholds`` are given).
        thresholds: cut points between groups, e.g. fitted on training data (see :func:`risk_groups`).
        title: figure title (the p-value is appended).
        time_unit: x-axis label unit.

    Returns:
        ``{"logrank_chi2", "logrank_p_value", "group_sizes", "group_events", "thresholds", "path"}``.

    Raises:
        ValueError: bad survival data (see :func:`~monai_dianet.metrics.check_survival_data`) or a single non-empty
            group (the log-rank test needs two).

    Example::

        stats = save_kaplan_meier_risk_groups("km.png", time, event, model.predict_risk(x_test))
        stats["logrank_p_value"]
    """
    from sksurv.compare import compare_survival
    from sksurv.nonparametric import kaplan_meier_estimator

    time, event = check_survival_data(time, event, "Kaplan-Meier")
    groups, thresholds = risk_groups(risk, num_groups, thresholds)
    present = np.unique(groups)
    if present.size < 2:
        raise ValueError("Kaplan-Meier: all patients fall into one risk group; the log-rank test needs two.")
    chi2, p_value = compare_survival(survival_array(time, event), groups)
    names = {0: "low risk", num_groups - 1: "high risk"} if num_groups == 2 else {}
    fig = Figure(figsize=(6, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for g in present:
        sel = groups == g
        t, s, (lo, hi) = kaplan_meier_estimator(event[sel], time[sel], conf_type="log-log")
        t, s, lo, hi = np.r_[0.0, t], np.r_[1.0, s], np.r_[1.0, lo], np.r_[1.0, hi]  # every curve starts at S(0) = 1
        label = f"{names.get(int(g), f'group {int(g) + 1}')} (n={int(sel.sum())}, events={int(event[sel].sum())})"
        line = ax.step(t, s, where="post", label=label)[0]
        ax.fill_between(t, lo, hi, step="post", alpha=0.2, color=line.get_color())
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("survival probability")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{title}\nlog-rank p = {p_value:.3g}", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    return {
        "logrank_chi2": float(chi2),
        "logrank_p_value": float(p_value),
        "group_sizes": [int((groups == g).sum()) for g in range(num_groups)],
        "group_events": [int(event[groups == g].sum()) for g in range(num_groups)],
        "thresholds": [float(v) for v in thresholds],
        "path": path,
    }
