# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The precision option: "auto" follows the CPU's native bf16 (capability check monkeypatched both ways), explicit
choices, errors, gradient scaling and a bf16 training step whose loss stays float32."""

from __future__ import annotations

import logging
import platform

import pytest
import torch

from monai_dianet.engines import DIANetTrainer
from monai_dianet.utils import InputError, Precision, check_precision, resolve_precision, to_float32
from tests.utils import TinyNet, random_segmentation_batches


def _cpu_bf16(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")


@pytest.mark.parametrize("native, expected", [(False, Precision.FP32), (True, Precision.BF16)])
def test_auto_follows_native_cpu_bf16(monkeypatch, caplog, native, expected):
    _cpu_bf16(monkeypatch, native)
    with caplog.at_level(logging.INFO, logger="monai_dianet.utils.precision"):
        policy = resolve_precision("auto", "cpu")
    assert policy.precision == expected and policy.requested == Precision.AUTO
    assert f"precision 'auto' on cpu: {expected.value}" in caplog.text  # "auto" logs its choice and why
    assert policy.enabled == native and policy.dtype == (torch.bfloat16 if native else None)
    assert policy.grad_scaler() is None  # bf16 keeps float32's exponent range: no gradient scaling
    with torch.no_grad(), policy.autocast():
        y = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    assert y.dtype == (torch.bfloat16 if native else torch.float32)


def test_amx_counts_as_native(monkeypatch):
    _cpu_bf16(monkeypatch, False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert resolve_precision(True, "cpu").precision == Precision.BF16


def test_explicit_choices_and_errors(monkeypatch):
    _cpu_bf16(monkeypatch, False)
    assert check_precision(False) == check_precision(None) == check_precision("false") == Precision.FP32
    assert check_precision(True) == check_precision("True") == Precision.AUTO
    assert check_precision(" BF16 ") == Precision.BF16
    with pytest.raises(InputError, match="amp must be one of .*got 'fp64'"):
        check_precision("fp64")
    with pytest.warns(UserWarning, match="no native bf16"):  # honoured, but said to be slow here
        assert resolve_precision("bf16", "cpu").precision == Precision.BF16
    fp16 = resolve_precision("fp16", "cpu")
    assert isinstance(fp16.grad_scaler(), torch.amp.GradScaler)  # fp16 gradients would underflow unscaled
    assert resolve_precision("auto", "meta").precision == Precision.FP32  # no default for other devices


def test_to_float32_keeps_structure_and_other_dtypes():
    out = to_float32({"a": [torch.ones(2, dtype=torch.bfloat16)], "b": (torch.ones(1, dtype=torch.int64), "x")})
    assert out["a"][0].dtype == torch.float32 and out["b"][0].dtype == torch.int64 and out["b"][1] == "x"


@pytest.mark.filterwarnings("ignore:precision 'bf16' on cpu")
@pytest.mark.parametrize("amp", ["fp32", "bf16"])
def test_trainer_autocasts_the_forward_only(monkeypatch, amp):
    """bf16 training on CPU: the network runs in bf16, the loss sees float32 outputs, no gradient scaler; its
    loss matches the fp32 trainer's within 2e-2 (one tiny step, measured difference ~1e-3)."""
    seen: dict = {}

    def loss_fn(output, target):
        seen["dtype"] = output.segmentation.dtype
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        return torch.nn.functional.binary_cross_entropy_with_logits(output.segmentation[:, 1:], target)

    torch.manual_seed(0)
    net = TinyNet()
    ref_state = {k: v.clone() for k, v in net.state_dict().items()}
    losses = {}
    for precision in ("fp32", amp):
        net.load_state_dict(ref_state)
        trainer = DIANetTrainer(
            device="cpu", max_epochs=1, train_data_loader=random_segmentation_batches(1, 2, 8), network=net,
            optimizer=torch.optim.SGD(net.parameters(), lr=0.1), loss_function=loss_fn, amp=precision, decollate=False,
        )
        trainer.run()
        assert trainer.scaler is None and seen["dtype"] == torch.float32 and not seen["autocast"]
        assert trainer.state.output["loss"].dtype == torch.float32
        losses[precision] = float(trainer.state.output["loss"])
    assert trainer.precision.precision == Precision(amp)
    assert abs(losses[amp] - losses["fp32"]) < 2e-2
    assert all(torch.isfinite(p).all() for p in net.parameters())
