# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Run treatment policies on patients and summarise the outcomes (return, survival, tumour, toxicity)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from ..utils.errors import InputError

__all__ = ["EpisodeRecord", "PolicyFn", "run_episode", "evaluate_cohort", "summarize_episodes", "ratios_to_reference"]

PolicyFn = Callable[[np.ndarray, dict], int]
"""A policy: ``(observation, info) -> action``; ``info`` is the environment's latest info dict (with ``cycle``)."""


@dataclass
class EpisodeRecord:
    """Everything about one treated patient: per-cycle actions, rewards, observations, states and outcome."""

    patient_id: str
    total_return: float = 0.0
    survived: bool = True
    initial_tumour: float = 0.0
    final_tumour: float = 0.0
    cumulative_toxicity: float = 0.0
    cumulative_exposure: float = 0.0
    hospitalisations: int = 0
    actions: list[int] = field(default_factory=list)
    action_labels: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    observations: list[np.ndarray] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)
    days: list[float] = field(default_factory=list)
    states: list[list[float]] = field(default_factory=list)


def run_episode(env: gym.Env, policy: PolicyFn, seed: int | None = None, options: dict | None = None) -> EpisodeRecord:
    """Treat one patient from ``reset(seed, options)`` to the end of the course.

    Args:
        env: a :class:`~monai_dianet.rl.envs.TreatmentEnv` (or a wrapper of one).
        policy: ``(observation, info) -> action``.
        seed: reset seed (patient draw and measurement noise).
        options: reset options (e.g. ``{"patient_index": 3}``).

    Returns:
        the episode's :class:`EpisodeRecord` (``cumulative_toxicity`` sums the per-cycle depletion of healthy
        cells, ``final_tumour`` is the true tumour burden at the end).
    """
    base = env.unwrapped
    obs, info = env.reset(seed=seed, options=options)
    tumour = base.model.tumour_state
    record = EpisodeRecord(info["patient_id"], initial_tumour=info["state"][tumour])
    record.observations.append(obs)
    record.infos.append(info)
    record.days.append(0.0)
    record.states.append([info["state"][s] for s in base.model.state_names])
    done = False
    while not done:
        action = int(policy(obs, info))
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        record.actions.append(action)
        record.action_labels.append(info["action_label"])
        record.rewards.append(float(reward))
        record.observations.append(obs)
        record.infos.append(info)
        record.days.extend(info["trajectory"]["days"][1:])
        record.states.extend(info["trajectory"]["states"][1:])
        record.cumulative_toxicity += info["reward_components"]["depletion"]
        record.survived = record.survived and not info["reward_components"]["died"]
    record.total_return = float(np.sum(record.rewards))
    record.final_tumour = float(info["state"][tumour])
    record.cumulative_exposure = float(info["cumulative_exposure"])
    record.hospitalisations = int(info["hospitalisations"])
    return record


def evaluate_cohort(
    env: gym.Env, policy: PolicyFn, patient_indices: Iterable[int], seeds: Sequence[int] = (0,)
) -> list[EpisodeRecord]:
    """Run ``policy`` on every cohort patient of ``env`` for every seed (``reset(seed, {"patient_index": i})``)."""
    return [run_episode(env, policy, seed=s, options={"patient_index": int(i)}) for i in patient_indices for s in seeds]


def summarize_episodes(records: Sequence[EpisodeRecord]) -> dict[str, float]:
    """Mean return, 10th-percentile return, survival rate, mean final/initial tumour ratio, mean cumulative
    toxicity, mean drug exposure and mean hospitalisations over episodes.

    Raises:
        InputError: for no records.
    """
    if not records:
        raise InputError("no episodes to summarise.")
    returns = np.array([r.total_return for r in records])
    return {
        "episodes": len(records),
        "mean_return": float(returns.mean()),
        "p10_return": float(np.percentile(returns, 10)),
        "survival_rate": float(np.mean([r.survived for r in records])),
        "final_tumour_ratio": float(np.mean([r.final_tumour / max(r.initial_tumour, 1e-12) for r in records])),
        "cumulative_toxicity": float(np.mean([r.cumulative_toxicity for r in records])),
        "cumulative_exposure": float(np.mean([r.cumulative_exposure for r in records])),
        "hospitalisations": float(np.mean([r.hospitalisations for r in records])),
    }


def ratios_to_reference(summary: Mapping[str, float], reference: Mapping[str, float]) -> dict[str, float | None]:
    """Ratios ``summary[k] / reference[k]`` of the outcome figures of :func:`summarize_episodes`.

    A ratio is None where the reference is not positive (a ratio to a negative return has no meaning); the
    difference ``summary[k] - reference[k]`` is given beside every ratio.
    """
    out: dict[str, float | None] = {}
    for key in ("mean_return", "p10_return", "survival_rate", "final_tumour_ratio", "cumulative_toxicity",
                "cumulative_exposure", "hospitalisations"):
        ref, value = float(reference[key]), float(summary[key])
        out[key] = value / ref if ref > 0 else None
        out[f"{key}_difference"] = value - ref
    return out
