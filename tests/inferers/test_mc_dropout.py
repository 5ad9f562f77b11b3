# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import pytest
import torch
import torch.nn as nn
from monai.inferers import SlidingWindowInferer
from monai.networks.layers import Conv, Dropout, Norm

from monai_dianet.inferers import MCDropoutInferer, enable_mc_dropout, repeat_batch, seeded_mc_dropout


@dataclasses.dataclass
class _Feats:
    feat: torch.Tensor
    skip: torch.Tensor


@dataclasses.dataclass
class _Out:
    segmentation: torch.Tensor
    aleatoric_logvar: dict

    @property
    def main(self):
        return self.segmentation


class EncDecNet(nn.Module):
    """Tiny module with the DIANet encode/decode/mc_dropout protocol; dropout only in decode."""

    def __init__(self, spatial_dims=2, in_channels=1, out_channels=3, dropout=0.3, hetero=False, channel_drop=False):
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.tasks = ("segmentation",)
        self.enc = nn.Sequential(conv(in_channels, 8, 3, padding=1), Norm[Norm.BATCH, spatial_dims](8), nn.ReLU())
        self.drop = Dropout[Dropout.DROPOUT, spatial_dims if channel_drop else 1](dropout)
        self.drop2 = nn.Dropout(dropout)
        self.head = conv(16, out_channels, 1)
        self.logvar = conv(16, out_channels, 1) if hetero else None
        self.encode_calls = 0

    def encode(self, x):
        self.encode_calls += 1
        f = self.enc(x)
        return _Feats(feat=f, skip=x.mean(1, keepdim=True).expand(-1, 8, *x.shape[2:]))

    def decode(self, feats):
        h = torch.cat([self.drop(feats.feat), self.drop2(feats.skip)], 1)
        lv = {"segmentation": self.logvar(h)} if self.logvar is not None else {}
        return _Out(segmentation=self.head(h), aleatoric_logvar=lv)

    def forward(self, x, return_all=False):
        out = self.decode(self.encode(x))
        return out if return_all else out.main

    @contextmanager
    def mc_dropout(self, enabled=True):
        with enable_mc_dropout(self):
            yield self


class PlainNet(nn.Module):
    """A network without encode/decode (full-pass fallback); has batch norm to check it stays in eval."""

    def __init__(self, dropout=0.3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(dropout), nn.Conv2d(8, 2, 1)
        )

    def forward(self, x):
        return self.body(x)


def _explicit_mean(net, x, seed, n, activation="softmax", flips=((),)):
    probs = []
    k = 0
    for axes in flips:
        dims = [a + 2 for a in axes]
        for _ in range(n):
            with seeded_mc_dropout(net, [seed + k]):
                xv = torch.flip(x, dims) if dims else x
                y = net(xv)
                y = torch.flip(y, dims) if dims and y.ndim == x.ndim else y
            probs.append(torch.softmax(y, 1) if activation == "softmax" else torch.sigmoid(y))
            k += 1
    return torch.stack(probs).mean(0)


@pytest.mark.parametrize("spatial_dims,channel_drop", [(2, False), (3, False), (2, True)])
@pytest.mark.parametrize("sample_batch_size", [1, 3, 10])
def test_seeded_mean_equals_explicit_passes(spatial_dims, channel_drop, sample_batch_size):
    torch.manual_seed(0)
    net = EncDecNet(spatial_dims=spatial_dims, channel_drop=channel_drop).eval()
    x = torch.randn(2, 1, *([8] * spatial_dims))
    inferer = MCDropoutInferer(num_samples=7, sample_batch_size=sample_batch_size, seed=123)
    with torch.no_grad():
        out = inferer(x, net)
        ref = _explicit_mean(net, x, 123, 7)
    assert out["mean"].shape == (2, 3, *([8] * spatial_dims))
    assert torch.allclose(out["mean"], ref.float(), atol=1e-5)
    assert out["entropy"].shape == (2, 1, *([8] * spatial_dims))
    assert out["variance"].shape == out["mean"].shape
    assert float(out["mutual_information"].max()) > 1e-4  # dropout is on: samples disagree
    assert all(m.training is False for m in net.modules())  # nothing left in train mode


def test_encode_runs_once_per_flip_and_tta_matches_explicit():
    torch.manual_seed(1)
    net = EncDecNet().eval()
    x = torch.randn(1, 1, 8, 6)
    inferer = MCDropoutInferer(num_samples=4, sample_batch_size=3, tta_flips=[0, (0, 1)], seed=7)
    with torch.no_grad():
        out = inferer(x, net)
        assert net.encode_calls == 3
        ref = _explicit_mean(net, x, 7, 4, flips=((), (0,), (0, 1)))
    assert inferer.total_samples == 12
    assert torch.allclose(out["mean"], ref.float(), atol=1e-5)


def test_fallback_full_passes_and_batchnorm_stays_eval():
    torch.manual_seed(2)
    net = PlainNet().eval()
    x = torch.randn(2, 1, 8, 8)
    inferer = MCDropoutInferer(num_samples=5, sample_batch_size=2, seed=11)
    with torch.no_grad():
        out = inferer(x, net)
        ref = _explicit_mean(net, x, 11, 5)
    assert torch.allclose(out["mean"], ref.float(), atol=1e-5)
    bn = net.body[1]
    assert not bn.training and bn.num_batches_tracked.item() == 0


