# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Treatment regimens (drug input schedules within one cycle) and the discrete regimen x dose action table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ...utils.errors import InputError
from ..dynamics.base import InfusionSegment

__all__ = ["Regimen", "TreatmentAction", "build_action_table", "select_regimens"]


@dataclass(frozen=True)
class Regimen:
    """One treatment regimen: which drug inputs run when within a cycle, at the reference (full) dose.

    Args:
        name: unique name (e.g. ``"chemotherapy"``).
        schedule: ``(start_day, end_day, {input: rate})`` items; rates are the model's input rates at the
            reference dose (dose 1.0) and scale linearly with the dose.
        exposure: drug exposure of one cycle at the reference dose, in the units of the reward's drug term
            (e.g. 1 per drug given).
        description: text for reports.

    Raises:
        InputError: for an empty name, a negative or non-finite rate, ``end <= start`` or a negative start.

    Example::

        chemo = Regimen("chemotherapy", ((0.0, 1.0, {"v_M": 5.0}),), exposure=1.0)
    """

    name: str
    schedule: tuple[tuple[float, float, Mapping[str, float]], ...]
    exposure: float = 1.0
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("regimen name must be a non-empty string.")
        if not math.isfinite(self.exposure) or self.exposure < 0:
            raise InputError(f"regimen {self.name!r}: exposure must be finite and >= 0, got {self.exposure}.")
        for start, end, rates in self.schedule:
            if not (0 <= start < end) or not math.isfinite(end):
                raise InputError(f"regimen {self.name!r}: schedule item ({start}, {end}) needs 0 <= start < end.")
            for key, rate in rates.items():
                if not math.isfinite(rate) or rate < 0:
                    raise InputError(f"regimen {self.name!r}: rate of {key!r} is {rate}; expected a finite rate >= 0.")

    def input_names(self) -> set[str]:
        return {key for _, _, rates in self.schedule for key in rates}


@dataclass(frozen=True)
class TreatmentAction:
    """One discrete action: a regimen at a dose (fraction of its reference dose), or no treatment."""

    regimen: Regimen | None
    dose: float = 0.0
    label: str = field(default="")

    def __post_init__(self) -> None:
        if not math.isfinite(self.dose) or self.dose < 0:
            raise InputError(f"dose must be a finite number >= 0, got {self.dose}.")
        if not self.label:
            text = "no treatment" if self.regimen is None else f"{self.regimen.name} x{self.dose:g}"
            object.__setattr__(self, "label", text)

    @property
    def exposure(self) -> float:
        return 0.0 if self.regimen is None else self.regimen.exposure * self.dose

    def segments(self, cycle_days: float, daily: bool = False) -> list[InfusionSegment]:
        """Contiguous constant-rate segments covering ``[0, cycle_days)`` (split at every day with ``daily``).

        Raises:
            InputError: when the regimen's schedule runs past ``cycle_days``.
        """
        items = [] if self.regimen is None else list(self.regimen.schedule)
        for start, end, _ in items:
            if end > cycle_days + 1e-9:
                raise InputError(
                    f"regimen {self.regimen.name!r} runs until day {end}, beyond the {cycle_days}-day cycle."
                )
        cuts = {0.0, float(cycle_days)}
        for start, end, _ in items:
            cuts.update((float(start), float(end)))
        if daily:
            cuts.update(float(d) for d in range(1, int(math.ceil(cycle_days))))
        cuts = sorted(c for c in cuts if c <= cycle_days)
        segments = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            rates: dict[str, float] = {}
            for start, end, item_rates in items:
                if start <= a and b <= end:
                    for key, rate in item_rates.items():
                        rates[key] = rates.get(key, 0.0) + rate * self.dose
            if segments and not daily and segments[-1].rates == rates:
                segments[-1] = InfusionSegment(segments[-1].start, b, rates)
            else:
                segments.append(InfusionSegment(a, b, rates))
        return segments


def build_action_table(regimens: Sequence[Regimen], dose_levels: Sequence[float]) -> list[TreatmentAction]:
    """The discrete action table: ``0`` = no treatment, then every regimen at every dose level.

    Raises:
        InputError: for duplicated regimen names, no dose level, or a dose level that is not a positive number.
    """
    names = [r.name for r in regimens]
    if len(set(names)) != len(names):
        raise InputError(f"regimen names must be unique, got {names}.")
    if not len(dose_levels):
        raise InputError("dose_levels must hold at least one dose.")
    for dose in dose_levels:
        if not isinstance(dose, (int, float)) or not math.isfinite(dose) or dose <= 0:
            raise InputError(f"dose levels must be positive numbers, got {list(dose_levels)}.")
    return [TreatmentAction(None)] + [TreatmentAction(r, float(d)) for r in regimens for d in dose_levels]


def select_regimens(catalog: Mapping[str, Regimen], names: Sequence[str] | None) -> list[Regimen]:
    """Pick regimens from a catalog by name (all of them, in catalog order, when ``names`` is None).

    Raises:
        InputError: for an unknown regimen name, listing the known ones.
    """
    if names is None:
        return list(catalog.values())
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise InputError(f"unknown regimen(s) {unknown}; known regimens: {sorted(catalog)}.")
    return [catalog[n] for n in names]
