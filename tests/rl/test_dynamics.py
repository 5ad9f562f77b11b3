# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The ODE models against independent scipy.integrate.odeint solutions of the equations written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import odeint

from monai_dianet.rl.dynamics import (
    DE_PILLIS_2006_PATIENT_9,
    DE_PILLIS_2006_PATIENT_10,
    ChemoImmunotherapyModel,
    ChemotherapyModel,
    InfusionSegment,
)
from monai_dianet.utils.errors import InputError

# de Pillis, Gu & Radunskaya (2006), Table 1, human patient 9, written out independently of the package
P9 = dict(a=0.431, b=1.02e-9, c=6.41e-11, d=2.34, e=2.08e-7, l=2.09, f=0.0412, g=0.0125, h=2.02e7, j=0.0249,
          k=3.66e7, m=0.204, q=1.42e-6, p=3.42e-6, s=0.0839, r1=1.1e-7, r2=6.5e-11, u=3e-10, alpha=7.5e8,
          beta=0.012, gamma=0.9, muI=10.0, pI=0.125, gI=2e7, KT=0.9, KN=0.6, KL=0.6, KC=0.6)


def de_pillis_2006(y, t, P, vM):
    T, N, L, C, M, I = np.maximum(y, 0.0)
    ratio = (L / T) ** P["l"] if T > 1e-12 else np.inf
    D = P["d"] * ratio / (P["s"] + ratio) if np.isfinite(ratio) else P["d"]
    kill = 1 - np.exp(-M)
    return [
        P["a"] * T * (1 - P["b"] * T) - P["c"] * N * T - D * T - P["KT"] * kill * T,
        P["e"] * C - P["f"] * N + P["g"] * T**2 / (P["h"] + T**2) * N - P["p"] * N * T - P["KN"] * kill * N,
        -P["m"] * L + P["j"] * D**2 * T**2 / (P["k"] + D**2 * T**2) * L - P["q"] * L * T
        + (P["r1"] * N + P["r2"] * C) * T - P["u"] * N * L**2 - P["KL"] * kill * L + P["pI"] * L * I / (P["gI"] + I),
        P["alpha"] - P["beta"] * C - P["KC"] * kill * C,
        -P["gamma"] * M + vM,
        -P["muI"] * I,
    ]


def de_pillis_2003(y, t, vM):
    N, T, I, u = y
    kill = 1 - np.exp(-u)
    return [
        1.0 * N * (1 - 1.0 * N) - 1.0 * T * N - 0.1 * kill * N,
        1.5 * T * (1 - 1.0 * T) - 0.5 * I * T - 1.0 * T * N - 0.3 * kill * T,
        0.33 + 0.01 * I * T / (0.3 + T) - 1.0 * I * T - 0.2 * I - 0.2 * kill * I,
        -1.0 * u + vM,
    ]


def test_patient_9_parameters_are_the_published_ones():
    assert ChemoImmunotherapyModel.default_parameters == DE_PILLIS_2006_PATIENT_9
    for key, value in P9.items():
        renamed = {"muI": "mu_I", "pI": "p_I", "gI": "g_I", "KT": "K_T", "KN": "K_N", "KL": "K_L", "KC": "K_C"}
        name = renamed.get(key, key)
        assert DE_PILLIS_2006_PATIENT_9[name] == pytest.approx(value, rel=1e-12)
    assert DE_PILLIS_2006_PATIENT_10["m"] == 9.12 and DE_PILLIS_2006_PATIENT_10["alpha"] == 5e8


@pytest.mark.parametrize("dose", [0.0, 1.0])
def test_chemo_immunotherapy_matches_odeint(dose):
    """No treatment: the tumour grows towards its carrying capacity; continuous chemotherapy: it regresses."""
    model = ChemoImmunotherapyModel(rtol=1e-8, atol=1e-6)
    params = model.check_parameters({})
    c0 = P9["alpha"] / P9["beta"]
    y0 = [2e7, P9["e"] * c0 / P9["f"], 10.0, c0, 0.0, 0.0]
    assert np.allclose(model.check_state(model.initial_state(params)), y0)
    days = np.arange(0, 21)
    _, ours = model.simulate(np.array(y0), params, [InfusionSegment(d, d + 1, {"v_M": dose}) for d in range(20)])
    ref = odeint(de_pillis_2006, y0, days, args=(P9, dose), rtol=1e-10, atol=1e-8, mxstep=50000)
    tumour, expected = ours[:, 0], ref[:, 0]
    big = expected > 1.0  # compare where the tumour is at least one cell
    assert np.allclose(tumour[big], expected[big], rtol=1e-3)
    assert np.allclose(ours[:, 3], ref[:, 3], rtol=1e-4)  # circulating lymphocytes
    if dose == 0:
        assert tumour[-1] > 10 * tumour[0] and tumour[-1] < 1 / P9["b"]
    else:
        assert tumour[5] < 1e-2 * tumour[0] and tumour[-1] < 1.0


@pytest.mark.parametrize("dose", [0.0, 1.0])
def test_chemotherapy_matches_odeint(dose):
    model = ChemotherapyModel(rtol=1e-9, atol=1e-11)
    params = model.check_parameters({})
    y0 = [0.9, 0.2, 0.005, 0.0]
    days = np.arange(0, 31)
    _, ours = model.simulate(np.array(y0), params, [InfusionSegment(d, d + 1, {"v": dose}) for d in range(30)])
    ref = odeint(de_pillis_2003, y0, days, args=(dose,), rtol=1e-11, atol=1e-12)
    assert np.allclose(ours, ref, rtol=1e-5, atol=1e-7)
    if dose == 0:
        assert ours[-1, 1] > 2 * ours[0, 1]  # growth without treatment
    else:
        assert ours[-1, 1] < 0.6 * ours[0, 1]  # regression under continuous maximal dosing


def test_bad_parameters_and_inputs_are_one_line_errors():
    model = ChemoImmunotherapyModel()
    for params, text in (({"a": math.nan}, "'a'"), ({"zz": 1.0}, "unknown parameter"), ({"b": -1.0}, "'b'")):
        with pytest.raises(InputError, match=text) as err:
            model.check_parameters(params)
        assert "\n" not in str(err.value)
    params = model.check_parameters({})
    y0 = model.check_state(model.initial_state(params))
    with pytest.raises(InputError, match="v_X"):
        model.simulate(y0, params, [InfusionSegment(0, 1, {"v_X": 1.0})])
    with pytest.raises(InputError, match=">= 0"):
        model.simulate(y0, params, [InfusionSegment(0, 1, {"v_M": -1.0})])
