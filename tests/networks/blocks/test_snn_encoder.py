# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""SNNEncoder (SELU + AlphaDropout) and FeatureGate."""

from __future__ import annotations

import pytest
import torch

from monai_dianet.networks.blocks import FeatureGate, SNNEncoder


def test_snn_shapes_nan_and_gradients():
    enc = SNNEncoder(20, embed_dim=8, hidden_dims=(16, 16), dropout=0.2, feature_gate=True)
    x = torch.randn(5, 20)
    x[0, 3] = float("nan")
    z = enc(x)
    assert z.shape == (5, 8) and bool(torch.isfinite(z).all())
    (z.sum() + enc.penalty()).backward()
    assert enc.gate.logits.grad is not None and float(enc.gate.logits.grad.abs().sum()) > 0
    assert torch.equal(enc.columns(x)[0, 3], torch.tensor(0.0))
    assert torch.allclose(enc.eval()(x), enc.forward_columns(enc.columns(x)))
    assert len(enc.column_groups) == 20
    with pytest.raises(ValueError, match=r"\(B, 20\)"):
        enc(torch.randn(5, 19))
    with pytest.raises(ValueError, match="dropout"):
        SNNEncoder(4, dropout=1.0)


def test_snn_self_normalises_at_initialisation():
    """With LeCun-normal weights, SELU keeps standardised inputs near zero mean / unit variance through the hidden
    layers (the SNN fixed point), in eval mode and, thanks to AlphaDropout, in training mode too."""
    torch.manual_seed(0)
    enc = SNNEncoder(256, embed_dim=256, hidden_dims=(256, 256, 256), dropout=0.1)
    x = torch.randn(4096, 256)
    hidden = enc.body[:-2]  # the three Linear-SELU-AlphaDropout blocks
    for mode in (False, True):
        with torch.no_grad():
            h = hidden.train(mode)(x)
        assert abs(float(h.mean())) < 0.1, mode
        assert 0.8 < float(h.var()) < 1.2, mode
    # a ReLU MLP of the same depth and init drifts away from unit variance
    relu = torch.nn.Sequential(*[m if not isinstance(m, torch.nn.SELU) else torch.nn.ReLU() for m in hidden]).eval()
    with torch.no_grad():
        assert float(relu(x).var()) < 0.5


def test_feature_gate_penalty_and_errors():
    gate = FeatureGate(4, init=0.5)
    assert torch.allclose(gate.gates, torch.full((4,), 0.5))
    assert float(gate.penalty().detach()) == pytest.approx(2.0)
    x = torch.ones(2, 4)
    assert torch.allclose(gate(x), 0.5 * x)
    # the penalty alone drives every gate towards 0
    opt = torch.optim.SGD(gate.parameters(), lr=10.0)
    for _ in range(20):
        opt.zero_grad()
        gate.penalty().backward()
        opt.step()
    assert float(gate.gates.max()) < 0.1
    with pytest.raises(ValueError, match="init"):
        FeatureGate(3, init=1.0)
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        gate(torch.ones(2, 5))
