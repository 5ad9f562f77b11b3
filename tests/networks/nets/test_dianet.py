# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the DIANet network: shapes, heads, gradients, freezing, MC split, MONAI tooling, save/load."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn

from monai_dianet.inferers import MCDropoutInferer, dropout_modules, seeded_mc_dropout
from monai_dianet.networks.nets import DIANet, DIANetFeatures, DIANetOutput

TASKS = ("segmentation", "classification", "reconstruction")
ALL_TASK_SETS = [c for r in (1, 2, 3) for c in itertools.combinations(TASKS, r)]


def small_net(dims: int, in_channels: int = 3, out_channels: int = 2, **kwargs) -> DIANet:
    """A DIANet with tiny widths so that tests stay fast."""
    options = dict(
        backbone_width=0.125,
        fusion_channels=8,
        latent_channels=8,
        codebook_size=5,
        diffuser_heads=2,
        decoder_channels=4,
        reconstruction_channels=3,
    )
    options.update(kwargs)
    torch.manual_seed(0)
    return DIANet(dims, in_channels, out_channels, **options)


def _grad_norm(module: nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("tasks", ALL_TASK_SETS)
def test_output_shapes_every_head_combination(dims, tasks):
    batch, cin, cout, ncls = (2, 3, 5, 7) if dims == 2 else (1, 1, 3, 3)
    net = small_net(dims, cin, cout, tasks=tasks, num_classes=ncls, heteroscedastic=True).eval()
    size = (64, 32) if dims == 2 else (32, 32, 64)
    x = torch.randn(batch, cin, *size)
    with torch.no_grad():
        out = net(x, return_all=True)
        main = net(x)
    assert isinstance(out, DIANetOutput)
    assert torch.equal(main, getattr(out, tasks[0])) and torch.equal(main, out.main)
    expected = {
        "segmentation": (batch, cout, *size),
        "classification": (batch, ncls),
        "reconstruction": (batch, cin, *size),
    }
    for task in TASKS:
        value = getattr(out, task)
        assert (value is None) == (task not in tasks)
        if value is not None:
            assert value.shape == expected[task]
            assert out.aleatoric_logvar[task].shape == expected[task]
    assert set(out.aleatoric_logvar) == set(tasks)
    latent_size = tuple(s // 4 for s in size)
    for t in (out.mu, out.logvar, out.latent):
        assert t.shape == (batch, 8, *latent_size)
    assert out.pooled_latent.shape == (batch, 8)
    assert out.fused.shape == (batch, 8, *latent_size)
    assert out.codebook_assignment.shape == (batch, 5, *latent_size)
    assert (out.prior_logits is None) == ("segmentation" not in tasks)
    if out.prior_logits is not None:
        assert out.prior_logits.shape == (batch, cout, *latent_size)
    assert [a.shape[2:] for a in out.stage_attention] == [tuple(s // st for s in size) for st in (2, 4, 8, 16, 32)]
    assert len(out.fusion_attention) == 4 and all(a.shape[:2] == (batch, 1) for a in out.stage_attention)


@pytest.mark.parametrize("dims", [2, 3])
def test_switches_off_optional_parts(dims):
    net = small_net(
        dims, 1, 1, codebook_size=0, diffuser=False, stage_attention=False, fusion_attention=False
    ).eval()
    assert net.codebook is None and net.diffuser is None and net.stage_attention is None
    out = net(torch.randn(1, 1, *([32] * dims)), return_all=True)
    assert out.codebook_assignment is None and out.stage_attention == [] and out.fusion_attention == []
    assert out.aleatoric_logvar == {} and out.segmentation.shape == (1, 1) + (32,) * dims


def test_gradients_reach_every_part():
    net = small_net(2, 3, 2, tasks=TASKS, dropout=0.1, heteroscedastic=True).train()
    out = net(torch.randn(2, 3, 32, 32), return_all=True)
    loss = out.segmentation.mean() + out.classification.mean() + out.reconstruction.mean()
    loss = loss + out.prior_logits.mean() + sum(v.mean() for v in out.aleatoric_logvar.values())
    loss = loss + out.logvar.exp().mean() + out.mu.pow(2).mean()
    loss.backward()
    parts = {
        "backbone stem": net.backbone.encoder.conv1,
        "backbone last stage": net.backbone.encoder.layer4,
        "stage attention": net.stage_attention,
        "fusion": net.fusion,
        "g_mu": net.latent_head.g_mu,
        "g_logvar": net.latent_head.g_logvar,
        "codebook": net.codebook,
        "diffuser": net.diffuser,
        "prior head": net.prior_head,
    }
    parts.update({f"decoder {k}": v for k, v in net.decoders.items()})
    parts.update({f"head {k}": v for k, v in net.heads.items()})
    for name, module in parts.items():
        assert _grad_norm(module) > 0, name
    assert net.fusion.weights.grad is not None and net.fusion.weights.grad.abs().sum() > 0
    assert net.codebook.codes.grad.abs().sum() > 0


@pytest.mark.parametrize("freeze,frozen", [("all", 5), (2, 2), ("none", 0)])
def test_frozen_backbone_gets_no_gradient(freeze, frozen):
    net = small_net(2, 3, 2, freeze=freeze).train()
    net(torch.randn(2, 3, 32, 32)).mean().backward()
    for i, stage in enumerate(net.backbone.stages):
        grads = [p.grad for p in stage.parameters()]
        if i < frozen:
            assert all(g is None for g in grads), i
        else:
            assert all(g is not None for g in grads), i
    assert _grad_norm(net.fusion) > 0 and _grad_norm(net.heads) > 0


@pytest.mark.parametrize("dims", [2, 3])
def test_forward_equals_decode_encode_and_repeat(dims):
    net = small_net(dims, 2, 3, tasks=TASKS, dropout=0.3, heteroscedastic=True).eval()
    x = torch.randn(2, 2, *([32] * dims))
    with torch.no_grad():
        out = net(x, return_all=True)
        feats = net.encode(x)
        again = net.decode(feats)
        rep = net.decode(feats.repeat(3))
    assert isinstance(feats, DIANetFeatures)
    for task in TASKS:
        assert torch.equal(getattr(out, task), getattr(again, task))
        big = getattr(rep, task)
        assert big.shape[0] == 6
        assert torch.allclose(big[4:6], getattr(out, task), atol=1e-6)  # sample-major repetition
    assert rep.mu.shape[0] == 6 and len(rep.stage_attention) == len(out.stage_attention)


@pytest.mark.parametrize("dims,batch", [(2, 2), (3, 1)])
def test_decode_samples_equals_decode_of_repeated_features(dims, batch):
    net = small_net(dims, 2, 3, tasks=TASKS, dropout=0.3, heteroscedastic=True).eval()
    x = torch.randn(batch, 2, *([32] * dims))
    n = 4
    with torch.no_grad():
        feats = net.encode(x)
        with net.mc_dropout():
            torch.manual_seed(7)
            ref = net.decode(feats.repeat(n))
            torch.manual_seed(7)
            fast = net.decode_samples(feats, n)
        plain = net.decode_samples(feats, 1)
    for task in TASKS:
        assert getattr(fast, task).shape == getattr(ref, task).shape
        assert torch.allclose(getattr(fast, task), getattr(ref, task), atol=1e-5)
        assert torch.allclose(fast.aleatoric_logvar[task], ref.aleatoric_logvar[task], atol=1e-5)
        assert torch.allclose(getattr(plain, task), getattr(net.decode(feats), task), atol=1e-5)
    seg = fast.segmentation
    assert not torch.allclose(seg[:batch], seg[batch : 2 * batch])  # the samples differ (dropout active)
    assert fast.mu.shape[0] == n * batch and torch.equal(fast.mu, ref.mu)
    with pytest.raises(ValueError, match="num_samples"):
        net.decode_samples(feats, 0)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_mc_dropout_varies_only_with_dropout(dropout):
    net = small_net(2, 1, 2, tasks=("segmentation", "classification"), dropout=dropout).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        feats = net.encode(x)
        a, b = net.decode(feats), net.decode(feats)
        assert torch.equal(a.segmentation, b.segmentation)  # eval: deterministic
        with net.mc_dropout():
            torch.manual_seed(3)
            c = net.decode(feats.repeat(4))
        d = net.decode(feats)
    seg = c.segmentation
    varies = not torch.allclose(seg[0], seg[1]) or not torch.allclose(seg[2], seg[3])
    assert varies == (dropout > 0)
    assert torch.equal(d.segmentation, a.segmentation)  # dropout is off again after the context
    assert not any(m.training for m in net.modules())


def test_latent_sampling_on_request():
    net = small_net(2, 1, 2).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        a = net(x, return_all=True)
        torch.manual_seed(0)
        b = net(x, return_all=True, sample=True)
    assert torch.equal(a.mu, b.mu) and not torch.allclose(a.latent, b.latent)


@pytest.mark.parametrize("size", [(30, 32), (32, 48)])
def test_size_divisor_error(size):
    net = small_net(2, 1, 2)
    assert net.size_divisor == 32
    with pytest.raises(ValueError, match="multiple of 32"):
        net(torch.randn(1, 1, *size))


def test_constructor_and_input_errors():
    with pytest.raises(ValueError, match="tasks"):
        DIANet(2, 1, 2, tasks=("detection",))
    with pytest.raises(ValueError, match="tasks"):
        DIANet(2, 1, 2, tasks=())
    with pytest.raises(ValueError, match="backbone_width"):
        DIANet(2, 1, 2, backbone="efficientnet-b0", backbone_width=0.5)
    with pytest.raises(ValueError, match="input channels"):
        small_net(2, 3, 2)(torch.randn(1, 2, 32, 32))


class _UserEncoder(nn.Module):
    """A user encoder with two stages (strides 2 and 4) following the backbone protocol."""

    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList([nn.Conv2d(3, 6, 3, 2, 1), nn.Conv2d(6, 10, 3, 2, 1)])
        self.out_channels, self.strides = (6, 10), (2, 4)

    def forward(self, x):
        feats = []
        for stage in self.stages:
            x = torch.relu(stage(x))
            feats.append(x)
        return feats


def test_user_backbone_module():
    net = small_net(2, 3, 2, backbone=_UserEncoder(), backbone_width=None, tasks=TASKS, freeze=1).eval()
    assert net.size_divisor == 4
    out = net(torch.randn(2, 3, 12, 20), return_all=True)
    assert out.segmentation.shape == (2, 2, 12, 20) and out.reconstruction.shape == (2, 3, 12, 20)
    assert out.latent.shape == (2, 8, 6, 10)  # latent at the finest pyramid level (stride 2)


def test_sliding_window_inferer():
    from monai.inferers import SlidingWindowInferer

    net = small_net(3, 2, 3).eval()
    inferer = SlidingWindowInferer(roi_size=(32, 32, 32), sw_batch_size=2, overlap=0.25)
    with torch.no_grad():
        y = inferer(torch.randn(1, 2, 40, 32, 48), net)
    assert y.shape == (1, 3, 40, 32, 48)


def test_gradcam_on_named_layer():
    from monai.visualize import GradCAM

    net = small_net(2, 3, 2, tasks=("classification",), num_classes=4).eval()
    cam = GradCAM(nn_module=net, target_layers="backbone.encoder.layer3")
    x = torch.randn(1, 3, 64, 64)
    result = cam(x)
    assert result.shape == (1, 1, 64, 64)
    assert torch.isfinite(result).all()


def test_state_dict_round_trip(tmp_path):
    net = small_net(2, 3, 2, tasks=("segmentation", "classification"), num_classes=3).train()
    net(torch.randn(2, 3, 32, 32))  # updates batch-norm and codebook statistics
    path = tmp_path / "dianet.pt"
    torch.save(net.state_dict(), path)
    other = small_net(2, 3, 2, tasks=("segmentation", "classification"), num_classes=3)
    with torch.no_grad():
        other.codebook.codes.add_(1.0)
    other.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(other.codebook.usage, net.codebook.usage)
    net.eval(), other.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        a, b = net(x, return_all=True), other(x, return_all=True)
    assert torch.equal(a.segmentation, b.segmentation) and torch.equal(a.classification, b.classification)


def test_scale_weights_property():
    net = small_net(2, 1, 2)
    alpha = net.scale_weights.detach()
    assert alpha.shape == (4,) and float(alpha.min()) >= 0 and abs(float(alpha.sum()) - 1) < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_forward_backward():
    net = small_net(3, 2, 3, tasks=TASKS, dropout=0.1).cuda().train()
    out = net(torch.randn(2, 2, 32, 32, 32, device="cuda"), return_all=True)
    assert out.segmentation.is_cuda and out.segmentation.shape == (2, 3, 32, 32, 32)
    (out.segmentation.mean() + out.classification.mean() + out.reconstruction.mean()).backward()
    assert net.fusion.weights.grad is not None


# dropout placement ----------------------------------------------------------------------------------------------------

PLACEMENTS = ("head", "decoder", "all")


def placement_net(placement: str, dims: int = 2, dropout: float = 0.5, **kwargs) -> DIANet:
    return small_net(dims, 2, 3, tasks=TASKS, dropout=dropout, dropout_placement=placement, **kwargs).eval()


def _owners(net: nn.Module) -> set[str]:
    """Top-level owner of every dropout module ('heads', 'decoders', 'stage_dropout')."""
    return {name.split(".")[0] for name, m in net.named_modules() if m in dropout_modules(net)}


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_which_layers_drop(placement):
    net = placement_net(placement)
    expected = {"head": {"heads"}, "decoder": {"heads", "decoders"}, "all": {"heads", "decoders", "stage_dropout"}}
    assert _owners(net) == expected[placement]
    assert net.deterministic_encode == (placement != "all")
    # the segmentation decoder drops before each of its 2 levels, the reconstruction decoder before its 2 blocks
    per_decoder = [len(dropout_modules(d)) for d in net.decoders.values()]
    assert per_decoder == ([0, 0] if placement == "head" else [2, 2])
    x = torch.randn(1, 2, 32, 32)
    with torch.no_grad(), net.mc_dropout():
        stages = [net.backbone(x), net.backbone(x)]
        enc = [net.encode(x), net.encode(x)]
    # backbone stage outputs vary only with "all"; every stage of its chain is dropped (whole channels zeroed)
    for a, b in zip(*stages):
        assert torch.equal(a, b) == (placement != "all")
    if placement == "all":
        assert all(bool((f.flatten(2).abs().amax(2) == 0).any()) for f in stages[0])
    # encode is deterministic under mc_dropout except with "all"; the decoders run in encode only with "head"
    same = torch.equal(enc[0].latent, enc[1].latent)
    assert same == (placement != "all")
    assert set(enc[0].head_features) == ({"classification"} if placement != "head" else set(TASKS))


def test_all_placement_drops_inside_the_encoder_chain():
    """The stage after a dropped stage receives the dropped map (not a clean copy)."""
    net = placement_net("all")
    seen = {}
    handle = net.backbone.encoder.layer2.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    with torch.no_grad(), net.mc_dropout():
        feats = net.backbone(torch.randn(1, 2, 32, 32))
    handle.remove()
    assert torch.equal(seen["x"], feats[1])  # layer2's input is layer1's returned (dropped) output
    assert bool((feats[1].flatten(2).abs().amax(2) == 0).any())


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_eval_is_deterministic_without_mc_dropout(placement):
    net = placement_net(placement)
    plain = small_net(2, 2, 3, tasks=TASKS, dropout=0.0, dropout_placement=placement).eval()
    plain.load_state_dict(net.state_dict())  # dropout has no parameters: every placement shares the keys
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        a, b, ref = net(x, return_all=True), net(x, return_all=True), plain(x, return_all=True)
        with net.mc_dropout():
            c = net(x, return_all=True)
        d = net(x, return_all=True)
    for task in TASKS:
        assert torch.equal(getattr(a, task), getattr(b, task))
        assert torch.allclose(getattr(a, task), getattr(ref, task), atol=1e-6)  # eval dropout is the identity
        assert not torch.allclose(getattr(a, task), getattr(c, task))
        assert torch.equal(getattr(a, task), getattr(d, task))  # modes restored after the context
    assert not any(m.training for m in net.modules())


def test_decoder_placement_decode_samples_equals_repeated_decode():
    net = placement_net("decoder", dims=3, heteroscedastic=True)
    x = torch.randn(1, 2, 32, 32, 32)
    with torch.no_grad():
        feats = net.encode(x)
        with net.mc_dropout():
            torch.manual_seed(3)
            ref = net.decode(feats.repeat(3))
            torch.manual_seed(3)
            fast = net.decode_samples(feats, 3)
        again = net.decode(feats)
    for task in TASKS:
        assert torch.allclose(getattr(fast, task), getattr(ref, task), atol=1e-6)
        assert torch.allclose(fast.aleatoric_logvar[task], ref.aleatoric_logvar[task], atol=1e-6)
        assert torch.allclose(getattr(again, task), getattr(net(x, return_all=True), task), atol=1e-6)
    assert not torch.allclose(fast.segmentation[0], fast.segmentation[1])


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_mc_inferer_equals_explicit_seeded_passes(placement):
    """The inferer shares one encode only where the placement allows; its mean equals T explicit full passes."""
    net = placement_net(placement, dropout=0.3)
    x = torch.randn(1, 2, 32, 32)
    calls = []
    original = net.encode
    net.encode = lambda *a, **k: calls.append(1) or original(*a, **k)
    with torch.no_grad():
        out = MCDropoutInferer(num_samples=4, seed=11, sample_batch_size=2)(x, net)
        del net.encode
        probs = []
        for k in range(4):
            with seeded_mc_dropout(net, [11 + k]):
                probs.append(torch.softmax(net(x), 1))
    assert len(calls) == (1 if placement != "all" else 2)  # encoded once, or once per batched chunk of samples
    assert torch.allclose(out["mean"], torch.stack(probs).mean(0), atol=1e-5)
    assert float(out["mutual_information"].max()) > 0


class _StagelessEncoder(nn.Module):
    out_channels, strides = (4, 8), (2, 4)

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 4, 3, 2, 1), nn.Conv2d(4, 8, 3, 2, 1)

    def forward(self, x):
        f = self.a(x)
        return [f, self.b(f)]


def test_placement_errors():
    with pytest.raises(ValueError, match="dropout_placement"):
        placement_net("encoder")
    with pytest.raises(ValueError, match="stages"):
        placement_net("all", backbone=_StagelessEncoder(), backbone_width=None)
    assert placement_net("decoder", backbone=_StagelessEncoder(), backbone_width=None).deterministic_encode