def test_unseeded_uses_global_rng_and_varies():
    net = EncDecNet().eval()
    x = torch.randn(1, 1, 8, 8)
    inferer = MCDropoutInferer(num_samples=3)
    with torch.no_grad():
        torch.manual_seed(5)
        a = inferer(x, net)["mean"]
        torch.manual_seed(5)
        b = inferer(x, net)["mean"]
        c = inferer(x, net)["mean"]
    assert torch.allclose(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_dropout_off_gives_zero_epistemic(activation):
    net = EncDecNet(dropout=0.0, hetero=True).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        out = MCDropoutInferer(num_samples=4, activation=activation, seed=0)(x, net)
        det = net(x)
    p = torch.softmax(det, 1) if activation == "softmax" else torch.sigmoid(det)
    assert torch.allclose(out["mean"], p, atol=1e-6)
    assert float(out["mutual_information"].abs().max()) < 1e-5
    assert float(out["variance"].abs().max()) < 1e-6
    assert out["aleatoric"].shape == (2, 3, 8, 8) and bool((out["aleatoric"] > 0).all())


def test_composes_with_sliding_window():
    torch.manual_seed(3)
    net = EncDecNet().eval()
    x = torch.randn(1, 1, 12, 12)
    sw = SlidingWindowInferer(roi_size=(8, 8), sw_batch_size=2, overlap=0.5)
    with torch.no_grad():
        out = MCDropoutInferer(num_samples=3, inferer=sw, seed=0)(x, net)
        # with dropout off the stitched mean must equal the sliding-window softmax of the plain net
        net0 = EncDecNet(dropout=0.0).eval()
        net0.load_state_dict(net.state_dict())
        out0 = MCDropoutInferer(num_samples=2, inferer=sw, seed=0)(x, net0)
        ref0 = sw(x, lambda z: torch.softmax(net0(z), 1))
    assert out["mean"].shape == (1, 3, 12, 12) and out["entropy"].shape == (1, 1, 12, 12)
    assert all(torch.isfinite(v).all() for v in out.values())
    sums = out["mean"].sum(1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
    assert torch.allclose(out0["mean"], ref0, atol=1e-5)
    assert float(out0["variance"].max()) < 1e-6


def test_repeat_batch_and_errors():
    f = _Feats(feat=torch.arange(4.0).reshape(2, 2), skip=torch.zeros(2, 1))
    r = repeat_batch({"a": f, "b": [torch.ones(2, 3)], "c": None}, 3)
    assert r["a"].feat.shape == (6, 2) and torch.equal(r["a"].feat[2:4], f.feat)
    assert r["b"][0].shape == (6, 3) and r["c"] is None
    with pytest.raises(ValueError):
        MCDropoutInferer(num_samples=0)
    with pytest.raises(ValueError):
        MCDropoutInferer(activation="relu")
    with pytest.raises(ValueError):
        MCDropoutInferer(tta_flips=[-1])
    with pytest.raises(ValueError):
        with seeded_mc_dropout(nn.Sequential(nn.AlphaDropout(0.1)), [0]):
            pass


@pytest.mark.parametrize(
    "spatial_dims,tasks,flips",
    [(2, ("segmentation",), [0]), (3, ("segmentation",), None), (2, ("classification",), [1])],
)
def test_real_dianet_seeded_mean_and_maps(spatial_dims, tasks, flips):
    from monai_dianet.networks.nets import DIANet

    torch.manual_seed(0)
    net = DIANet(
        spatial_dims, 1, 3, tasks=tasks, dropout=0.3, heteroscedastic=True, fusion_channels=8, latent_channels=8,
        codebook_size=4, decoder_channels=8,
    ).eval()
    x = torch.randn(1, 1, *([32] * spatial_dims))
    inferer = MCDropoutInferer(num_samples=3, sample_batch_size=2, seed=5, tta_flips=flips)
    with torch.no_grad():
        out = inferer(x, net)
        ref = _explicit_mean(net, x, 5, 3, flips=[()] + [(a,) for a in flips or []])
    out_shape = (1, 3) if tasks == ("classification",) else (1, 3, *([32] * spatial_dims))
    assert out["mean"].shape == out_shape and out["aleatoric"].shape == out_shape
    assert out["entropy"].shape == (1, 1, *out_shape[2:])
    assert torch.allclose(out["mean"], ref.float(), atol=1e-5)
    assert all(bool(torch.isfinite(v).all()) for v in out.values())
    assert float(out["mutual_information"].max()) > 0


class _DecodeOnly(nn.Module):
    """A DIANet seen without ``decode_samples``: the inferer repeats the features and calls ``decode``."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.tasks = net.tasks

    def encode(self, x):
        return self.net.encode(x)

    def decode(self, features):
        return self.net.decode(features)

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_folded_decode_samples_path_equals_repeated_decode_path(activation):
    from monai_dianet.networks.nets import DIANet

    torch.manual_seed(0)
    net = DIANet(
        3, 1, 3, dropout=0.3, heteroscedastic=True, fusion_channels=8, latent_channels=8, codebook_size=4,
        decoder_channels=8,
    ).eval()
    calls = []
    original = net.decode_samples
    net.decode_samples = lambda feats, n: calls.append(n) or original(feats, n)
    x = torch.randn(1, 1, 32, 32, 32)
    inferer = MCDropoutInferer(num_samples=5, activation=activation, seed=3, tta_flips=[1])
    with torch.no_grad():
        fast = inferer(x, net)
        slow = inferer(x, _DecodeOnly(net))
    assert sum(calls) == inferer.total_samples  # the folded path was taken for every sample
    assert set(fast) == set(slow) == {"mean", "entropy", "variance", "mutual_information", "aleatoric"}
    for key in fast:
        assert torch.allclose(fast[key], slow[key], atol=1e-5), key
    assert float(fast["mutual_information"].max()) > 0
