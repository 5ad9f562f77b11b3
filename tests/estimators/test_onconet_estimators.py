# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNetClassifier / OncoNetSurvival: scikit-learn conventions, numpy and pandas input, reproducibility,
cross-validation tools, inner-CV selection, learning a planted signal, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils import estimator_checks as checks
from sksurv.util import Surv

from monai_dianet.estimators import OncoNetClassifier, OncoNetSurvival

# test-only budget; wide fixed so that wide="auto" (two ensembles, one per choice) does not double every fit
FAST = dict(max_epochs=15, patience=5, n_splits=2, embed_dim=8, hidden_dims=(8,), wide=True)


def _table(n: int = 80, seed: int = 0, genes: int = 10) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Genes g0..g{genes-1} and clinical age (numeric) / grade (category, some missing); a logistic label and an
    exponential survival time that depend on g0, g1 and grade."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, genes)), columns=[f"g{i}" for i in range(genes)])
    frame["age"] = rng.normal(60, 10, n)
    grade = rng.integers(1, 4, n)
    frame["grade"] = pd.Categorical([["low", "mid", "high"][g - 1] for g in grade])
    frame.loc[rng.random(n) < 0.1, "grade"] = np.nan
    score = 1.5 * frame["g0"] - 1.5 * frame["g1"] + 0.7 * (grade - 2)
    label = (rng.random(n) < 1 / (1 + np.exp(-2 * score))).astype(int)
    return frame, label, score.to_numpy()


def _survival(score: np.ndarray, seed: int = 0):
    rng = np.random.default_rng(seed + 100)
    time = rng.exponential(100 * np.exp(-score))
    censor = rng.exponential(150, len(score))
    return Surv.from_arrays(event=time <= censor, time=np.minimum(time, censor))


@pytest.mark.parametrize(
    "check",
    [
        checks.check_no_attributes_set_in_init,
        checks.check_parameters_default_constructible,
        checks.check_get_params_invariance,
        checks.check_set_params,
        checks.check_estimator_cloneable,
        checks.check_estimators_unfitted,
        checks.check_fit_score_takes_y,
        checks.check_estimators_fit_returns_self,
        checks.check_n_features_in_after_fitting,
        checks.check_dont_overwrite_parameters,
        checks.check_classifiers_regression_target,
        checks.check_dtype_object,
    ],
)
def test_scikit_learn_estimator_checks(check):
    check("OncoNetClassifier", OncoNetClassifier(max_epochs=3, patience=2, n_splits=2, wide=True))


def test_numpy_pandas_clone_and_seed_reproducibility():
    frame, label, _ = _table()
    numeric = frame.drop(columns="grade")
    clf = OncoNetClassifier(clinical_columns=["age"], random_state=3, **FAST)
    p_frame = clf.fit(numeric, label).predict_proba(numeric)
    assert p_frame.shape == (80, 2) and np.allclose(p_frame.sum(1), 1, atol=1e-6)
    assert list(clf.feature_names_in_) == list(numeric.columns) and clf.preprocessor_.groups_["clinical"] == ["age"]
    # the same table as a numpy array, clinical column by position: the same model
    p_array = OncoNetClassifier(clinical_columns=[10], random_state=3, **FAST).fit(numeric.to_numpy(), label)
    assert np.allclose(p_array.predict_proba(numeric.to_numpy()), p_frame, atol=1e-6)
    # clone: same parameters, unfitted; refit with the same seed gives identical predictions, another seed does not
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and not hasattr(twin, "members_")
    assert np.array_equal(twin.fit(numeric, label).predict_proba(numeric), p_frame)
    other = clone(clf).set_params(random_state=4).fit(numeric, label).predict_proba(numeric)
    assert not np.allclose(other, p_frame)
    # mixed dtypes with a categorical column and missing values, string labels
    names = np.where(label == 1, "relapse", "none")
    clf = OncoNetClassifier(clinical_columns=["age", "grade"], **FAST).fit(frame, names)
    assert set(clf.predict(frame)) <= {"relapse", "none"} and list(clf.classes_) == ["none", "relapse"]
    with pytest.raises(ValueError, match="feature names"):
        clf.predict_proba(frame.rename(columns={"g0": "x"}))


