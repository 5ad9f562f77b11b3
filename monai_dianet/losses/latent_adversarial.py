# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Adversarial-autoencoder regulariser matching the latent distribution to a prior (DIANet paper, eq 15).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch import nn
from torch.nn.modules.loss import _Loss

from monai_dianet.networks.blocks.discriminator import LatentDiscriminator

__all__ = ["LatentAdversarialLoss"]


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients from accumulating in ``module``'s parameters (they still flow through it)."""
    flags = [p.requires_grad for p in module.parameters()]
    try:
        for p in module.parameters():
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class LatentAdversarialLoss(_Loss):
    r"""Adversarial latent regularisation (Makhzani et al. 2016), eq 15.

    A discriminator ``D`` scores latent vectors with the logit of "drawn from the prior ``p_prior = N(0, I)``".
    Eq 15 is the discriminator's objective (written there with ``D`` scoring "from the data"; here
    ``D := 1 - D_{eq 15}``, the usual AAE convention):

    .. math::

        \mathcal{L}_D = -\mathbb{E}_{z \sim p_{\text{prior}}}[\log D(z)]
            - \mathbb{E}_{h \sim q(h|x)}[\log(1 - D(h))]

    and the encoder (generator) minimises the non-saturating term
    :math:`\mathcal{L}_G = -\mathbb{E}_{h \sim q(h|x)}[\log D(h)]`, pushing encoded latents towards the prior.

    Spatial latents ``(B, C, *spatial)`` are treated as ``B * prod(spatial)`` vectors of size ``C`` (each
    position of DIANet's latent map is one draw of ``h``); ``max_vectors`` randomly subsamples them.

    :meth:`discriminator_loss` detaches the latents (train ``D`` with its own optimiser);
    :meth:`generator_loss` lets gradients flow through ``D`` into the latents without accumulating them in
    ``D``'s parameters. ``forward(latent)`` is the generator term. ``D`` follows the latents' device: it is
    moved on first use (e.g. when the loss sits in a trainer that moves only the network), so create its
    optimiser after moving the loss, or before any optimiser step.

    Reduction over the per-vector BCE terms: ``"none"`` -> ``(N,)`` (discriminator: prior terms then
    latent terms); ``"mean"`` -> mean (discriminator: mean over prior + mean over latents); ``"sum"`` -> sum.

    Args:
        latent_channels: latent size ``C``; builds a :class:`LatentDiscriminator` when ``discriminator`` is None.
        discriminator: module mapping ``(N, C)`` vectors to ``(N, 1)`` logits.
        hidden_features: hidden widths of the default discriminator.
        prior_sampler: ``(n, C, device, dtype) -> (n, C)`` samples; default standard normal.
        max_vectors: cap on the latent vectors used per call (``None``: all).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: when neither ``latent_channels`` nor ``discriminator`` is given, or for a bad latent shape.

    Example::

        adv = LatentAdversarialLoss(latent_channels=32)
        d_opt = torch.optim.Adam(adv.discriminator.parameters(), 1e-4)
        d_loss = adv.discriminator_loss(output.latent); d_opt.zero_grad(); d_loss.backward(); d_opt.step()
        total = task_loss + 0.01 * adv.generator_loss(output.latent)
    """

    def __init__(
        self,
        latent_channels: int | None = None,
        discriminator: nn.Module | None = None,
        hidden_features: Sequence[int] = (64, 64),
        prior_sampler: Callable[[int, int, torch.device, torch.dtype], torch.Tensor] | None = None,
        max_vectors: int | None = 4096,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if discriminator is None:
            if latent_channels is None:
                raise ValueError("LatentAdversarialLoss needs `latent_channels` or a `discriminator` module.")
            discriminator = LatentDiscriminator(latent_channels, hidden_features=hidden_features)
        if max_vectors is not None and max_vectors < 1:
            raise ValueError(f"max_vectors must be >= 1 or None, got {max_vectors}.")
        self.discriminator = discriminator
        self.prior_sampler = prior_sampler
        self.max_vectors = max_vectors

    def latent_vectors(self, latent: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` or ``(B, C, *spatial)`` -> ``(N, C)`` vectors (subsampled to ``max_vectors``)."""
        if latent.ndim < 2:
            raise ValueError(f"latent must be (B, C) or (B, C, *spatial), got shape {tuple(latent.shape)}.")
        vectors = latent.movedim(1, -1).reshape(-1, latent.shape[1]) if latent.ndim > 2 else latent
        if self.max_vectors is not None and vectors.shape[0] > self.max_vectors:
            index = torch.randperm(vectors.shape[0], device=vectors.device)[: self.max_vectors]
            vectors = vectors[index]
        return vectors

    def _follow_device(self, x: torch.Tensor) -> None:
        param = next(self.discriminator.parameters(), None)
        if param is not None and param.device != x.device:
            self.discriminator.to(x.device)

    def sample_prior(self, n: int, channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``n`` samples from the latent prior, ``(n, channels)``."""
        if self.prior_sampler is not None:
            return self.prior_sampler(n, channels, device, dtype)
        return torch.randn(n, channels, device=device, dtype=dtype)

    def _reduce(self, *terms: torch.Tensor) -> torch.Tensor:
        if self.reduction == LossReduction.MEAN.value:
            return torch.stack([t.mean() for t in terms]).sum()
        if self.reduction == LossReduction.SUM.value:
            return torch.stack([t.sum() for t in terms]).sum()
        return torch.cat(terms)

    def _logits(self, vectors: torch.Tensor) -> torch.Tensor:
        logits = self.discriminator(vectors)
        return logits.reshape(vectors.shape[0])

    def discriminator_loss(self, latent: torch.Tensor) -> torch.Tensor:
        """Eq 15: BCE of ``D`` with prior samples labelled 1 and (detached) encoded latents labelled 0."""
        vectors = self.latent_vectors(latent.detach())
        self._follow_device(vectors)
        prior = self.sample_prior(vectors.shape[0], vectors.shape[1], vectors.device, vectors.dtype)
        logit_prior, logit_latent = self._logits(prior), self._logits(vectors)
        loss_prior = F.binary_cross_entropy_with_logits(logit_prior, torch.ones_like(logit_prior), reduction="none")
        loss_latent = F.binary_cross_entropy_with_logits(logit_latent, torch.zeros_like(logit_latent), reduction="none")
        return self._reduce(loss_prior, loss_latent)

    def generator_loss(self, latent: torch.Tensor) -> torch.Tensor:
        """Encoder term ``-E[log D(h)]``: gradients reach ``latent``, not ``D``'s parameters."""
        vectors = self.latent_vectors(latent)
        self._follow_device(vectors)
        with _frozen(self.discriminator):
            logits = self._logits(vectors)
        return self._reduce(F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none"))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """The generator term (see :meth:`generator_loss`)."""
        return self.generator_loss(latent)
