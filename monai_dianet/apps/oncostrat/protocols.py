# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Standard fixed treatment protocols of the chemo-immunotherapy environment, the baselines of a learned policy."""

from __future__ import annotations

from ...rl.envs import TreatmentEnv
from ...rl.policies import FixedProtocol
from ...utils.errors import InputError

__all__ = ["standard_protocols", "most_intensive_action"]


def most_intensive_action(env: TreatmentEnv) -> int:
    """Index of the action with the highest drug exposure (the most intensive regimen at its highest dose)."""
    exposures = [a.exposure for a in env.actions]
    return int(max(range(len(exposures)), key=lambda i: (exposures[i], i)))


def standard_protocols(env: TreatmentEnv) -> dict[str, FixedProtocol]:
    """The fixed protocols a learned policy is compared with.

    - ``no treatment``;
    - ``maximum dose every cycle``: the most intensive action (:func:`most_intensive_action`) at every cycle;
    - ``every 2nd cycle``: that action at fixed intervals (cycles 1, 3, 5...);
    - ``2 / 4 / 6 cycles then observation``: induction with that action, then no treatment (the usual
      "N cycles" prescription).

    The best of them is chosen on validation patients (never on test patients) as the reference of ratios.

    Raises:
        InputError: when the environment offers no treatment action besides "no treatment".
    """
    if len(env.actions) < 2:
        raise InputError("the environment offers no treatment: give at least one regimen and dose level.")
    top = most_intensive_action(env)
    label = env.actions[top].label
    protocols = {
        "no treatment": FixedProtocol([0], name="no treatment"),
        "maximum dose every cycle": FixedProtocol([top], name=f"{label} every cycle"),
        "every 2nd cycle": FixedProtocol([top, 0], name=f"{label} every 2nd cycle"),
    }
    for n in (2, 4, 6):
        protocols[f"{n} cycles then observation"] = FixedProtocol([top] * n, repeat=False,
                                                                 name=f"{n} cycles of {label}, then observation")
    return protocols
