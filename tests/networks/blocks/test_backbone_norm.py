# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DIANet's encoder normalisation: the configured norm in every stage and block, batch size 1 at a small ROI."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from monai.networks.nets import ResNetFeatures

from monai_dianet.networks.blocks import DIANetBackbone, ResNetStages
from monai_dianet.networks.nets import DIANet

NORMS = {
    "group": (("group", {"num_groups": 4}), nn.GroupNorm),
    "instance": (("instance", {"affine": True}), nn.InstanceNorm3d),
    "instance-plain": ("instance", nn.InstanceNorm3d),  # no affine parameters: MONAI ResNet's init fails on it
    "batch": ("batch", nn.BatchNorm3d),
}
_ALL_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def _norm_types(module: nn.Module) -> set[type]:
    return {type(m) for m in module.modules() if isinstance(m, _ALL_NORMS)}


@pytest.mark.parametrize("name", ["resnet10", "resnet18", "resnet50"])
@pytest.mark.parametrize("kind", list(NORMS))
def test_every_stage_and_block_uses_the_configured_norm(name, kind):
    norm, expected = NORMS[kind]
    enc = DIANetBackbone(3, 1, name, width=0.125, norm=norm)
    for i, stage in enumerate(enc.stages):
        assert _norm_types(stage) == {expected}, f"stage {i}"
    blocks = [b for layer in enc.stages[1:] for b in layer]
    assert all(_norm_types(b) == {expected} for b in blocks)  # residual blocks and projection shortcuts
    assert _norm_types(enc) == {expected}


def test_resnet_stages_state_dict_is_monai_resnetfeatures_with_batch_norm():
    for name in ("resnet18", "resnet50"):  # zero-padded (A) and projection (B) shortcuts, basic and bottleneck
        ref = ResNetFeatures(name, pretrained=False, spatial_dims=2, in_channels=1)
        ours = ResNetStages(name, spatial_dims=2, in_channels=1, norm="batch")
        assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_dianet_default_norm_everywhere_in_3d_batch_in_2d():
    net = DIANet(3, 1, 2)
    assert net.norm == ("group", {"num_groups": 8}) and _norm_types(net) == {nn.GroupNorm, nn.LayerNorm}
    assert _norm_types(net.backbone) == {nn.GroupNorm} and _norm_types(net.fusion) == {nn.GroupNorm}
    assert _norm_types(net.decoders) == {nn.GroupNorm}
    small = DIANet(3, 1, 2, fusion_channels=8, decoder_channels=4, backbone_width=0.125)
    assert small.norm == ("group", {"num_groups": 4})  # 8 groups cannot divide decoder_channels=4
    assert DIANet(3, 1, 2, fusion_channels=8, backbone_width=0.125).norm == ("group", {"num_groups": 4})
    assert DIANet(3, 1, 2, tasks=("reconstruction",), reconstruction_channels=3).norm == ("group", {"num_groups": 1})
    assert _norm_types(DIANet(2, 1, 2).backbone) == {nn.BatchNorm2d}
    with pytest.raises(ValueError, match="decoder_channels"):
        DIANet(3, 1, 2, decoder_channels=12, norm=("group", {"num_groups": 8}))
    with pytest.raises(ValueError, match="norm='batch'"):
        DIANetBackbone(2, 1, _registry_without_norm(), norm="instance")


def _registry_without_norm() -> str:
    """Register (once) a FlexibleUNet encoder whose constructor takes no ``norm``."""
    from monai.networks.nets.flexible_unet import FLEXUNET_BACKBONE
    from monai.networks.nets.resnet import ResNetEncoder

    if "test-resnet10-no-norm" not in FLEXUNET_BACKBONE.register_dict:
        FLEXUNET_BACKBONE.register_dict["test-resnet10-no-norm"] = dict(
            FLEXUNET_BACKBONE.register_dict["resnet10"], type=ResNetEncoder
        )
    return "test-resnet10-no-norm"


def test_registry_encoder_takes_the_norm():
    enc = DIANetBackbone(2, 1, "efficientnet-b0", norm=("group", {"num_groups": 8}))
    assert _norm_types(enc) == {nn.GroupNorm}


@pytest.mark.parametrize("roi", [(32, 32, 32), (64, 32, 32)])
def test_batch_size_one_trains_at_any_roi_multiple_of_the_stride(roi):
    torch.manual_seed(0)
    net = DIANet(3, 1, 2, backbone_width=0.125, fusion_channels=16, latent_channels=8, codebook_size=4).train()
    assert net.size_divisor == 32
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(1, 1, *roi)
    y = (x > 0).float().repeat(1, 2, 1, 1, 1)
    before = [p.detach().clone() for p in net.parameters()]
    for _ in range(2):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(net(x), y)
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
    assert all(p.grad is not None for p in net.backbone.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, net.parameters()))


def test_pretrained_batch_norm_weights_and_freezing(tmp_path):
    src = DIANetBackbone(3, 1, "resnet10", width=0.25, norm="batch")
    path = tmp_path / "resnet10_bn.pt"
    torch.save(src.encoder.state_dict(), path)
    # default norm with local weights: batch norm in the backbone, as the weights were trained
    net = DIANet(3, 1, 2, backbone_width=0.25, pretrained_path=str(path), freeze=2)
    assert _norm_types(net.backbone) == {nn.BatchNorm3d}
    assert all(torch.equal(v, net.backbone.encoder.state_dict()[k]) for k, v in src.encoder.state_dict().items())
    assert all(not p.requires_grad for s in net.backbone.stages[:2] for p in s.parameters())
    with pytest.raises(ValueError, match="norm='batch'"):
        DIANetBackbone(3, 1, "resnet10", width=0.25, norm=("group", {"num_groups": 8}), pretrained_path=str(path))
    # weights of a group-norm encoder load into a group-norm encoder, and its frozen stages get no gradient
    gn = DIANetBackbone(3, 1, "resnet10", width=0.25, norm=("group", {"num_groups": 8}))
    torch.save(gn.encoder.state_dict(), path)
    frozen = DIANetBackbone(
        3, 1, "resnet10", width=0.25, norm=("group", {"num_groups": 8}), pretrained_path=str(path), freeze=3
    )
    frozen(torch.randn(1, 1, 32, 32, 32)).pop().sum().backward()
    assert all(p.grad is None for s in frozen.stages[:3] for p in s.parameters())
    assert all(p.grad is not None for p in frozen.stages[3].parameters())
