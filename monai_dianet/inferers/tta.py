# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Test-time augmentation (TTA) with MONAI's invertible transforms, inverted back onto the input grid.

Aleatoric uncertainty from test-time augmentation as in Wang et al., "Aleatoric uncertainty estimation with
test-time augmentation for medical image segmentation with convolutional neural networks", Neurocomputing 338 (2019),
used there for brain-tumour segmentation: each augmented copy of the input is predicted, the prediction is mapped
back through the inverse of the augmentation's spatial part, and the spread of the aligned predictions is the
uncertainty. Hand-written as an :class:`~monai.inferers.Inferer` (``monai.data.TestTimeAugmentation`` works on data
dictionaries through a ``DataLoader`` and returns mode/mean/std/volume variation, not entropy or mutual information,
and does not nest a ``SlidingWindowInferer`` or stand in an evaluator); the augmentations and their inversion are
MONAI's (``Compose``, ``RandFlip``, ``RandAffine``, ``InvertibleTransform.inverse`` through ``MetaTensor`` traces).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.transforms import (
    Compose,
    InvertibleTransform,
    RandAffine,
    RandFlip,
    Randomizable,
    RandScaleIntensity,
    RandShiftIntensity,
)

from monai_dianet.inferers.uncertainty_inferer import UncertaintyInferer

__all__ = ["TTAInferer", "default_tta_transform"]


