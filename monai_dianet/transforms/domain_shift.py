# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Scanner-like intensity domain shift (gamma, contrast, bias field, scale/offset, noise) as a MONAI transform.

Used to build a *target domain* from source images: the same anatomy, seen by a "different scanner" whose
intensity response, contrast, coil sensitivity (bias field) and noise level differ. The DIANet paper motivates
domain adaptation (eq 22-26) by exactly this kind of acquisition shift.

The bias field reuses MONAI's :class:`monai.transforms.RandBiasField` (Legendre polynomial field); the other
steps are a few lines of tensor arithmetic written here (MONAI has no single transform that chains them).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import MapTransform, RandBiasField, RandomizableTransform
from monai.utils import convert_to_dst_type, convert_to_tensor

__all__ = ["RandDomainShift", "RandDomainShiftd", "RandDomainShiftD", "RandDomainShiftDict"]


def _as_range(value: float | Sequence[float], name: str, minimum: float | None = None) -> tuple[float, float]:
    """Turn a number or a ``(low, high)`` pair into a checked ``(low, high)`` range."""
    if isinstance(value, (int, float)):
        low = high = float(value)
    else:
        value = tuple(value)
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value}.")
        low, high = float(value[0]), float(value[1])
    if low > high:
        raise ValueError(f"{name} range must have low <= high, got ({low}, {high}).")
    if minimum is not None and low < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got ({low}, {high}).")
    return low, high


