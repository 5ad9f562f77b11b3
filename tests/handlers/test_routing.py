# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The router handlers in a real SupervisedEvaluator: fitting thresholds on an evaluation run, writing and reading
the router file, the per-case routing record and the metrics report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.engines import SupervisedEvaluator
from monai.handlers import MeanDice, from_engine
from monai.transforms import Compose, CopyItemsd, FlattenSubKeysd

from monai_dianet.handlers import (
    MetricsReportHandler,
    RouterFitHandler,
    RouterLoader,
    RouterReportHandler,
    load_router_file,
)
from monai_dianet.inferers import ACWIRouter, MCDropoutInferer
from monai_dianet.metrics import CASE_SCORES, SegmentationCaseScore, predictive_entropy, segmentation_case_scores
from monai_dianet.transforms import RoutingRecordd, routing_record
from monai_dianet.utils import InputError, MissingInputError
from tests.utils import TinyNet


class DropoutNet(TinyNet):
    """TinyNet with dropout on its features, so the refine path differs from the fast one."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = torch.nn.Dropout(0.3)

    def forward(self, x, return_all: bool = False):
        return self.head(self.drop(torch.relu(self.conv(x))))


def _data(n: int = 6) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    items = []
    for i in range(n):
        image = torch.rand(1, 12, 12, generator=g)
        items.append({"image": image, "label": (image > 0.5).long(), "case_id": f"c{i}"})
    return items


def _router(thresholds=None) -> ACWIRouter:
    return ACWIRouter(refine_inferer=MCDropoutInferer(num_samples=3, seed=0),
                      thresholds=thresholds or {"accept": None, "review": None})


def test_fit_handler_writes_router_file_and_report(tmp_path):
    torch.manual_seed(0)
    net = DropoutNet()
    router = _router()
    post = Compose([
        FlattenSubKeysd(keys="pred", sub_keys=["mean", "fast_mean", "fast_score", "refined_score"], prefix="pred"),
        CopyItemsd(keys="pred_mean", names="pred"),
    ])
    fit = RouterFitHandler(router, tmp_path / "models" / "router.json", target_error=0.5, review_budget=0.5,
                           min_dice=0.5, curve_path=tmp_path / "rc.png")
    report_file = tmp_path / "eval" / "metrics.json"
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"), val_data_loader=torch.utils.data.DataLoader(_data(), batch_size=2),
        network=net, inferer=router, postprocessing=post,
        key_val_metric={"dice": MeanDice(output_transform=from_engine(["pred_mean", "label"]))},
        val_handlers=[fit, MetricsReportHandler(report_file, state_keys=["routing"], extra={"router_file": "r"})],
    )
    evaluator.run()
    saved = json.loads((tmp_path / "models" / "router.json").read_text())
    assert saved["thresholds"] == evaluator.state.routing["thresholds"] and saved["score"] == "entropy"
    assert saved["report"]["score_selection"] is None  # one score: nothing to choose
    assert saved["report"]["n"] == 6 and saved["min_dice"] == 0.5 and (tmp_path / "rc.png").stat().st_size > 0
    summary = json.loads(report_file.read_text())
    assert summary["num_cases"] == 6 and set(summary["metrics"]) == {"dice"} and summary["router_file"] == "r"
    assert summary["routing"]["outcome"] == saved["report"]["outcome"]

    loaded = _router({"accept": 0.0, "review": 0.0})
    RouterLoader(loaded, tmp_path / "models" / "router.json")(evaluator)
    assert loaded.thresholds == saved["thresholds"]
    other = ACWIRouter(activation="sigmoid", thresholds={"accept": None, "review": None})
    with pytest.raises(InputError, match="activation"):
        load_router_file(tmp_path / "models" / "router.json", other)


def test_fit_handler_needs_both_paths_and_loader_missing_file(tmp_path):
    net = DropoutNet()
    router = _router({"accept": float("inf"), "review": None})  # every case accepted: no refined score
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"), val_data_loader=torch.utils.data.DataLoader(_data(2), batch_size=1), network=net,
        inferer=router, postprocessing=FlattenSubKeysd(keys="pred", prefix="pred"),
        val_handlers=[RouterFitHandler(router, tmp_path / "r.json")],
    )
    with pytest.raises(ValueError, match="both paths"):
        evaluator.run()
    keep = _router({"accept": 1.0, "review": 2.0})
    with pytest.raises(MissingInputError, match="router file .*missing.json does not exist; fit it with: fit me"):
        RouterLoader(keep, tmp_path / "missing.json", fit_command="fit me")(evaluator)
    assert keep.thresholds == {"accept": 1.0, "review": 2.0}  # no silent default
    off = RouterLoader(keep, "none")
    off(evaluator)  # routing turned off on request: accept and review nothing
    assert not off.enabled and keep.thresholds == {"accept": None, "review": None}
    (tmp_path / "bad.json").write_text('{"thresholds": [1, 2]}')
    with pytest.raises(InputError, match="expected a 'thresholds' object"):
        RouterLoader(keep, tmp_path / "bad.json")(evaluator)


def _evaluator(router, data, handlers):
    post = Compose([
        FlattenSubKeysd(keys="pred", sub_keys=["mean", "fast_mean", "fast_score", "refined_score"], prefix="pred"),
        CopyItemsd(keys="pred_mean", names="pred"),
    ])
    return SupervisedEvaluator(
        device=torch.device("cpu"), val_data_loader=torch.utils.data.DataLoader(data, batch_size=2),
        network=DropoutNet(), inferer=router, postprocessing=post, val_handlers=handlers,
    )


def test_report_handler_applies_validation_thresholds_to_test_cases(tmp_path):
    """Thresholds fitted on validation cases; the report on other (test) cases with the validation figure beside."""
    torch.manual_seed(0)
    router = _router()
    validation, test = _data(8), _data(6)
    for item in test:
        item["image"] = 1.0 - item["image"]
    fit = _evaluator(router, validation, [RouterFitHandler(router, tmp_path / "router.json", target_error=0.5,
                                                           review_budget=0.3, min_dice=0.5)])
    fit.run()
    report = RouterReportHandler(router, tmp_path / "router.json", split="test", curve_path=tmp_path / "rc_test.png")
    evaluator = _evaluator(router, test, [report, MetricsReportHandler(tmp_path / "metrics.json", "test",
                                                                       state_keys=["routing"],
                                                                       other_engines={"validation": fit})])
    evaluator.run()
    routing = evaluator.state.routing
    fitted = json.loads((tmp_path / "router.json").read_text())
    assert routing["split"] == "test" and routing["n"] == 6 and routing["thresholds"] == fitted["thresholds"]
    assert routing["fitted_on"] == {"split": "validation", "n": 8, "outcome": fitted["report"]["outcome"],
                                    "score_selection": None}
    out = routing["outcome"]
    assert out["accept"] + out["refine"] + out["review"] == 6
    # the same decisions as the router itself makes with the fitted thresholds
    with torch.no_grad():
        decided = _router(fitted["thresholds"])(torch.stack([t["image"] for t in test]), evaluator.network.eval())
    assert [out[d] for d in ("accept", "refine", "review")] == [decided["decision"].count(d)
                                                                   for d in ("accept", "refine", "review")]
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["split"] == "test" and summary["num_cases"] == 6 and summary["validation"]["num_cases"] == 8
    assert (tmp_path / "rc_test.png").stat().st_size > 0


def test_routing_record_of_a_decollated_case():
    net = DropoutNet().eval()
    router = _router({"accept": None, "review": -1.0})
    out = router(torch.rand(2, 1, 12, 12), net)
    case = {k: (v[1] if isinstance(v, (torch.Tensor, list)) else v) for k, v in out.items()}
    record = routing_record(case, router)
    json.dumps(record)
    assert record["decision"] == "review" and record["score"] == "entropy"
    assert record["scores"]["refined"] == pytest.approx(float(out["refined_score"][1]))
    assert record["prediction"] == {"task": "segmentation", "shape": [12, 12],
                                    "voxels_per_class": torch.bincount(out["mean"][1].argmax(0).flatten(),
                                                                       minlength=2).tolist()}
    d = RoutingRecordd("pred", router)({"pred": case})
    assert d["route"] == record and d["case_uncertainty"] == record["scores"]["refined"]
    assert "routing" not in record
    assert routing_record(case, router, "models/router.json")["routing"]["enabled"] is True
    off = RoutingRecordd("pred", router, router_file="none")({"pred": case})["route"]["routing"]
    assert off["enabled"] is False and off["router_file"] is None and "routing off" in off["note"]
    accepted = dict(case, refined_score=torch.tensor(float("nan")))
    assert routing_record(accepted, router)["scores"]["refined"] is None
    with pytest.raises(KeyError, match="fast_score"):
        routing_record({"mean": case["mean"]}, router)


class PointwiseNet(torch.nn.Module):
    """Foreground logit ``6 (x - 0.5)`` per pixel, with dropout for the refine path: its errors follow the noise."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = torch.nn.Dropout(0.2)

    def forward(self, x):
        z = 6.0 * self.drop(x - 0.5)
        return torch.cat([torch.zeros_like(z), z], 1)


