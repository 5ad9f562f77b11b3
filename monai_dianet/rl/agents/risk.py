# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Risk measures of return distributions given by quantiles, and the entropy of a Boltzmann policy."""

from __future__ import annotations

import torch
from ...utils.errors import InputError

__all__ = ["quantile_cvar", "boltzmann_entropy"]


def quantile_cvar(quantiles: torch.Tensor, alpha: float, dim: int = 1) -> torch.Tensor:
    """Conditional value at risk CVaR_alpha (mean of the worst ``alpha`` fraction) of quantile distributions.

    The return distribution is the uniform mixture of the ``n`` quantile atoms along ``dim`` (QR-DQN's
    representation), so ``CVaR_alpha = (sum of the k = floor(alpha n) lowest atoms + (alpha n - k) x the next
    one) / (alpha n)``; ``alpha = 1`` gives the mean and ``alpha -> 0`` the lowest atom. The atoms are sorted
    first (a quantile network does not guarantee monotone outputs). Hand-written: sb3-contrib offers no risk
    measure over QR-DQN quantiles.

    Args:
        quantiles: tensor of quantile atoms, e.g. ``(B, n_quantiles, n_actions)``.
        alpha: risk level in ``(0, 1]``.
        dim: the quantile dimension.

    Returns:
        the CVaR with ``dim`` removed, e.g. ``(B, n_actions)``.

    Raises:
        InputError: when ``alpha`` is not in ``(0, 1]``.

    Example::

        quantile_cvar(torch.tensor([[[3.0], [1.0], [2.0], [4.0]]]), alpha=0.5)   # tensor([[1.5]])
    """
    if not 0.0 < float(alpha) <= 1.0:
        raise InputError(f"CVaR alpha must be in (0, 1], got {alpha}.")
    n = quantiles.shape[dim]
    atoms = torch.sort(quantiles, dim=dim).values
    mass = float(alpha) * n
    weights = torch.clamp(mass - torch.arange(n, dtype=atoms.dtype, device=atoms.device), 0.0, 1.0) / mass
    shape = [1] * atoms.ndim
    shape[dim] = n
    return (atoms * weights.view(shape)).sum(dim=dim)


def boltzmann_entropy(values: torch.Tensor, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """Entropy ``H(pi) = -sum_a pi(a) log pi(a)`` of the Boltzmann policy ``pi = softmax(values / temperature)``.

    Args:
        values: action values, e.g. ``(B, n_actions)``.
        temperature: positive softmax temperature.
        dim: the action dimension.

    Returns:
        the entropy with ``dim`` removed (nats).

    Raises:
        InputError: for a non-positive temperature.
    """
    if not float(temperature) > 0:
        raise InputError(f"temperature must be positive, got {temperature}.")
    log_pi = torch.log_softmax(values / float(temperature), dim=dim)
    return -(log_pi.exp() * log_pi).sum(dim=dim)
