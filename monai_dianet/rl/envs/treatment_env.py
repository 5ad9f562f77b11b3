# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""A Gymnasium environment of a fixed-length treatment course on a published tumour-response ODE model."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ...utils.errors import InputError
from ..dynamics.base import TumourODEModel
from .patients import PatientDistribution, PatientProfile, resolve_patient
from .regimen import Regimen, TreatmentAction, build_action_table
from .reward import TreatmentReward

__all__ = ["TreatmentEnv", "OBSERVATION_BOUND"]

OBSERVATION_BOUND = 1e4


class TreatmentEnv(gym.Env):
    """Treatment of one patient over ``num_cycles`` cycles of ``cycle_days`` days; one decision per cycle.

    At each cycle the agent picks a discrete action: ``0`` = no treatment, then every regimen at every dose
    level (:func:`~monai_dianet.rl.envs.regimen.build_action_table`; :attr:`actions` holds the table). The
    patient's ODE model is integrated through the cycle's infusion schedule, the state is measured at the end
    of the cycle (the next visit), and the reward is computed by :class:`TreatmentReward`. The episode ends
    early (``terminated``) when the patient dies (tumour burden at or above ``lethal_tumour``, or the healthy
    cells measuring toxicity below ``lethal_toxicity_fraction`` of their healthy level) and is truncated after
    ``num_cycles`` cycles.

    Observation (``float32`` vector, layout in :attr:`observation_layout`):

    - ``log10(1 + x / unit) / 10`` of every observed state ``x`` (``unit`` from :attr:`state_units`), with
      optional multiplicative log-normal noise (``observation_noise`` = its sigma) and missing measurements
      (each value missing with probability ``missing_probability``; the last measured value is carried
      forward and a mask flags it);
    - the missing-value mask of those states;
    - the measured toxicity level relative to the healthy level, the fraction of the course elapsed and the
      cumulative drug exposure divided by ``num_cycles``;
    - the patient's static features (:class:`PatientProfile` ``features``; e.g. stage, genomic alterations,
      prior treatment or an OncoNet fused embedding).

    Beyond the published dynamics, a tumour burden below ``eradication_threshold`` at the end of a cycle is
    set to 0 (otherwise an ODE tumour of 1e-30 cells regrows).

    Args:
        model: the ODE model.
        regimens: the regimens the agent can choose from.
        dose_levels: doses (fractions of each regimen's reference dose) offered for every regimen.
        cycle_days: length of a treatment cycle in days.
        num_cycles: cycles per episode (the fixed course length).
        patients: a :class:`PatientDistribution` (one draw per reset) or a sequence of :class:`PatientProfile`
            (a cohort: ``reset(options={"patient_index": i})`` or ``{"patient_id": ...}`` picks one, otherwise
            one is drawn at random).
        reward: reward weights.
        observation_noise: sigma of the log-normal measurement noise (0 = exact measurements).
        missing_probability: probability that a measurement is missing at a visit.
        observed_states: model states that are measured (default: all).
        lethal_tumour: tumour burden at which the patient dies (None: never).
        lethal_toxicity_fraction: level of the toxicity state (fraction of healthy) below which the patient
            dies (None: never).
        hospitalisation_fraction: level of the toxicity state (fraction of healthy) below which the cycle
            counts as a hospitalisation.
        eradication_threshold: tumour burden below which the tumour is eradicated (0 disables).
        state_units: per-state measurement unit of the log observation (default 1).
        daily_samples: also integrate day by day and return the daily states in ``info["trajectory"]``
            (for plots; observations and rewards do not depend on it).

    Raises:
        InputError: for a regimen using inputs the model does not have, non-positive ``cycle_days`` or
            ``num_cycles``, probabilities outside [0, 1], an empty cohort or inconsistent feature lengths.

    Example::

        env = gymnasium.make("monai_dianet/ChemoImmuno-v0")
        obs, info = env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(1)
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        model: TumourODEModel,
        regimens: Sequence[Regimen],
        dose_levels: Sequence[float] = (0.5, 1.0),
        cycle_days: float = 7.0,
        num_cycles: int = 12,
        patients: PatientDistribution | Sequence[PatientProfile] | None = None,
        reward: TreatmentReward | None = None,
        observation_noise: float = 0.0,
        missing_probability: float = 0.0,
        observed_states: Sequence[str] | None = None,
        lethal_tumour: float | None = None,
        lethal_toxicity_fraction: float | None = None,
        hospitalisation_fraction: float = 0.1,
        eradication_threshold: float = 0.0,
        state_units: Mapping[str, float] | None = None,
        daily_samples: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        for regimen in regimens:
            unknown = sorted(regimen.input_names() - set(model.input_names))
            if unknown:
                raise InputError(f"regimen {regimen.name!r} uses input(s) {unknown}; {type(model).__name__} takes "
                                 f"{list(model.input_names)}.")
        if not (cycle_days > 0 and math.isfinite(cycle_days)):
            raise InputError(f"cycle_days must be a positive number, got {cycle_days}.")
        if int(num_cycles) != num_cycles or num_cycles < 1:
            raise InputError(f"num_cycles must be a positive integer, got {num_cycles}.")
        for key, value in (("missing_probability", missing_probability),):
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{key} must be in [0, 1], got {value}.")
        if not (observation_noise >= 0 and math.isfinite(observation_noise)):
            raise InputError(f"observation_noise must be a finite number >= 0, got {observation_noise}.")
        self.regimens = list(regimens)
        self.actions: list[TreatmentAction] = build_action_table(self.regimens, dose_levels)
        for action in self.actions:
            action.segments(cycle_days)  # schedules must fit in a cycle
        self.cycle_days = float(cycle_days)
        self.num_cycles = int(num_cycles)
        self.reward_fn = reward or TreatmentReward()
        self.observation_noise = float(observation_noise)
        self.missing_probability = float(missing_probability)
        self.observed_states = tuple(observed_states) if observed_states is not None else model.state_names
        unknown = sorted(set(self.observed_states) - set(model.state_names))
        if unknown:
            raise InputError(f"observed_states {unknown} are not states of {type(model).__name__} {model.state_names}.")
        self.lethal_tumour = lethal_tumour
        self.lethal_toxicity_fraction = lethal_toxicity_fraction
        self.hospitalisation_fraction = float(hospitalisation_fraction)
        self.eradication_threshold = float(eradication_threshold)
        self.state_units = {s: 1.0 for s in model.state_names}
        self.state_units.update(state_units or {})
        self.daily_samples = bool(daily_samples)

        if patients is None:
            patients = PatientDistribution(model.default_parameters, cv=0.0)
        if not isinstance(patients, PatientDistribution):
            patients = list(patients)
            if not patients:
                raise InputError("patients: the cohort is empty; give at least one PatientProfile.")
            sizes = {p.features.size for p in patients}
            if len(sizes) != 1:
                raise InputError(
                    f"patients: every profile needs the same number of features, got sizes {sorted(sizes)}."
                )
            for profile in patients:
                resolve_patient(model, profile)  # fail at construction, not in the middle of training
        self.patients = patients
        num_features = 0 if isinstance(patients, PatientDistribution) else patients[0].features.size

        self._tumour = model.state_names.index(model.tumour_state)
        self._toxicity = model.state_names.index(model.toxicity_state)
        self._observed = [model.state_names.index(s) for s in self.observed_states]
        n_obs = len(self._observed)
        dynamic = 2 * n_obs + 3
        self.observation_layout = {
            "states": (0, n_obs),
            "missing": (n_obs, 2 * n_obs),
            "course": (2 * n_obs, dynamic),
            "dynamic": (0, dynamic),
            "patient": (dynamic, dynamic + num_features),
        }
        # loose finite bounds (every entry is a scaled log count, a fraction or a patient feature)
        self.observation_space = spaces.Box(-OBSERVATION_BOUND, OBSERVATION_BOUND, shape=(dynamic + num_features,),
                                            dtype=np.float32)
        self.action_space = spaces.Discrete(len(self.actions))

        self.patient: PatientProfile | None = None
        self.params: dict[str, float] = {}
        self._state = np.zeros(len(model.state_names))
        self._last_measured = np.zeros(n_obs)

    # ------------------------------------------------------------------ helpers
    def _measure(self, state: np.ndarray, first: bool) -> tuple[np.ndarray, np.ndarray]:
        values = np.array([state[i] for i in self._observed], dtype=float)
        if self.observation_noise > 0:
            values = values * np.exp(self.observation_noise * self.np_random.standard_normal(values.shape))
        missing = np.zeros(values.shape, dtype=bool)
        if self.missing_probability > 0 and not first:
            missing = self.np_random.uniform(size=values.shape) < self.missing_probability
            values = np.where(missing, self._last_measured, values)
        self._last_measured = values
        return values, missing

    def _observation(self, first: bool = False) -> np.ndarray:
        values, missing = self._measure(self._state, first)
        units = np.array([self.state_units[self.model.state_names[i]] for i in self._observed])
        logs = np.log10(1.0 + np.maximum(values, 0.0) / units) / 10.0
        if self.model.toxicity_state in self.observed_states:
            tox = values[self.observed_states.index(self.model.toxicity_state)] / self._baseline
        else:
            tox = self._state[self._toxicity] / self._baseline
        course = [tox, self._cycle / self.num_cycles, self._exposure / self.num_cycles]
        obs = np.concatenate([logs, missing.astype(float), course, self.patient.features])
        return np.clip(obs, -OBSERVATION_BOUND, OBSERVATION_BOUND).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient.patient_id,
            "cycle": self._cycle,
            "day": self._cycle * self.cycle_days,
            "state": dict(zip(self.model.state_names, self._state.tolist())),
            "toxicity_ratio": float(self._state[self._toxicity] / self._baseline),
            "cumulative_exposure": self._exposure,
            "hospitalisations": self._hospitalisations,
        }

    def _tumour_log(self, value: float) -> float:
        return math.log10(1.0 + value / self.state_units[self.model.tumour_state])

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if isinstance(self.patients, PatientDistribution):
            self.patient = self.patients.sample(self.model, self.np_random, patient_id=f"sampled-{seed}")
        else:
            if "patient_index" in options:
                index = options["patient_index"]
                if not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.patients):
                    raise InputError(f"patient_index {index!r} is outside the cohort of {len(self.patients)} patients.")
            elif "patient_id" in options:
                ids = [p.patient_id for p in self.patients]
                if options["patient_id"] not in ids:
                    raise InputError(f"patient_id {options['patient_id']!r} is not in the cohort.")
                index = ids.index(options["patient_id"])
            else:
                index = int(self.np_random.integers(len(self.patients)))
            self.patient = self.patients[index]
        self.params, self._state = resolve_patient(self.model, self.patient)
        self._baseline = self.model.toxicity_baseline(self.params, dict(zip(self.model.state_names, self._state)))
        self._cycle, self._exposure, self._hospitalisations = 0, 0.0, 0
        self._done = False
        return self._observation(first=True), self._info()

    def step(self, action):
        if self.patient is None:
            raise RuntimeError("call reset() before step().")
        if self._done:
            raise RuntimeError("the episode has ended; call reset() before step().")
        if isinstance(action, np.ndarray) and action.size == 1:
            action = action.reshape(()).item()
        is_int = isinstance(action, (int, np.integer)) and not isinstance(action, (bool, np.bool_))
        if not is_int or not self.action_space.contains(int(action)):
            raise InputError(f"action {action!r} is outside the action space Discrete({self.action_space.n}); "
                             f"expected an integer in [0, {self.action_space.n - 1}].")
        chosen = self.actions[int(action)]
        before = self._state
        times, states = self.model.simulate(before, self.params, chosen.segments(self.cycle_days, self.daily_samples))
        after = states[-1].copy()
        if after[self._tumour] < self.eradication_threshold:
            after[self._tumour] = 0.0
        self._state = after
        self._cycle += 1
        self._exposure += chosen.exposure
        ratio = float(after[self._toxicity] / self._baseline)
        hospitalised = ratio < self.hospitalisation_fraction
        self._hospitalisations += int(hospitalised)
        died = bool(
            (self.lethal_tumour is not None and after[self._tumour] >= self.lethal_tumour)
            or (self.lethal_toxicity_fraction is not None and ratio < self.lethal_toxicity_fraction)
        )
        components = {
            "tumour_reduction": self._tumour_log(before[self._tumour]) - self._tumour_log(after[self._tumour]),
            "exposure": chosen.exposure,
            "depletion": max(0.0, 1.0 - ratio),
            "hospitalised": hospitalised,
            "died": died,
        }
        reward = self.reward_fn(**components)
        terminated = died
        truncated = not died and self._cycle >= self.num_cycles
        self._done = terminated or truncated
        info = self._info()
        info.update(action=int(action), action_label=chosen.label, reward_components=components,
                    trajectory={"days": ((self._cycle - 1) * self.cycle_days + times).tolist(),
                                "states": states.tolist()})
        return self._observation(), reward, terminated, truncated, info
