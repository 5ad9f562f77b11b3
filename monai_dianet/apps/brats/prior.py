# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The TC/WT/ET spatial prior of a BraTS training list, built once per set of cases and cached."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.data import Dataset, MetaTensor

from monai_dianet.networks.utils import load_spatial_prior, save_spatial_prior
from monai_dianet.transforms.spatial_prior import build_spatial_prior

__all__ = ["brats_spatial_prior"]


def brats_spatial_prior(
    datalist: Sequence[Mapping[str, Any]],
    transform: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    cache_dir: str | os.PathLike | None = None,
    spatial_size: Sequence[int] = (32, 32, 32),
    smoothing_sigma: float = 1.0,
    eps: float = 1e-4,
    label_key: str = "label",
) -> MetaTensor:
    """The TC/WT/ET spatial prior map of a BraTS training list, built once and cached.

    Each case goes through ``transform`` (the deterministic part of the training preprocessing: load, label
    conversion, orientation, spacing, foreground crop), so the prior lives on the same normalised grid as the
    training images before random cropping; :class:`~monai_dianet.transforms.ResampleSpatialPriord` then resamples it
    to each case and the random crop/flip transforms move it with the image. The map is built with
    :func:`~monai_dianet.transforms.build_spatial_prior` (``"sigmoid"`` mode: overlapping regions) and saved as
    ``<cache_dir>/spatial_prior_<hash>.pt``, the hash covering the case ids, ``spatial_size``, ``smoothing_sigma`` and
    ``eps``, so a later run on the same cases loads it instead of reading every case again.

    Args:
        datalist: training entries (``case_id`` and ``label_key`` required).
        transform: dictionary transform giving ``{label_key: (3, *spatial)}``.
        cache_dir: where to cache the map (None: no cache).
        spatial_size: prior grid.
        smoothing_sigma: Gaussian smoothing in prior-grid voxels.
        eps: probability floor.
        label_key: key of the region masks.

    Returns:
        ``MetaTensor`` ``(3, *spatial_size)`` in ``"sigmoid"`` mode.

    Raises:
        ValueError: for an empty datalist or entries without ``case_id``.
    """
    if len(datalist) == 0:
        raise ValueError("brats_spatial_prior: the training datalist is empty.")
    ids = []
    for i, entry in enumerate(datalist):
        if "case_id" not in entry:
            raise ValueError(f"brats_spatial_prior: datalist entry {i} has no 'case_id'.")
        ids.append(str(entry["case_id"]))
    spatial_size = [int(s) for s in spatial_size]
    key = json.dumps([sorted(ids), spatial_size, float(smoothing_sigma), float(eps)])
    path = None
    if cache_dir:
        path = Path(cache_dir) / f"spatial_prior_{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt"
        if path.is_file():
            return load_spatial_prior(path)
    prior = build_spatial_prior(
        Dataset(list(datalist), transform),
        key=label_key,
        spatial_size=spatial_size,
        mode="sigmoid",
        smoothing_sigma=smoothing_sigma,
        eps=eps,
    )
    if path is not None:  # write to a private file, then rename: concurrent processes never read half a file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".pt", prefix=".spatial_prior.", dir=path.parent)
        os.close(fd)
        try:
            save_spatial_prior(prior, tmp, mode="sigmoid")
            os.chmod(tmp, 0o644)  # mkstemp creates owner-only files
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return prior
