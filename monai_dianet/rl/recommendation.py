# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Per-decision recommendation records from return quantiles, with a review flag for wide return distributions.

The ACWI routing idea (confident cases accepted, uncertain ones sent to a human) applied to treatment: a
recommendation whose return distribution is too wide (large spread between its upper and lower quantiles) is
flagged for review by a clinician. The spread threshold is fitted on validation patients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..utils.errors import InputError
from .agents.risk import quantile_cvar

__all__ = ["quantile_spread", "fit_review_threshold", "recommendation_record"]


def quantile_spread(quantiles: np.ndarray, levels: tuple[float, float] = (0.1, 0.9)) -> float:
    """Spread ``Q(hi) - Q(lo)`` of a return distribution given by its quantile atoms at ``(i + 0.5) / n``.

    Args:
        quantiles: 1-D quantile atoms of one action (any order).
        levels: the lower and upper quantile levels, ``0 <= lo < hi <= 1``.

    Raises:
        InputError: for invalid levels or an empty input.
    """
    lo, hi = levels
    if not 0.0 <= lo < hi <= 1.0:
        raise InputError(f"spread levels must satisfy 0 <= lo < hi <= 1, got {levels}.")
    atoms = np.sort(np.asarray(quantiles, dtype=float).reshape(-1))
    if atoms.size == 0:
        raise InputError("quantile_spread needs at least one quantile.")
    taus = (np.arange(atoms.size) + 0.5) / atoms.size
    return float(np.interp(hi, taus, atoms) - np.interp(lo, taus, atoms))


def fit_review_threshold(spreads: Sequence[float], review_fraction: float = 0.1) -> float:
    """The spread above which a recommendation goes to review: the ``1 - review_fraction`` quantile of the
    spreads of the policy's own decisions on validation patients (so about ``review_fraction`` of them are
    flagged).

    Raises:
        InputError: for no spreads, a non-finite spread or ``review_fraction`` outside ``[0, 1]``.
    """
    values = np.asarray(list(spreads), dtype=float)
    if values.size == 0:
        raise InputError("fit_review_threshold: no validation decisions to fit on (empty validation split?).")
    if not np.all(np.isfinite(values)):
        raise InputError("fit_review_threshold: spreads must be finite.")
    if not 0.0 <= review_fraction <= 1.0:
        raise InputError(f"review_fraction must be in [0, 1], got {review_fraction}.")
    return float(np.quantile(values, 1.0 - review_fraction))


def recommendation_record(
    quantiles: np.ndarray,
    action_labels: Sequence[str],
    cvar_alpha: float,
    review_threshold: float | None,
    levels: tuple[float, float] = (0.1, 0.9),
) -> dict[str, Any]:
    """One decision's record: every action's return quantiles, mean and CVaR, the recommended action and the flag.

    Args:
        quantiles: ``(n_quantiles, n_actions)`` return quantiles of the current state.
        action_labels: label of every action.
        cvar_alpha: risk level used to rank actions.
        review_threshold: spread above which the recommendation needs review (None: no threshold fitted; the
            record then says so and carries no flag).
        levels: quantile levels of the spread.

    Returns:
        ``{"recommended_action", "recommended_label", "cvar_alpha", "return_spread", "review_threshold",
        "needs_review", "actions": [{"action", "label", "mean", "cvar", "quantiles"}, ...]}``.

    Raises:
        InputError: when the number of labels does not match the number of actions.
    """
    q = np.sort(np.asarray(quantiles, dtype=float), axis=0)
    if q.ndim != 2 or q.shape[1] != len(action_labels):
        raise InputError(f"quantiles must be (n_quantiles, {len(action_labels)}) for the {len(action_labels)} "
                         f"actions, got shape {q.shape}.")
    cvar = quantile_cvar(torch.as_tensor(q), cvar_alpha, dim=0).numpy()
    best = int(np.argmax(cvar))
    spread = quantile_spread(q[:, best], levels)
    needs_review = None if review_threshold is None else bool(spread > review_threshold)
    return {
        "recommended_action": best,
        "recommended_label": action_labels[best],
        "cvar_alpha": float(cvar_alpha),
        "return_spread": spread,
        "spread_levels": list(levels),
        "review_threshold": None if review_threshold is None else float(review_threshold),
        "needs_review": needs_review,
        "actions": [
            {"action": a, "label": action_labels[a], "mean": float(q[:, a].mean()), "cvar": float(cvar[a]),
             "quantiles": [float(v) for v in q[:, a]]}
            for a in range(q.shape[1])
        ],
    }
