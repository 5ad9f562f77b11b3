# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Training callbacks: learning curves, validation-patient evaluation, best-checkpoint selection, resumable saves."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.callbacks import BaseCallback

from ..utils.errors import InputError
from .evaluation import evaluate_cohort, summarize_episodes
from .policies import AgentPolicy

__all__ = ["ValidationCallback", "atomic_save"]


def atomic_save(agent, path: str | Path) -> Path:
    """Save a stable-baselines3 agent to ``path`` (a ``.zip``) through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.zip")
    agent.save(tmp)
    os.replace(tmp, path)
    return path


class ValidationCallback(BaseCallback):
    """Record training episode returns and, every ``eval_freq`` steps, evaluate the greedy policy on validation
    patients; keep the checkpoint with the best validation score and a resumable last checkpoint.

    Args:
        eval_env: a cohort :class:`~monai_dianet.rl.envs.TreatmentEnv` holding the validation patients.
        patient_indices: validation patients (indices into ``eval_env``'s cohort).
        eval_freq: environment steps between evaluations.
        seeds: reset seeds per validation patient (measurement noise).
        best_path: where to save the best agent (``.zip``), or None.
        last_path: where to save the agent (and ``last_path`` + ``.replay.pkl``, the replay buffer) at every
            evaluation, for resuming, or None.
        score: key of :func:`~monai_dianet.rl.evaluation.summarize_episodes` to maximise (``"mean_return"``).
        history: earlier history to continue (when resuming).
        on_evaluation: called with each history entry (e.g. to log progress).

    Attributes:
        history: list of ``{"timesteps", "mean_return", "p10_return", "survival_rate", ...}`` per evaluation.
        train_returns: list of ``(timesteps, episode return)`` of the training episodes.
    """

    def __init__(
        self,
        eval_env: gym.Env,
        patient_indices: Sequence[int],
        eval_freq: int = 1000,
        seeds: Sequence[int] = (0,),
        best_path: str | Path | None = None,
        last_path: str | Path | None = None,
        score: str = "mean_return",
        history: dict[str, Any] | None = None,
        on_evaluation: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__()
        if eval_freq < 1:
            raise InputError(f"eval_freq must be >= 1, got {eval_freq}.")
        if not len(patient_indices):
            raise InputError("the validation split is empty: give at least one validation patient.")
        self.eval_env = eval_env
        self.patient_indices = list(patient_indices)
        self.eval_freq = int(eval_freq)
        self.seeds = list(seeds)
        self.best_path = best_path
        self.last_path = last_path
        self.score = score
        history = history or {}
        self.history: list[dict[str, Any]] = list(history.get("validation", []))
        self.train_returns: list[tuple[int, float]] = [tuple(x) for x in history.get("train_returns", [])]
        self.best_score = max((h[score] for h in self.history), default=-float("inf"))
        self.on_evaluation = on_evaluation
        self._next_eval = (self.history[-1]["timesteps"] if self.history else 0) + self.eval_freq

    def state(self) -> dict[str, Any]:
        """JSON-serialisable history (``validation`` and ``train_returns``), for curves and resuming."""
        return {"validation": self.history, "train_returns": self.train_returns, "best_score": self.best_score}

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            if "episode" in info:
                self.train_returns.append((int(self.num_timesteps), float(info["episode"]["r"])))
        if self.num_timesteps >= self._next_eval:
            self._next_eval += self.eval_freq
            self.evaluate()
        return True

    def evaluate(self) -> dict[str, Any]:
        records = evaluate_cohort(self.eval_env, AgentPolicy(self.model), self.patient_indices, self.seeds)
        entry = {"timesteps": int(self.num_timesteps), **summarize_episodes(records)}
        entry["best"] = entry[self.score] > self.best_score
        self.history.append(entry)
        if entry["best"]:
            self.best_score = entry[self.score]
            if self.best_path is not None:
                atomic_save(self.model, self.best_path)
        if self.last_path is not None:
            atomic_save(self.model, self.last_path)
            replay = Path(str(self.last_path) + ".replay.pkl")
            tmp = replay.with_name(f".{replay.name}.tmp")
            self.model.save_replay_buffer(tmp)
            os.replace(tmp, replay)
            state = Path(str(self.last_path) + ".history.json")
            tmp = state.with_name(f".{state.name}.tmp")
            tmp.write_text(json.dumps(self.state()))
            os.replace(tmp, state)
        if self.on_evaluation is not None:
            self.on_evaluation(entry)
        return entry
