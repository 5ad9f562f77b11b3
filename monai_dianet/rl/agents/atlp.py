# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""ATLP: risk-sensitive, entropy-regularised quantile Q-learning on top of sb3-contrib's QR-DQN."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import QRDQN
from sb3_contrib.common.utils import quantile_huber_loss
from sb3_contrib.qrdqn.policies import QRDQNPolicy, QuantileNetwork
from stable_baselines3.common.torch_layers import create_mlp
from torch import nn

from ...utils.errors import InputError
from .encoder import MultimodalStateEncoder
from .risk import boltzmann_entropy, quantile_cvar

__all__ = ["ATLP", "ATLPAgent", "ATLPPolicy", "ATLPQuantileNetwork", "QuantileQNetwork"]


class ATLPQuantileNetwork(QuantileNetwork):
    """sb3-contrib's quantile network whose greedy action maximises CVaR_alpha of the return quantiles."""

    def __init__(self, *args: Any, cvar_alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        quantile_cvar(torch.zeros(1, 1, 1), cvar_alpha)  # validates alpha
        self.cvar_alpha = float(cvar_alpha)

    def _predict(self, observation: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return quantile_cvar(self(observation), self.cvar_alpha, dim=1).argmax(dim=1).reshape(-1)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "cvar_alpha": self.cvar_alpha}


class ATLPPolicy(QRDQNPolicy):
    """QR-DQN policy with risk-sensitive (CVaR_alpha) action choice and the multimodal state encoder by default.

    Args:
        cvar_alpha: risk level of the action choice, in ``(0, 1]`` (1 = the mean, i.e. plain QR-DQN's choice).
        features_extractor_class: defaults to :class:`MultimodalStateEncoder` (pass its ``dynamic_dim`` in
            ``features_extractor_kwargs`` to route static patient features through their own branch).
        args, kwargs: see ``sb3_contrib.qrdqn.policies.QRDQNPolicy``.
    """

    def __init__(self, *args: Any, cvar_alpha: float = 1.0, features_extractor_class=MultimodalStateEncoder,
                 **kwargs: Any) -> None:
        self.cvar_alpha = float(cvar_alpha)
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)

    def make_quantile_net(self) -> ATLPQuantileNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return ATLPQuantileNetwork(**net_args, cvar_alpha=self.cvar_alpha).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "cvar_alpha": self.cvar_alpha}


