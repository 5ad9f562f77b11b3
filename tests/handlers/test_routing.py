# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The router handlers in a real SupervisedEvaluator: fitting thresholds on an evaluation run, writing and reading
the router file, the per-case routing record and the metrics report."""

from __future__ import annotations

import json

import pytest
import torch
from monai.engines import SupervisedEvaluator
from monai.handlers import MeanDice, from_engine
from monai.transforms import Compose, CopyItemsd, FlattenSubKeysd

from monai_dianet.handlers import MetricsReportHandler, RouterFitHandler, RouterLoader, load_router_file
from monai_dianet.inferers import ACWIRouter, MCDropoutInferer
from monai_dianet.transforms import RoutingRecordd, routing_record
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
    assert saved["report"]["n"] == 6 and saved["min_dice"] == 0.5 and (tmp_path / "rc.png").stat().st_size > 0
    summary = json.loads(report_file.read_text())
    assert summary["num_cases"] == 6 and set(summary["metrics"]) == {"dice"} and summary["router_file"] == "r"
    assert summary["routing"]["outcome"] == saved["report"]["outcome"]

    loaded = _router({"accept": 0.0, "review": 0.0})
    RouterLoader(loaded, tmp_path / "models" / "router.json")(evaluator)
    assert loaded.thresholds == saved["thresholds"]
    other = ACWIRouter(activation="sigmoid", thresholds={"accept": None, "review": None})
    with pytest.raises(ValueError, match="activation"):
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
    RouterLoader(keep, tmp_path / "missing.json", required=False)(evaluator)
    assert keep.thresholds == {"accept": 1.0, "review": 2.0}
    with pytest.raises(FileNotFoundError, match="missing.json"):
        RouterLoader(keep, tmp_path / "missing.json")(evaluator)


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
    accepted = dict(case, refined_score=torch.tensor(float("nan")))
    assert routing_record(accepted, router)["scores"]["refined"] is None
    with pytest.raises(KeyError, match="fast_score"):
        routing_record({"mean": case["mean"]}, router)
