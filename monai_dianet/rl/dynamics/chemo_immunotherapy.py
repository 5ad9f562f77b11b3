# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The chemo-immunotherapy tumour model of de Pillis, Gu & Radunskaya (2006)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from .base import TumourODEModel

__all__ = ["ChemoImmunotherapyModel", "DE_PILLIS_2006_PATIENT_9", "DE_PILLIS_2006_PATIENT_10"]

DE_PILLIS_2006_PATIENT_9: dict[str, float] = {
    "a": 4.31e-1,  # tumour growth rate (1/day)
    "b": 1.02e-9,  # 1 / tumour carrying capacity (1/cell)
    "c": 6.41e-11,  # NK-cell kill rate of tumour cells (1/(cell day))
    "d": 2.34,  # saturation level of the CD8+ T-cell kill rate (1/day)
    "e": 2.08e-7,  # NK-cell fraction of circulating lymphocytes (1/day)
    "l": 2.09,  # exponent of the CD8+ T-cell kill term
    "f": 4.12e-2,  # NK-cell death rate (1/day)
    "g": 1.25e-2,  # maximum NK-cell recruitment rate by tumour cells (1/day)
    "h": 2.02e7,  # steepness of NK recruitment (cell^2)
    "j": 2.49e-2,  # maximum CD8+ T-cell recruitment rate (1/day)
    "k": 3.66e7,  # steepness of CD8+ T-cell recruitment (cell^2)
    "m": 2.04e-1,  # CD8+ T-cell death rate (1/day)
    "q": 1.42e-6,  # CD8+ T-cell inactivation by tumour cells (1/(cell day))
    "p": 3.42e-6,  # NK-cell inactivation by tumour cells (1/(cell day))
    "s": 8.39e-2,  # steepness of the CD8+ T-cell kill term
    "r1": 1.10e-7,  # CD8+ T-cell stimulation by NK-lysed tumour debris (1/(cell day))
    "r2": 6.50e-11,  # CD8+ T-cell activation by circulating lymphocytes and tumour (1/(cell day))
    "u": 3.00e-10,  # NK regulation of CD8+ T cells (1/(cell^2 day))
    "alpha": 7.50e8,  # constant source of circulating lymphocytes (cell/day)
    "beta": 1.20e-2,  # natural death and differentiation of circulating lymphocytes (1/day)
    "gamma": 9.00e-1,  # chemotherapy decay rate (1/day)
    "mu_I": 1.00e1,  # IL-2 decay rate (1/day)
    "p_I": 1.25e-1,  # CD8+ T-cell proliferation rate induced by IL-2 (1/day)
    "g_I": 2.00e7,  # IL-2 concentration for half-maximal CD8+ proliferation (IU)
    "K_T": 9.00e-1,  # chemotherapy kill rate of tumour cells (1/day)
    "K_N": 6.00e-1,  # chemotherapy kill rate of NK cells (1/day)
    "K_L": 6.00e-1,  # chemotherapy kill rate of CD8+ T cells (1/day)
    "K_C": 6.00e-1,  # chemotherapy kill rate of circulating lymphocytes (1/day)
}
"""Table 1 of de Pillis et al. (2006), human "patient 9" (fitted to Dudley et al. 2002)."""

DE_PILLIS_2006_PATIENT_10: dict[str, float] = {
    **DE_PILLIS_2006_PATIENT_9,
    "d": 1.88,
    "l": 1.81,
    "s": 5.12e-1,
    "k": 5.66e7,
    "m": 9.12,
    "q": 1.59e-6,
    "p": 3.59e-6,
    "alpha": 5.00e8,
    "beta": 8.00e-3,
}
"""Table 1 of de Pillis et al. (2006), human "patient 10": the patient-specific values that differ from patient 9."""


