# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_dianet.transforms.domain_shift import RandDomainShift, RandDomainShiftd


def _ramp(shape=(1, 8, 8)) -> torch.Tensor:
    x = torch.linspace(0.0, 1.0, int(np.prod(shape)))
    return x.reshape(shape)


@pytest.mark.parametrize("shape", [(1, 16, 16), (2, 8, 8, 8)])
def test_identity_parameters_leave_image_unchanged(shape):
    x = torch.rand(shape)
    out = RandDomainShift()(x)
    assert out.shape == x.shape
    torch.testing.assert_close(torch.as_tensor(out), x)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"gamma": 2.0}, lambda x: x**2),
        ({"contrast": 0.5}, lambda x: x.mean() + 0.5 * (x - x.mean())),
        ({"scale": 2.0, "offset": -0.5}, lambda x: 2.0 * x - 0.5),
        ({"gamma": 2.0, "scale": 3.0, "offset": 1.0}, lambda x: 3.0 * x**2 + 1.0),
    ],
)
def test_fixed_parameters_known_values(kwargs, expected):
    x = _ramp()  # min 0, max 1: the gamma step is exactly x ** gamma
    out = torch.as_tensor(RandDomainShift(**kwargs)(x))
    torch.testing.assert_close(out, expected(x), rtol=1e-5, atol=1e-5)


def test_noise_has_requested_std_and_seed_is_reproducible():
    x = torch.zeros(1, 128, 128)
    a = RandDomainShift(noise_std=0.2).set_random_state(3)(x)
    b = RandDomainShift(noise_std=0.2).set_random_state(3)(x)
    c = RandDomainShift(noise_std=0.2).set_random_state(4)(x)
    assert abs(float(torch.as_tensor(a).std()) - 0.2) < 0.01
    torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b))
    assert not torch.allclose(torch.as_tensor(a), torch.as_tensor(c))


def test_ranges_are_sampled_within_bounds():
    shift = RandDomainShift(gamma=(1.5, 2.5), contrast=(0.4, 0.6), offset=(0.1, 0.2)).set_random_state(0)
    seen = []
    for _ in range(20):
        shift(torch.rand(1, 8, 8))
        p = shift.params
        assert 1.5 <= p["gamma"] <= 2.5 and 0.4 <= p["contrast"] <= 0.6 and 0.1 <= p["offset"] <= 0.2
        seen.append(p["gamma"])
    assert np.std(seen) > 0.1


@pytest.mark.parametrize("shape", [(1, 32, 32), (1, 12, 12, 12)])
def test_bias_field_is_smooth_positive_and_multiplicative(shape):
    x = torch.ones(shape)
    out = torch.as_tensor(RandDomainShift(bias_field=0.3).set_random_state(1)(x))
    assert out.shape == x.shape
    assert torch.all(out > 0)
    assert float(out.std()) > 1e-3  # not a constant factor
    # smooth: neighbouring pixels differ far less than the overall spread
    assert float((out[:, 1:] - out[:, :-1]).abs().max()) < 0.5 * float(out.max() - out.min())


def test_prob_zero_never_shifts_and_numpy_input():
    x = np.random.rand(1, 8, 8).astype(np.float32)
    out = RandDomainShift(prob=0.0, gamma=3.0, noise_std=1.0)(x)
    np.testing.assert_allclose(np.asarray(out), x)
    out = RandDomainShift(gamma=2.0)(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32


def test_dict_version_shares_parameters_and_leaves_labels():
    img = torch.rand(1, 16, 16)
    label = (torch.rand(1, 16, 16) > 0.5).float()
    shift = RandDomainShiftd(keys=("image", "image2"), gamma=(1.5, 3.0), offset=(0.0, 1.0)).set_random_state(0)
    out = shift({"image": img, "image2": img.clone(), "label": label})
    torch.testing.assert_close(torch.as_tensor(out["image"]), torch.as_tensor(out["image2"]))
    assert not torch.allclose(torch.as_tensor(out["image"]), img)
    assert torch.equal(out["label"], label)
    # reproducible through set_random_state
    again = RandDomainShiftd(keys="image", gamma=(1.5, 3.0), offset=(0.0, 1.0)).set_random_state(0)({"image": img})
    torch.testing.assert_close(torch.as_tensor(again["image"]), torch.as_tensor(out["image"]))


def test_dict_version_missing_keys():
    shift = RandDomainShiftd(keys="image", gamma=2.0, allow_missing_keys=True)
    assert set(shift({"label": torch.zeros(1, 4, 4)})) == {"label"}
    with pytest.raises(KeyError):
        RandDomainShiftd(keys="image", gamma=2.0)({"label": torch.zeros(1, 4, 4)})


@pytest.mark.parametrize(
    "kwargs",
    [{"gamma": 0.0}, {"gamma": (2.0, 1.0)}, {"contrast": -0.1}, {"noise_std": -1.0}, {"bias_field": -0.1},
     {"offset": (0.0, 1.0, 2.0)}, {"bias_field_degree": 0}],
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        RandDomainShift(**kwargs)


def test_bias_field_needs_spatial_image():
    with pytest.raises(ValueError, match="channel-first"):
        RandDomainShift(bias_field=0.2)(torch.rand(16))
