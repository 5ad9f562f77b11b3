# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Case-level uncertainty scores of a segmentation that rank cases by their expected error.

The mean of a voxel-wise uncertainty map over the whole volume is dominated by the confident background, so it
tracks the size of the object more than the quality of its outline. The segmentation errors (and the Dice loss
they cause) sit at the predicted object's boundary and in uncertain regions outside it, so the scores here pool the
map where they are:

- ``"volume_mean"``: the mean over all voxels (the old score, for comparison);
- ``"foreground_mean"``: the mean inside the predicted foreground;
- ``"boundary_mean"``: the mean inside the band of ``band`` voxels on both sides of the predicted foreground's
  boundary (dilation minus erosion, MONAI's morphological operations);
- ``"uncertain_fraction"``: the uncertain volume relative to the predicted object, ``|U| / |F u U|`` with
  ``U = {u > threshold}`` and ``F`` the predicted foreground: near 0 for a confident object, near 1 when the
  uncertain voxels outnumber the object's (a proxy of ``1 - Dice``: errors where the voxels are uncertain).

Which one ranks the cases of a task best is chosen on validation cases by risk-coverage (the ACWI router's score
choice). Hand-written: MONAI has no case-level uncertainty reductions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from monai.transforms.utils_morphological_ops import dilate, erode

from monai_dianet.metrics.uncertainty import case_uncertainty, check_activation

__all__ = ["CASE_SCORES", "predicted_foreground", "boundary_band", "segmentation_case_scores", "SegmentationCaseScore"]

CASE_SCORES = ("volume_mean", "foreground_mean", "boundary_mean", "uncertain_fraction")


def predicted_foreground(mean: torch.Tensor, activation: str = "softmax") -> torch.Tensor:
    """Boolean ``(B, 1, *spatial)`` mask of the voxels predicted as any foreground class.

    Softmax: the argmax is not channel 0 (background); with one channel, ``p > 0.5``. Sigmoid: any channel
    ``> 0.5``.
    """
    act = check_activation(activation)
    if act == "softmax" and mean.shape[1] > 1:
        return (mean.argmax(1, keepdim=True) > 0)
    return (mean > 0.5).any(1, keepdim=True)


def boundary_band(foreground: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Voxels within ``width`` voxels of the boundary of a boolean ``(B, 1, *spatial)`` mask, on both sides.

    Dilation minus erosion with a ``(2 * width + 1)`` cube (MONAI ``dilate``/``erode``); the image border is not a
    boundary (erosion pads with foreground).

    Raises:
        ValueError: ``width < 1``.
    """
    if width < 1:
        raise ValueError(f"band width must be >= 1 voxel, got {width}.")
    m = foreground.float()
    size = 2 * int(width) + 1
    return dilate(m, size).bool() & ~erode(m, size, pad_value=1.0).bool()


def _default_threshold(uncertainty: str, channels: int, activation: str) -> float:
    """Half the largest value the map can take: entropy / mutual information ``log K`` (softmax) or ``C log 2``
    (sigmoid); variance (summed over channels) ``C / 4``."""
    if uncertainty == "variance":
        return 0.125 * channels
    return 0.5 * (math.log(channels) if activation == "softmax" else channels * math.log(2.0))


def segmentation_case_scores(
    pred: Mapping[str, torch.Tensor],
    uncertainty: str = "entropy",
    activation: str = "softmax",
    band: int = 2,
    threshold: float | None = None,
) -> dict[str, torch.Tensor]:
    """Every score of :data:`CASE_SCORES` for a batch of segmentations.

    Args:
        pred: the dict of an uncertainty inferer (or ACWI router): ``"mean"`` probabilities ``(B, C, *spatial)``
            and the ``uncertainty`` map ``(B, 1 or C, *spatial)``.
        uncertainty: key of the map to pool (``"entropy"``, ``"mutual_information"``, ``"variance"``, ...).
        activation: how ``"mean"`` was made ("softmax" or "sigmoid"): it defines the predicted foreground.
        band: half-width of the boundary band, in voxels.
        threshold: ``U = {u > threshold}`` of ``"uncertain_fraction"`` (the map summed over channels); default
            half the map's largest possible value (``log K / 2`` for a softmax entropy over K classes,
            ``C log 2 / 2`` for a sigmoid one over C channels, ``C / 8`` for the variance).

    Returns:
        ``{name: (B,) float tensor}``; an empty region scores 0 (an empty predicted foreground and an
        empty ``U`` give an uncertain fraction of 0).

    Raises:
        KeyError: ``pred`` has no ``"mean"`` or no ``uncertainty`` map.
        ValueError: the mean is not a map ``(B, C, *spatial)``.

    Example::

        out = MCDropoutInferer(num_samples=8, activation="sigmoid")(image, network)
        scores = segmentation_case_scores(out, "entropy", "sigmoid")  # scores["boundary_mean"]: (B,)
    """
    for key in ("mean", uncertainty):
        if key not in pred:
            raise KeyError(f"prediction has no {key!r} map; keys: {sorted(pred)}.")
    act = check_activation(activation)
    mean, u = pred["mean"], pred[uncertainty].float()
    if mean.ndim < 4:
        raise ValueError(f"segmentation case scores need maps (B, C, *spatial), got mean {tuple(mean.shape)}.")
    fg = predicted_foreground(mean, act)
    u1 = u.sum(1, keepdim=True)
    thr = _default_threshold(uncertainty, mean.shape[1], act) if threshold is None else float(threshold)
    uncertain = u1 > thr
    b = u.shape[0]
    union = (uncertain | fg).reshape(b, -1).sum(1).float()
    return {
        "volume_mean": case_uncertainty(u, "mean"),
        "foreground_mean": case_uncertainty(u, "mean", mask=fg),
        "boundary_mean": case_uncertainty(u, "mean", mask=boundary_band(fg, band)),
        "uncertain_fraction": uncertain.reshape(b, -1).sum(1).float() / union.clamp_min(1.0),
    }


class SegmentationCaseScore:
    """One case score of :func:`segmentation_case_scores` as a callable ``pred -> (B,)``: the ``score`` of an
    :class:`~monai_dianet.inferers.ACWIRouter`.

    Args:
        name: one of :data:`CASE_SCORES`.
        uncertainty, activation, band, threshold: see :func:`segmentation_case_scores`.

    Raises:
        ValueError: an unknown name.

    Example::

        score = SegmentationCaseScore("boundary_mean", activation="sigmoid")
        router = ACWIRouter(..., activation="sigmoid", score=score)
    """

    def __init__(
        self,
        name: str = "boundary_mean",
        uncertainty: str = "entropy",
        activation: str = "softmax",
        band: int = 2,
        threshold: float | None = None,
    ) -> None:
        if name not in CASE_SCORES:
            raise ValueError(f"case score must be one of {CASE_SCORES}, got {name!r}.")
        self.name, self.uncertainty, self.band, self.threshold = name, uncertainty, int(band), threshold
        self.activation = check_activation(activation)
        self.__name__ = f"{uncertainty}_{name}"

    def __call__(self, pred: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return segmentation_case_scores(pred, self.uncertainty, self.activation, self.band, self.threshold)[self.name]
