# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""benchmarks/bench_dianet.py: its forward+backward call trains every DIANet head, and its check can fail."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_dianet import _call, check_head_gradients  # noqa: E402

from monai_dianet.networks.nets import DIANet  # noqa: E402


def test_fwd_bwd_call_reaches_every_head_and_the_check_fails_without():
    torch.manual_seed(0)
    tasks = ("segmentation", "classification", "reconstruction")
    net = DIANet(2, 1, 2, tasks=tasks, backbone_width=0.125, fusion_channels=8, latent_channels=8, codebook_size=4)
    x = torch.randn(2, 1, 32, 32)
    _call(net, x, backward=True)  # raises inside when a head got no gradient
    net.train()
    net.zero_grad(set_to_none=True)
    net(x).mean().backward()  # main (segmentation) head only, as the benchmark did before
    with pytest.raises(RuntimeError, match="classification"):
        check_head_gradients(net)
