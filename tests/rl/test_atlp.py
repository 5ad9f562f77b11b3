# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""ATLP: CVaR and entropy-regularised loss against hand computations, encoder, save/load, exported network."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import QRDQN
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from monai_dianet.rl.agents import ATLP, MultimodalStateEncoder, QuantileQNetwork, boltzmann_entropy, quantile_cvar
from monai_dianet.utils.errors import InputError


def test_cvar_by_hand():
    atoms = torch.tensor([[[3.0, 0.0], [1.0, 0.0], [2.0, 0.0], [4.0, 8.0]]])  # (1, 4 quantiles, 2 actions)
    assert torch.allclose(quantile_cvar(atoms, 1.0), torch.tensor([[2.5, 2.0]]))  # the mean
    assert torch.allclose(quantile_cvar(atoms, 0.5), torch.tensor([[1.5, 0.0]]))  # mean of the 2 lowest
    assert torch.allclose(quantile_cvar(atoms, 0.25), torch.tensor([[1.0, 0.0]]))  # the lowest atom
    # alpha * n = 1.5: the lowest atom and half of the next, divided by 1.5
    assert torch.allclose(quantile_cvar(atoms, 0.375), torch.tensor([[(1.0 + 0.5 * 2.0) / 1.5, 0.0]]))
    assert torch.allclose(quantile_cvar(atoms, 0.01), torch.tensor([[1.0, 0.0]]))
    for alpha in (0.0, 1.5, -0.1):
        with pytest.raises(InputError, match="alpha"):
            quantile_cvar(atoms, alpha)


class _Fixed(torch.nn.Module):
    def __init__(self, quantiles):
        super().__init__()
        self.quantiles = torch.nn.Parameter(torch.tensor(quantiles, dtype=torch.float32))

    def forward(self, obs):
        return self.quantiles.expand(obs.shape[0], -1, -1)


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_entropy_regularised_loss_by_hand(alpha):
    env = gym.make("monai_dianet/Chemo-v0", num_cycles=2)
    agent = ATLP(env=env, cvar_alpha=alpha, entropy_weight=0.1, entropy_temperature=1.0, gamma=0.5, seed=0,
                 policy_kwargs={"n_quantiles": 2})
    # Z(s, .): action 0 -> {0, 1}, action 1 -> {2, 4}; Z(s', .): action 0 -> {-3, 5}, action 1 -> {0, 1}
    agent.quantile_net = _Fixed([[0.0, 2.0], [1.0, 4.0]])
    agent.quantile_net_target = _Fixed([[-3.0, 0.0], [5.0, 1.0]])
    obs = torch.zeros(1, env.observation_space.shape[0])
    batch = ReplayBufferSamples(obs, torch.tensor([[0]]), obs, torch.tensor([[0.0]]), torch.tensor([[1.0]]))
    loss, td, entropy = agent.atlp_loss(batch)
    if alpha == 0.5:
        # CVaR_0.5 at s' prefers action 1 (0 > -3): target atoms 1 + 0.5 * {0, 1} = {1, 1.5}
        # quantile Huber vs current atoms {0 (tau .25), 1 (tau .75)}: (0.125 + 0.25) / 2 + (0 + 0.09375) / 2
        expected_td, values = 0.234375, (0.0, 2.0)
    else:
        # the mean prefers action 0 (1 > 0.5): target atoms 1 + 0.5 * {-3, 5} = {-0.5, 3.5}
        expected_td, values = (0.09375 + 0.75) / 2 + (0.25 + 1.5) / 2, (0.5, 3.0)
    p = np.exp(values) / np.exp(values).sum()
    expected_entropy = float(-(p * np.log(p)).sum())
    assert td.item() == pytest.approx(expected_td, abs=1e-6)
    assert entropy.item() == pytest.approx(expected_entropy, abs=1e-6)
    assert loss.item() == pytest.approx(expected_td - 0.1 * expected_entropy, abs=1e-6)
    loss.backward()
    assert agent.quantile_net.quantiles.grad is not None


def test_boltzmann_entropy():
    assert boltzmann_entropy(torch.zeros(3, 4)).allclose(torch.full((3,), math.log(4)))
    assert boltzmann_entropy(torch.tensor([[0.0, 100.0]]), temperature=0.1).item() < 1e-6
    with pytest.raises(InputError):
        boltzmann_entropy(torch.zeros(1, 2), temperature=0.0)


def test_encoder_routes_patient_features():
    space = gym.spaces.Box(-1, 1, shape=(10,))
    enc = MultimodalStateEncoder(space, dynamic_dim=6, features_dim=16)
    x = torch.rand(5, 10)
    y = enc(x)
    assert y.shape == (5, 16)
    x2 = x.clone()
    x2[:, 6:] = torch.rand(5, 4)
    assert not torch.allclose(enc(x2), y)  # the patient branch is used
    assert MultimodalStateEncoder(space).static_dim == 0
    with pytest.raises(InputError):
        MultimodalStateEncoder(space, dynamic_dim=11)


def test_learn_save_load_and_exported_network(tmp_path):
    env = gym.make("monai_dianet/Chemo-v0", num_cycles=5)
    dyn = env.unwrapped.observation_layout["dynamic"][1]
    kwargs = dict(n_quantiles=8, net_arch=[16], features_extractor_kwargs={"dynamic_dim": dyn, "hidden_dim": 16,
                                                                          "features_dim": 16})
    agent = ATLP(env=env, cvar_alpha=0.3, entropy_weight=0.01, learning_starts=20, batch_size=8, seed=1,
                 policy_kwargs=kwargs)
    agent.learn(60)
    agent.save(tmp_path / "atlp.zip")
    loaded = ATLP.load(tmp_path / "atlp.zip")
    assert loaded.cvar_alpha == 0.3 and loaded.entropy_weight == 0.01
    assert loaded.policy.quantile_net.cvar_alpha == 0.3
    obs, _ = env.reset(seed=0)
    assert np.allclose(loaded.return_quantiles(obs), agent.return_quantiles(obs))
    assert loaded.predict(obs, deterministic=True)[0] == agent.predict(obs, deterministic=True)[0]
    q = agent.return_quantiles(obs)
    assert q.shape == (8, env.action_space.n) and np.all(np.diff(q, axis=0) >= 0)
    # the greedy action maximises CVaR_0.3 of the quantiles
    cvar = quantile_cvar(torch.as_tensor(q), 0.3, dim=0).numpy()
    assert agent.predict(obs, deterministic=True)[0] == int(np.argmax(cvar))
    net = QuantileQNetwork(env.observation_space.shape[0], env.action_space.n, 8, net_arch=[16], dynamic_dim=dyn,
                           hidden_dim=16, features_dim=16)
    net.load_state_dict(agent.policy.quantile_net.state_dict())
    x = torch.as_tensor(obs[None])
    assert torch.allclose(net(x), agent.policy.quantile_net(x))
    # plain QR-DQN uses the same encoder through policy_kwargs, for an equal comparison
    qrdqn = QRDQN("MlpPolicy", env, policy_kwargs={**kwargs, "features_extractor_class": MultimodalStateEncoder})
    assert isinstance(qrdqn.policy.quantile_net.features_extractor, MultimodalStateEncoder)


def test_bad_agent_arguments():
    env = gym.make("monai_dianet/Chemo-v0")
    for kwargs in ({"cvar_alpha": 0.0}, {"entropy_weight": -1.0}, {"entropy_temperature": 0.0}):
        with pytest.raises(InputError):
            ATLP(env=env, **kwargs)
