# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from matplotlib.image import imread

from monai_dianet.inferers import ACWIRouter, MCDropoutInferer, risk_coverage_curve


def _cases(n, hard_frac, seed, size=16):
    """Left-vs-right bar classification; hard cases: low contrast and heavy noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    hard = torch.rand(n, generator=g) < hard_frac
    x = torch.zeros(n, 1, size, size)
    for i in range(n):
        cols = slice(2, 6) if y[i] == 0 else slice(10, 14)
        x[i, 0, 5:11, cols] = 0.3 if hard[i] else 1.0
    noise = torch.where(hard, 1.0, 0.2).view(n, 1, 1, 1)
    return x + noise * torch.randn(x.shape, generator=g), y, hard


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(8 * 8 * 8, 2))

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    net = SmallNet()
    x, y, _ = _cases(400, 0.3, seed=1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(120):
        idx = torch.randint(0, len(x), (64,))
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    return net.eval()


def test_risk_coverage_curve_known_values():
    rc = risk_coverage_curve([0.1, 0.4, 0.2, 0.9], [True, False, True, False])
    assert rc["coverage"] == [0.25, 0.5, 0.75, 1.0]
    assert rc["risk"] == pytest.approx([0.0, 0.0, 1 / 3, 0.5])
    assert rc["aurc"] == pytest.approx(np.mean([0.0, 0.0, 1 / 3, 0.5]))
    with pytest.raises(ValueError):
        risk_coverage_curve([], [])


@pytest.mark.slow
def test_router_sends_hard_cases_to_refine_and_review(trained, tmp_path):
    val_x, val_y, _ = _cases(160, 0.3, seed=2)
    test_x, test_y, test_hard = _cases(160, 0.3, seed=3)
    refine = MCDropoutInferer(num_samples=8, tta_flips=[0], seed=0)
    router = ACWIRouter(trained, refine_inferer=refine, score="entropy", spatial_dims=2)
    report = router.fit(val_x, val_y, target_error=0.02, review_budget=0.1, curve_path=tmp_path / "rc.png")
    assert report["thresholds"]["accept"] is not None
    assert report["outcome"]["error_accepted"] <= 0.02
    assert report["outcome"]["review"] <= 0.1 * 160 and report["outcome"]["refine"] > 0
    assert imread(report["curve_path"]).ndim == 3
    json.dumps(report)

    decisions, correct_fast = [], []
    for i in range(len(test_x)):
        pred, record = router.route(test_x[i])
        json.dumps(record)
        assert set(record) >= {"decision", "scores", "thresholds", "timings_ms", "prediction"}
        decisions.append(record["decision"])
        with torch.no_grad():
            correct_fast.append(int(trained(test_x[i : i + 1]).argmax(1)) == int(test_y[i]))
        assert record["prediction"]["label"] == int(pred["mean"].argmax())
    decisions = np.array(decisions)
    correct_fast = np.array(correct_fast)
    hard = test_hard.numpy()
    escalated = decisions != "accept"
    assert escalated[hard].mean() > escalated[~hard].mean() + 0.2
    accepted = decisions == "accept"
    assert accepted.any()
    assert correct_fast[accepted].mean() > correct_fast.mean()
    assert (decisions == "review")[hard].mean() >= (decisions == "review")[~hard].mean()

    path = router.save(tmp_path / "router.json")
    other = ACWIRouter(trained, refine_inferer=refine, spatial_dims=2).load(path)
    assert other.thresholds == router.thresholds
    _, rec2 = other.route(test_x[0])
    assert rec2["decision"] == decisions[0]


def test_thresholds_drive_decisions_and_errors(trained, tmp_path):
    x = torch.randn(1, 1, 16, 16)
    router = ACWIRouter(trained, refine_inferer=MCDropoutInferer(num_samples=3, seed=0))
    with pytest.raises(RuntimeError):
        router.route(x)
    router.set_thresholds({"accept": float("inf"), "review": None})
    assert router.route(x)[1]["decision"] == "accept"
    router.set_thresholds({"accept": None, "review": None})
    _, rec = router.route(x)
    assert rec["decision"] == "refine" and rec["scores"]["refined"] is not None
    router.set_thresholds({"accept": -1.0, "review": -1.0})
    assert router.route(x)[1]["decision"] == "review"
    with pytest.raises(ValueError):
        ACWIRouter(trained, score="mutual_information")  # deterministic fast path has no epistemic part
    with pytest.raises(ValueError):
        ACWIRouter(trained, score="bogus")
    with pytest.raises(ValueError):
        router.fit(x, None, None)
    with pytest.raises(KeyError):
        router.set_thresholds({"accept": 0.1})
    with pytest.raises(ValueError):  # wrong number of dims for a 2D router
        ACWIRouter(trained, spatial_dims=2, thresholds={"accept": 1.0, "review": 1.0}).route(torch.randn(16, 16))
    router.save(tmp_path / "r.json")
    with pytest.raises(ValueError):
        ACWIRouter(trained, activation="sigmoid").load(tmp_path / "r.json")
    with pytest.raises(FileNotFoundError):
        router.load(tmp_path / "none.json")
    # MI score with a stochastic fast path, fitted from given correctness
    mi = ACWIRouter(trained, fast_inferer=MCDropoutInferer(num_samples=4, seed=1), score="mutual_information",
                    refine_inferer=MCDropoutInferer(num_samples=6, seed=2))
    xs, ys, _ = _cases(12, 0.5, seed=4)
    rep = mi.fit(xs, correct=[True] * 10 + [False] * 2, target_error=0.2, review_budget=None)
    assert rep["thresholds"]["accept"] is not None and rep["outcome"]["error_automated"] <= 0.2 + 1e-9


def test_segmentation_routing_on_real_dianet():
    from monai_dianet.networks.nets import DIANet

    torch.manual_seed(0)
    net = DIANet(2, 1, 2, dropout=0.2, fusion_channels=8, latent_channels=8, codebook_size=4, decoder_channels=8)
    refine = MCDropoutInferer(num_samples=3, seed=0)
    router = ACWIRouter(net, refine_inferer=refine, thresholds={"accept": None, "review": 10.0})
    x = torch.randn(1, 1, 32, 32)
    pred, rec = router.route(x)
    json.dumps(rec)
    assert rec["decision"] == "refine" and rec["prediction"]["task"] == "segmentation"
    assert sum(rec["prediction"]["voxels_per_class"]) == 32 * 32
    # correctness by case Dice
    label = pred["mean"][0].argmax(0)
    assert router.is_correct(pred, label)
    assert not router.is_correct(pred, 1 - label)
    rep = router.fit([x[0], x[0]], [label, 1 - label], target_error=0.0, review_budget=0.5)
    assert rep["outcome"]["error_all_fast"] == pytest.approx(0.5)
