# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from matplotlib.image import imread

from monai_dianet.inferers import (
    ACWIRouter,
    MCDropoutInferer,
    case_correct,
    fit_router_thresholds,
    risk_coverage_curve,
    select_case_score,
)
from monai_dianet.metrics import CASE_SCORES, SegmentationCaseScore, predictive_entropy, segmentation_case_scores
from monai_dianet.visualize import save_router_risk_coverage
from tests.utils import TinyNet


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


def _fit(router, net, xs, ys, target_error, review_budget):
    """Thresholds from validation cases run through both paths (what RouterFitHandler does in a workflow)."""
    both = ACWIRouter(router.fast_inferer, router.refine_inferer, router.activation, router.score,
                      {"accept": None, "review": None}, router.score_reduction)
    out = both(xs, net)
    fast_ok = [case_correct(out["fast_mean"][i], ys[i], router.activation) for i in range(len(xs))]
    refined_ok = [case_correct(out["mean"][i], ys[i], router.activation) for i in range(len(xs))]
    return fit_router_thresholds(out["fast_score"], out["refined_score"], fast_ok, refined_ok, target_error,
                                 review_budget, router.score_name)


@pytest.mark.slow
def test_router_sends_hard_cases_to_refine_and_review(trained, tmp_path):
    val_x, val_y, _ = _cases(160, 0.3, seed=2)
    test_x, test_y, test_hard = _cases(160, 0.3, seed=3)
    refine = MCDropoutInferer(num_samples=8, tta_flips=[0], seed=0)
    router = ACWIRouter(refine_inferer=refine, score="entropy")
    report = _fit(router, trained, val_x, val_y, target_error=0.02, review_budget=0.1)
    assert report["thresholds"]["accept"] is not None
    assert report["outcome"]["error_accepted"] <= 0.02
    assert report["outcome"]["review"] <= 0.1 * 160 and report["outcome"]["refine"] > 0
    assert imread(save_router_risk_coverage(tmp_path / "rc.png", report)).ndim == 3
    json.dumps(report)

    router.set_thresholds(report["thresholds"])
    out = router(test_x, trained)
    assert out["mean"].shape == (160, 2) and out["score"].shape == (160,) and len(out["decision"]) == 160
    decisions = np.array(out["decision"])
    with torch.no_grad():
        correct_fast = (trained(test_x).argmax(1) == test_y).numpy()
    torch.testing.assert_close(out["fast_mean"], torch.softmax(trained(test_x), 1).detach())
    accepted = decisions == "accept"
    assert torch.isnan(out["refined_score"][torch.as_tensor(accepted)]).all()
    torch.testing.assert_close(out["score"][torch.as_tensor(~accepted)], out["refined_score"][torch.as_tensor(~accepted)])
    hard = test_hard.numpy()
    escalated = decisions != "accept"
    assert escalated[hard].mean() > escalated[~hard].mean() + 0.2
    assert accepted.any()
    assert correct_fast[accepted].mean() > correct_fast.mean()
    assert (decisions == "review")[hard].mean() >= (decisions == "review")[~hard].mean()
    one = ACWIRouter(refine_inferer=refine, thresholds=report["thresholds"])(test_x[:1], trained)  # batch-independent
    assert one["decision"] == [decisions[0]]


def test_thresholds_drive_decisions_and_errors(trained):
    x = torch.randn(1, 1, 16, 16)
    router = ACWIRouter(refine_inferer=MCDropoutInferer(num_samples=3, seed=0))
    with pytest.raises(RuntimeError, match="no thresholds"):
        router(x, trained)
    router.set_thresholds({"accept": float("inf"), "review": None})
    assert router(x, trained)["decision"] == ["accept"]
    router.set_thresholds({"accept": None, "review": None})
    out = router(x, trained)
    assert out["decision"] == ["refine"] and not torch.isnan(out["refined_score"]).any()
    router.set_thresholds({"accept": -1.0, "review": -1.0})
    assert router(x, trained)["decision"] == ["review"]
    with pytest.raises(ValueError):
        ACWIRouter(score="mutual_information")  # deterministic fast path has no epistemic part
    with pytest.raises(ValueError):
        ACWIRouter(score="bogus")
    with pytest.raises(KeyError):
        router.set_thresholds({"accept": 0.1})
    with pytest.raises(ValueError, match="same length|non-empty"):
        fit_router_thresholds([0.1], [0.2, 0.3], [True], [True])
    with pytest.raises(ValueError, match="target_error"):
        fit_router_thresholds([0.1], [0.2], [True], [True], target_error=2.0)
    # MI score with a stochastic fast path, fitted from given correctness and no review budget
    mi = ACWIRouter(fast_inferer=MCDropoutInferer(num_samples=4, seed=1), score="mutual_information",
                    refine_inferer=MCDropoutInferer(num_samples=6, seed=2), thresholds={"accept": None, "review": None})
    xs, _, _ = _cases(12, 0.5, seed=4)
    out = mi(xs, trained)
    ok = [True] * 10 + [False] * 2
    rep = fit_router_thresholds(out["fast_score"], out["refined_score"], ok, ok, 0.2, None, mi.score_name)
    assert rep["thresholds"]["accept"] is not None and rep["outcome"]["error_automated"] <= 0.2 + 1e-9


