# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Statistical spatial prior maps built from the training masks of a datalist (the "anatomical prior" of DIANet).

The prior map ``P_prior`` of eq 14 and of the prior KL term is the voxel-wise mean of the training masks, each
resampled to one fixed grid (normalised image coordinates, no registration), optionally Gaussian-smoothed and
floored at ``eps`` so that its logarithm is finite. Two modes:

- ``"softmax"``: mutually exclusive classes; channels are a per-voxel categorical distribution (sum to 1).
- ``"sigmoid"``: overlapping binary channels (e.g. BraTS TC/WT/ET); each channel is a Bernoulli probability.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor, load_decathlon_datalist
from monai.transforms import GaussianSmooth, MapTransform, Transform
from monai.utils import convert_to_tensor
from tqdm.auto import tqdm

from monai_dianet.networks.utils import as_prior_tensor, check_prior_mode, resize_to
from monai_dianet.transforms.io import CheckedLoadImage
from monai_dianet.utils.errors import MissingInputError

__all__ = ["finalize_prior", "build_spatial_prior", "ResampleSpatialPrior", "ResampleSpatialPriord"]

def finalize_prior(prior: torch.Tensor, mode: str, eps: float) -> torch.Tensor:
    """Floor a prior map ``(C, *spatial)`` at ``eps``: clamp to ``[eps, 1 - eps]`` (sigmoid) or clamp and
    renormalise over channels (softmax)."""
    check_prior_mode(mode)
    if mode == "sigmoid":
        return prior.clamp(eps, 1.0 - eps)
    prior = prior.clamp_min(eps)
    return prior / prior.sum(dim=0, keepdim=True)


def build_spatial_prior(
    datalist: Sequence[Mapping[str, Any]] | str | os.PathLike,
    key: str = "label",
    spatial_size: Sequence[int] = (32, 32, 32),
    transform: Callable[[Any], Any] | None = None,
    mode: str = "sigmoid",
    num_classes: int | None = None,
    smoothing_sigma: float | Sequence[float] = 0.0,
    eps: float = 1e-4,
    reader: Any = None,
    data_list_key: str = "training",
    base_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> MetaTensor:
    """Build the statistical spatial prior map from the masks of a datalist.

    Each mask is read with :class:`~monai_dianet.transforms.CheckedLoadImage` (MONAI ``LoadImage``, channel first), passed through ``transform`` (e.g.
    ``ConvertToMultiChannelBasedOnBratsClasses``), one-hot encoded in ``"softmax"`` mode when it has one
    channel of class indices, resampled to ``spatial_size`` (:func:`~monai_dianet.networks.utils.resize_to`, area
    mode) and averaged over the cases.

    Args:
        datalist: list of dicts (``{key: mask path or array}``) or the path of a decathlon-style datalist JSON.
        key: the mask key in each item.
        spatial_size: the prior map grid ``(H, W[, D])``.
        transform: callable applied to each loaded mask ``(1, *spatial)`` -> ``(C, *spatial)``.
        mode: ``"sigmoid"`` (overlapping binary channels) or ``"softmax"`` (mutually exclusive classes).
        num_classes: class count for one-hot encoding single-channel masks in ``"softmax"`` mode.
        smoothing_sigma: Gaussian smoothing sigma in prior-grid voxels (0 disables).
        eps: probability floor (see :func:`finalize_prior`).
        reader: reader passed to ``LoadImage``.
        data_list_key: section of the datalist JSON to read.
        base_dir: base directory of relative paths in the datalist JSON.
        progress: show a tqdm bar.

    Returns:
        ``MetaTensor`` ``(C, *spatial_size)`` whose ``meta`` holds ``mode``, ``spatial_size``, ``num_samples``,
        ``smoothing_sigma``, ``eps`` and ``key``.

    Raises:
        MissingInputError: when the datalist JSON or a mask file is missing (also a ``FileNotFoundError``).
        InputError: when a mask file cannot be read.
        KeyError: when an item lacks ``key``.
        ValueError: for an empty datalist, bad options, inconsistent channel counts, label values outside
            ``[0, num_classes)`` or non-binary sigmoid masks.

    Example::

        prior = build_spatial_prior("dataset.json", spatial_size=(32, 32, 32),
                                    transform=ConvertToMultiChannelBasedOnBratsClasses(), smoothing_sigma=1.0)
        save_spatial_prior(prior, "prior.pt")
    """
    check_prior_mode(mode)
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps}.")
    spatial_size = tuple(int(s) for s in spatial_size)
    if not 1 <= len(spatial_size) <= 3 or min(spatial_size) < 1:
        raise ValueError(f"spatial_size must have 1 to 3 positive entries, got {spatial_size}.")
    if isinstance(datalist, (str, os.PathLike)):
        if not os.path.isfile(datalist):
            raise MissingInputError(f"datalist file not found: {datalist}")
        datalist = load_decathlon_datalist(
            datalist, is_segmentation=True, data_list_key=data_list_key, base_dir=base_dir
        )
    if len(datalist) == 0:
        raise ValueError("build_spatial_prior: the datalist is empty.")
    loader = CheckedLoadImage(reader=reader, image_only=True, ensure_channel_first=True)
    total: torch.Tensor | None = None
    for i, item in enumerate(tqdm(datalist, desc="spatial prior", disable=not progress)):
        if key not in item:
            raise KeyError(f"datalist item {i} has no {key!r} key (keys: {sorted(item)}).")
        source = item[key]
        if isinstance(source, (str, os.PathLike)):
            if not os.path.isfile(source):
                raise MissingInputError(f"mask file not found: {source}")
            mask = loader(source)
        else:
            mask = source
        if transform is not None:
            mask = transform(mask)
        mask = convert_to_tensor(mask, track_meta=False, dtype=torch.float32)
        if mask.ndim != len(spatial_size) + 1:
            raise ValueError(
                f"mask of item {i} ({source if isinstance(source, (str, os.PathLike)) else 'array'}) has shape "
                f"{tuple(mask.shape)}; expected (C, *spatial) with {len(spatial_size)} spatial dims."
            )
        mask = _as_probabilities(mask, mode, num_classes, i)
        resampled = resize_to(mask[None], spatial_size, mode="area")[0]
        if total is None:
            total = torch.zeros_like(resampled)
        elif total.shape != resampled.shape:
            raise ValueError(f"mask of item {i} has {resampled.shape[0]} channels, earlier ones {total.shape[0]}.")
        total += resampled
    assert total is not None
    prior = total / len(datalist)
    sigma = smoothing_sigma if isinstance(smoothing_sigma, Sequence) else [smoothing_sigma]
    if any(float(s) > 0 for s in sigma):
        prior = convert_to_tensor(GaussianSmooth(sigma=smoothing_sigma)(prior), track_meta=False)
    prior = finalize_prior(prior, mode, eps)
    meta = {
        "mode": mode,
        "spatial_size": list(spatial_size),
        "num_samples": len(datalist),
        "smoothing_sigma": smoothing_sigma if isinstance(smoothing_sigma, (int, float)) else list(smoothing_sigma),
        "eps": eps,
        "key": key,
    }
    return MetaTensor(prior, meta=meta)


