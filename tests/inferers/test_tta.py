# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""TTAInferer: inversion aligns the maps with the input, statistics against an explicit loop, composition."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from monai.inferers import SlidingWindowInferer
from monai.transforms import Compose, Rand2DElastic, RandFlip

from monai_dianet.inferers import ACWIRouter, TTAInferer, default_tta_transform
from monai_dianet.metrics import uncertainty_maps


class Pointwise(nn.Module):
    """Logits ``[4x, -4x]`` per voxel: equivariant to every spatial transform, so inverted predictions must match."""

    def forward(self, x):
        return torch.cat([4 * x[:, :1], -4 * x[:, :1]], 1)


def blob(spatial=(24, 20), centre=(7.0, 13.0), sigma=3.0) -> torch.Tensor:
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in spatial], indexing="ij")
    d2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
    return torch.exp(-d2 / (2 * sigma**2))[None, None] * 2 - 1  # off-centre: a misaligned map would show


def _flip_axes(transform, seed: int) -> list[int]:
    """Which axes MONAI's RandFlips of ``transform`` flip when seeded with ``seed`` (read from the transforms)."""
    transform.set_random_state(seed)
    axes = []
    for t in transform.transforms:
        t.randomize(None)
        if t._do_transform:
            axes.append(t.flipper.spatial_axis)
    return axes


@pytest.mark.parametrize("dims", [2, 3])
def test_default_augmentation_maps_are_aligned_with_the_input(dims):
    spatial, centre = ((24, 20), (7.0, 13.0)) if dims == 2 else ((16, 20, 12), (5.0, 12.0, 6.0))
    x = blob(spatial, centre)
    inferer = TTAInferer(num_augmentations=6, include_original=False, seed=1)
    with torch.no_grad():
        out = inferer(x, Pointwise())
        ref = torch.softmax(Pointwise()(x), 1)
    fg, ref_fg = out["mean"][0, 0], ref[0, 0]
    inner = tuple(slice(3, n - 3) for n in spatial)  # border padding / interpolation aside
    assert float((fg[inner] - ref_fg[inner]).abs().mean()) < 0.05
    # the foreground's centre of mass is where the input's is (within half a voxel)
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in spatial], indexing="ij")
    for g, c in zip(grids, centre):
        assert abs(float((g * fg).sum() / fg.sum()) - float((g * ref_fg).sum() / ref_fg.sum())) < 0.5
    assert float(out["mutual_information"][(0, 0) + inner].max()) > 1e-4  # affine/intensity: predictions differ


def test_flip_statistics_equal_explicit_loop_with_heteroscedastic_dianet():
    from monai_dianet.networks.nets import DIANet

    torch.manual_seed(0)
    net = DIANet(2, 1, 3, heteroscedastic=True, backbone_width=0.125, fusion_channels=8, latent_channels=8,
                 codebook_size=0, diffuser=False, decoder_channels=4).eval()
    x = torch.randn(2, 1, 32, 32)
    transform = Compose([RandFlip(prob=0.5, spatial_axis=0), RandFlip(prob=0.5, spatial_axis=1)])
    inferer = TTAInferer(transform, num_augmentations=4, seed=10)
    with torch.no_grad():
        out = inferer(x, net)
        probs, variances = [], []
        for k in [None, 0, 1, 2, 3]:  # the original, then augmentations 0..3
            dims = [] if k is None else [a + 2 for a in _flip_axes(transform, 10 + k)]
            o = net(torch.flip(x, dims) if dims else x, return_all=True)
            probs.append(torch.softmax(torch.flip(o.segmentation, dims) if dims else o.segmentation, 1))
            lv = o.aleatoric_logvar["segmentation"]
            variances.append((torch.flip(lv, dims) if dims else lv).exp())
    assert len({tuple(_flip_axes(transform, 10 + k)) for k in range(4)}) > 1  # the seeds flip differently
    ref = uncertainty_maps(torch.stack(probs))
    for key in ref:
        assert torch.allclose(out[key], ref[key], atol=1e-5), key
    assert torch.allclose(out["aleatoric"], torch.stack(variances).mean(0), atol=1e-5)
    assert inferer.total_samples == 5


def test_classification_outputs_need_no_inversion():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    x = torch.randn(3, 1, 16, 16)
    transform = Compose([RandFlip(prob=0.5, spatial_axis=0)])
    with torch.no_grad():
        out = TTAInferer(transform, num_augmentations=3, include_original=False, seed=2)(x, net)
        ref = []
        for k in range(3):
            dims = [a + 2 for a in _flip_axes(transform, 2 + k)]
            ref.append(torch.softmax(net(torch.flip(x, dims) if dims else x), 1))
    assert out["mean"].shape == (3, 3)
    assert torch.allclose(out["mean"], torch.stack(ref).mean(0), atol=1e-5)


def test_composes_with_sliding_window():
    x = torch.randn(1, 1, 12, 12)
    sw = SlidingWindowInferer(roi_size=(8, 8), sw_batch_size=2, overlap=0.5)
    transform = Compose([RandFlip(prob=0.5, spatial_axis=0), RandFlip(prob=0.5, spatial_axis=1)])
    with torch.no_grad():
        out = TTAInferer(transform, num_augmentations=3, inferer=sw, activation="sigmoid")(x, Pointwise())
        ref = sw(x, lambda z: torch.sigmoid(Pointwise()(z)))
    assert torch.allclose(out["mean"], ref, atol=1e-5)  # flips of a pointwise net invert exactly
    assert float(out["variance"].max()) < 1e-6


def test_errors():
    with pytest.raises(ValueError, match="num_augmentations"):
        TTAInferer(num_augmentations=0)
    with pytest.raises(ValueError, match="invertible"):
        TTAInferer(Compose([Rand2DElastic(spacing=4, magnitude_range=(1, 2), prob=1.0)]))


def test_batched_augmentation_equals_case_by_case():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1)).eval()
    x = torch.randn(3, 2, 16, 12)
    with torch.no_grad():
        per_case = TTAInferer(default_tta_transform(2), num_augmentations=3, seed=4)(x, net)  # given: case by case
        batched = TTAInferer(num_augmentations=3, seed=4)(x, net)  # the default transform: batched
    for key in per_case:
        assert torch.allclose(per_case[key], batched[key], atol=1e-5), key


def test_refine_path_of_the_router():
    """As ACWIRouter's slow path the TTA maps come back aligned, case by case as for the whole batch."""
    x = torch.cat([blob(), blob(centre=(15.0, 6.0))])
    tta = TTAInferer(num_augmentations=2, seed=3)
    with torch.no_grad():
        ref = tta(x, Pointwise())
        out = ACWIRouter(refine_inferer=tta, thresholds={"accept": -1.0, "review": 0.0})(x, Pointwise())
    assert out["decision"] == ["review", "review"]  # every refined score is > 0
    for key in ref:
        assert torch.allclose(out[key], ref[key], atol=1e-5), key
