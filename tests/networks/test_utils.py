# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the shared resize helper (monai_dianet.networks.utils.resize_to)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_dianet.networks.utils import resize_to


@pytest.mark.parametrize("spatial", [(8,), (8, 6), (8, 6, 4)])
def test_linear_matches_interpolate_and_is_identity_at_same_size(spatial):
    x = torch.rand(2, 3, *spatial)
    size = tuple(2 * s for s in spatial)
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(spatial)]
    torch.testing.assert_close(resize_to(x, size), F.interpolate(x, size=size, mode=mode, align_corners=False))
    assert resize_to(x, spatial) is x
    assert resize_to(x, spatial, mode="area") is x


def test_nearest_keeps_values():
    labels = torch.randint(0, 3, (1, 1, 4, 4)).float()
    up = resize_to(labels, (8, 8), mode="nearest")
    assert set(up.unique().tolist()) <= set(labels.unique().tolist())
    torch.testing.assert_close(up[..., ::2, ::2], labels)


def test_area_averages_when_shrinking_and_interpolates_when_growing():
    x = torch.rand(1, 2, 8, 8)
    down = resize_to(x, (4, 4), mode="area")
    torch.testing.assert_close(down, F.avg_pool2d(x, 2))
    grow = resize_to(x, (16, 8), mode="area")  # one dim grows: linear, a convex combination
    assert grow.shape == (1, 2, 16, 8) and grow.min() >= x.min() and grow.max() <= x.max()


def test_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        resize_to(torch.rand(1, 1, 4, 4), (8, 8), mode="cubic")
    with pytest.raises(ValueError, match="cannot resize"):
        resize_to(torch.rand(1, 1, 4, 4), (8, 8, 8))
    with pytest.raises(ValueError, match="cannot resize"):
        resize_to(torch.rand(1, 1, 2, 2, 2, 2), (4, 4, 4, 4))


def test_traced_sizes_stay_symbolic():
    """Under torch.jit.trace a size taken from another tensor's shape is recorded, not frozen (TorchScript export
    of DIANet runs at other input sizes)."""

    def up(x, ref):
        return resize_to(x, ref.shape[2:], mode="nearest") + resize_to(x, ref.shape[2:])

    traced = torch.jit.trace(up, (torch.rand(1, 1, 2, 2), torch.rand(1, 1, 4, 4)))
    assert traced(torch.rand(1, 1, 3, 3), torch.rand(1, 1, 6, 6)).shape == (1, 1, 6, 6)