def test_cross_val_score_grid_search_and_inner_cv_candidates():
    frame, label, _ = _table(n=60)
    clf = OncoNetClassifier(clinical_columns=["age", "grade"], **FAST)
    scores = cross_val_score(clf, frame, label, scoring="roc_auc", cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    search = GridSearchCV(clf, {"weight_decay": [1e-3, 1e-1]}, cv=2, scoring="roc_auc").fit(frame, label)
    assert search.best_params_["weight_decay"] in (1e-3, 1e-1)
    # wide="auto" (default) tries each candidate with and without the wide path unless the candidate sets it
    candidates = [{"dropout": 0.0}, {"dropout": 0.5, "wide": False}]
    fitted = clf.set_params(candidates=candidates, wide="auto").fit(frame, label)
    tried = [{"dropout": 0.0, "wide": True}, {"dropout": 0.0, "wide": False}, candidates[1]]
    assert len(fitted.inner_cv_scores_) == 3 and len(fitted.members_) == 2  # n_splits members of the kept one
    assert fitted.best_candidate_ == tried[int(np.argmax(fitted.inner_cv_scores_))]
    assert max(fitted.inner_cv_scores_) == fitted.inner_cv_score_ <= 0.0  # negative log-loss
    fixed = clone(clf).set_params(candidates=None, wide=False).fit(frame, label)
    assert len(fixed.inner_cv_scores_) == 1 and fixed.members_[0].wide is None
    with pytest.raises(ValueError, match="unknown parameter"):
        clf.set_params(candidates=[{"lr": 1.0}]).fit(frame, label)
    with pytest.raises(ValueError, match="wide"):
        clone(clf).set_params(candidates=None, wide="maybe").fit(frame, label)


@pytest.mark.slow
def test_learns_planted_signal():
    """Held-out AUC / C-index on the planted signal with the package defaults (full training budget, seed 0).

    Measured with the body below for seeds 0, 1, 2 (chance: 0.5): AUC 0.975 / 0.917 / 0.907, C-index 0.856 / 0.829 /
    0.863, inner C-index 0.808 / 0.842 / 0.848; seeds 0 and 1 gave the same numbers with OMP_NUM_THREADS=1 and 2,
    seed 2 was measured with 1 thread. The bounds 0.85 / 0.75 leave margins of 0.057 (AUC) / 0.079 (C-index) below
    the lowest of these."""
    seed = 0
    frame, label, score = _table(n=300, seed=seed)
    train, test = slice(0, 200), slice(200, 300)
    clf = OncoNetClassifier(clinical_columns=["age", "grade"], random_state=seed).fit(frame[train], label[train])
    assert roc_auc_score(label[test], clf.predict_proba(frame[test])[:, 1]) > 0.85
    y = _survival(score, seed)
    model = OncoNetSurvival(clinical_columns=["age", "grade"], random_state=seed).fit(frame[train], y[train])
    assert model.score(frame[test], y[test]) > 0.75
    assert 0.5 < model.inner_cv_score_ <= 1.0


def test_survival_api_losses_and_errors():
    frame, _, score = _table(n=60)
    y = _survival(score)
    for loss in ("cox", "nll"):
        model = OncoNetSurvival(loss=loss, clinical_columns=["age", "grade"], **FAST).fit(frame, y)
        risk = model.predict_risk(frame)
        assert risk.shape == (60,) and np.array_equal(model.predict(frame), risk)
        assert 0.0 <= model.score(frame, y) <= 1.0
    assert len(model.bin_edges_) + 1 == model.members_[0].num_classes
    # (time, event) columns work as well as the structured array
    pair = np.stack([y["time"], y["event"]], 1)
    assert np.allclose(OncoNetSurvival(**FAST).fit(frame, pair).predict(frame),
                       OncoNetSurvival(**FAST).fit(frame, y).predict(frame), atol=1e-6)
    bad = {
        "censored": Surv.from_arrays(event=np.zeros(60, bool), time=y["time"]),
        "negative": Surv.from_arrays(event=y["event"], time=-y["time"]),
        "NaN": Surv.from_arrays(event=y["event"], time=np.where(np.arange(60) == 3, np.nan, y["time"])),
    }
    for match, target in bad.items():
        with pytest.raises(ValueError, match=match):
            OncoNetSurvival(**FAST).fit(frame, target)
    missing = frame.assign(age=np.nan)
    with pytest.raises(ValueError, match=r"\['age'\] are missing for every patient"):
        OncoNetSurvival(**FAST).fit(missing, y)
    with pytest.raises(ValueError, match="not in X"):
        OncoNetSurvival(clinical_columns=["stage"], **FAST).fit(frame, y)
    with pytest.raises(ValueError, match="loss"):
        OncoNetSurvival(loss="aft", **FAST).fit(frame, y)
