# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Reward of a treatment cycle: tumour reduction minus toxicity, hospitalisation and death penalties."""

from __future__ import annotations

import math
from dataclasses import dataclass
from ...utils.errors import InputError

__all__ = ["TreatmentReward"]


@dataclass(frozen=True)
class TreatmentReward:
    """Weights of the per-cycle reward.

    ``r = tumour_weight * (log10(1 + T_before) - log10(1 + T_after)) - exposure_weight * exposure
    - toxicity_weight * depletion - hospitalisation_penalty * hospitalised - death_penalty * died
    + survival_bonus * (1 - died)``

    where ``T`` is the tumour burden in the model's units (log-kill, so a cure from 2e7 cells is worth about
    7.3), ``exposure`` the drug exposure of the cycle (regimen exposure x dose), ``depletion`` the fraction of
    the healthy level of normal/immune cells lost at the end of the cycle (``max(0, 1 - x / x_healthy)``),
    ``hospitalised`` 1 when that level fell below the environment's hospitalisation threshold and ``died`` 1
    when the patient died in the cycle (terminal). ``survival_bonus`` rewards every cycle survived, as the
    ``N/N0`` term of DTR-Gym's AhnChemoEnv reward does (about +1 per step while normal cells are healthy);
    with it, the return of a course survived is positive and returns can be compared as ratios. The structure
    mirrors AhnChemoEnv's ``N/N0 - T/T0 - dose`` with -100 at death, in log-kill units.

    Raises:
        InputError: for a negative or non-finite weight.

    Example::

        reward = TreatmentReward(toxicity_weight=1.0, death_penalty=20.0)
        reward(tumour_reduction=0.5, exposure=1.0, depletion=0.2, hospitalised=False, died=False)
    """

    tumour_weight: float = 1.0
    exposure_weight: float = 0.1
    toxicity_weight: float = 0.2
    hospitalisation_penalty: float = 1.0
    death_penalty: float = 10.0
    survival_bonus: float = 1.0

    def __post_init__(self) -> None:
        for key, value in vars(self).items():
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InputError(f"reward weight {key!r} must be a finite number >= 0, got {value!r}.")

    def __call__(self, tumour_reduction: float, exposure: float, depletion: float, hospitalised: bool,
                 died: bool) -> float:
        return float(
            self.tumour_weight * tumour_reduction
            - self.exposure_weight * exposure
            - self.toxicity_weight * depletion
            - self.hospitalisation_penalty * float(hospitalised)
            - self.death_penalty * float(died)
            + self.survival_bonus * float(not died)
        )
