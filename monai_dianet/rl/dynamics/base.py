# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Common interface of the published tumour-response ODE models, solved with ``scipy.integrate.solve_ivp``."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from ...utils.errors import InputError

__all__ = ["InfusionSegment", "TumourODEModel"]


@dataclass(frozen=True)
class InfusionSegment:
    """A time interval with constant drug input rates.

    Args:
        start: start time in days, relative to the start of the simulated interval.
        end: end time in days (``end > start``).
        rates: input name -> constant rate over ``[start, end)`` (model units per day); absent inputs are 0.
    """

    start: float
    end: float
    rates: Mapping[str, float]


class TumourODEModel(ABC):
    """A tumour-immune-drug ODE model with named states, parameters and drug inputs.

    Subclasses give the published equations (:meth:`make_rhs`), the published parameter values
    (:attr:`default_parameters`) and the roles of their states (which one is the tumour, which one measures
    toxicity). :meth:`simulate` integrates piecewise-constant inputs with ``solve_ivp`` (LSODA: the IL-2 and
    effector-cell equations of the chemo-immunotherapy model are stiff for some patients).
    """

    state_names: tuple[str, ...] = ()
    """Names of the state variables, in the order of the state vector."""
    input_names: tuple[str, ...] = ()
    """Names of the drug inputs (infusion rates) the model accepts."""
    tumour_state: str = ""
    """The state holding the tumour burden."""
    toxicity_state: str = ""
    """The healthy-cell state whose depletion measures toxicity (normal or immune cells)."""
    drug_states: tuple[str, ...] = ()
    """States holding drug concentrations (plotted as 'drug')."""
    immune_states: tuple[str, ...] = ()
    """States holding immune-cell populations (plotted as 'immune')."""
    default_parameters: Mapping[str, float] = {}
    """Published parameter values."""

    def __init__(self, rtol: float = 1e-5, atol: float = 1e-6) -> None:
        self.rtol = rtol
        self.atol = atol

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.default_parameters)

    def check_parameters(self, params: Mapping[str, float], name: str = "parameters") -> dict[str, float]:
        """Return a complete parameter dict (defaults filled in), rejecting unknown, non-finite or negative values.

        Raises:
            InputError: one-line message naming the offending parameter.
        """
        unknown = sorted(set(params) - set(self.default_parameters))
        if unknown:
            raise InputError(f"{name}: unknown parameter(s) {unknown} for {type(self).__name__}; "
                             f"expected some of {list(self.default_parameters)}.")
        full = {**self.default_parameters, **{k: float(v) for k, v in params.items()}}
        for key, value in full.items():
            if not math.isfinite(value) or value < 0:
                raise InputError(f"{name}: parameter {key!r} is {value}; expected a finite number >= 0.")
        return full

    def check_state(self, state: Mapping[str, float], name: str = "initial state") -> np.ndarray:
        """Return the state vector of a ``{state name: value}`` mapping (all states required, finite, >= 0)."""
        missing = [s for s in self.state_names if s not in state]
        unknown = sorted(set(state) - set(self.state_names))
        if missing or unknown:
            raise InputError(f"{name}: expected the states {list(self.state_names)}, got {sorted(state)}.")
        values = np.array([float(state[s]) for s in self.state_names], dtype=float)
        bad = [s for s, v in zip(self.state_names, values) if not math.isfinite(v) or v < 0]
        if bad:
            given = dict(zip(self.state_names, values.tolist()))
            raise InputError(f"{name}: state(s) {bad} must be finite and >= 0, got {given}.")
        return values

    @abstractmethod
    def initial_state(self, params: Mapping[str, float]) -> dict[str, float]:
        """The default initial state of a patient with these parameters."""

    @abstractmethod
    def toxicity_baseline(self, params: Mapping[str, float], state0: Mapping[str, float]) -> float:
        """The healthy level of :attr:`toxicity_state` against which depletion is measured."""

    @abstractmethod
    def make_rhs(self, params: Mapping[str, float]) -> Callable[..., list[float]]:
        """Return ``f(t, y, *rates)``, the right-hand side with the inputs in :attr:`input_names` order."""

    def simulate(
        self,
        state: np.ndarray,
        params: Mapping[str, float],
        segments: Sequence[InfusionSegment],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Integrate the model through consecutive segments of constant inputs.

        Args:
            state: state vector at time 0 (order of :attr:`state_names`).
            params: complete parameter dict (see :meth:`check_parameters`).
            segments: contiguous segments starting at 0 (each ``start`` equals the previous ``end``).

        Returns:
            ``(times, states)``: time 0 and every segment end, and the states there, shape
            ``(len(segments) + 1, num_states)``; negative round-off is clipped to 0.

        Raises:
            InputError: for non-contiguous segments, an unknown input name or a negative rate.
            RuntimeError: when the solver fails.
        """
        rhs = self.make_rhs(params)
        y = np.asarray(state, dtype=float)
        times, states = [0.0], [y.copy()]
        t = 0.0
        for seg in segments:
            if abs(seg.start - t) > 1e-9 or seg.end <= seg.start:
                raise InputError(f"infusion segments must be contiguous from 0 with end > start, got {seg}.")
            unknown = sorted(set(seg.rates) - set(self.input_names))
            if unknown:
                raise InputError(
                    f"unknown drug input(s) {unknown}; {type(self).__name__} takes {list(self.input_names)}."
                )
            rates = [float(seg.rates.get(name, 0.0)) for name in self.input_names]
            if any(not math.isfinite(r) or r < 0 for r in rates):
                raise InputError(f"drug input rates must be finite and >= 0, got {dict(seg.rates)}.")
            sol = solve_ivp(rhs, (seg.start, seg.end), y, method="LSODA", args=tuple(rates), rtol=self.rtol,
                            atol=self.atol)
            if not sol.success:
                raise RuntimeError(
                    f"{type(self).__name__}: ODE solver failed on [{seg.start}, {seg.end}]: {sol.message}"
                )
            y = np.maximum(sol.y[:, -1], 0.0)
            times.append(seg.end)
            states.append(y.copy())
            t = seg.end
        return np.asarray(times), np.asarray(states)
