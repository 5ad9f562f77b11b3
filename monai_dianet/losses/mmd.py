# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Maximum mean discrepancy between source and target feature batches (DIANet paper, eq 22-23).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["MMDLoss"]


class MMDLoss(_Loss):
    r"""Multi-kernel maximum mean discrepancy (MK-MMD, Gretton et al. 2012; Long et al. 2015).

    .. math::

        \mathrm{MMD}^2_k(S, T) = \mathbb{E}_{s,s'}[k(s, s')] + \mathbb{E}_{t,t'}[k(t, t')]
            - 2\,\mathbb{E}_{s,t}[k(s, t)]

    computed for each kernel ``k_u``. ``kernel="gaussian"`` uses
    ``k_u(x, y) = exp(-||x - y||^2 / (m_u * h))`` where ``h`` is the median of the pairwise squared distances of
    the pooled batch (median heuristic, detached from the graph) unless ``bandwidth`` fixes it, and ``m_u`` are
    ``kernel_multipliers``. ``kernel="linear"`` uses ``k(x, y) = x . y``, for which the biased estimate is
    per feature ``(mean_s - mean_t)^2``; with ``reduction="sum"`` that is eq 23,
    ``L_domain = ||f_source(x_s) - f_target(x_t)||^2`` with batch means as the feature statistics.

    Reduction (the "elements" are kernels for ``gaussian`` and feature channels for ``linear``):

    - ``"none"``: ``(len(kernel_multipliers),)`` per-kernel MMD^2, or ``(C_features,)`` per-feature terms.
    - ``"sum"``: their sum (MMD^2 of the summed kernel; eq 23 for ``linear``).
    - ``"mean"``: their mean (MMD^2 of the averaged kernel).

    Hand-written here: MONAI's ``MMDMetric`` is a single fixed-kernel image metric, not a feature loss.

    Args:
        kernel: ``"gaussian"`` (multi-kernel) or ``"linear"``.
        kernel_multipliers: bandwidth multipliers ``m_u`` of the Gaussian kernels.
        bandwidth: fixed base bandwidth ``h`` (> 0); ``None`` uses the median heuristic.
        estimator: ``"biased"`` (V-statistic, always >= 0) or ``"unbiased"`` (U-statistic: within-domain sums
            exclude ``i == j``; can be slightly negative; needs >= 2 samples per domain).
        spatial: how feature maps ``(B, C, *spatial)`` become vectors: ``"pool"`` (global average, ``(B, C)``)
            or ``"flatten"`` (``(B, C * prod(spatial))``).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: for an unknown option, non-positive bandwidths, mismatched feature shapes or too few samples.

    Example::

        loss = MMDLoss()
        value = loss(torch.randn(16, 32), torch.randn(16, 32) + 1.0)
    """

    def __init__(
        self,
        kernel: str = "gaussian",
        kernel_multipliers: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
        bandwidth: float | None = None,
        estimator: str = "biased",
        spatial: str = "pool",
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if kernel not in ("gaussian", "linear"):
            raise ValueError(f"kernel must be 'gaussian' or 'linear', got {kernel!r}.")
        if estimator not in ("biased", "unbiased"):
            raise ValueError(f"estimator must be 'biased' or 'unbiased', got {estimator!r}.")
        if spatial not in ("pool", "flatten"):
            raise ValueError(f"spatial must be 'pool' or 'flatten', got {spatial!r}.")
        if len(kernel_multipliers) == 0 or any(m <= 0 for m in kernel_multipliers):
            raise ValueError(f"kernel_multipliers must be non-empty and positive, got {tuple(kernel_multipliers)}.")
        if bandwidth is not None and bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0 or None, got {bandwidth}.")
        self.kernel = kernel
        self.kernel_multipliers = tuple(float(m) for m in kernel_multipliers)
        self.bandwidth = bandwidth
        self.estimator = estimator
        self.spatial = spatial

    def _to_vectors(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if x.ndim < 2:
            raise ValueError(f"MMDLoss {name} must be (B, C) or (B, C, *spatial), got shape {tuple(x.shape)}.")
        if x.ndim > 2:
            x = x.flatten(2).mean(dim=2) if self.spatial == "pool" else x.flatten(1)
        return x.float()

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            source: source-domain features ``(B_s, C[, *spatial])``.
            target: target-domain features ``(B_t, C[, *spatial])``; same shape as ``source`` past the batch dim.

        Returns:
            the MMD^2 estimate, reduced as described in the class docstring.
        """
        if source.shape[1:] != target.shape[1:]:
            raise ValueError(
                f"MMDLoss source and target must match past the batch dim, got {tuple(source.shape)} and "
                f"{tuple(target.shape)}."
            )
        s, t = self._to_vectors(source, "source"), self._to_vectors(target, "target")
        min_samples = 2 if self.estimator == "unbiased" else 1
        if s.shape[0] < min_samples or t.shape[0] < min_samples:
            raise ValueError(
                f"MMDLoss ({self.estimator}) needs at least {min_samples} samples per domain, got "
                f"{s.shape[0]} source and {t.shape[0]} target."
            )
        values = self._linear(s, t) if self.kernel == "linear" else self._gaussian(s, t)
        if self.reduction == LossReduction.SUM.value:
            return values.sum()
        if self.reduction == LossReduction.MEAN.value:
            return values.mean()
        return values

    def _linear(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Per-feature MMD^2 of the linear kernel, shape ``(C,)``."""
        mean_s, mean_t = s.mean(0), t.mean(0)
        if self.estimator == "biased":
            return (mean_s - mean_t) ** 2
        n, m = s.shape[0], t.shape[0]
        ss = (s.sum(0) ** 2 - (s**2).sum(0)) / (n * (n - 1))
        tt = (t.sum(0) ** 2 - (t**2).sum(0)) / (m * (m - 1))
        return ss + tt - 2 * mean_s * mean_t

    def _gaussian(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Per-kernel MMD^2 of the Gaussian kernels, shape ``(U,)``."""
        n, m = s.shape[0], t.shape[0]
        joint = torch.cat([s, t], dim=0)
        sq = (joint**2).sum(1)
        d2 = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * joint @ joint.T).clamp_min(0)
        if self.bandwidth is not None:
            h = torch.as_tensor(self.bandwidth, dtype=d2.dtype, device=d2.device)
        else:
            off_diag = d2.detach()[~torch.eye(n + m, dtype=torch.bool, device=d2.device)]
            positive = off_diag[off_diag > 0]
            h = positive.median() if positive.numel() > 0 else torch.ones((), dtype=d2.dtype, device=d2.device)
        mult = torch.tensor(self.kernel_multipliers, dtype=d2.dtype, device=d2.device)
        k = torch.exp(-d2.unsqueeze(0) / (mult.view(-1, 1, 1) * h))  # (U, n + m, n + m)
        k_ss, k_tt, k_st = k[:, :n, :n], k[:, n:, n:], k[:, :n, n:]
        if self.estimator == "biased":
            return k_ss.mean((1, 2)) + k_tt.mean((1, 2)) - 2 * k_st.mean((1, 2))
        diag_s = k_ss.diagonal(dim1=1, dim2=2).sum(1)
        diag_t = k_tt.diagonal(dim1=1, dim2=2).sum(1)
        ss = (k_ss.sum((1, 2)) - diag_s) / (n * (n - 1))
        tt = (k_tt.sum((1, 2)) - diag_t) / (m * (m - 1))
        return ss + tt - 2 * k_st.mean((1, 2))
