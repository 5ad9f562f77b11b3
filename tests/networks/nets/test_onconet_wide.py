# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNet's small-cohort options: SNN genomic encoder, linear wide path, single risk output."""

from __future__ import annotations

import pytest
import torch

from monai_dianet.networks.nets import OncoNet


def _net(**kwargs) -> OncoNet:
    torch.manual_seed(0)
    args = dict(num_classes=2, num_genes=6, num_clinical=3, embed_dim=8, image_encoder=None, genomic_encoder="snn",
                clinical=True, wide=True, dropout=0.0, clinical_kwargs={"hidden_dims": (8,), "norm": False})
    args.update(kwargs)
    return OncoNet(**args).eval()


def _inputs(b: int = 4):
    g = torch.Generator().manual_seed(1)
    return {"genes": torch.randn(b, 6, generator=g), "clinical": torch.randn(b, 3, generator=g)}


def test_wide_path_is_linear_in_the_tabular_columns():
    net = _net()
    x = _inputs()
    deep = net(**x)
    assert torch.equal(net.wide.weight, torch.zeros_like(net.wide.weight))  # starts as the deep model
    with torch.no_grad():
        net.wide.weight.normal_()
    out = net(**x, return_all=True, attribute=True)
    clinical_columns = net.encoders["clinical"].columns(x["clinical"])
    linear = torch.cat([x["genes"], clinical_columns], 1) @ net.wide.weight.T
    assert torch.allclose(out.logits, deep + linear, atol=1e-5)
    # gradient x input attributions include the wide path: with the deep branches' weights zeroed they are exactly
    # W[target] * x for the genes
    with torch.no_grad():
        net.classifier.weight.zero_()
    out = net(**x, return_all=True, attribute=True)
    target = out.logits.argmax(1)
    assert torch.allclose(out.gene_attributions, net.wide.weight[target, :6] * x["genes"], atol=1e-5)


def test_wide_path_ignores_missing_modality_and_single_output():
    net = _net(num_classes=1)
    with torch.no_grad():
        net.wide.weight.normal_()
    x = _inputs()
    mask = torch.tensor([[0, 1, 1], [0, 0, 1], [0, 1, 0], [0, 1, 1]], dtype=torch.bool)
    out = net(**x, modality_mask=mask)
    assert out.shape == (4, 1)
    other = {"genes": x["genes"].clone(), "clinical": x["clinical"].clone()}
    other["genes"][1] = 100.0  # absent genes of patient 1
    other["clinical"][2] = -100.0  # absent clinical data of patient 2
    assert torch.allclose(net(**other, modality_mask=mask), out, atol=1e-5)


def test_penalty_and_errors():
    net = _net(genomic_kwargs={"feature_gate": True})
    assert float(net.penalty()) == pytest.approx(3.0)  # 6 gates at 0.5
    assert float(_net().penalty()) == 0.0
    with pytest.raises(ValueError, match="wide"):
        OncoNet(image_encoder="cnn", genomic_encoder=None, clinical=False, wide=True)
    with pytest.raises(ValueError, match="num_classes"):
        _net(num_classes=0)
    assert OncoNet(num_genes=6, image_encoder=None, clinical=False).genomic_encoder_name == "snn"
