# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Kaplan-Meier risk-group figure and log-rank test."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sksurv.compare import compare_survival

from monai_dianet.metrics import survival_array
from monai_dianet.visualize import risk_groups, save_kaplan_meier_risk_groups


def test_kaplan_meier_png_and_logrank(tmp_path):
    rng = np.random.default_rng(0)
    risk = rng.normal(size=120)
    time = rng.exponential(np.exp(-1.5 * risk) * 20)  # higher risk, earlier events
    event = rng.random(120) < 0.8
    stats = save_kaplan_meier_risk_groups(str(tmp_path / "km" / "groups.png"), time, event, risk)
    image = Image.open(stats["path"])
    assert image.size == (600, 450)
    groups, _ = risk_groups(risk)
    assert stats["logrank_p_value"] == pytest.approx(compare_survival(survival_array(time, event), groups)[1])
    assert stats["logrank_p_value"] < 1e-4 and stats["group_sizes"] == [60, 60]
    # training thresholds can be reused on new patients
    groups, thresholds = risk_groups(risk[:10], thresholds=stats["thresholds"])
    assert thresholds.tolist() == stats["thresholds"] and set(groups.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="one risk group"):
        save_kaplan_meier_risk_groups(str(tmp_path / "x.png"), time, event, risk, thresholds=[100.0])