class ATLP(QRDQN):
    """Adaptive Treatment via Learning Policy (OncoStrat, section 3.4.3, eq 28-31) as a QR-DQN variant.

    Everything Q-learning needs comes from sb3-contrib's ``QRDQN`` (quantile network, replay buffer, target
    network, epsilon-greedy exploration, callbacks, save/load). ATLP adds:

    - a risk-sensitive choice: actions maximise ``CVaR_alpha`` of the return quantiles ``Z(s, a)`` (``alpha =
      1`` is the mean), both when acting and when picking the next action of the distributional Bellman target;
    - the entropy regularisation of eq 31, ``L = L_TD - lambda H(pi(.|s))``, where ``L_TD`` is QR-DQN's quantile
      Huber loss (the distributional TD error) and ``pi = softmax(rho_alpha(s, .) / temperature)`` is the
      Boltzmann policy over the risk-adjusted action values of the online network;
    - :class:`MultimodalStateEncoder` as the default state encoder (static patient features such as an OncoNet
      embedding beside the dynamic clinical state).

    Args:
        policy: policy class or alias (default :class:`ATLPPolicy`).
        env: the environment.
        cvar_alpha: risk level in ``(0, 1]``.
        entropy_weight: lambda of eq 31 (>= 0; 0 = plain quantile TD loss).
        entropy_temperature: temperature of the Boltzmann policy in the entropy term.
        kwargs: ``QRDQN`` arguments (learning_rate, buffer_size, gamma, exploration schedule, seed...).

    Raises:
        InputError: for alpha outside ``(0, 1]``, a negative ``entropy_weight`` or a non-positive temperature.

    Example::

        env = gymnasium.make("monai_dianet/ChemoImmuno-v0")
        agent = ATLP(env=env, cvar_alpha=0.5, entropy_weight=0.01, seed=0)
        agent.learn(total_timesteps=2_000)
        action, _ = agent.predict(obs, deterministic=True)
    """

    policy_aliases = {**QRDQN.policy_aliases, "ATLPPolicy": ATLPPolicy}

    def __init__(
        self,
        policy: str | type[ATLPPolicy] = "ATLPPolicy",
        env: gym.Env | str | None = None,
        cvar_alpha: float = 1.0,
        entropy_weight: float = 0.0,
        entropy_temperature: float = 1.0,
        **kwargs: Any,
    ) -> None:
        quantile_cvar(torch.zeros(1, 1, 1), cvar_alpha)
        if not entropy_weight >= 0:
            raise InputError(f"entropy_weight (lambda) must be >= 0, got {entropy_weight}.")
        if not entropy_temperature > 0:
            raise InputError(f"entropy_temperature must be positive, got {entropy_temperature}.")
        self.cvar_alpha = float(cvar_alpha)
        self.entropy_weight = float(entropy_weight)
        self.entropy_temperature = float(entropy_temperature)
        policy_kwargs = dict(kwargs.pop("policy_kwargs", None) or {})
        if policy == "ATLPPolicy" or (isinstance(policy, type) and issubclass(policy, ATLPPolicy)):
            policy_kwargs.setdefault("cvar_alpha", self.cvar_alpha)
        super().__init__(policy, env, policy_kwargs=policy_kwargs, **kwargs)

    def atlp_loss(self, replay_data) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq 31 on a replay batch.

        Returns:
            ``(loss, td_loss, entropy)``: ``loss = td_loss - entropy_weight * entropy``, where ``td_loss`` is
            the quantile Huber loss against the target network's return quantiles at the CVaR-greedy next
            action, and ``entropy`` the batch mean of the Boltzmann policy's entropy.
        """
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        with torch.no_grad():
            next_quantiles = self.quantile_net_target(replay_data.next_observations)
            next_actions = quantile_cvar(next_quantiles, self.cvar_alpha, dim=1).argmax(dim=1)
            next_returns = _take_action(next_quantiles, next_actions)
            target = replay_data.rewards + (1 - replay_data.dones) * discounts * next_returns
        quantiles = self.quantile_net(replay_data.observations)
        td_loss = quantile_huber_loss(_take_action(quantiles, replay_data.actions.reshape(-1)), target,
                                      sum_over_quantiles=True)
        entropy = boltzmann_entropy(quantile_cvar(quantiles, self.cvar_alpha, dim=1), self.entropy_temperature).mean()
        return td_loss - self.entropy_weight * entropy, td_loss, entropy

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        td_losses, entropies = [], []
        for _ in range(gradient_steps):
            batch = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            loss, td_loss, entropy = self.atlp_loss(batch)
            self.policy.optimizer.zero_grad()
            loss.backward()
            if self.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            td_losses.append(td_loss.item())
            entropies.append(entropy.item())
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(td_losses)))
        self.logger.record("train/policy_entropy", float(np.mean(entropies)))

    def return_quantiles(self, observation: np.ndarray) -> np.ndarray:
        """Sorted return quantiles of every action, ``(n_quantiles, n_actions)`` (or batched with a leading B)."""
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        with torch.no_grad():
            tensor = torch.as_tensor(obs.reshape(1, -1) if single else obs, device=self.device)
            quantiles = torch.sort(self.quantile_net(tensor), dim=1).values.cpu().numpy()
        return quantiles[0] if single else quantiles


ATLPAgent = ATLP


def _take_action(quantiles: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``(B, N, A)`` quantiles and ``(B,)`` actions -> ``(B, N)`` quantiles of those actions."""
    index = actions.long().view(-1, 1, 1).expand(-1, quantiles.shape[1], 1)
    return quantiles.gather(dim=2, index=index).squeeze(dim=2)


class QuantileQNetwork(nn.Module):
    """The trained quantile network as a plain module: observations ``(B, obs_dim)`` (or ``(B, 1, obs_dim)``, as
    MONAI's bundle checks build inputs) -> return quantiles ``(B, n_quantiles, n_actions)``.

    Same submodules (``features_extractor``, ``quantile_net``) and state-dict keys as the quantile network of an
    :class:`ATLP` (or QR-DQN with :class:`MultimodalStateEncoder`) policy, so ``load_state_dict`` takes
    ``agent.policy.quantile_net.state_dict()`` as is. Used by bundles for checkpoint loading, TorchScript
    export and evaluator-style inference without stable-baselines3's policy machinery.

    Args:
        obs_dim: observation size.
        num_actions: number of discrete actions.
        num_quantiles: quantiles per action.
        net_arch: hidden sizes of the quantile head (sb3's ``net_arch``).
        dynamic_dim, hidden_dim, patient_dim, features_dim: :class:`MultimodalStateEncoder` arguments.

    Example::

        net = QuantileQNetwork(obs_dim=15, num_actions=7, num_quantiles=25, dynamic_dim=15)
        net.load_state_dict(agent.policy.quantile_net.state_dict())
    """

    def __init__(
        self,
        obs_dim: int,
        num_actions: int,
        num_quantiles: int = 25,
        net_arch: list[int] | tuple[int, ...] = (64, 64),
        dynamic_dim: int | None = None,
        hidden_dim: int = 64,
        patient_dim: int = 32,
        features_dim: int = 64,
    ) -> None:
        super().__init__()
        space = gym.spaces.Box(-np.inf, np.inf, shape=(int(obs_dim),), dtype=np.float32)
        self.features_extractor = MultimodalStateEncoder(space, dynamic_dim, hidden_dim, patient_dim, features_dim)
        head = create_mlp(features_dim, num_actions * num_quantiles, list(net_arch), nn.ReLU)
        self.quantile_net = nn.Sequential(*head)
        self.num_quantiles = int(num_quantiles)
        self.num_actions = int(num_actions)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        flat = observations.float().reshape(observations.shape[0], -1)
        out = self.quantile_net(self.features_extractor(flat))
        return out.view(-1, self.num_quantiles, self.num_actions)
