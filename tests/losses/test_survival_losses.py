# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""CoxPHLoss (Breslow ties) and DiscreteTimeNLLLoss against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_dianet.losses import (
    CoxPHLoss,
    DiscreteTimeNLLLoss,
    discretize_survival_times,
    hazards_to_survival,
    survival_time_bins,
)

RISK = [0.5, -0.2, 1.0, 0.3, -1.0, 0.0]
TIME = [5.0, 3.0, 3.0, 8.0, 1.0, 3.0]  # three patients tied at t = 3
EVENT = [1, 1, 0, 0, 1, 1]


def _cox_by_hand() -> list[float]:
    """Breslow: each event's risk set is {j : t_j >= t_i}, tied events all share the whole set."""
    terms = []
    for i in range(len(RISK)):
        if not EVENT[i]:
            terms.append(0.0)
            continue
        denominator = sum(math.exp(RISK[j]) for j in range(len(RISK)) if TIME[j] >= TIME[i])
        terms.append(math.log(denominator) - RISK[i])
    return terms


def test_cox_matches_hand_values_with_ties():
    terms = _cox_by_hand()
    risk, time, event = torch.tensor(RISK), torch.tensor(TIME), torch.tensor(EVENT)
    assert torch.allclose(CoxPHLoss(reduction="none")(risk, time, event), torch.tensor(terms), atol=1e-6)
    assert float(CoxPHLoss(reduction="sum")(risk, time, event)) == pytest.approx(sum(terms), abs=1e-6)
    assert float(CoxPHLoss()(risk[:, None], time, event)) == pytest.approx(sum(terms) / 4, abs=1e-6)
    # the order of the patients does not matter, nor a common shift of the risks
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    assert float(CoxPHLoss()(risk[perm] + 7.0, time[perm], event[perm])) == pytest.approx(sum(terms) / 4, abs=1e-5)


def test_cox_gradient_and_edge_cases():
    risk = torch.tensor(RISK, requires_grad=True)
    CoxPHLoss()(risk, torch.tensor(TIME), torch.tensor(EVENT)).backward()
    assert bool(torch.isfinite(risk.grad).all()) and abs(float(risk.grad.sum())) < 1e-6  # shift invariance
    censored = CoxPHLoss()(torch.tensor(RISK, requires_grad=True), torch.tensor(TIME), torch.zeros(6))
    assert float(censored.detach()) == 0.0 and censored.requires_grad
    with pytest.raises(ValueError, match="non-negative"):
        CoxPHLoss()(torch.zeros(2), torch.tensor([1.0, -1.0]), torch.ones(2))
    with pytest.raises(ValueError, match="finite"):
        CoxPHLoss()(torch.zeros(2), torch.tensor([1.0, float("nan")]), torch.ones(2))
    with pytest.raises(ValueError, match="one size"):
        CoxPHLoss()(torch.zeros(3), torch.ones(2), torch.ones(2))
    # a large batch goes through the O(B log B) path with the same value as the quadratic formula
    g = torch.Generator().manual_seed(0)
    r, t = torch.randn(500, generator=g, dtype=torch.float64), torch.randint(0, 50, (500,), generator=g).double()
    e = (torch.rand(500, generator=g) < 0.4).double()
    at_risk = t[None, :] >= t[:, None]
    quadratic = (e * (torch.logsumexp(r[None, :].expand(500, -1).masked_fill(~at_risk, -math.inf), 1) - r)).sum()
    assert float(CoxPHLoss(reduction="sum")(r, t, e)) == pytest.approx(float(quadratic), rel=1e-10)


def test_discrete_time_nll_matches_hand_values():
    logits = torch.tensor([[0.2, -0.5, 1.0], [-1.0, 0.3, 0.0], [0.5, 0.5, -2.0]])
    interval = torch.tensor([1, 2, 0])
    event = torch.tensor([1, 0, 1])
    h = torch.sigmoid(logits).tolist()
    expected = [
        -(math.log(1 - h[0][0]) + math.log(h[0][1])),  # event in interval 1: survived 0, hazard at 1
        -(math.log(1 - h[1][0]) + math.log(1 - h[1][1]) + math.log(1 - h[1][2])),  # censored in 2: S_2
        -math.log(h[2][0]),  # event in interval 0: S_{-1} = 1
    ]
    assert torch.allclose(DiscreteTimeNLLLoss(reduction="none")(logits, interval, event), torch.tensor(expected),
                          atol=1e-6)
    assert float(DiscreteTimeNLLLoss()(logits, interval, event)) == pytest.approx(np.mean(expected), abs=1e-6)
    weighted = DiscreteTimeNLLLoss(alpha=0.5, reduction="sum")(logits, interval, event)
    assert float(weighted) == pytest.approx(expected[0] + 0.5 * expected[1] + expected[2], abs=1e-5)
    # saturated hazards stay finite (log domain)
    big = DiscreteTimeNLLLoss()(torch.full((1, 3), 200.0), torch.tensor([2]), torch.tensor([0]))
    assert math.isfinite(float(big))
    with pytest.raises(ValueError, match="interval"):
        DiscreteTimeNLLLoss()(logits, torch.tensor([0, 3, 0]), event)
    with pytest.raises(ValueError, match="alpha"):
        DiscreteTimeNLLLoss(alpha=2.0)


def test_bins_and_survival_curve():
    time = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0])
    event = np.array([1, 1, 1, 1, 0, 0, 0])
    edges = survival_time_bins(time, event, 4)
    assert np.allclose(edges, np.quantile([1, 2, 3, 4], [0.25, 0.5, 0.75]))
    assert discretize_survival_times(time, edges).tolist() == [0, 1, 2, 3, 3, 3, 3]
    s = hazards_to_survival(torch.tensor([[0.0, 0.0]]))
    assert torch.allclose(s, torch.tensor([[0.5, 0.25]]))
    with pytest.raises(ValueError, match="censored"):
        survival_time_bins(time, np.zeros(7), 4)
