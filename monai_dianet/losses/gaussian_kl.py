# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""KL divergence of a diagonal Gaussian latent to the standard normal (DIANet paper, eq 12-13).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["GaussianKLLoss"]


class GaussianKLLoss(_Loss):
    r"""``KL(N(mu, diag(exp(logvar))) || N(0, I))`` for the probabilistic latent ``h ~ N(mu, Sigma)``.

    Per latent element:

    .. math::

        \mathrm{KL}_j = \tfrac{1}{2}\left(e^{\ell_j} + \mu_j^2 - 1 - \ell_j\right), \qquad \ell_j = \log\sigma_j^2

    Reduction: ``"none"`` -> the element-wise map, same shape as ``mu``; ``"mean"`` -> mean over all elements
    (independent of the latent size); ``"sum"`` -> sum over all elements (the full KL of the batch).
    ``logvar`` is clamped to ``[-logvar_clamp, logvar_clamp]`` for numerical safety.

    Args:
        logvar_clamp: bound on ``|logvar|`` (> 0).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: when ``mu`` and ``logvar`` shapes differ.

    Example::

        kl = GaussianKLLoss()
        value = kl(output.mu, output.logvar)   # 0 when mu == 0 and logvar == 0
    """

    def __init__(self, logvar_clamp: float = 30.0, reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if logvar_clamp <= 0:
            raise ValueError(f"logvar_clamp must be > 0, got {logvar_clamp}.")
        self.logvar_clamp = float(logvar_clamp)

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """
        Args:
            mu: latent means, any shape, e.g. ``(B, C)`` or ``(B, C, H, W[, D])``.
            logvar: diagonal log-variances, same shape as ``mu``.

        Returns:
            the KL divergence, reduced.
        """
        if mu.shape != logvar.shape:
            raise ValueError(f"GaussianKLLoss mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must match.")
        logvar = logvar.clamp(-self.logvar_clamp, self.logvar_clamp)
        kl = 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)
        if self.reduction == LossReduction.MEAN.value:
            return kl.mean()
        if self.reduction == LossReduction.SUM.value:
            return kl.sum()
        return kl
