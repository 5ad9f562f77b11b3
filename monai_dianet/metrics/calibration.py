# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Calibration: expected calibration error (classification and per voxel), reliability data, temperature scaling.

The binning reuses MONAI's :func:`monai.metrics.calibration_binning` (MONAI >= 1.6.0), the same routine behind
:class:`monai.metrics.CalibrationErrorMetric` and the ``monai.handlers.CalibrationError`` handler. MONAI's metric
computes a *class-wise* ECE per image (each channel binned over its own pixels); for an engine that is the metric to
use. What MONAI lacks, and this module adds, is the *top-label* ECE of Guo et al. (2017) pooled over a whole data
set (confidence = max probability, correct = argmax equals the label; the usual number for classifiers and the one
temperature scaling targets), the same pooled over all voxels of a segmentation set, reliability-diagram data as
plain arrays, and temperature scaling (hand-written: MONAI has none).
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.metrics import calibration_binning

__all__ = ["expected_calibration_error", "reliability_diagram_data", "TemperatureScaling"]


def _labels_to_index(labels: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Class indices ``(B, *spatial)`` from integer labels ``(B[, 1], *spatial)`` or one-hot ``(B, C, *spatial)``."""
    if labels.shape == probs.shape and probs.shape[1] > 1:
        return labels.argmax(1)
    if labels.ndim == probs.ndim and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != probs.shape[:1] + probs.shape[2:]:
        raise ValueError(
            f"labels must be class indices (B[, 1], *spatial) or one-hot {tuple(probs.shape)}, "
            f"got {tuple(labels.shape)}."
        )
    return labels.long()


def _binned(probs: torch.Tensor, labels: torch.Tensor, mode: str, activation: str):
    """Pooled (1, K, N) confidences and 0/1 targets for calibration_binning, and the flattened shapes."""
    if probs.ndim < 2:
        raise ValueError(f"probs must have shape (B, C[, *spatial]), got {tuple(probs.shape)}.")
    p = probs.detach().float()
    if activation == "sigmoid":
        if labels.shape != probs.shape:
            raise ValueError(
                f"sigmoid mode needs binary labels of shape {tuple(probs.shape)}, got {tuple(labels.shape)}."
            )
        y = labels.detach().float()
        if mode == "top_label":
            conf = torch.where(p >= 0.5, p, 1.0 - p)  # confidence of the predicted binary label
            correct = ((p >= 0.5).float() == y).float()
            return conf.reshape(1, 1, -1), correct.reshape(1, 1, -1)
        return p.movedim(1, 0).reshape(1, p.shape[1], -1), y.movedim(1, 0).reshape(1, p.shape[1], -1)
    idx = _labels_to_index(labels.detach(), p)
    if mode == "top_label":
        conf, pred = p.max(1)
        return conf.reshape(1, 1, -1), (pred == idx).float().reshape(1, 1, -1)
    onehot = F.one_hot(idx.clamp_min(0), p.shape[1]).movedim(-1, 1).float()
    return p.movedim(1, 0).reshape(1, p.shape[1], -1), onehot.movedim(1, 0).reshape(1, p.shape[1], -1)


def _check(mode: str, activation: str, num_bins: int) -> None:
    if mode not in ("top_label", "class_wise"):
        raise ValueError(f"mode must be 'top_label' or 'class_wise', got {mode!r}.")
    if activation not in ("softmax", "sigmoid"):
        raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}.")
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}.")


def reliability_diagram_data(
    probs: torch.Tensor,
    labels: torch.Tensor,
    num_bins: int = 15,
    mode: str = "top_label",
    activation: str = "softmax",
) -> dict[str, np.ndarray | float]:
    """Per-bin confidence, accuracy and counts pooled over all cases (and voxels), plus the ECE.

    Args:
        probs: probabilities ``(B, C)`` (classification) or ``(B, C, *spatial)`` (per voxel).
        labels: class indices ``(B,)`` / ``(B[, 1], *spatial)`` or one-hot like ``probs`` (softmax); binary
            labels shaped like ``probs`` (sigmoid).
        num_bins: equal-width bins over [0, 1].
        mode: "top_label" (confidence of the predicted class vs. correctness; Guo et al.) or "class_wise"
            (every class probability vs. its one-hot target, bins pooled over classes).
        activation: "softmax" (exclusive classes) or "sigmoid" (independent binary channels).

    Returns:
        dict with ``bin_edges`` (num_bins + 1), ``bin_centers``, ``confidence`` and ``accuracy`` (NaN for empty
        bins), ``counts`` (num_bins,), and ``ece`` (float; count-weighted mean |accuracy - confidence|).

    Example:
        >>> d = reliability_diagram_data(torch.softmax(logits, 1), labels, num_bins=10)
        >>> d["ece"], d["accuracy"]
    """
    _check(mode, activation, num_bins)
    conf, target = _binned(probs, labels, mode, activation)
    mean_p, mean_gt, counts = calibration_binning(conf, target, num_bins=num_bins)
    # pool the bins of several channels (class_wise) into one diagram
    counts_all = counts.sum((0, 1))
    sum_p = torch.nan_to_num(mean_p * counts).sum((0, 1))
    sum_gt = torch.nan_to_num(mean_gt * counts).sum((0, 1))
    safe = counts_all.clamp_min(1)
    confidence = torch.where(counts_all > 0, sum_p / safe, torch.full_like(sum_p, float("nan")))
    accuracy = torch.where(counts_all > 0, sum_gt / safe, torch.full_like(sum_gt, float("nan")))
    total = float(counts_all.sum())
    ece = float(torch.nansum((accuracy - confidence).abs() * counts_all) / max(total, 1.0))
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    return {
        "bin_edges": edges,
        "bin_centers": 0.5 * (edges[1:] + edges[:-1]),
        "confidence": confidence.cpu().numpy(),
        "accuracy": accuracy.cpu().numpy(),
        "counts": counts_all.cpu().numpy(),
        "ece": ece,
    }


def expected_calibration_error(
    probs: torch.Tensor,
    labels: torch.Tensor,
    num_bins: int = 15,
    mode: str = "top_label",
    activation: str = "softmax",
) -> float:
    """Expected calibration error pooled over a data set (classification, or every voxel of a segmentation set).

    Args: see :func:`reliability_diagram_data`.

    Returns:
        ECE in [0, 1] (float).

    Example:
        >>> ece = expected_calibration_error(torch.softmax(val_logits, 1), val_labels)
    """
    return float(reliability_diagram_data(probs, labels, num_bins, mode, activation)["ece"])


class TemperatureScaling(nn.Module):
    """Post-hoc temperature scaling (Guo et al. 2017): ``calibrated_logits = logits / T`` with one scalar ``T > 0``.

    ``fit`` minimises the negative log-likelihood of validation logits over ``log T`` with L-BFGS (so ``T`` stays
    positive); the argmax is unchanged, only the confidence moves. Works for classification ``(N, C)`` and dense
    ``(N, C, *spatial)`` logits, softmax (cross-entropy) or sigmoid (binary cross-entropy).

    Args:
        temperature: initial temperature.
        activation: "softmax" or "sigmoid" (which NLL ``fit`` minimises).

    Example:
        >>> ts = TemperatureScaling().fit(val_logits, val_labels)
        >>> probs = torch.softmax(ts(test_logits), 1)
        >>> ts.save("temperature.json"); ts2 = TemperatureScaling.load("temperature.json")
    """

    def __init__(self, temperature: float = 1.0, activation: str = "softmax") -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        if activation not in ("softmax", "sigmoid"):
            raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}.")
        self.activation = activation
        self.log_temperature = nn.Parameter(torch.tensor(float(np.log(temperature))))

    @property
    def temperature(self) -> float:
        """The current scalar temperature ``T``."""
        return float(self.log_temperature.detach().exp())

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """Scale logits ``(B, C, ...)`` by ``1 / T``."""
        return logits / self.log_temperature.exp().to(logits.dtype)

    def _nll(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scaled = self(logits)
        if self.activation == "sigmoid":
            return F.binary_cross_entropy_with_logits(scaled, labels.float())
        return F.cross_entropy(scaled, _labels_to_index(labels, logits))

    def fit(
        self, logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100, lr: float = 0.1
    ) -> TemperatureScaling:
        """Fit ``T`` on validation logits by L-BFGS on the NLL.

        Args:
            logits: ``(N, C[, *spatial])`` validation logits (not probabilities).
            labels: class indices ``(N[, 1], *spatial)`` or one-hot (softmax); binary like ``logits`` (sigmoid).
            max_iter: L-BFGS iterations.
            lr: L-BFGS learning rate.

        Returns:
            self (fitted).
        """
        logits = logits.detach().float()
        labels = labels.detach()
        opt = torch.optim.LBFGS([self.log_temperature], lr=lr, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = self._nll(logits, labels)
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        return self

    def nll(self, logits: torch.Tensor, labels: torch.Tensor) -> float:
        """Negative log-likelihood of ``labels`` under the temperature-scaled ``logits``."""
        with torch.no_grad():
            return float(self._nll(logits.float(), labels))

    def save(self, path: str | os.PathLike) -> None:
        """Write ``{"temperature": T, "activation": ...}`` as JSON."""
        with open(path, "w") as f:
            json.dump({"temperature": self.temperature, "activation": self.activation}, f, indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TemperatureScaling:
        """Read a file written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            KeyError: the JSON has no "temperature".
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f"temperature file not found: {path}")
        with open(path) as f:
            data = json.load(f)
        if "temperature" not in data:
            raise KeyError(f"{path}: expected a 'temperature' entry, got keys {sorted(data)}.")
        return cls(float(data["temperature"]), data.get("activation", "softmax"))

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:.4f}, activation={self.activation!r}"

