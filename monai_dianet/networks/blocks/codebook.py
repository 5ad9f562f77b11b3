# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""CodeBook of DIANet (DIANet paper, text under Fig. 1): soft quantisation of latent vectors onto prototypes.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["CodeBook"]


class CodeBook(nn.Module):
    """Soft matching of latent vectors to ``K`` learnable prototypes.

    For each latent vector ``h`` (every spatial position of a ``(B, C, *spatial)`` map, or each row of a
    ``(B, C)`` batch): ``q_k = softmax_k(-||h - e_k||^2 / temperature)``, soft quantisation
    ``h_q = sum_k q_k e_k`` and output ``(1 - beta) * h + beta * h_q`` with a learnable mixing weight
    ``beta = sigmoid(mix_logit)`` (0.5 at start). In training mode the buffer ``usage`` keeps an
    exponential moving average (``decay``) of the mean assignment; :attr:`perplexity` is
    ``exp(entropy(usage))`` (K when all prototypes are used equally, 1 when one dominates).

    Hand-written (a soft, differentiable variant of the VQ-VAE codebook; no well-kept library offers it
    for MONAI-shaped maps).

    Args:
        channels: latent dimensionality ``C``.
        num_codes: number of prototypes ``K``.
        temperature: softmax temperature (> 0); smaller is harder.
        decay: EMA decay of the usage statistics, in [0, 1).

    Returns (forward):
        ``(out, assignment)``: ``out`` has the input shape, ``assignment`` is ``(B, K, *spatial)``.

    Example::

        cb = CodeBook(channels=8, num_codes=16)
        out, q = cb(torch.randn(2, 8, 4, 4))  # q: (2, 16, 4, 4), sums to 1 over dim 1
        cb.perplexity
    """

    def __init__(self, channels: int, num_codes: int = 32, temperature: float = 1.0, decay: float = 0.99) -> None:
        super().__init__()
        if num_codes < 1:
            raise ValueError(f"num_codes must be >= 1, got {num_codes}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}.")
        self.temperature = temperature
        self.decay = decay
        self.codes = nn.Parameter(torch.randn(num_codes, channels))
        self.mix_logit = nn.Parameter(torch.zeros(()))
        self.register_buffer("usage", torch.full((num_codes,), 1.0 / num_codes))

    @property
    def num_codes(self) -> int:
        """Number of prototypes ``K``."""
        return self.codes.shape[0]

    @property
    def perplexity(self) -> torch.Tensor:
        """``exp`` of the entropy of the usage statistics, between 1 and ``K``."""
        u = self.usage / self.usage.sum().clamp_min(1e-12)
        return torch.exp(-(u * torch.log(u.clamp_min(1e-12))).sum())

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if h.shape[1] != self.codes.shape[1]:
            raise ValueError(f"expected {self.codes.shape[1]} latent channels, got {h.shape[1]}.")
        flat = h.movedim(1, -1).reshape(-1, h.shape[1])  # (N, C)
        dist = torch.cdist(flat, self.codes).pow(2)  # (N, K) squared distances
        q = torch.softmax(-dist / self.temperature, dim=-1)
        quant = q @ self.codes
        beta = torch.sigmoid(self.mix_logit)
        out = (1 - beta) * flat + beta * quant
        if self.training:
            with torch.no_grad():
                self.usage.mul_(self.decay).add_((1 - self.decay) * q.mean(0))
        spatial = h.shape[2:]
        out = out.reshape(h.shape[0], *spatial, h.shape[1]).movedim(-1, 1)
        assignment = q.reshape(h.shape[0], *spatial, -1).movedim(-1, 1)
        return out, assignment
