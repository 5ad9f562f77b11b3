# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from monai_dianet.networks.nets import DIANet
from monai_dianet.visualize import (
    AttentionSaliency,
    ClassScoreWrapper,
    compute_cam,
    default_target_layer,
    fusion_attention_saliency,
)


def _tiny_dianet(spatial_dims, tasks=("segmentation",), **kw):
    torch.manual_seed(0)
    return DIANet(
        spatial_dims, 2, 3, tasks=tasks, fusion_channels=8, latent_channels=8, codebook_size=4, decoder_channels=8, **kw
    ).eval()


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_attention_saliency_eq27_28(spatial_dims):
    net = _tiny_dianet(spatial_dims)
    x = torch.rand(2, 2, *([32] * spatial_dims))
    sal = AttentionSaliency(spatial_dims, in_channels=8)
    with torch.no_grad():
        saliency, att = sal.explain(net, x)
        fused = net(x, return_all=True).fused
        raw = AttentionSaliency(spatial_dims, 8, normalize=False)
        raw.load_state_dict(sal.state_dict())
        coarse = raw.attention(fused)
    assert saliency.shape == x.shape and att.shape == (2, 1, *x.shape[2:])
    assert torch.isfinite(saliency).all() and torch.isfinite(att).all()
    assert torch.allclose(att.flatten(1).amax(1), torch.ones(2))  # normalised peak
    assert torch.allclose(coarse.flatten(1).sum(1), torch.ones(2), atol=1e-5)  # softmax over positions
    assert torch.allclose(saliency, att * x)
    # the conv is learnable: gradients reach it
    s, _ = sal(x, fused)
    s.sum().backward()
    assert sal.conv.weight.grad is not None and sal.conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="attention map has .* non-finite"), torch.no_grad():
        sal(x, fused.clone().fill_(float("nan")))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_fusion_attention_saliency(spatial_dims):
    net = _tiny_dianet(spatial_dims)
    x = torch.rand(1, 2, *([32] * spatial_dims))
    with torch.no_grad():
        saliency, att = fusion_attention_saliency(net, x)
    assert saliency.shape == x.shape and att.shape == (1, 1, *x.shape[2:])
    assert torch.isfinite(att).all() and float(att.max()) == pytest.approx(1.0) and float(att.min()) >= 0
    with pytest.raises(ValueError):
        fusion_attention_saliency(_tiny_dianet(spatial_dims, fusion_attention=False), x)
    x[0, 0, 0, 0] = float("inf")  # NaN/inf in: raised, not passed on as a map
    with pytest.raises(ValueError, match="non-finite values"), torch.no_grad():
        fusion_attention_saliency(net, x)


@pytest.mark.parametrize(
    "spatial_dims,tasks,method",
    [
        (2, ("segmentation",), "gradcam"),
        (3, ("segmentation",), "gradcam"),
        (2, ("classification",), "gradcampp"),
        (3, ("classification",), "gradcampp"),
        (2, ("classification",), "cam"),
    ],
)
def test_cam_on_dianet(spatial_dims, tasks, method):
    net = _tiny_dianet(spatial_dims, tasks)
    x = torch.rand(2, 2, *([32] * spatial_dims))
    hooks_before = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in net.modules())
    maps = compute_cam(net, x, method=method)
    assert maps.shape == (2, 1, *x.shape[2:])
    assert torch.isfinite(maps).all() and float(maps.min()) >= 0 and float(maps.max()) <= 1
    assert not net.training  # mode preserved
    assert sum(len(m._forward_hooks) + len(m._backward_hooks) for m in net.modules()) == hooks_before
    assert default_target_layer(net) == "diffuser"


def test_cam_with_frozen_backbone_and_class_idx():
    net = _tiny_dianet(2, ("classification",), freeze="all", diffuser=False)
    assert default_target_layer(net) == "latent_head.g_mu"
    x = torch.rand(1, 2, 32, 32)
    maps = compute_cam(net, x, method="gradcam", class_idx=1)
    assert maps.shape == (1, 1, 32, 32) and torch.isfinite(maps).all()


def test_class_score_wrapper_and_plain_net():
    seg = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))
    x = torch.rand(3, 1, 16, 16)
    scores = ClassScoreWrapper(seg)(x)
    assert scores.shape == (3, 2) and torch.allclose(scores, seg(x).sum((2, 3)))
    assert default_target_layer(seg) == "0"
    maps = compute_cam(seg, x, method="gradcam")
    assert maps.shape == (3, 1, 16, 16) and torch.isfinite(maps).all()
    with pytest.raises(ValueError):
        compute_cam(seg, x, method="lime")
    with pytest.raises(ValueError):
        compute_cam(seg, x, target_layer="nope")


def test_cam_unusable_layers_and_non_finite_maps_raise_one_line_errors():
    net = _tiny_dianet(2, ("classification",))
    x = torch.rand(1, 2, 32, 32)
    hooks_before = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in net.modules())
    with pytest.raises(ValueError, match="'heads' is never called"):
        compute_cam(net, x, target_layer="heads")  # a ModuleDict container
    with pytest.raises(ValueError, match=r"'diffuser.mlp.0' outputs \(1, \d+, \d+\), not a \(B, C, \*spatial\) map"):
        compute_cam(net, x, target_layer="diffuser.mlp.0")  # token features of the transformer diffuser
    assert sum(len(m._forward_hooks) + len(m._backward_hooks) for m in net.modules()) == hooks_before
    with pytest.raises(ValueError, match="input has 1 NaN/inf"):
        compute_cam(net, x.clone().index_put_((torch.tensor(0), torch.tensor(0), torch.tensor(3), torch.tensor(4)),
                                              torch.tensor(float("nan"))))
    seg = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))
    with torch.no_grad():
        seg[2].weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite values"):
        compute_cam(seg, torch.rand(1, 1, 16, 16), class_idx=0)  # finite input, inf logits: no silent zero map
