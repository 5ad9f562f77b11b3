# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.metrics import CalibrationErrorMetric

from monai_dianet.metrics import TemperatureScaling, expected_calibration_error, reliability_diagram_data


def _overconfident(n, k=4, scale=4.0, seed=0, spatial=()):
    """Labels drawn from softmax(true logits); the 'model' reports scale * true logits (over-confident)."""
    g = torch.Generator().manual_seed(seed)
    true = torch.randn(n, k, *spatial, generator=g) * 1.2
    p = torch.softmax(true, 1).movedim(1, -1).reshape(-1, k)
    labels = torch.multinomial(p, 1, generator=g).reshape(n, *spatial)
    return true * scale, labels


def test_perfect_and_known_ece():
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.2, 0.8]])
    labels = torch.tensor([0, 1, 1, 1])
    # bin of 0.9: accuracy 0.5 -> |0.5-0.9| * 2/4 ; bin of 0.8: accuracy 1.0 -> |1-0.8| * 2/4
    assert expected_calibration_error(probs, labels, num_bins=10) == pytest.approx(0.2 + 0.1, abs=1e-6)
    onehot = torch.nn.functional.one_hot(labels, 2)
    assert expected_calibration_error(probs, onehot, num_bins=10) == pytest.approx(0.3, abs=1e-6)


@pytest.mark.parametrize("spatial", [(), (6, 6), (4, 4, 4)])
def test_temperature_scaling_lowers_ece_of_overconfident_model(spatial, tmp_path):
    n = 400 if not spatial else 6
    val_logits, val_labels = _overconfident(n, spatial=spatial, seed=1)
    test_logits, test_labels = _overconfident(n, spatial=spatial, seed=2)
    before_val = expected_calibration_error(torch.softmax(val_logits, 1), val_labels)
    ts = TemperatureScaling().fit(val_logits, val_labels)
    assert ts.temperature > 1.5  # over-confident model needs T > 1 (the true factor is 4)
    after_val = expected_calibration_error(torch.softmax(ts(val_logits), 1), val_labels)
    assert after_val < 0.5 * before_val
    after_test = expected_calibration_error(torch.softmax(ts(test_logits), 1), test_labels)
    assert after_test < expected_calibration_error(torch.softmax(test_logits, 1), test_labels)
    assert ts.nll(val_logits, val_labels) < TemperatureScaling().nll(val_logits, val_labels)
    assert torch.equal(ts(val_logits).argmax(1), val_logits.argmax(1))
    ts.save(tmp_path / "t.json")
    loaded = TemperatureScaling.load(tmp_path / "t.json")
    assert loaded.temperature == pytest.approx(ts.temperature)
    assert json.loads((tmp_path / "t.json").read_text())["activation"] == "softmax"


def test_sigmoid_temperature_scaling():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(2, 3, 16, 16, generator=g) * 2
    labels = (torch.rand(true.shape, generator=g) < torch.sigmoid(true)).float()
    before = expected_calibration_error(torch.sigmoid(3 * true), labels, activation="sigmoid")
    ts = TemperatureScaling(activation="sigmoid").fit(3 * true, labels)
    after = expected_calibration_error(torch.sigmoid(ts(3 * true)), labels, activation="sigmoid")
    assert ts.temperature == pytest.approx(3.0, rel=0.25) and after < before


def test_reliability_data_and_class_wise_matches_monai():
    logits, labels = _overconfident(1, k=3, spatial=(32, 32), seed=3)
    probs = torch.softmax(logits, 1)
    d = reliability_diagram_data(probs, labels, num_bins=10)
    assert d["bin_edges"].shape == (11,) and d["counts"].sum() == 32 * 32
    assert np.all(np.isnan(d["accuracy"]) == (d["counts"] == 0))
    # class_wise on one channel == MONAI's CalibrationErrorMetric on that channel
    onehot = torch.nn.functional.one_hot(labels, 3).movedim(-1, 1).float()
    metric = CalibrationErrorMetric(num_bins=10, metric_reduction="none")
    monai_ece = metric(y_pred=probs[:, :1], y=onehot[:, :1])
    ours = reliability_diagram_data(probs[:, :1], onehot[:, :1], num_bins=10, mode="class_wise", activation="sigmoid")
    assert ours["ece"] == pytest.approx(float(monai_ece[0, 0]), abs=1e-5)


def test_errors(tmp_path):
    with pytest.raises(ValueError):
        expected_calibration_error(torch.rand(4, 3), torch.zeros(5).long())
    with pytest.raises(ValueError):
        expected_calibration_error(torch.rand(4, 3), torch.zeros(4).long(), mode="per_bin")
    with pytest.raises(ValueError):
        TemperatureScaling(temperature=0.0)
    with pytest.raises(FileNotFoundError):
        TemperatureScaling.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(KeyError):
        TemperatureScaling.load(tmp_path / "bad.json")
