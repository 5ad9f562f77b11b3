# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Helpers shared by networks, losses, transforms and explanations: one resize function for ``(B, C, *spatial)``
maps, and reading/writing spatial prior maps (the ``P_prior`` of the DIANet paper's anatomical prior)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.utils import convert_to_tensor

from monai_dianet.utils import PriorMode

__all__ = [
    "resize_to",
    "check_prior_mode",
    "batch_prior",
    "save_spatial_prior",
    "load_spatial_prior",
    "as_prior_tensor",
]

_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}
_RESIZE_MODES = ("linear", "nearest", "area")


def resize_to(x: torch.Tensor, spatial_size: Sequence[int], mode: str = "linear") -> torch.Tensor:
    """Resize a batch of maps ``(B, C, *spatial)`` to ``(B, C, *spatial_size)``; no-op when the size matches.

    Args:
        x: 1D, 2D or 3D maps with batch and channel dims.
        spatial_size: the target spatial shape, one entry per spatial dim of ``x``.
        mode: ``"linear"`` (linear/bilinear/trilinear by dimension, ``align_corners=False``), ``"nearest"``, or
            ``"area"``: area averaging when no dimension grows (a coarse cell gets the mean of the fine voxels it
            covers), linear otherwise. Linear and area are convex combinations, so probability maps stay
            probability maps.

    Returns:
        the resized tensor (``x`` itself when the size already matches).

    Raises:
        ValueError: for an unknown mode, or when ``spatial_size`` does not have one entry per spatial dim of ``x``
            (1 to 3).

    Example::

        >>> resize_to(torch.rand(2, 3, 8, 8), (16, 16)).shape
        torch.Size([2, 3, 16, 16])
    """
    if mode not in _RESIZE_MODES:
        raise ValueError(f"mode must be one of {_RESIZE_MODES}, got {mode!r}.")
    # no int() here: under torch.jit.trace, sizes read from another tensor's shape must stay traced values, or the
    # exported network would only accept the traced input size
    size = tuple(spatial_size)
    if x.ndim - 2 != len(size) or len(size) not in _LINEAR_MODES:
        raise ValueError(f"cannot resize a tensor of shape {tuple(x.shape)} to spatial size {size}.")
    if tuple(x.shape[2:]) == size:
        return x
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    if mode == "area" and all(s <= o for s, o in zip(size, x.shape[2:])):
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=_LINEAR_MODES[len(size)], align_corners=False)


def check_prior_mode(mode: str) -> str:
    """Return ``mode`` if it is a :class:`~monai_dianet.utils.PriorMode` value; ValueError otherwise."""
    if mode not in tuple(PriorMode):
        raise ValueError(f"prior mode must be one of {[m.value for m in PriorMode]}, got {mode!r}.")
    return str(mode)


def batch_prior(prior: torch.Tensor, prediction: torch.Tensor, name: str = "prior map") -> torch.Tensor:
    """A prior map checked against a batch of predictions and made ready to combine with it.

    Args:
        prior: ``(C, *spatial)`` or ``(1 or B, C, *spatial)`` map (tensor or ``MetaTensor``); its spatial size may
            differ from the prediction's (resize it with :func:`resize_to`).
        prediction: ``(B, C, *spatial)``.
        name: what to call the map in error messages.

    Returns:
        a plain ``(1 or B, C, *spatial)`` tensor on the prediction's device, with its dtype.

    Raises:
        ValueError: the prediction has no batch and channel dims, the channel or spatial-dim counts differ, or the
            map's batch size is neither 1 nor the prediction's.
    """
    if prediction.ndim < 3:
        raise ValueError(f"prediction must be (B, C, *spatial), got shape {tuple(prediction.shape)}.")
    if isinstance(prior, MetaTensor):
        prior = prior.as_tensor()
    if prior.ndim == prediction.ndim - 1:
        prior = prior.unsqueeze(0)
    if prior.ndim != prediction.ndim or prior.shape[1] != prediction.shape[1]:
        raise ValueError(
            f"{name} of shape {tuple(prior.shape)} does not match prediction {tuple(prediction.shape)}: "
            "expected (C, *spatial) or (B, C, *spatial) with the same C and number of spatial dims."
        )
    if prior.shape[0] not in (1, prediction.shape[0]):
        raise ValueError(f"{name} batch size {prior.shape[0]} must be 1 or the prediction's {prediction.shape[0]}.")
    return prior.to(device=prediction.device, dtype=prediction.dtype)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".nii.gz", ".nii", ".npy", ".pt", ".pth"):
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"unsupported prior map file type: {path} (use .pt, .pth, .npy, .nii or .nii.gz).")


