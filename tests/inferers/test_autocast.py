# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""AutocastInferer: bf16 forward passes, float32 statistics, bf16 vs fp32 parity on small inputs through MC dropout,
sliding windows, the router's refine path and OncoNet's MC inference."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from monai.inferers import SlidingWindowInferer

from monai_dianet.inferers import ACWIRouter, AutocastInferer, MCDropoutInferer, OncoNetInferer
from monai_dianet.metrics import RunningUncertainty
from monai_dianet.networks.nets import OncoNet
from monai_dianet.utils import InputError

pytestmark = pytest.mark.filterwarnings("ignore:precision 'bf16' on cpu")

#: bf16 keeps 8 significant bits (relative rounding 2^-9 per operation); on these small nets the largest probability
#: difference to fp32 measured 1.6e-3 (seeds 0-2, DropNet and OncoNet): the tolerance leaves a >10x margin
PROB_ATOL = 2e-2


class DropNet(nn.Module):
    """Two 2D convolutions with dropout between them (3 output classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 8, 3, padding=1)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Conv2d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(torch.relu(self.conv(x))))


@pytest.fixture
def net_and_image():
    torch.manual_seed(0)
    return DropNet().eval(), torch.randn(1, 2, 20, 20, generator=torch.Generator().manual_seed(1))


def test_statistics_accumulate_in_float32(monkeypatch, net_and_image):
    net, x = net_and_image
    seen = []
    add = RunningUncertainty.add

    def spy(self, logits, logvar=None):
        seen.append((logits.dtype, torch.is_autocast_enabled("cpu")))
        add(self, logits, logvar)
        seen.append(tuple(v.dtype for v in self._sums.values()))

    monkeypatch.setattr(RunningUncertainty, "add", spy)
    mc = MCDropoutInferer(num_samples=3, inferer=SlidingWindowInferer((12, 12), overlap=0.5), seed=0)
    with torch.no_grad():
        maps = AutocastInferer(mc, amp="bf16")(x, net)
    assert (torch.bfloat16, True) in seen  # the network really ran in bf16 ...
    assert all(d == torch.float32 for entry in seen[1::2] for d in entry)  # ... its statistics summed in float32
    assert {k: v.dtype for k, v in maps.items()} == dict.fromkeys(maps, torch.float32)


def test_bf16_matches_fp32_through_mc_dropout_and_sliding_windows(net_and_image):
    net, x = net_and_image
    mc = MCDropoutInferer(num_samples=4, inferer=SlidingWindowInferer((12, 12), overlap=0.5), seed=0)
    with torch.no_grad():
        ref, low = AutocastInferer(mc, "fp32")(x, net), AutocastInferer(mc, "bf16")(x, net)
    assert (ref["mean"] - low["mean"]).abs().max() < PROB_ATOL
    assert (ref["entropy"] - low["entropy"]).abs().max() < 2 * PROB_ATOL  # nats, log(3) at most
    corr = torch.corrcoef(torch.stack([ref["mutual_information"].flatten(), low["mutual_information"].flatten()]))
    assert corr[0, 1] > 0.99  # measured 0.99998


def test_router_refine_path_in_bf16(net_and_image):
    net, x = net_and_image
    sw = SlidingWindowInferer((12, 12), overlap=0.5)
    router = ACWIRouter(sw, MCDropoutInferer(num_samples=3, inferer=sw, seed=0), score="entropy",
                        thresholds={"accept": -1.0, "review": 10.0})  # every case goes the refine way
    with torch.no_grad():
        ref, low = AutocastInferer(router, "fp32")(x, net), AutocastInferer(router, "bf16")(x, net)
    assert ref["decision"] == low["decision"] == ["refine"]
    assert low["mean"].dtype == torch.float32
    assert (ref["mean"] - low["mean"]).abs().max() < PROB_ATOL
    assert abs(float(ref["refined_score"][0]) - float(low["refined_score"][0])) < PROB_ATOL


def test_onconet_mc_inference_in_bf16():
    torch.manual_seed(0)
    net = OncoNet(in_channels=3, num_classes=3, num_genes=12, num_clinical=4, embed_dim=16, image_encoder="cnn",
                  img_size=32, dropout=0.3).eval()
    g = torch.Generator().manual_seed(1)
    inputs = {"image": torch.randn(2, 3, 32, 32, generator=g), "genes": torch.randn(2, 12, generator=g),
              "clinical": torch.randn(2, 4, generator=g), "modality_mask": torch.ones(2, 3, dtype=torch.bool)}
    outs = {}
    for amp in ("fp32", "bf16"):
        torch.manual_seed(5)  # the same dropout masks
        outs[amp] = AutocastInferer(OncoNetInferer(mc_samples=3, attribute=False), amp)(inputs, net)
    assert all(v.dtype in (torch.float32, torch.bool) for v in outs["bf16"].values())
    assert (outs["fp32"]["mean"] - outs["bf16"]["mean"]).abs().max() < PROB_ATOL
    torch.testing.assert_close(outs["bf16"]["alpha"].sum(1), torch.ones(2))  # attention weights in float32 too


def test_unknown_precision_is_one_line_error():
    with pytest.raises(InputError, match="amp must be one of"):
        AutocastInferer(None, amp="half")
