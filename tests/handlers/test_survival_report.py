# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""SurvivalReportSaver on an ignite engine fed with decollated survival outputs, SurvivalPrepareBatch, and the
EpochMetric forms of the survival metrics."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from ignite.engine import Engine

from monai_dianet.engines import SurvivalPrepareBatch
from monai_dianet.handlers import SurvivalReportSaver
from monai_dianet.metrics import (
    concordance_index,
    concordance_index_metric,
    stack_survival_output,
    time_dependent_auc_metric,
)


def _engine(risk, time, event, batch_size: int = 4) -> Engine:
    """An engine whose iterations output decollated ``pred`` / ``label`` items, as MONAI's evaluator does."""
    batches = []
    for start in range(0, len(risk), batch_size):
        sl = slice(start, start + batch_size)
        ids = [f"c{i}" for i in range(start, min(start + batch_size, len(risk)))]
        batches.append({"case_id": ids, "risk": risk[sl], "time": time[sl], "event": event[sl]})

    def step(engine, batch):
        engine.state.batch = [{"case_id": c} for c in batch["case_id"]]
        return [{"pred": torch.tensor([r]), "label": torch.tensor([t, e])}
                for r, t, e in zip(batch["risk"], batch["time"], batch["event"])]

    engine = Engine(step)
    return engine, batches


def test_report_km_and_given_thresholds(tmp_path):
    rng = np.random.default_rng(0)
    risk = rng.normal(size=30)
    time = rng.exponential(100 * np.exp(-risk))
    event = (rng.random(30) < 0.8).astype(float)
    engine, batches = _engine(risk, time, event)
    SurvivalReportSaver(tmp_path, thresholds=[0.1]).attach(engine)
    engine.run(batches)
    rows = list(csv.DictReader(open(tmp_path / "predictions.csv")))
    assert [r["case_id"] for r in rows] == [f"c{i}" for i in range(30)]
    assert [int(r["risk_group"]) for r in rows] == (risk > 0.1).astype(int).tolist()
    assert json.loads((tmp_path / "predictions.json").read_text())[3]["event"] == bool(event[3])
    state = engine.state.survival
    assert state["thresholds"] == [0.1] and state["thresholds_from"] == "given"
    assert (tmp_path / "kaplan_meier.png").is_file() and 0 <= state["kaplan_meier"]["logrank_p_value"] <= 1
    assert sum(state["kaplan_meier"]["group_sizes"]) == 30


def test_report_without_outcomes_skips_the_curve(tmp_path):
    risk = np.linspace(-1, 1, 6)
    engine, batches = _engine(risk, np.full(6, np.nan), np.zeros(6))
    SurvivalReportSaver(tmp_path).attach(engine)  # thresholds from these cases' median
    engine.run(batches)
    assert engine.state.survival["kaplan_meier"] == {"skipped": "6 of 6 cases have no outcome"}
    assert engine.state.survival["thresholds_from"] == "these cases" and not (tmp_path / "kaplan_meier.png").exists()
    rows = json.loads((tmp_path / "predictions.json").read_text())
    assert [r["risk_group"] for r in rows] == [0, 0, 0, 1, 1, 1] and rows[0]["time"] is None


def test_prepare_batch_and_metric_forms():
    batch = {"genes": np.ones((3, 4), np.float32), "clinical": torch.zeros(3, 2), "time": torch.tensor([5.0, 1, 3]),
             "event": torch.tensor([1, 0, 1])}
    inputs, target = SurvivalPrepareBatch()(batch)
    assert set(inputs) == {"genes", "clinical"} and inputs["genes"].shape == (3, 4)
    assert target.tolist() == [[5, 1], [1, 0], [3, 1]]
    _, unknown = SurvivalPrepareBatch(input_keys=("genes",))({"genes": torch.ones(2, 4)})
    assert torch.isnan(unknown[:, 0]).all() and unknown[:, 1].tolist() == [0, 0]
    with pytest.raises(KeyError, match="clinical"):
        SurvivalPrepareBatch()({"genes": torch.ones(2, 4)})

    risk, target = stack_survival_output([{"pred": torch.tensor([r]), "label": t} for r, t in
                                          zip([0.3, 0.1, 0.9], torch.tensor([[5.0, 1], [9, 0], [2, 1]]))])
    assert risk.shape == (3,) and target.shape == (3, 2)
    assert concordance_index_metric(risk, target) == concordance_index([5, 9, 2], [1, 0, 1], [0.3, 0.1, 0.9])
    with pytest.warns(UserWarning, match="not defined"):  # no event time inside the follow-up range
        assert np.isnan(time_dependent_auc_metric(risk, target, train_time=[1.0, 2.0], train_event=[1, 0]))
