# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Monte Carlo dropout prediction of :class:`~monai_dianet.networks.nets.OncoNet` together with its modality
attention and attributions: everything a per-patient report needs, from one deterministic pass and ``mc_samples``
dropout passes (OncoStrat's UAMP, eq 24-26 of the OncoNet/OncoStrat paper)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from monai.inferers import Inferer

__all__ = ["OncoNetInferer"]


class OncoNetInferer(Inferer):
    """MC-dropout class probabilities of OncoNet with modality weights and gradient x input attributions.

    One deterministic pass ``network(inputs, return_all=True, attribute=attribute)`` gives the modality attention
    ``alpha``, the fusion weights, the modality mask and the attributions; ``mc_samples`` passes under
    ``network.mc_dropout()`` give the predictive distribution. The MC passes draw their dropout masks from the global
    random state (seed it, e.g. ``monai.utils.set_determinism``, for repeatable numbers).

    Args:
        mc_samples: number of dropout passes (>= 2).
        attribute: compute the attributions (gradient x input of the predicted class).

    Returns (on call):
        ``{"mean": (B, K) mean probabilities, "std": (B, K) their standard deviation over the samples, "entropy":
        (B,) predictive entropy of the mean, "mutual_information": (B,) its epistemic part (>= 0), "alpha",
        "fusion_weights": (B, M), "modality_mask": (B, M) bool}`` plus ``"gene_attributions"``,
        ``"clinical_attributions"`` and ``"image_attributions"`` when the network computed them.

    Raises:
        ValueError: ``mc_samples < 2``.

    Example::

        out = OncoNetInferer(mc_samples=20)(inputs, onconet)  # inputs: OncoNet's dict of image, genes, clinical, ...
        out["mean"].shape, out["alpha"].shape  # (B, K), (B, 3)
    """

    def __init__(self, mc_samples: int = 20, attribute: bool = True) -> None:
        super().__init__()
        if mc_samples < 2:
            raise ValueError(f"mc_samples must be >= 2, got {mc_samples}.")
        self.mc_samples = int(mc_samples)
        self.attribute = attribute

    def __call__(self, inputs: Mapping[str, Any], network: Callable, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Args:
        inputs: OncoNet's input dictionary (batch first).
        network: an OncoNet (with ``mc_dropout()``), in eval mode.
        """
        out = network(inputs, return_all=True, attribute=self.attribute)
        with network.mc_dropout():
            probs = torch.stack([torch.softmax(network(inputs).float(), 1) for _ in range(self.mc_samples)])  # T, B, K
        mean, std = probs.mean(0), probs.std(0)
        entropy = -(mean * mean.clamp_min(1e-12).log()).sum(1)
        mutual_info = entropy - (-(probs * probs.clamp_min(1e-12).log()).sum(2)).mean(0)
        result = {
            "mean": mean,
            "std": std,
            "entropy": entropy,
            "mutual_information": mutual_info.clamp_min(0),
            "alpha": out.alpha,
            "fusion_weights": out.fusion_weights,
            "modality_mask": out.modality_mask,
        }
        for name in ("gene_attributions", "clinical_attributions", "image_attributions"):
            if getattr(out, name) is not None:
                result[name] = getattr(out, name)
        return result
