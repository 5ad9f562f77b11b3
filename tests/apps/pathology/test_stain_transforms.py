# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""HED jitter against the stain model it perturbs, Macenko normalisation on tissue and glass patches."""

from __future__ import annotations

import numpy as np
import openslide
import pytest
import torch
from skimage.color import rgb2hed

from monai_dianet.apps.pathology import MacenkoNormalize, MacenkoNormalized, RandHEDJitter, RandHEDJitterd


@pytest.fixture(scope="module")
def patches(camelyon_slides):
    with openslide.OpenSlide(camelyon_slides[0]["slide"]) as slide:
        tissue = np.asarray(slide.read_region((1000, 1000), 0, (64, 64)).convert("RGB"))
        glass = np.asarray(slide.read_region((0, 0), 0, (64, 64)).convert("RGB"))
    return np.moveaxis(tissue, -1, 0).copy(), np.moveaxis(glass, -1, 0).copy()


def test_hed_jitter_scales_and_shifts_each_stain(patches):
    tissue = patches[0].astype(np.float32)
    identity = RandHEDJitter(prob=1.0, sigma=0.0, bias=0.0)(tissue)
    np.testing.assert_allclose(identity, tissue, atol=1e-3)  # the deconvolution round trip is exact
    jitter = RandHEDJitter(prob=1.0, sigma=0.3, bias=0.02)
    jitter.set_random_state(3)
    out = jitter(torch.as_tensor(tissue))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (3, 64, 64)
    alpha, beta = jitter._alpha, jitter._beta
    assert np.all(np.abs(alpha - 1) <= 0.3) and np.all(np.abs(beta) <= 0.02)
    # reference: scikit-image's rgb2hed, valid where it does not clamp (all stain amounts positive)
    hed_in = rgb2hed(np.moveaxis(tissue, 0, -1) / 255.0)
    hed_out = rgb2hed(np.moveaxis(out.numpy(), 0, -1) / 255.0)
    positive = (hed_in > 0.002).all(-1) & ((hed_in * alpha + beta) > 0.002).all(-1)
    unclipped = (out.numpy() > 1).all(0) & (out.numpy() < 254).all(0) & positive
    assert unclipped.mean() > 0.2
    np.testing.assert_allclose(hed_out[unclipped], (hed_in * alpha + beta)[unclipped], atol=0.01)
    skipped = RandHEDJitter(prob=0.0)(tissue)
    np.testing.assert_array_equal(skipped, tissue)


def test_hed_jitterd_same_change_for_all_keys(patches):
    t = RandHEDJitterd(["a", "b"], prob=1.0, sigma=0.2).set_random_state(0)
    out = t({"a": patches[0].astype(np.float32), "b": patches[0].astype(np.float32)})
    np.testing.assert_array_equal(out["a"], out["b"])
    assert np.abs(out["a"] - patches[0]).max() > 1


def test_macenko(patches):
    tissue, glass = patches
    normalize = MacenkoNormalize()
    out = normalize(tissue)
    assert out.shape == (3, 64, 64) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 255
    assert np.abs(out - tissue).mean() > 1  # tissue gets normalised
    np.testing.assert_array_equal(normalize(glass), glass.astype(np.float32))  # glass: no stain to estimate
    d = MacenkoNormalized("image")({"image": torch.as_tensor(tissue)})
    np.testing.assert_allclose(d["image"].numpy(), out)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        normalize(np.zeros((64, 64, 3), np.uint8))
