# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Recommendation records, review thresholds, cohort evaluation, the validation callback and the figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monai_dianet.rl import (
    ATLP,
    FixedProtocol,
    PatientProfile,
    RandomPolicy,
    ValidationCallback,
    evaluate_cohort,
    fit_review_threshold,
    plot_learning_curve,
    plot_treatment_trajectories,
    quantile_spread,
    recommendation_record,
    summarize_episodes,
)
from monai_dianet.rl.envs import make_chemo_immunotherapy_env
from monai_dianet.utils.errors import InputError
from tests.utils import global_backend_kept


def test_spread_threshold_and_record():
    atoms = np.array([0.0, 1.0, 2.0, 3.0])  # at tau 0.125, 0.375, 0.625, 0.875
    assert quantile_spread(atoms, (0.125, 0.875)) == pytest.approx(3.0)
    assert quantile_spread(atoms[::-1], (0.25, 0.75)) == pytest.approx(2.5 - 0.5)
    assert fit_review_threshold(np.arange(101), review_fraction=0.1) == pytest.approx(90.0)
    with pytest.raises(InputError, match="empty validation"):
        fit_review_threshold([])
    q = np.array([[0.0, -5.0], [1.0, 1.0], [2.0, 2.0], [3.0, 10.0]])  # action 1: higher mean, worse tail
    risky = recommendation_record(q, ["none", "drug"], cvar_alpha=1.0, review_threshold=5.0)
    averse = recommendation_record(q, ["none", "drug"], cvar_alpha=0.25, review_threshold=5.0)
    assert risky["recommended_label"] == "drug" and averse["recommended_label"] == "none"
    assert risky["needs_review"] and not averse["needs_review"]
    assert averse["actions"][1]["cvar"] == pytest.approx(-5.0) and risky["actions"][1]["mean"] == pytest.approx(2.0)
    assert recommendation_record(q, ["a", "b"], 1.0, None)["needs_review"] is None
    json.dumps(risky)
    with pytest.raises(InputError, match="actions"):
        recommendation_record(q, ["only one"], 1.0, 1.0)


def _cohort_env(daily_samples=False):
    patients = [PatientProfile(f"p{i}", initial_tumour=t, features=[i / 3, 1.0]) for i, t in enumerate((2e7, 6e7, 1e8))]
    return make_chemo_immunotherapy_env(patients=patients, num_cycles=3, daily_samples=daily_samples)


def test_evaluate_summarize_and_trajectory_figure(tmp_path):
    env = _cohort_env(daily_samples=True)
    fixed = evaluate_cohort(env, FixedProtocol([6, 0]), range(3))
    rand = evaluate_cohort(env, RandomPolicy(env.action_space.n, seed=0), range(3), seeds=(0, 1))
    summary = summarize_episodes(fixed)
    assert summary["episodes"] == 3 and 0 <= summary["survival_rate"] <= 1
    assert summary["mean_return"] == pytest.approx(np.mean([r.total_return for r in fixed]))
    assert len(rand) == 6 and [r.patient_id for r in fixed] == ["p0", "p1", "p2"]
    assert fixed[0].actions == [6, 0, 6]
    with global_backend_kept():
        png = plot_treatment_trajectories({"fixed": fixed[0], "random": rand[0]}, env.model, tmp_path / "p0.png")
    assert png.stat().st_size > 10_000
    with pytest.raises(InputError):
        summarize_episodes([])


def test_validation_callback_keeps_best_and_resumable_last(tmp_path):
    env = _cohort_env()
    dyn = env.observation_layout["dynamic"][1]
    agent = ATLP(env=env, learning_starts=10, batch_size=8, buffer_size=500, seed=0,
                 policy_kwargs={"n_quantiles": 4, "net_arch": [8], "features_extractor_kwargs": {"dynamic_dim": dyn}})
    callback = ValidationCallback(_cohort_env(), [0, 1], eval_freq=15, best_path=tmp_path / "best.zip",
                                  last_path=tmp_path / "last.zip")
    agent.learn(45, callback=callback)
    assert [h["timesteps"] for h in callback.history] == [15, 30, 45]
    assert (tmp_path / "best.zip").is_file() and (tmp_path / "last.zip.replay.pkl").is_file()
    state = json.loads((tmp_path / "last.zip.history.json").read_text())
    assert len(state["validation"]) == 3 and len(state["train_returns"]) >= 3
    resumed = ValidationCallback(_cohort_env(), [0], eval_freq=15, history=state)
    assert resumed.best_score == max(h["mean_return"] for h in callback.history) and resumed._next_eval == 60
    with global_backend_kept():
        png = plot_learning_curve(callback.history, callback.train_returns, tmp_path / "curve.png",
                                  reference={"fixed": 1.0})
    assert png.stat().st_size > 10_000
    with pytest.raises(InputError, match="empty"):
        ValidationCallback(env, [], eval_freq=5)