def _prior_meta(prior: torch.Tensor, mode: str | None) -> dict[str, Any]:
    meta = dict(getattr(prior, "meta", {}) or {})
    keep = ("mode", "spatial_size", "num_samples", "smoothing_sigma", "eps", "key")
    meta = {k: v for k, v in meta.items() if k in keep}
    if mode is not None:
        meta["mode"] = check_prior_mode(mode)
    meta["spatial_size"] = list(prior.shape[1:])
    meta["num_channels"] = int(prior.shape[0])
    return meta


def save_spatial_prior(prior: torch.Tensor, path: str | os.PathLike, mode: str | None = None) -> Path:
    """Save a prior map ``(C, *spatial)`` with its metadata.

    ``.pt``/``.pth``: one ``torch.save`` dict ``{"prior", "meta"}``. ``.npy`` and ``.nii``/``.nii.gz``
    (channel-last, identity affine): the array, plus the metadata in a JSON sidecar ``<path>.json``.

    Args:
        prior: the map (a tensor or the ``MetaTensor`` from
            :func:`~monai_dianet.transforms.spatial_prior.build_spatial_prior`).
        path: destination file.
        mode: overrides/sets the ``mode`` metadata (``"softmax"`` or ``"sigmoid"``).

    Returns:
        the written path.

    Raises:
        ValueError: for an unsupported suffix, a bad mode, or a map with fewer than 2 dims.
    """
    path = Path(path)
    suffix = _suffix(path)
    prior_t = convert_to_tensor(prior, track_meta=False).detach().cpu().float()
    if prior_t.ndim < 2:
        raise ValueError(f"a prior map must be (C, *spatial), got shape {tuple(prior_t.shape)}.")
    meta = _prior_meta(prior, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".pt", ".pth"):
        torch.save({"prior": prior_t, "meta": meta}, path)
        return path
    array = prior_t.numpy()
    if suffix == ".npy":
        np.save(path, array)
    else:
        nib.save(nib.Nifti1Image(np.moveaxis(array, 0, -1), affine=np.eye(4)), str(path))
    _sidecar(path).write_text(json.dumps(meta, indent=2))
    return path


def load_spatial_prior(path: str | os.PathLike) -> MetaTensor:
    """Load a prior map written by :func:`save_spatial_prior`.

    Returns:
        ``MetaTensor`` ``(C, *spatial)`` with the saved metadata in ``meta`` (``mode`` is ``None`` for an array
        file without its JSON sidecar).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: for an unsupported suffix or a ``.pt`` file without a ``"prior"`` entry.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prior map file not found: {path}")
    suffix = _suffix(path)
    if suffix in (".pt", ".pth"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, Mapping) or "prior" not in state:
            raise ValueError(f"prior map file {path} has no 'prior' entry.")
        return MetaTensor(state["prior"].float(), meta=dict(state.get("meta", {})))
    sidecar = _sidecar(path)
    meta: dict[str, Any] = json.loads(sidecar.read_text()) if sidecar.is_file() else {"mode": None}
    if suffix == ".npy":
        prior = torch.from_numpy(np.load(path)).float()
    else:
        array = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
        if "spatial_size" in meta and "num_channels" in meta:
            array = array.reshape(*meta["spatial_size"], meta["num_channels"])
        prior = torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, 0)))
    meta["spatial_size"] = list(prior.shape[1:])
    return MetaTensor(prior, meta=meta)


def as_prior_tensor(prior: torch.Tensor | str | os.PathLike) -> tuple[torch.Tensor, str | None]:
    """A plain ``(C, *spatial)`` tensor and its ``mode`` metadata from a tensor, ``MetaTensor`` or file path.

    Raises:
        ValueError: when the map has fewer than 2 dims.
    """
    if isinstance(prior, (str, os.PathLike)):
        prior = load_spatial_prior(prior)
    mode = (getattr(prior, "meta", None) or {}).get("mode")
    tensor = convert_to_tensor(prior, track_meta=False, dtype=torch.float32)
    if tensor.ndim < 2:
        raise ValueError(f"a prior map must be (C, *spatial), got shape {tuple(tensor.shape)}.")
    return tensor, mode
