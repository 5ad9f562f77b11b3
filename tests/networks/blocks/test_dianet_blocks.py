# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of DIANet's building blocks: backbone, stage attention, pyramid fusion, latent, codebook, diffuser, heads."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from monai_dianet.networks.blocks import (
    CodeBook,
    DIANetBackbone,
    Diffuser,
    FeaturePyramidFusion,
    OutputProjection,
    ProbabilisticLatent,
    ReconstructionDecoder,
    ResNetStages,
    SegmentationDecoder,
    SpatialAttention,
    StageAttention,
)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("name,width", [("resnet10", 0.25), ("resnet18", 0.125)])
def test_resnet_stages_shapes(dims, name, width):
    enc = DIANetBackbone(dims, 3, name, width=width)
    size = 32
    feats = enc(torch.randn(2, 3, *([size] * dims)))
    assert enc.strides == (2, 4, 8, 16, 32) and enc.size_divisor == 32
    for f, c, s in zip(feats, enc.out_channels, enc.strides):
        assert f.shape == (2, c) + (size // s,) * dims


def test_resnet_stages_matches_monai_resnetfeatures_state_dict():
    from monai.networks.nets import ResNetFeatures

    ref = ResNetFeatures("resnet10", pretrained=False, spatial_dims=2, in_channels=3)
    ours = ResNetStages("resnet10", spatial_dims=2, in_channels=3, width=1.0)
    ours.load_state_dict(ref.state_dict())
    ref.eval(), ours.eval()
    x = torch.randn(1, 3, 32, 32)
    for a, b in zip(ref(x), ours(x)):
        assert torch.allclose(a, b)


def test_flexunet_registry_backbone():
    enc = DIANetBackbone(2, 1, "efficientnet-b0")
    feats = enc(torch.randn(1, 1, 64, 64))
    assert [f.shape[1] for f in feats] == list(enc.out_channels)
    assert [64 // f.shape[-1] for f in feats] == list(enc.strides)
    enc.freeze(2)  # EfficientNet stages are grouped by the stage output they feed
    n_frozen = sum(not p.requires_grad for p in enc.parameters())
    assert 0 < n_frozen < sum(1 for _ in enc.parameters())


class _TinyEncoder(nn.Module):
    """A user encoder following the DIANet backbone protocol."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.stages = nn.ModuleList(
            [nn.Conv2d(in_channels, 5, 3, stride=2, padding=1), nn.Conv2d(5, 7, 3, stride=2, padding=1)]
        )
        self.out_channels = (5, 7)
        self.strides = (2, 4)

    def forward(self, x):
        out = []
        for s in self.stages:
            x = s(x)
            out.append(x)
        return out


def test_user_module_backbone_and_protocol_errors():
    enc = DIANetBackbone(2, 1, _TinyEncoder(), freeze=1)
    assert enc.size_divisor == 4
    assert not any(p.requires_grad for p in enc.encoder.stages[0].parameters())
    assert all(p.requires_grad for p in enc.encoder.stages[1].parameters())
    bad = _TinyEncoder()
    del bad.strides
    with pytest.raises(ValueError, match="strides"):
        DIANetBackbone(2, 1, bad)
    with pytest.raises(ValueError, match="unknown backbone 'resnet11'"):
        DIANetBackbone(2, 1, "resnet11")
    with pytest.raises(ValueError, match="freeze"):
        DIANetBackbone(2, 1, "resnet10", width=0.25, freeze="some")
    with pytest.raises(ValueError, match="out of range"):
        DIANetBackbone(2, 1, "resnet10", width=0.25, freeze=6)


@pytest.mark.parametrize("freeze,frozen_stages", [("none", 0), (2, 2), ("all", 5)])
def test_backbone_freeze_keeps_frozen_norm_in_eval(freeze, frozen_stages):
    enc = DIANetBackbone(2, 3, "resnet10", width=0.25, freeze=freeze)
    enc.train()
    stage_params = [list(s.parameters()) for s in enc.stages]
    for i, params in enumerate(stage_params):
        assert all(p.requires_grad == (i >= frozen_stages) for p in params)
    for i, stage in enumerate(enc.stages):
        norms = [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)]
        assert norms and all(m.training == (i >= frozen_stages) for m in norms)


def test_pretrained_path_roundtrip_and_errors(tmp_path):
    src = DIANetBackbone(2, 3, "resnet10", width=0.25)
    path = tmp_path / "w.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in src.encoder.state_dict().items()}}, path)
    dst = DIANetBackbone(2, 3, "resnet10", width=0.25, pretrained_path=str(path))
    for k, v in src.encoder.state_dict().items():
        assert torch.equal(v, dst.encoder.state_dict()[k])
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        DIANetBackbone(2, 3, "resnet10", width=0.25, pretrained_path=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="shape mismatch"):
        DIANetBackbone(2, 3, "resnet10", width=0.5, pretrained_path=str(path))
    with pytest.raises(ValueError, match="in_channels"):
        DIANetBackbone(2, 4, "resnet10", width=0.25, pretrained_path=str(path))


@pytest.mark.parametrize("dims,channels", [(2, 5), (3, 3), (3, 16)])
def test_stage_attention(dims, channels):
    torch.manual_seed(0)
    block = StageAttention(dims, channels)
    x = torch.randn(2, channels, *([6] * dims), requires_grad=True)
    y, a = block(x)
    assert y.shape == x.shape and a.shape == (2, 1) + (6,) * dims
    assert float(a.detach().min()) >= 0 and float(a.detach().max()) <= 1
    y.sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    # the spatial conv and the MLP's output layer always get a signal (a hidden ReLU unit may be inactive)
    assert block.spatial.conv.weight.grad.abs().sum() > 0 and block.mlp[2].bias.grad.abs().sum() > 0


def test_spatial_attention_emphasises_by_map():
    att = SpatialAttention(2, kernel_size=3)
    x = torch.randn(1, 4, 8, 8)
    y, a = att(x)
    assert torch.allclose(y, x * a)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("attention", [True, False])
def test_feature_pyramid_fusion(dims, attention):
    chans, strides = (3, 8, 16), (4, 8, 32)  # odd widths, a 4x stride jump
    fpf = FeaturePyramidFusion(dims, chans, strides, out_channels=6, attention=attention)
    size = 32
    feats = [torch.randn(2, c, *([size // s] * dims)) for c, s in zip(chans, strides)]
    fused, maps = fpf(feats)
    assert fused.shape == (2, 6) + (size // 4,) * dims
    assert len(maps) == (3 if attention else 0)
    alpha = fpf.scale_weights.detach()
    assert alpha.shape == (3,) and float(alpha.min()) >= 0 and abs(float(alpha.sum()) - 1) < 1e-3
    fused.sum().backward()
    assert fpf.weights.grad is not None and fpf.weights.grad.abs().sum() > 0


def test_feature_pyramid_scale_weights_non_negative_after_negative_raw():
    fpf = FeaturePyramidFusion(2, (4, 4), (2, 4), out_channels=4)
    with torch.no_grad():
        fpf.weights.copy_(torch.tensor([-1.0, 3.0]))
    assert torch.allclose(fpf.scale_weights, torch.tensor([0.0, 1.0]), atol=1e-3)


def test_probabilistic_latent_sampling():
    lat = ProbabilisticLatent(2, 6, 4)
    x = torch.randn(2, 6, 5, 5)
    h, mu, logvar = lat(x, sample=False)
    assert torch.equal(h, mu) and mu.shape == (2, 4, 5, 5)
    torch.manual_seed(0)
    hs, mu2, logvar2 = lat(x, sample=True)
    assert torch.allclose(mu, mu2) and not torch.allclose(hs, mu)
    # reparameterisation: (h - mu) / sigma is standard normal noise
    with torch.no_grad():
        lat.g_logvar.weight.zero_()
        lat.g_logvar.bias.fill_(math.log(4.0))
    h, mu, _ = lat(torch.randn(64, 6, 8, 8), sample=True)
    assert abs(float((h - mu).std()) - 2.0) < 0.05


def test_codebook_assignment_usage_and_perplexity():
    cb = CodeBook(channels=3, num_codes=4, temperature=0.01, decay=0.0)
    with torch.no_grad():
        cb.codes.copy_(torch.eye(4, 3) * 5)
    h = cb.codes[torch.tensor([0, 0, 1, 1])].detach().T.reshape(1, 3, 2, 2)  # positions on codes 0,0,1,1
    cb.train()
    out, q = cb(h)
    assert q.shape == (1, 4, 2, 2) and torch.allclose(q.sum(1), torch.ones(1, 2, 2))
    assert torch.equal(q.argmax(1).flatten(), torch.tensor([0, 0, 1, 1]))
    # exact codes quantise to themselves, so mixing keeps them
    assert torch.allclose(out, h, atol=1e-4)
    assert torch.allclose(cb.usage, torch.tensor([0.5, 0.5, 0.0, 0.0]), atol=1e-4)
    assert abs(float(cb.perplexity) - 2.0) < 1e-3
    cb.eval()
    usage = cb.usage.clone()
    cb(torch.randn(1, 3, 2, 2))
    assert torch.equal(cb.usage, usage)  # statistics only change in training
    with pytest.raises(ValueError, match="temperature"):
        CodeBook(3, 4, temperature=0.0)


def test_codebook_gradients_reach_codes_and_mix():
    cb = CodeBook(5, 7)
    out, _ = cb(torch.randn(2, 5, 3, 3, 3))
    out.pow(2).sum().backward()
    assert cb.codes.grad.abs().sum() > 0 and cb.mix_logit.grad is not None


@pytest.mark.parametrize("dims,pool", [(2, 1), (2, 4), (3, 2)])
def test_diffuser_shape_and_global_context(dims, pool):
    dif = Diffuser(dims, channels=8, pool_factor=pool, num_heads=2).eval()
    x = torch.randn(1, 8, *([8] * dims))
    y = dif(x)
    assert y.shape == x.shape
    # attention is global: changing one corner changes the output on the opposite side
    x2 = x.clone()
    x2[(0, slice(None)) + (slice(0, pool),) * dims] += 5.0
    far = (0, slice(None)) + (slice(-1, None),) * dims
    assert not torch.allclose(dif(x2)[far], y[far])
    with pytest.raises(ValueError, match="divisible"):
        Diffuser(dims, channels=6, num_heads=4)


def test_segmentation_and_reconstruction_decoders():
    dec = SegmentationDecoder(3, 7, latent_stride=4, skip_channels=(1, 5), skip_strides=(1, 2), channels=4)
    y = dec(torch.randn(2, 7, 2, 2, 2), [torch.randn(2, 1, 8, 8, 8), torch.randn(2, 5, 4, 4, 4)])
    assert y.shape == (2, 4, 8, 8, 8)
    rec = ReconstructionDecoder(2, 7, scale_factor=8, channels=3)
    assert rec(torch.randn(1, 7, 2, 2)).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="full resolution"):
        SegmentationDecoder(2, 7, 4, skip_channels=(5,), skip_strides=(2,))


@pytest.mark.parametrize("dims,shape", [(None, (3, 6)), (2, (3, 6, 4, 4)), (3, (3, 6, 2, 2, 2))])
def test_output_projection_dropout_and_logvar(dims, shape):
    proj = OutputProjection(dims, 6, 5, dropout=0.5, heteroscedastic=True)
    x = torch.randn(*shape)
    proj.eval()
    y1, lv = proj(x)
    assert y1.shape == (3, 5) + shape[2:] and lv.shape == y1.shape
    assert torch.equal(y1, proj(x)[0])
    proj.train()
    torch.manual_seed(1)
    assert not torch.allclose(proj(x)[0], proj(x)[0])
    with pytest.raises(ValueError, match="dropout"):
        OutputProjection(dims, 6, 5, dropout=1.0)
