# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Patients of a treatment environment: fixed profiles (a cohort) or draws from stated parameter distributions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...utils.errors import InputError
from ..dynamics.base import TumourODEModel

__all__ = ["PatientProfile", "PatientDistribution", "resolve_patient"]


@dataclass
class PatientProfile:
    """One patient: model parameters, initial state and static features for the policy's state encoder.

    Args:
        patient_id: identifier used in records and reports.
        parameters: model parameters that differ from the model's published defaults.
        initial_tumour: initial tumour burden (model units); the model's default initial state is built around it.
            Ignored when ``initial_state`` is given.
        initial_state: the complete initial state (every state of the model), overriding the default.
        features: static patient features (stage, genomic alterations, prior treatment, an OncoNet embedding...)
            appended to every observation.
        description: free-form clinical summary for reports (stage, age...).

    Example::

        PatientProfile("TCGA-05-4244", {"a": 0.5}, initial_tumour=5e7, features=np.array([0.5, 1.0]))
    """

    patient_id: str
    parameters: Mapping[str, float] = field(default_factory=dict)
    initial_tumour: float | None = None
    initial_state: Mapping[str, float] | None = None
    features: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    description: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = np.asarray(self.features, dtype=np.float32).reshape(-1)
        bad = np.flatnonzero(~np.isfinite(self.features))
        if bad.size:
            raise InputError(f"patient {self.patient_id!r}: feature(s) at index {bad.tolist()} are not finite "
                             f"({self.features[bad].tolist()}); expected finite numbers (impute missing values first).")
        for key, value in self.parameters.items():
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
                raise InputError(
                    f"patient {self.patient_id!r}: parameter {key!r} is {value!r}; expected a finite number."
                )
        if self.initial_tumour is not None and (not math.isfinite(self.initial_tumour) or self.initial_tumour < 0):
            raise InputError(f"patient {self.patient_id!r}: initial_tumour is {self.initial_tumour!r}; expected a "
                             f"finite number >= 0.")


def resolve_patient(model: TumourODEModel, profile: PatientProfile) -> tuple[dict[str, float], np.ndarray]:
    """Complete parameters and initial state vector of a profile for ``model``.

    Raises:
        InputError: one-line message naming the patient and the offending parameter or state.
    """
    params = model.check_parameters(profile.parameters, name=f"patient {profile.patient_id!r}")
    if profile.initial_state is not None:
        state = dict(profile.initial_state)
    elif profile.initial_tumour is not None:
        state = model.initial_state(params, tumour=float(profile.initial_tumour))
    else:
        state = model.initial_state(params)
    return params, model.check_state(state, name=f"patient {profile.patient_id!r} initial state")


class PatientDistribution:
    """Patients drawn from stated parameter distributions around published values.

    Each draw (1) interpolates, in log space, between the ``reference`` parameters and the ``alternative`` ones
    with a weight ``w ~ U(0, 1)`` (e.g. between the two human patients fitted by de Pillis et al. 2006);
    (2) multiplies every parameter in ``vary`` by a log-normal factor with coefficient of variation ``cv``
    (DTR-Gym's "PK/PD variation" is 10 %); (3) draws the initial tumour burden log-uniformly in
    ``tumour_range``. Patients carry no static features.

    Args:
        reference: published parameter values (complete or partial; the model's defaults fill the rest).
        alternative: a second published parameter set, or None for no interpolation.
        cv: coefficient of variation of the log-normal factor (0 disables it).
        tumour_range: ``(low, high)`` initial tumour burden, or None for the model's default.
        vary: names of the parameters that get the log-normal factor (default: all of them).

    Raises:
        InputError: for a negative ``cv`` or an invalid tumour range.

    Example::

        dist = PatientDistribution(DE_PILLIS_2006_PATIENT_9, DE_PILLIS_2006_PATIENT_10, cv=0.1,
                                   tumour_range=(1e7, 2e8))
        profile = dist.sample(ChemoImmunotherapyModel(), np.random.default_rng(0), "p0")
    """

    def __init__(
        self,
        reference: Mapping[str, float],
        alternative: Mapping[str, float] | None = None,
        cv: float = 0.1,
        tumour_range: tuple[float, float] | None = None,
        vary: Sequence[str] | None = None,
    ) -> None:
        if not math.isfinite(cv) or cv < 0:
            raise InputError(f"cv must be a finite number >= 0, got {cv}.")
        if tumour_range is not None and not (0 < tumour_range[0] <= tumour_range[1] < math.inf):
            raise InputError(f"tumour_range must be (low, high) with 0 < low <= high, got {tumour_range}.")
        self.reference = dict(reference)
        self.alternative = dict(alternative) if alternative is not None else None
        self.cv = float(cv)
        self.tumour_range = tumour_range
        self.vary = None if vary is None else tuple(vary)

    def sample(self, model: TumourODEModel, rng: np.random.Generator, patient_id: str = "sampled") -> PatientProfile:
        base = model.check_parameters(self.reference, name="reference parameters")
        params = dict(base)
        if self.alternative is not None:
            alt = model.check_parameters(self.alternative, name="alternative parameters")
            w = rng.uniform()
            for key in params:
                lo, hi = base[key], alt[key]
                params[key] = lo ** (1 - w) * hi**w if lo > 0 and hi > 0 else (1 - w) * lo + w * hi
        if self.cv > 0:
            sigma = math.sqrt(math.log1p(self.cv**2))
            for key in self.vary if self.vary is not None else list(params):
                params[key] *= math.exp(sigma * rng.standard_normal() - 0.5 * sigma**2)
        tumour = None
        if self.tumour_range is not None:
            lo, hi = self.tumour_range
            tumour = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return PatientProfile(patient_id, params, initial_tumour=tumour)
