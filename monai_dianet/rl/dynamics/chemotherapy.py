# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The four-population chemotherapy model of de Pillis & Radunskaya, as used by Ahn & Park for drug scheduling."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from .base import TumourODEModel

__all__ = ["ChemotherapyModel", "DE_PILLIS_RADUNSKAYA_2003"]

DE_PILLIS_RADUNSKAYA_2003: dict[str, float] = {
    "a1": 0.2,  # fractional immune-cell kill by the drug
    "a2": 0.3,  # fractional tumour-cell kill by the drug
    "a3": 0.1,  # fractional normal-cell kill by the drug
    "b1": 1.0,  # reciprocal tumour carrying capacity
    "b2": 1.0,  # reciprocal normal-cell carrying capacity
    "alpha": 0.3,  # immune threshold rate
    "c1": 1.0,  # immune-cell inactivation by tumour cells
    "c2": 0.5,  # tumour-cell kill by immune cells
    "c3": 1.0,  # tumour-cell loss from competition with normal cells
    "c4": 1.0,  # normal-cell loss from competition with tumour cells
    "d1": 0.2,  # immune-cell death rate
    "d2": 1.0,  # drug decay rate
    "r1": 1.5,  # tumour growth rate
    "r2": 1.0,  # normal-cell growth rate
    "s": 0.33,  # immune-cell source rate
    "rho": 0.01,  # immune response rate
}
"""The normalised parameter values of de Pillis & Radunskaya (2003), also used by Ahn & Park (2011)."""


class ChemotherapyModel(TumourODEModel):
    """Normal cells, tumour cells, immune cells and drug concentration (four ODEs, normalised units).

    L. G. de Pillis and A. E. Radunskaya, "The dynamics of an optimally controlled tumor model: a case study",
    Mathematical and Computer Modelling 37(11):1221-1244 (2003), doi:10.1016/S0895-7177(03)00133-X; used by
    I. Ahn and J. Park, "Drug scheduling of cancer chemotherapy based on natural actor-critic approach",
    BioSystems 106(2-3):121-129 (2011), and by DTR-Gym's ``AhnChemoEnv``:

    .. code-block:: text

        dN/dt = r2 N (1 - b2 N) - c4 T N - a3 (1 - e^-u) N
        dT/dt = r1 T (1 - b1 T) - c2 I T - c3 T N - a2 (1 - e^-u) T
        dI/dt = s + rho I T / (alpha + T) - c1 I T - d1 I - a1 (1 - e^-u) I
        du/dt = -d2 u + v(t)

    Populations are normalised to their carrying capacities, time is in days, ``v`` is the drug input
    (``0 <= v <= 1`` in Ahn & Park). Default parameters: :data:`DE_PILLIS_RADUNSKAYA_2003`. Default initial
    state: ``N = 0.9, T = 0.2, I = 0.005, u = 0`` (DTR-Gym's default, an immunosuppressed patient whose tumour
    grows without treatment). Toxicity is the loss of normal cells below their initial level; de Pillis &
    Radunskaya constrain ``N >= 0.75`` during treatment.

    Example::

        model = ChemotherapyModel()
        params = model.check_parameters({})
        times, states = model.simulate(model.check_state(model.initial_state(params)), params,
                                       [InfusionSegment(0, 1, {"v": 1.0})])
    """

    state_names = ("N", "T", "I", "u")
    input_names = ("v",)
    tumour_state = "T"
    toxicity_state = "N"
    drug_states = ("u",)
    immune_states = ("I",)
    default_parameters = DE_PILLIS_RADUNSKAYA_2003

    def initial_state(self, params: Mapping[str, float], tumour: float = 0.2) -> dict[str, float]:
        return {"N": 0.9, "T": tumour, "I": 0.005, "u": 0.0}

    def toxicity_baseline(self, params: Mapping[str, float], state0: Mapping[str, float]) -> float:
        return float(state0["N"])

    def make_rhs(self, params: Mapping[str, float]) -> Callable[..., list[float]]:
        a1, a2, a3, b1, b2, alpha = (params[k] for k in ("a1", "a2", "a3", "b1", "b2", "alpha"))
        c1, c2, c3, c4, d1, d2 = (params[k] for k in ("c1", "c2", "c3", "c4", "d1", "d2"))
        r1, r2, s, rho = (params[k] for k in ("r1", "r2", "s", "rho"))

        def rhs(t: float, y, v: float) -> list[float]:
            n, tum, imm, drug = y.tolist()
            n, tum = (n if n > 0.0 else 0.0), (tum if tum > 0.0 else 0.0)
            imm, drug = (imm if imm > 0.0 else 0.0), (drug if drug > 0.0 else 0.0)
            kill = 1.0 - math.exp(-drug)
            return [
                r2 * n * (1.0 - b2 * n) - c4 * tum * n - a3 * kill * n,
                r1 * tum * (1.0 - b1 * tum) - c2 * imm * tum - c3 * tum * n - a2 * kill * tum,
                s + rho * imm * tum / (alpha + tum) - c1 * imm * tum - d1 * imm - a1 * kill * imm,
                -d2 * drug + v,
            ]

        return rhs
