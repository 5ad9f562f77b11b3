# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The registered treatment environments: their regimens, patient distributions and defaults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...utils.errors import InputError
from ..dynamics import (
    DE_PILLIS_2006_PATIENT_9,
    DE_PILLIS_2006_PATIENT_10,
    DE_PILLIS_RADUNSKAYA_2003,
    ChemoImmunotherapyModel,
    ChemotherapyModel,
)
from .patients import PatientDistribution
from .regimen import Regimen, select_regimens
from .treatment_env import TreatmentEnv

__all__ = [
    "CHEMO_IMMUNO_REGIMENS",
    "CHEMO_REGIMENS",
    "make_chemo_immunotherapy_env",
    "make_chemotherapy_env",
]

CHEMO_IMMUNO_REGIMENS: dict[str, Regimen] = {
    "chemotherapy": Regimen(
        "chemotherapy",
        ((0.0, 1.0, {"v_M": 5.0}),),
        exposure=1.0,
        description="one-day chemotherapy infusion on day 1 of the cycle (v_M = 5 per day at full dose)",
    ),
    "immunotherapy": Regimen(
        "immunotherapy",
        ((0.0, 1.0, {"v_L": 1e9}), (0.0, 5.0, {"v_I": 5e6})),
        exposure=1.0,
        description="adoptive transfer of 1e9 tumour-infiltrating lymphocytes on day 1 with IL-2 "
        "(v_I = 5e6 IU per day) on days 1-5",
    ),
    "chemo-immunotherapy": Regimen(
        "chemo-immunotherapy",
        ((0.0, 1.0, {"v_M": 5.0}), (2.0, 3.0, {"v_L": 1e9}), (2.0, 7.0, {"v_I": 5e6})),
        exposure=2.0,
        description="chemotherapy on day 1, then lymphocyte transfer on day 3 with IL-2 on days 3-7",
    ),
}
"""Regimens of ``monai_dianet/ChemoImmuno-v0``, in the input units of de Pillis et al. (2006). The schedules are
this package's choices (one decision per 7-day cycle); the doses are of the order of the paper's simulations."""

CHEMO_REGIMENS: dict[str, Regimen] = {
    "chemotherapy": Regimen(
        "chemotherapy",
        ((0.0, 1.0, {"v": 1.0}),),
        exposure=1.0,
        description="continuous infusion over the day at the maximum rate v = 1 of Ahn & Park (2011)",
    ),
}
"""Regimen of ``monai_dianet/Chemo-v0``: the single drug of de Pillis & Radunskaya (2003)."""


def make_chemo_immunotherapy_env(
    regimens: Sequence[str | Regimen] | None = None,
    patients: Any = None,
    dose_levels: Sequence[float] = (0.5, 1.0),
    cycle_days: float = 7.0,
    num_cycles: int = 12,
    lethal_tumour: float = 5e8,
    hospitalisation_fraction: float = 0.1,
    eradication_threshold: float = 1.0,
    rtol: float = 1e-4,
    **kwargs: Any,
) -> TreatmentEnv:
    """``monai_dianet/ChemoImmuno-v0``: chemo-immunotherapy on the model of de Pillis, Gu & Radunskaya (2006).

    Defaults: the three regimens of :data:`CHEMO_IMMUNO_REGIMENS` at half and full dose plus no treatment
    (7 actions), twelve 7-day cycles, death when the tumour reaches 5e8 cells (half the carrying capacity
    ``1/b`` of the published parameters), a hospitalisation when circulating lymphocytes are below 10 % of
    their healthy level at a visit (grade-4-like lymphopenia), eradication below one tumour cell. Patients:
    log-space interpolation between the paper's human patients 9 and 10, a 10 % log-normal variation of
    every parameter, and an initial tumour log-uniform in [1e7, 2e8] cells (:class:`PatientDistribution`).

    Args:
        regimens: regimen names from :data:`CHEMO_IMMUNO_REGIMENS` or :class:`Regimen` objects (default: all).
        patients: a :class:`PatientDistribution` or a sequence of :class:`PatientProfile` (default above).
        dose_levels, cycle_days, num_cycles, lethal_tumour, hospitalisation_fraction, eradication_threshold,
        kwargs: see :class:`TreatmentEnv`.
        rtol: relative tolerance of the ODE solver.

    Raises:
        InputError: for an unknown regimen name (and see :class:`TreatmentEnv`).
    """
    if patients is None:
        patients = PatientDistribution(DE_PILLIS_2006_PATIENT_9, DE_PILLIS_2006_PATIENT_10, cv=0.1,
                                       tumour_range=(1e7, 2e8))
    return TreatmentEnv(
        ChemoImmunotherapyModel(rtol=rtol, atol=1e-6),
        _regimens(CHEMO_IMMUNO_REGIMENS, regimens),
        dose_levels=dose_levels,
        cycle_days=cycle_days,
        num_cycles=num_cycles,
        patients=patients,
        lethal_tumour=lethal_tumour,
        hospitalisation_fraction=hospitalisation_fraction,
        eradication_threshold=eradication_threshold,
        **kwargs,
    )


def make_chemotherapy_env(
    regimens: Sequence[str | Regimen] | None = None,
    patients: Any = None,
    dose_levels: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    cycle_days: float = 1.0,
    num_cycles: int = 30,
    lethal_toxicity_fraction: float = 0.7,
    hospitalisation_fraction: float = 0.75,
    rtol: float = 1e-4,
    **kwargs: Any,
) -> TreatmentEnv:
    """``monai_dianet/Chemo-v0``: chemotherapy on the model of de Pillis & Radunskaya (2003) as in Ahn & Park (2011).

    Defaults: daily decisions over 30 days among no treatment and the drug at 25/50/75/100 % of the maximum
    rate (DTR-Gym's 5 discrete levels), death when normal cells fall below 70 % of their initial level
    (DTR-Gym's rule), a hospitalisation below 75 % (the constraint N >= 0.75 of de Pillis & Radunskaya).
    Patients: the published parameters with DTR-Gym's 10 % variation and an initial tumour uniform-in-log
    in [0.1, 0.3]. Tumour observations use a unit of 1e-4 (so the log-kill reward spans a few units).

    Args: see :func:`make_chemo_immunotherapy_env`.
    """
    if patients is None:
        patients = PatientDistribution(DE_PILLIS_RADUNSKAYA_2003, cv=0.1, tumour_range=(0.1, 0.3))
    kwargs.setdefault("state_units", {"N": 1e-4, "T": 1e-4, "I": 1e-4, "u": 1e-4})
    return TreatmentEnv(
        ChemotherapyModel(rtol=rtol, atol=1e-9),
        _regimens(CHEMO_REGIMENS, regimens),
        dose_levels=dose_levels,
        cycle_days=cycle_days,
        num_cycles=num_cycles,
        patients=patients,
        lethal_toxicity_fraction=lethal_toxicity_fraction,
        hospitalisation_fraction=hospitalisation_fraction,
        **kwargs,
    )


def _regimens(catalog: dict[str, Regimen], regimens: Sequence[str | Regimen] | None) -> list[Regimen]:
    if regimens is None:
        return list(catalog.values())
    if isinstance(regimens, str):
        raise InputError(f"regimens must be a list of names, got the string {regimens!r}.")
    names = [r for r in regimens if isinstance(r, str)]
    chosen = dict(zip(names, select_regimens(catalog, names)))
    return [chosen[r] if isinstance(r, str) else r for r in regimens]