def _as_probabilities(mask: torch.Tensor, mode: str, num_classes: int | None, index: int) -> torch.Tensor:
    if mode == "softmax" and mask.shape[0] == 1:
        if num_classes is None:
            raise ValueError("build_spatial_prior: softmax mode with single-channel label masks needs num_classes.")
        labels = mask[0].round().long()
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(
                f"mask of item {index} has labels in [{int(labels.min())}, {int(labels.max())}], "
                f"outside [0, {num_classes})."
            )
        return F.one_hot(labels, num_classes).movedim(-1, 0).float()
    if mode == "softmax" and num_classes is not None and mask.shape[0] != num_classes:
        raise ValueError(f"mask of item {index} has {mask.shape[0]} channels, num_classes is {num_classes}.")
    if mask.min() < 0 or mask.max() > 1:
        raise ValueError(
            f"mask of item {index} has values in [{float(mask.min())}, {float(mask.max())}]; {mode} mode expects "
            "binary channels in [0, 1] (pass a transform, e.g. ConvertToMultiChannelBasedOnBratsClasses)."
        )
    return mask


class ResampleSpatialPrior(Transform):
    """Return the prior map resampled to the spatial shape of the input image.

    Useful to feed the prior as extra input channels or to keep a per-sample prior next to the image. The
    output copies the image's meta data (affine) when the image is a ``MetaTensor``.

    Args:
        prior: ``(C, *spatial)`` tensor, ``MetaTensor`` or a file written by :func:`save_spatial_prior`.

    Example::

        prior_map = ResampleSpatialPrior("prior.pt")(image)   # (C_prior, *image.shape[1:])
    """

    def __init__(self, prior: torch.Tensor | str | os.PathLike) -> None:
        self.prior, self.mode = as_prior_tensor(prior)

    def __call__(self, img: torch.Tensor | np.ndarray) -> torch.Tensor:
        """
        Args:
            img: channel-first image ``(C, *spatial)`` with the prior's number of spatial dims.

        Raises:
            ValueError: when the spatial dims of ``img`` and the prior differ in number.
        """
        if img.ndim - 1 != self.prior.ndim - 1:
            raise ValueError(
                f"image of shape {tuple(img.shape)} and prior of shape {tuple(self.prior.shape)} have different "
                "numbers of spatial dims."
            )
        out = resize_to(self.prior[None], img.shape[1:], mode="area")[0]
        if isinstance(img, MetaTensor):
            meta = {k: v for k, v in img.meta.items() if k != "affine"}
            return MetaTensor(out, affine=img.affine, meta=meta)
        return out


class ResampleSpatialPriord(MapTransform):
    """Dictionary version of :class:`ResampleSpatialPrior`: for each key writes ``d[f"{key}_{postfix}"]``.

    Args:
        keys: reference image keys.
        prior: ``(C, *spatial)`` tensor, ``MetaTensor`` or file path.
        postfix: suffix of the output key.
        allow_missing_keys: skip missing keys instead of raising.

    Example::

        ResampleSpatialPriord(keys="image", prior="prior.pt")(data)["image_prior"]
    """

    def __init__(
        self,
        keys: KeysCollection,
        prior: torch.Tensor | str | os.PathLike,
        postfix: str = "prior",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.resampler = ResampleSpatialPrior(prior)
        self.postfix = postfix

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[f"{key}_{self.postfix}"] = self.resampler(d[key])
        return d