class ChemoImmunotherapyModel(TumourODEModel):
    """Tumour, NK cells, CD8+ T cells, circulating lymphocytes, chemotherapy and IL-2 (six ODEs).

    L. G. de Pillis, W. Gu and A. E. Radunskaya, "Mixed immunotherapy and chemotherapy of tumors: modeling,
    applications and biological interpretations", Journal of Theoretical Biology 238(4):841-862 (2006),
    doi:10.1016/j.jtbi.2005.06.037. States (cells, or drug amounts):

    .. code-block:: text

        dT/dt = a T (1 - b T) - c N T - D T - K_T (1 - e^-M) T
        dN/dt = e C - f N + g T^2 / (h + T^2) N - p N T - K_N (1 - e^-M) N
        dL/dt = -m L + j D^2 T^2 / (k + D^2 T^2) L - q L T + (r1 N + r2 C) T - u N L^2 - K_L (1 - e^-M) L
                + p_I L I / (g_I + I) + v_L(t)
        dC/dt = alpha - beta C - K_C (1 - e^-M) C
        dM/dt = -gamma M + v_M(t)
        dI/dt = -mu_I I + v_I(t)
        D     = d (L/T)^l / (s + (L/T)^l)

    ``T`` tumour cells, ``N`` NK cells, ``L`` tumour-specific CD8+ T cells, ``C`` circulating lymphocytes,
    ``M`` chemotherapy and ``I`` IL-2 in the blood; inputs ``v_M`` (chemotherapy), ``v_I`` (IL-2) and
    ``v_L`` (tumour-infiltrating lymphocyte infusion). Time is in days. The default parameters are the
    paper's human patient 9 (:data:`DE_PILLIS_2006_PATIENT_9`); :data:`DE_PILLIS_2006_PATIENT_10` holds
    patient 10. The paper's chemotherapy dose is ``v_M = 5`` for one day, its IL-2 dose ``v_I = 5e6`` IU/day.

    Default initial state (:meth:`initial_state`): a tumour of 2e7 cells (below the ~1e9 cells of a 1 cm^3,
    clinically detectable tumour) in a patient whose immune cells are at their tumour-free equilibrium
    (``C = alpha / beta``, ``N = e C / f``) with 10 tumour-specific CD8+ T cells and no drug. Toxicity is
    the depletion of circulating lymphocytes ``C`` below that healthy level ``alpha / beta``.

    Example::

        model = ChemoImmunotherapyModel()
        params = model.check_parameters({})
        y0 = model.check_state(model.initial_state(params))
        times, states = model.simulate(y0, params, [InfusionSegment(0, 1, {"v_M": 5.0}), InfusionSegment(1, 7, {})])
    """

    state_names = ("T", "N", "L", "C", "M", "I")
    input_names = ("v_M", "v_I", "v_L")
    tumour_state = "T"
    toxicity_state = "C"
    drug_states = ("M", "I")
    immune_states = ("N", "L", "C")
    default_parameters = DE_PILLIS_2006_PATIENT_9

    def initial_state(self, params: Mapping[str, float], tumour: float = 2e7) -> dict[str, float]:
        c0 = params["alpha"] / params["beta"]
        return {"T": tumour, "N": params["e"] * c0 / params["f"], "L": 10.0, "C": c0, "M": 0.0, "I": 0.0}

    def toxicity_baseline(self, params: Mapping[str, float], state0: Mapping[str, float]) -> float:
        return params["alpha"] / params["beta"]

    def make_rhs(self, params: Mapping[str, float]) -> Callable[..., list[float]]:
        # plain floats and math: the right-hand side is evaluated thousands of times per treatment cycle
        a, b, c, d, e, ll = (params[k] for k in ("a", "b", "c", "d", "e", "l"))
        f, g, h, j, k, m = (params[k] for k in ("f", "g", "h", "j", "k", "m"))
        q, p, s, r1, r2, u = (params[k] for k in ("q", "p", "s", "r1", "r2", "u"))
        alpha, beta, gamma, mu_i, p_i, g_i = (params[k] for k in ("alpha", "beta", "gamma", "mu_I", "p_I", "g_I"))
        k_t, k_n, k_l, k_c = (params[k] for k in ("K_T", "K_N", "K_L", "K_C"))

        def rhs(t: float, y, v_m: float, v_i: float, v_l: float) -> list[float]:
            tum, nk, cd8, circ, chemo, il2 = y.tolist()
            tum, nk, cd8 = (tum if tum > 0.0 else 0.0), (nk if nk > 0.0 else 0.0), (cd8 if cd8 > 0.0 else 0.0)
            circ, chemo = (circ if circ > 0.0 else 0.0), (chemo if chemo > 0.0 else 0.0)
            il2 = il2 if il2 > 0.0 else 0.0
            if tum > 0.0:
                ratio = (cd8 / tum) ** ll
                kill = d * ratio / (s + ratio) if math.isfinite(ratio) else d
            else:
                kill = d if cd8 > 0.0 else 0.0
            drug = 1.0 - math.exp(-chemo)
            dt2 = (kill * tum) ** 2
            return [
                a * tum * (1.0 - b * tum) - c * nk * tum - kill * tum - k_t * drug * tum,
                e * circ - f * nk + g * tum * tum / (h + tum * tum) * nk - p * nk * tum - k_n * drug * nk,
                -m * cd8 + j * dt2 / (k + dt2) * cd8 - q * cd8 * tum + (r1 * nk + r2 * circ) * tum
                - u * nk * cd8 * cd8 - k_l * drug * cd8 + p_i * cd8 * il2 / (g_i + il2) + v_l,
                alpha - beta * circ - k_c * drug * circ,
                -gamma * chemo + v_m,
                -mu_i * il2 + v_i,
            ]

        return rhs