class RandDomainShift(RandomizableTransform):
    """Apply a random scanner-like intensity shift to a channel-first image ``(C, H, W[, D])``.

    In order, with parameters drawn once per call (shared by all channels):

    1. gamma: ``x <- min + range * ((x - min) / range) ** gamma`` (per image min/max, like MONAI's
       ``AdjustContrast``);
    2. contrast: ``x <- mean + contrast * (x - mean)`` (per image mean);
    3. bias field: ``x <- x * exp(field)``, a smooth Legendre-polynomial field of degree
       ``bias_field_degree`` whose coefficients are drawn from ``(-bias_field, bias_field)``
       (MONAI ``RandBiasField``);
    4. scale and offset: ``x <- scale * x + offset``;
    5. noise: ``x <- x + N(0, noise_std ** 2)`` per voxel.

    Every parameter is a number (fixed) or a ``(low, high)`` range sampled uniformly per call, so a fixed
    "target scanner" is ``RandDomainShift(gamma=2.0, contrast=0.6, ...)`` and a family of scanners is
    ``RandDomainShift(gamma=(1.5, 2.5), ...)``.

    Args:
        prob: probability of applying the shift.
        gamma: gamma exponent (> 0); 1 leaves the image unchanged.
        contrast: contrast factor around the mean (>= 0); 1 leaves the image unchanged.
        scale: global intensity scale; 1 leaves the image unchanged.
        offset: global intensity offset; 0 leaves the image unchanged.
        bias_field: magnitude bound of the bias-field coefficients (>= 0); 0 disables the field.
        bias_field_degree: polynomial degree of the bias field (>= 1).
        noise_std: standard deviation of the additive Gaussian noise (>= 0).

    Raises:
        ValueError: for a malformed range, a non-positive gamma, a negative contrast/bias/noise, or an
            input that is not channel-first 2D/3D when a bias field is requested.

    Example::

        shift = RandDomainShift(gamma=2.0, contrast=0.6, offset=0.3, noise_std=0.1)
        shift.set_random_state(0)
        target_like = shift(torch.rand(1, 64, 64))
    """

    backend = RandBiasField.backend

    def __init__(
        self,
        prob: float = 1.0,
        gamma: float | Sequence[float] = 1.0,
        contrast: float | Sequence[float] = 1.0,
        scale: float | Sequence[float] = 1.0,
        offset: float | Sequence[float] = 0.0,
        bias_field: float | Sequence[float] = 0.0,
        bias_field_degree: int = 3,
        noise_std: float | Sequence[float] = 0.0,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.gamma = _as_range(gamma, "gamma", minimum=0.0)
        if self.gamma[0] <= 0:
            raise ValueError(f"gamma must be > 0, got {self.gamma}.")
        self.contrast = _as_range(contrast, "contrast", minimum=0.0)
        self.scale = _as_range(scale, "scale")
        self.offset = _as_range(offset, "offset")
        self.bias_field = _as_range(bias_field, "bias_field", minimum=0.0)
        self.noise_std = _as_range(noise_std, "noise_std", minimum=0.0)
        if bias_field_degree < 1:
            raise ValueError(f"bias_field_degree must be >= 1, got {bias_field_degree}.")
        self._bias = RandBiasField(degree=bias_field_degree, coeff_range=(-1.0, 1.0), prob=1.0)
        self._params: dict[str, float] = {}

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandDomainShift:
        super().set_random_state(seed, state)
        self._bias.set_random_state(state=self.R)
        return self

    def randomize(self, data: NdarrayOrTensor | None = None) -> None:
        """Draw whether to apply the shift and, if so, its parameters (and the bias field for ``data``)."""
        super().randomize(None)
        if not self._do_transform:
            return
        self._params = {
            name: float(self.R.uniform(*getattr(self, name)))
            for name in ("gamma", "contrast", "scale", "offset", "bias_field", "noise_std")
        }
        bound = self._params["bias_field"]
        if bound > 0:
            if data is None or data.ndim not in (3, 4):
                shape = None if data is None else tuple(data.shape)
                raise ValueError(f"a bias field needs a channel-first 2D/3D image (C, H, W[, D]), got {shape}.")
            self._bias.coeff_range = (-bound, bound)
            self._bias.randomize(img_size=data.shape[1:])

    @property
    def params(self) -> dict[str, float]:
        """The parameters drawn by the last :meth:`randomize` (empty before the first draw)."""
        return dict(self._params)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Shift ``img`` (channel-first); returns a float tensor (MetaTensor when tracking meta) of the same shape."""
        if randomize:
            self.randomize(img)
        if not self._do_transform:
            return convert_to_tensor(img, track_meta=get_track_meta())
        if not self._params:
            raise ValueError("RandDomainShift was called with randomize=False before any randomize().")
        p = self._params
        x = convert_to_tensor(img, track_meta=False, dtype=torch.float32)
        if p["gamma"] != 1.0:
            low, high = x.min(), x.max()
            span = (high - low).clamp_min(1e-8)
            x = ((x - low) / span).clamp(0, 1) ** p["gamma"] * span + low
        if p["contrast"] != 1.0:
            mean = x.mean()
            x = mean + p["contrast"] * (x - mean)
        if p["bias_field"] > 0:
            x = convert_to_tensor(self._bias(x, randomize=False), track_meta=False, dtype=torch.float32)
        x = p["scale"] * x + p["offset"]
        if p["noise_std"] > 0:
            noise = self.R.standard_normal(tuple(x.shape)).astype(np.float32)
            x = x + p["noise_std"] * torch.as_tensor(noise, device=x.device)
        out, *_ = convert_to_dst_type(x, dst=convert_to_tensor(img, track_meta=get_track_meta()))
        return out


class RandDomainShiftd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandDomainShift`: one draw of the shift parameters per call, applied to
    every key in ``keys`` (each key gets its own noise).

    Args:
        keys: keys of the images to shift (not the labels).
        prob, gamma, contrast, scale, offset, bias_field, bias_field_degree, noise_std: see
            :class:`RandDomainShift`.
        allow_missing_keys: don't raise an exception if a key is missing.

    Example::

        shift = RandDomainShiftd(keys="image", gamma=2.0, contrast=0.6, noise_std=0.1)
        out = shift({"image": torch.rand(1, 32, 32), "label": torch.zeros(1, 32, 32)})
    """

    backend = RandDomainShift.backend

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 1.0,
        gamma: float | Sequence[float] = 1.0,
        contrast: float | Sequence[float] = 1.0,
        scale: float | Sequence[float] = 1.0,
        offset: float | Sequence[float] = 0.0,
        bias_field: float | Sequence[float] = 0.0,
        bias_field_degree: int = 3,
        noise_std: float | Sequence[float] = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.shift = RandDomainShift(
            prob=1.0,
            gamma=gamma,
            contrast=contrast,
            scale=scale,
            offset=offset,
            bias_field=bias_field,
            bias_field_degree=bias_field_degree,
            noise_std=noise_std,
        )

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandDomainShiftd:
        super().set_random_state(seed, state)
        self.shift.set_random_state(state=self.R)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        first_key = self.first_key(d)
        if first_key == ():
            return d
        if not self._do_transform:
            for key in self.key_iterator(d):
                d[key] = convert_to_tensor(d[key], track_meta=get_track_meta())
            return d
        self.shift.randomize(d[first_key])
        for key in self.key_iterator(d):
            d[key] = self.shift(d[key], randomize=False)
        return d


RandDomainShiftD = RandDomainShiftDict = RandDomainShiftd
