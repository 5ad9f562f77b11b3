# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Survival metrics (scikit-survival) and the survival-data checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from monai_dianet.metrics import check_survival_data, concordance_index, time_dependent_auc


def _harrell_by_pairs(time, event, risk) -> float:
    """Comparable pairs: the earlier time is an event (at a tied time, an event before a censoring); concordant when
    it has the higher risk, tied risks count 1/2."""
    num = den = 0.0
    for i, j in itertools.permutations(range(len(time)), 2):
        if event[i] and (time[i] < time[j] or (time[i] == time[j] and not event[j])):
            den += 1
            num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


def test_concordance_index_equals_pair_count():
    rng = np.random.default_rng(0)
    time = rng.integers(1, 40, 60).astype(float)
    event = rng.random(60) < 0.5
    risk = np.round(rng.normal(size=60) - 0.02 * time, 1)  # some tied risks
    assert concordance_index(time, event, risk) == pytest.approx(_harrell_by_pairs(time, event, risk), abs=1e-12)
    assert concordance_index([5, 3, 9], [1, 1, 0], [0.2, 0.9, 0.1]) == 1.0


def test_time_dependent_auc_orders_risk():
    rng = np.random.default_rng(1)
    time = rng.exponential(10, 200)
    event = rng.random(200) < 0.7
    times, auc, mean = time_dependent_auc(time, event, time, event, -time)
    assert len(times) == len(auc) >= 1 and mean > 0.95  # risk = -time ranks perfectly
    _, _, random_mean = time_dependent_auc(time, event, time, event, rng.normal(size=200))
    assert abs(random_mean - 0.5) < 0.15


@pytest.mark.parametrize(
    "time, event, match",
    [
        ([1.0, 2.0], [0, 0], "censored"),
        ([1.0, float("nan")], [1, 0], "NaN"),
        ([1.0, -2.0], [1, 0], "negative"),
        ([1.0, 2.0], [1, 2], "0/1"),
        ([1.0, 2.0, 3.0], [1, 0], "3 times but 2"),
    ],
)
def test_bad_survival_data(time, event, match):
    with pytest.raises(ValueError, match=match):
        check_survival_data(time, event)
