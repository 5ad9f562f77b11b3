# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The registered treatment environments: Gymnasium API, seeding, heterogeneity, reward, bad input."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from monai_dianet.rl.envs import (
    ENV_IDS,
    PatientDistribution,
    PatientProfile,
    Regimen,
    TreatmentReward,
    build_action_table,
    make_chemo_immunotherapy_env,
)
from monai_dianet.rl.evaluation import run_episode
from monai_dianet.rl.policies import FixedProtocol
from monai_dianet.utils.errors import InputError


def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and text
    return text


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes(env_id):
    env = gym.make(env_id, num_cycles=4)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and info["cycle"] == 0


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_trajectory_with_noise_and_missing(env_id):
    def rollout(seed):
        env = gym.make(env_id, num_cycles=5, observation_noise=0.2, missing_probability=0.3)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for k in range(5):
            obs, reward, terminated, truncated, _ = env.step(k % env.action_space.n)
            out.append(np.append(obs, reward))
            if terminated or truncated:
                break
        return out

    a, b, c = rollout(3), rollout(3), rollout(4)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(len(x) == len(y) and np.array_equal(x, y) for x, y in zip(a, c))


def test_different_patients_have_different_dynamics():
    env = gym.make("monai_dianet/ChemoImmuno-v0", num_cycles=3).unwrapped
    tumours, growth = [], set()
    for seed in range(4):
        env.reset(seed=seed)
        growth.add(env.params["a"])
        for _ in range(3):
            _, _, terminated, _, info = env.step(2)  # chemotherapy, full dose
            if terminated:
                break
        tumours.append(info["state"]["T"])
    assert len(growth) == 4
    assert len({round(math.log10(1 + t), 3) for t in tumours}) == 4
    # same parameters for a cohort patient, whatever the seed (noise-free)
    profile = PatientProfile("p", {"a": 0.5}, initial_tumour=3e7)
    cohort = make_chemo_immunotherapy_env(patients=[profile], num_cycles=2)
    s1 = cohort.reset(seed=1, options={"patient_index": 0})[1]["state"]
    s2 = cohort.reset(seed=2, options={"patient_id": "p"})[1]["state"]
    assert s1 == s2 and cohort.params["a"] == 0.5 and s1["T"] == 3e7


def test_vector_env_steps():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("monai_dianet/ChemoImmuno-v0", num_cycles=2)] * 2)
    obs, _ = envs.reset(seed=[0, 1])
    assert obs.shape == (2,) + envs.single_observation_space.shape
    obs, rewards, terminated, truncated, _ = envs.step(np.array([0, 6]))
    assert rewards.shape == (2,) and np.all(np.isfinite(rewards))
    envs.close()


def test_reward_components_and_fixed_length_course():
    weights = TreatmentReward(tumour_weight=2.0, exposure_weight=0.5, toxicity_weight=1.0,
                              hospitalisation_penalty=3.0, death_penalty=7.0, survival_bonus=1.0)
    env = make_chemo_immunotherapy_env(reward=weights, num_cycles=3, patients=[PatientProfile("p", initial_tumour=2e7)])
    record = run_episode(env, FixedProtocol([6]), seed=0, options={"patient_index": 0})
    assert len(record.rewards) == 3 and record.survived
    for reward, info in zip(record.rewards, record.infos[1:]):
        c = info["reward_components"]
        expected = 2 * c["tumour_reduction"] - 0.5 * c["exposure"] - c["depletion"] - 3 * c["hospitalised"] + 1
        assert reward == pytest.approx(expected)
        assert c["exposure"] == 2.0  # chemo-immunotherapy at full dose
    # untreated large tumour: death ends the episode early with the penalty
    env = make_chemo_immunotherapy_env(reward=weights, patients=[PatientProfile("q", initial_tumour=2e8)])
    record = run_episode(env, FixedProtocol([0]), seed=0, options={"patient_index": 0})
    assert not record.survived and len(record.rewards) < 12
    assert record.rewards[-1] == pytest.approx(2 * record.infos[-1]["reward_components"]["tumour_reduction"] - 7)


def test_daily_samples_do_not_change_observations_or_rewards():
    profile = [PatientProfile("p", initial_tumour=5e7)]
    coarse = run_episode(make_chemo_immunotherapy_env(patients=profile, num_cycles=3), FixedProtocol([4, 2]), seed=0)
    daily = run_episode(make_chemo_immunotherapy_env(patients=profile, num_cycles=3, daily_samples=True),
                        FixedProtocol([4, 2]), seed=0)
    assert np.allclose(coarse.rewards, daily.rewards, rtol=1e-3, atol=1e-3)
    assert len(daily.days) == 3 * 7 + 1 and len(coarse.days) < len(daily.days)


def test_bad_input_is_a_clear_one_line_error():
    with pytest.raises(InputError) as err:
        make_chemo_immunotherapy_env(regimens=["chemotherapy", "radiotherapy"])
    assert "radiotherapy" in _one_line(err) and "chemotherapy" in _one_line(err)
    with pytest.raises(InputError) as err:
        make_chemo_immunotherapy_env(dose_levels=(1.0, -0.5))
    assert "-0.5" in _one_line(err)
    with pytest.raises(InputError) as err:
        build_action_table([Regimen("x", ((0, 1, {"v_M": 1.0}),))], [math.nan])
    _one_line(err)
    with pytest.raises(InputError) as err:
        PatientProfile("TCGA-01", features=[0.3, math.nan, 1.0])
    assert "TCGA-01" in _one_line(err) and "[1]" in _one_line(err)
    with pytest.raises(InputError) as err:
        PatientProfile("TCGA-02", {"a": float("nan")})
    assert "'a'" in _one_line(err)
    with pytest.raises(InputError) as err:
        make_chemo_immunotherapy_env(patients=[PatientProfile("TCGA-03", {"no_such": 1.0})])
    assert "TCGA-03" in _one_line(err)
    with pytest.raises(InputError) as err:
        Regimen("bad", ((0, 1, {"v_M": -5.0}),))
    _one_line(err)
    with pytest.raises(InputError) as err:
        make_chemo_immunotherapy_env(regimens=[Regimen("long", ((0, 9, {"v_M": 1.0}),))])
    assert "9" in _one_line(err)
    with pytest.raises(InputError) as err:
        PatientDistribution({}, cv=-1.0)
    _one_line(err)
    env = gym.make("monai_dianet/ChemoImmuno-v0")
    env.reset(seed=0)
    for action in (7, -1, 1.5, "2"):
        with pytest.raises(InputError) as err:
            env.unwrapped.step(action)
        assert "Discrete(7)" in _one_line(err)