def test_segmentation_routing_on_real_dianet():
    from monai_dianet.networks.nets import DIANet

    torch.manual_seed(0)
    net = DIANet(2, 1, 2, dropout=0.2, fusion_channels=8, latent_channels=8, codebook_size=4, decoder_channels=8).eval()
    refine = MCDropoutInferer(num_samples=3, seed=0)
    router = ACWIRouter(refine_inferer=refine, thresholds={"accept": None, "review": 10.0})
    x = torch.randn(2, 1, 32, 32)
    out = router(x, net)
    assert out["decision"] == ["refine", "refine"] and out["mean"].shape == (2, 2, 32, 32)
    assert out["entropy"].shape[0] == 2 and out["fast_ms"].shape == (2,)
    # correctness by case Dice
    label = out["mean"][0].argmax(0)
    assert case_correct(out["mean"][0], label)
    assert not case_correct(out["mean"][0], 1 - label)
    rep = fit_router_thresholds(out["fast_score"][:1].repeat(2), out["refined_score"][:1].repeat(2),
                                [case_correct(out["fast_mean"][0], lab) for lab in (label, 1 - label)],
                                [case_correct(out["mean"][0], lab) for lab in (label, 1 - label)],
                                target_error=0.0, review_budget=0.5)
    assert rep["outcome"]["error_all_fast"] == pytest.approx(0.5)


def test_select_case_score_lowest_aurc_known_values():
    correct = [True, False, True, True, False]
    # ranked by "a": ok ok ok wrong wrong -> risks 0, 0, 0, 1/4, 2/5; by "b" (case order): 0, 1/2, 1/3, 1/4, 2/5
    sel = select_case_score({"b": [0.1, 0.2, 0.3, 0.4, 0.5], "a": [0.1, 0.5, 0.2, 0.3, 0.4]}, correct)
    assert sel["aurc"] == pytest.approx({"a": (1 / 4 + 2 / 5) / 5, "b": (1 / 2 + 1 / 3 + 1 / 4 + 2 / 5) / 5})
    assert sel["chosen"] == "a"
    tie = select_case_score({"simple": [1, 5, 2, 3, 4], "a": [0.1, 0.5, 0.2, 0.3, 0.4]}, correct)  # same ranking
    assert tie["aurc"]["simple"] == tie["aurc"]["a"] and tie["chosen"] == "simple"
    with pytest.raises(ValueError, match="at least one candidate"):
        select_case_score({}, correct)


def test_router_candidate_scores():
    """Several candidates: every candidate's score on both paths while both run, the chosen one otherwise."""
    torch.manual_seed(0)
    net = TinyNet().eval()
    names = [f"entropy_{n}" for n in CASE_SCORES]
    router = ACWIRouter(refine_inferer=MCDropoutInferer(num_samples=2, seed=0),
                        score=[SegmentationCaseScore(n) for n in CASE_SCORES],
                        thresholds={"accept": None, "review": None})
    assert router.score_names == names and router.score_name == names[0]
    x = torch.rand(3, 1, 12, 12)
    out = router(x, net)
    with torch.no_grad():
        probs = torch.softmax(net(x), 1)
    fast = segmentation_case_scores({"mean": probs, "entropy": predictive_entropy(probs)})
    assert out["fast_scores"].shape == out["refined_scores"].shape == (3, 4)
    assert torch.allclose(out["fast_scores"], torch.stack([fast[n] for n in CASE_SCORES], 1), atol=1e-6)
    assert torch.equal(out["fast_score"], out["fast_scores"][:, 0])
    assert torch.allclose(out["refined_score"], out["refined_scores"][:, 0])
    router.set_score("entropy_boundary_mean")
    router.set_thresholds({"accept": -1.0, "review": None})  # routed: only the chosen score
    routed = router(x, net)
    assert "fast_scores" not in routed and torch.allclose(routed["fast_score"], fast["boundary_mean"], atol=1e-6)
    with pytest.raises(ValueError, match="cannot compute the case score 'entropy'"):
        router.set_score("entropy")
    with pytest.raises(ValueError, match="distinct names"):
        ACWIRouter(score=["entropy", "entropy"])
    with pytest.raises(ValueError, match="needs stochastic samples"):
        ACWIRouter(score=["entropy", "variance"])
