"""Statistical spatial prior maps built from the training masks of a datalist (seed 000, "anatomical prior").

The prior map ``P_prior`` of eq 14 and of the prior KL term is the voxel-wise mean of the training masks, each
resampled to one fixed grid (normalised image coordinates, no registration), optionally Gaussian-smoothed and
floored at ``eps`` so that its logarithm is finite. Two modes:

- ``"softmax"``: mutually exclusive classes; channels are a per-voxel categorical distribution (sum to 1).
- ``"sigmoid"``: overlapping binary channels (e.g. BraTS TC/WT/ET); each channel is a Bernoulli probability.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor, load_decathlon_datalist
from monai.transforms import GaussianSmooth, LoadImage, MapTransform, Transform
from monai.utils import convert_to_tensor
from tqdm.auto import tqdm

__all__ = [
    "PRIOR_MODES",
    "resample_to",
    "finalize_prior",
    "as_prior_tensor",
    "build_spatial_prior",
    "save_spatial_prior",
    "load_spatial_prior",
    "ResampleSpatialPrior",
    "ResampleSpatialPriord",
]

PRIOR_MODES = ("softmax", "sigmoid")
_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def resample_to(x: torch.Tensor, spatial_size: Sequence[int]) -> torch.Tensor:
    """Resample a batch of maps ``(B, C, *spatial)`` to ``(B, C, *spatial_size)``.

    Area averaging when no dimension grows (a coarse cell gets the mean of the fine voxels it covers), linear
    interpolation otherwise. Both are convex combinations, so probability maps stay probability maps.

    Raises:
        ValueError: when ``spatial_size`` does not have one entry per spatial dimension of ``x`` (1 to 3).
    """
    spatial_size = tuple(int(s) for s in spatial_size)
    if x.ndim - 2 != len(spatial_size) or len(spatial_size) not in _LINEAR_MODES:
        raise ValueError(f"cannot resample a tensor of shape {tuple(x.shape)} to spatial size {spatial_size}.")
    if tuple(x.shape[2:]) == spatial_size:
        return x
    if all(s <= o for s, o in zip(spatial_size, x.shape[2:])):
        return F.interpolate(x, size=spatial_size, mode="area")
    return F.interpolate(x, size=spatial_size, mode=_LINEAR_MODES[len(spatial_size)], align_corners=False)


def _check_mode(mode: str) -> None:
    if mode not in PRIOR_MODES:
        raise ValueError(f"prior mode must be one of {PRIOR_MODES}, got {mode!r}.")


def finalize_prior(prior: torch.Tensor, mode: str, eps: float) -> torch.Tensor:
    """Floor a prior map ``(C, *spatial)`` at ``eps``: clamp to ``[eps, 1 - eps]`` (sigmoid) or clamp and
    renormalise over channels (softmax)."""
    _check_mode(mode)
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

    Each mask is read with MONAI ``LoadImage`` (channel first), passed through ``transform`` (e.g.
    ``ConvertToMultiChannelBasedOnBratsClasses``), one-hot encoded in ``"softmax"`` mode when it has one
    channel of class indices, resampled to ``spatial_size`` (:func:`resample_to`) and averaged over the cases.

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
        FileNotFoundError: when the datalist JSON or a mask file is missing.
        KeyError: when an item lacks ``key``.
        ValueError: for an empty datalist, bad options, inconsistent channel counts, label values outside
            ``[0, num_classes)`` or non-binary sigmoid masks.

    Example::

        prior = build_spatial_prior("dataset.json", spatial_size=(32, 32, 32),
                                    transform=ConvertToMultiChannelBasedOnBratsClasses(), smoothing_sigma=1.0)
        save_spatial_prior(prior, "prior.pt")
    """
    _check_mode(mode)
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps}.")
    spatial_size = tuple(int(s) for s in spatial_size)
    if not 1 <= len(spatial_size) <= 3 or min(spatial_size) < 1:
        raise ValueError(f"spatial_size must have 1 to 3 positive entries, got {spatial_size}.")
    if isinstance(datalist, (str, os.PathLike)):
        if not os.path.isfile(datalist):
            raise FileNotFoundError(f"datalist file not found: {datalist}")
        datalist = load_decathlon_datalist(
            datalist, is_segmentation=True, data_list_key=data_list_key, base_dir=base_dir
        )
    if len(datalist) == 0:
        raise ValueError("build_spatial_prior: the datalist is empty.")
    loader = LoadImage(reader=reader, image_only=True, ensure_channel_first=True)
    total: torch.Tensor | None = None
    for i, item in enumerate(tqdm(datalist, desc="spatial prior", disable=not progress)):
        if key not in item:
            raise KeyError(f"datalist item {i} has no {key!r} key (keys: {sorted(item)}).")
        source = item[key]
        if isinstance(source, (str, os.PathLike)):
            if not os.path.isfile(source):
                raise FileNotFoundError(f"mask file not found: {source}")
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
        resampled = resample_to(mask[None], spatial_size)[0]
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
        _check_mode(mode)
        meta["mode"] = mode
    meta["spatial_size"] = list(prior.shape[1:])
    meta["num_channels"] = int(prior.shape[0])
    return meta


def save_spatial_prior(prior: torch.Tensor, path: str | os.PathLike, mode: str | None = None) -> Path:
    """Save a prior map ``(C, *spatial)`` with its metadata.

    ``.pt``/``.pth``: one ``torch.save`` dict ``{"prior", "meta"}``. ``.npy`` and ``.nii``/``.nii.gz``
    (channel-last, identity affine): the array, plus the metadata in a JSON sidecar ``<path>.json``.

    Args:
        prior: the map (a tensor or the ``MetaTensor`` from :func:`build_spatial_prior`).
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
    """A plain ``(C, *spatial)`` tensor and its ``mode`` metadata from a tensor, ``MetaTensor`` or file path."""
    if isinstance(prior, (str, os.PathLike)):
        prior = load_spatial_prior(prior)
    mode = (getattr(prior, "meta", None) or {}).get("mode")
    tensor = convert_to_tensor(prior, track_meta=False, dtype=torch.float32)
    if tensor.ndim < 2:
        raise ValueError(f"a prior map must be (C, *spatial), got shape {tuple(tensor.shape)}.")
    return tensor, mode


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
        out = resample_to(self.prior[None], img.shape[1:])[0]
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