def default_tta_transform(
    spatial_dims: int,
    flip_prob: float = 0.5,
    rotate: float = 0.1,
    scale: float = 0.05,
    intensity: float = 0.1,
) -> Compose:
    """Flips, a small affine and an intensity change: MONAI array transforms acting on one ``(C, *spatial)`` case.

    Args:
        spatial_dims: 2 or 3.
        flip_prob: probability of flipping along each spatial axis.
        rotate: rotation range in radians (about every axis in 3D).
        scale: isotropic-per-axis scale range (``1 +- scale``).
        intensity: range of the multiplicative intensity change (``1 +- intensity``) and of the additive shift
            (``+- intensity``, in the units of the normalised input).

    Returns:
        ``Compose([RandFlip per axis, RandAffine(border padding, bilinear), RandScaleIntensity, RandShiftIntensity])``.

    Raises:
        ValueError: ``spatial_dims`` not 2 or 3.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
    rotations = rotate if spatial_dims == 2 else (rotate, rotate, rotate)
    return Compose(
        [RandFlip(prob=flip_prob, spatial_axis=axis) for axis in range(spatial_dims)]
        + [
            RandAffine(prob=1.0, rotate_range=rotations, scale_range=scale, mode="bilinear", padding_mode="border"),
            RandScaleIntensity(factors=intensity, prob=1.0),
            RandShiftIntensity(offsets=intensity, prob=1.0),
        ]
    )


def _flat_transforms(transform: Any) -> list[Any]:
    return list(transform.flatten().transforms) if isinstance(transform, Compose) else [transform]


class TTAInferer(UncertaintyInferer):
    """Predict augmented copies of the input, map each prediction back onto the input grid, and reduce them.

    Augmentation ``k`` (``k = 0 .. num_augmentations - 1``) is ``transform`` with its random state set to
    ``seed + k`` (before every case, or once for the batch with ``batched``), so every case gets the same
    augmentation ``k`` and results are reproducible. Its spatial part is inverted on the prediction (logits and, for heteroscedastic heads, the
    log-variance) through MONAI's ``inverse`` and the ``MetaTensor`` trace of the augmented input, so the maps are
    aligned with the input voxel for voxel; intensity transforms need no inversion. Classification outputs
    ``(B, C)`` need none either. The maps are those of :class:`~monai_dianet.inferers.UncertaintyInferer`:
    "mean", "entropy", "variance", "mutual_information" (the augmentations' disagreement) and "aleatoric".

    Cost: ``num_augmentations`` (+1 with ``include_original``) full passes, plus the resampling of the affine.
    Interpolated logits near the field-of-view border (border padding) are less reliable than elsewhere.

    Args:
        transform: a MONAI array transform (or ``Compose``) on one ``(C, *spatial)`` case; every spatial transform
            in it must be a MONAI ``InvertibleTransform`` (``RandFlip``, ``RandAffine``, ``RandRotate``,
            ``RandZoom``, ...). ``None``: :func:`default_tta_transform` for the input's spatial dims.
        num_augmentations: augmented copies per input (>= 1).
        include_original: also predict the un-augmented input (one more prediction).
        activation: "softmax" or "sigmoid".
        inferer: optional inner inferer (e.g. ``SlidingWindowInferer``): the windows are augmented and inverted.
        seed: base random seed of the augmentations.
        task: which head of a ``DIANetOutput`` to use; default the main head.
        batched: apply each augmentation once to the whole batch seen as one ``(B * C, *spatial)`` image (the same
            parameters for every case, as case by case; much less overhead for many small cases), and invert it
            once. Right for spatial transforms and intensity changes that use no image statistics; transforms
            that do (e.g. ``RandAdjustContrast``, ``NormalizeIntensity``) need ``False`` (case by case).
            ``None``: True for the default transform, False for a given one.

    Raises:
        ValueError: ``num_augmentations < 1``, or a spatial transform that MONAI cannot invert.

    Example::

        inferer = TTAInferer(num_augmentations=4, activation="sigmoid")
        with torch.no_grad():
            out = inferer(image, network.eval())  # out["mean"] aligned with image; out["mutual_information"]
    """

    def __init__(
        self,
        transform: Callable | None = None,
        num_augmentations: int = 4,
        include_original: bool = True,
        activation: str = "softmax",
        inferer: Inferer | Callable | None = None,
        seed: int = 0,
        task: str | None = None,
        batched: bool | None = None,
    ) -> None:
        super().__init__(activation, inferer, task)
        if int(num_augmentations) < 1:
            raise ValueError(f"num_augmentations must be >= 1, got {num_augmentations}.")
        if transform is not None:
            for t in _flat_transforms(transform):
                spatial = type(t).__module__.startswith("monai.transforms.spatial")
                if spatial and not isinstance(t, InvertibleTransform):
                    raise ValueError(f"TTA spatial transforms must be invertible; {type(t).__name__} is not.")
        self.transform = transform
        self.num_augmentations = int(num_augmentations)
        self.include_original = bool(include_original)
        self.seed = int(seed)
        self.batched = batched
        self._defaults: dict[int, Compose] = {}

    @property
    def total_samples(self) -> int:
        """Predictions per input: ``num_augmentations`` (+1 with ``include_original``)."""
        return self.num_augmentations + int(self.include_original)

    def _transform_for(self, spatial_dims: int) -> Any:
        if self.transform is not None:
            return self.transform
        if spatial_dims not in self._defaults:
            self._defaults[spatial_dims] = default_tta_transform(spatial_dims)
        return self._defaults[spatial_dims]

    @staticmethod
    def _reseed(transform: Any, seed: int) -> None:
        if isinstance(transform, Randomizable):  # a Compose seeds each of its transforms from its own stream
            transform.set_random_state(seed)

    def predictions(
        self, x: torch.Tensor, network: Any, *args: Any, **kwargs: Any
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield the prediction on ``x`` (with ``include_original``) and on each augmentation, mapped back."""
        x = x.as_tensor() if isinstance(x, MetaTensor) else x
        if self.include_original:
            yield self.run(network, x, *args, **kwargs)
        transform = self._transform_for(x.ndim - 2)
        batched = self.transform is None if self.batched is None else self.batched
        # one "case" per transform call: the whole batch as one (B * C, *spatial) image, or each case
        groups = [x.reshape(1, -1, *x.shape[2:])] if batched else [case[None] for case in x]
        for k in range(self.num_augmentations):
            augmented = []
            for group in groups:
                self._reseed(transform, self.seed + k)
                augmented.append(transform(MetaTensor(group[0])))
            batch = torch.cat([a.as_tensor().reshape(-1, x.shape[1], *a.shape[1:]) for a in augmented])
            logits, logvar = self.run(network, batch.to(device=x.device, dtype=x.dtype), *args, **kwargs)
            if logits.ndim == x.ndim and isinstance(transform, (Compose, InvertibleTransform)):  # back onto x's grid
                both = logits if logvar is None else torch.cat([logits, logvar], 1)
                chunks = [both.reshape(-1, *both.shape[2:])] if batched else list(both)
                back = []
                for out, aug in zip(chunks, augmented):
                    pred = MetaTensor(out)
                    pred.applied_operations = copy.deepcopy(aug.applied_operations)
                    inverted = transform.inverse(pred)
                    back.append(inverted.as_tensor() if isinstance(inverted, MetaTensor) else inverted)
                both = torch.cat([b.reshape(-1, both.shape[1], *b.shape[1:]) for b in back])
                c = logits.shape[1]
                logits, logvar = both[:, :c], (both[:, c:] if logvar is not None else None)
            yield logits, logvar
