# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""State encoder that fuses the dynamic clinical state with static patient features (e.g. an OncoNet embedding)."""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn
from ...utils.errors import InputError

__all__ = ["MultimodalStateEncoder"]


class MultimodalStateEncoder(BaseFeaturesExtractor):
    """Encode ``[dynamic state | patient features]`` observations into one feature vector.

    The first ``dynamic_dim`` entries (time-varying clinical values: tumour burden, blood counts, drug levels,
    toxicity, course progress; :attr:`TreatmentEnv.observation_layout` ``"dynamic"``) go through an MLP; the
    remaining entries (static patient information, standardised: stage, genomic alterations, prior treatment, or
    an OncoNet fused embedding) go through an MLP of their own; the two codes are concatenated and
    projected to ``features_dim`` (OncoStrat's multimodal patient-state encoding, section 3.4.3). With no
    patient features only the dynamic branch runs. A stable-baselines3 features extractor, so
    ``QRDQN``/``ATLP`` policies use it through ``features_extractor_class``.

    Args:
        observation_space: flat ``Box`` observation space.
        dynamic_dim: number of leading dynamic entries (default: all of them).
        hidden_dim: width of the dynamic branch.
        patient_dim: width of the patient branch.
        features_dim: output width.

    Raises:
        InputError: for a non-flat space or ``dynamic_dim`` outside ``[1, obs size]``.

    Example::

        enc = MultimodalStateEncoder(gym.spaces.Box(-1, 1, (15 + 32,)), dynamic_dim=15)
        enc(torch.zeros(4, 47)).shape   # (4, 64)
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        dynamic_dim: int | None = None,
        hidden_dim: int = 64,
        patient_dim: int = 32,
        features_dim: int = 64,
    ) -> None:
        super().__init__(observation_space, features_dim)
        if len(observation_space.shape) != 1:
            raise InputError(
                f"MultimodalStateEncoder needs a flat observation space, got shape {observation_space.shape}."
            )
        size = int(observation_space.shape[0])
        self.dynamic_dim = size if dynamic_dim is None else int(dynamic_dim)
        if not 1 <= self.dynamic_dim <= size:
            raise InputError(f"dynamic_dim must be in [1, {size}], got {dynamic_dim}.")
        self.static_dim = size - self.dynamic_dim
        self.dynamic = nn.Sequential(nn.Linear(self.dynamic_dim, hidden_dim), nn.ReLU())
        fused = hidden_dim
        self.patient: nn.Module | None = None
        if self.static_dim:
            self.patient = nn.Sequential(nn.Linear(self.static_dim, patient_dim), nn.ReLU())
            fused += patient_dim
        self.fuse = nn.Sequential(nn.Linear(fused, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        code = self.dynamic(observations[:, : self.dynamic_dim])
        if self.patient is not None:
            code = torch.cat([code, self.patient(observations[:, self.dynamic_dim :])], dim=1)
        return self.fuse(code)
