# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Reference treatment policies (fixed protocols, random) and an adapter for trained stable-baselines3 agents."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ..utils.errors import InputError

__all__ = ["FixedProtocol", "RandomPolicy", "AgentPolicy"]


class FixedProtocol:
    """A fixed schedule of actions by cycle, ignoring the patient's state.

    Args:
        actions: action index per cycle.
        repeat: repeat the schedule for the whole course (``False``: no treatment after it ends).
        name: display name.

    Raises:
        InputError: for an empty schedule or a negative action.

    Example::

        every_other = FixedProtocol([6, 0], name="chemo-immunotherapy every 2 cycles")
        induction = FixedProtocol([6] * 4, repeat=False, name="4 cycles then observation")
    """

    def __init__(self, actions: Sequence[int], repeat: bool = True, name: str = "") -> None:
        if not len(actions) or any(int(a) != a or a < 0 for a in actions):
            raise InputError(f"a fixed protocol needs a non-empty list of action indices >= 0, got {list(actions)}.")
        self.actions = [int(a) for a in actions]
        self.repeat = bool(repeat)
        self.name = name or f"fixed {self.actions}{'' if repeat else ' then none'}"

    def __call__(self, observation: np.ndarray, info: dict) -> int:
        cycle = int(info["cycle"])
        if self.repeat:
            return self.actions[cycle % len(self.actions)]
        return self.actions[cycle] if cycle < len(self.actions) else 0


class RandomPolicy:
    """Uniformly random actions from its own seeded generator."""

    def __init__(self, num_actions: int, seed: int = 0, name: str = "random") -> None:
        self.num_actions = int(num_actions)
        self.rng = np.random.default_rng(seed)
        self.name = name

    def __call__(self, observation: np.ndarray, info: dict) -> int:
        return int(self.rng.integers(self.num_actions))


class AgentPolicy:
    """The greedy (deterministic) action of a trained stable-baselines3 agent (``QRDQN``, ``ATLP``)."""

    def __init__(self, agent, name: str = "") -> None:
        self.agent = agent
        self.name = name or type(agent).__name__

    def __call__(self, observation: np.ndarray, info: dict) -> int:
        action, _ = self.agent.predict(observation, deterministic=True)
        return int(action)