def _disks(n: int, size: int = 16) -> list[dict]:
    """Disks of random radius on a dark background under random noise levels; label: the disk."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    items = []
    for i in range(n):
        radius, sigma = 2.0 + 4.0 * float(torch.rand(1, generator=g)), 0.5 * float(torch.rand(1, generator=g))
        disk = (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= radius**2).float()[None]
        image = 0.8 * disk + 0.1 + sigma * torch.randn(disk.shape, generator=g)
        items.append({"image": image, "label": disk.long(), "case_id": f"d{i}"})
    return items


def _hand_aurc(scores, wrong) -> float:
    """Mean over k of the error rate among the k lowest-scored cases (the risk-coverage curve's area, by hand)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    return float(np.mean([np.mean([wrong[i] for i in order[:k]]) for k in range(1, len(order) + 1)]))


def test_fit_handler_chooses_the_case_score_with_the_lowest_validation_aurc(tmp_path):
    """Four segmentation case scores as candidates: the fit picks the one whose fast-path AURC, recomputed here
    from the network's own output, is lowest; router.json keeps the choice, and loading it restores it."""
    torch.manual_seed(0)
    candidates = [SegmentationCaseScore(name) for name in CASE_SCORES]
    router = ACWIRouter(refine_inferer=MCDropoutInferer(num_samples=3, seed=0), score=candidates,
                        thresholds={"accept": None, "review": None})
    validation = _disks(10)
    post = Compose([
        FlattenSubKeysd(keys="pred", sub_keys=["mean", "fast_mean", "fast_score", "refined_score", "fast_scores",
                                               "refined_scores"], prefix="pred"),
        CopyItemsd(keys="pred_mean", names="pred"),
    ])
    net = PointwiseNet()
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"), val_data_loader=torch.utils.data.DataLoader(validation, batch_size=2),
        network=net, inferer=router, postprocessing=post,
        val_handlers=[RouterFitHandler(router, tmp_path / "router.json", target_error=0.3, review_budget=0.3,
                                       min_dice=0.8)],
    )
    evaluator.run()
    # the reference: the fast path is one deterministic pass; foreground Dice by hand
    with torch.no_grad():
        probs = torch.softmax(net.eval()(torch.stack([v["image"] for v in validation])), 1)
    pred = {"mean": probs, "entropy": predictive_entropy(probs)}
    wrong = []
    for p, item in zip(probs.argmax(1), validation):
        lab = item["label"][0]
        wrong.append(2.0 * float((p * lab).sum()) / float(p.sum() + lab.sum()) < 0.8)
    assert 0 < sum(wrong) < len(wrong)
    expected = {f"entropy_{n}": _hand_aurc(s.tolist(), wrong) for n, s in segmentation_case_scores(pred).items()}
    assert len(set(np.round(list(expected.values()), 9))) > 1  # the candidates rank the cases differently
    best = min(expected, key=expected.get)
    saved = json.loads((tmp_path / "router.json").read_text())
    selection = saved["report"]["score_selection"]
    assert selection["aurc"] == pytest.approx(expected) and selection["chosen"] == best == saved["score"]
    assert router.score_name == best and evaluator.state.routing["score"] == best
    # thresholds fitted on the chosen score: its fast-path curve is the one in the file
    chosen = segmentation_case_scores(pred)[best.removeprefix("entropy_")]
    assert saved["report"]["fast"]["aurc"] == pytest.approx(expected[best])
    assert saved["report"]["fast"]["thresholds"] == pytest.approx(sorted(chosen.tolist()), abs=1e-6)

    fresh = ACWIRouter(score=[SegmentationCaseScore(name) for name in CASE_SCORES])
    assert fresh.score_name == "entropy_volume_mean"
    RouterLoader(fresh, tmp_path / "router.json")(evaluator)
    assert fresh.score_name == best and fresh.thresholds == saved["thresholds"]
    with pytest.raises(InputError, match=f"case score '{best}', which this router cannot compute .*'entropy'"):
        load_router_file(tmp_path / "router.json", ACWIRouter(score="entropy"))
    # the report on other cases takes the file's score and keeps both paths running
    report_router = ACWIRouter(refine_inferer=MCDropoutInferer(num_samples=3, seed=0), score=candidates,
                               thresholds={"accept": None, "review": None})
    report_router.set_score("entropy_volume_mean")
    test = _evaluator(report_router, _data(4), [RouterReportHandler(report_router, tmp_path / "router.json")])
    test.run()
    assert report_router.score_name == best and report_router.thresholds == {"accept": None, "review": None}
    assert test.state.routing["score"] == best and test.state.routing["n"] == 4
    assert test.state.routing["fitted_on"]["score_selection"] == selection
