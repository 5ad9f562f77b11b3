# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNet through its fit API vs linear and boosting baselines, on real public cohorts and on the generated cohort.

Every model is scored by repeated stratified K-fold cross-validation (``--folds`` x ``--repeats``; the same folds
for every model of a data set; every choice a model makes, OncoNet's early stopping and inner-CV ensemble,
LogisticRegressionCV's C, Coxnet's alpha, is made inside the training folds). Reported: mean +- sd over the
folds, and the ratio of each model's mean to the best baseline's.

Classification (AUC): ``OncoNetClassifier()`` with its package defaults vs ``LogisticRegressionCV`` and
``GradientBoostingClassifier`` (scikit-learn defaults) on the same one-hot / standardised columns.
Survival (Harrell's C-index, and the mean time-dependent AUC): ``OncoNetSurvival()`` defaults vs scikit-survival's
``CoxPHSurvivalAnalysis`` (ridge alpha 1e-2 for a stable fit) and ``CoxnetSurvivalAnalysis`` (elastic net,
l1_ratio 0.5, alpha chosen by 5-fold grid search on the training folds).

Data sets (all real except ``generated``; none downloaded, they ship inside scikit-learn / scikit-survival):

- development (the OncoNet defaults were chosen on these): ``wisconsin`` (scikit-learn breast cancer, 569 x 30,
  classification), ``gbsg2`` (686 x 8), ``whas500`` (500 x 14), ``flchain`` (1,000 of 7,874 patients, 9 columns),
  ``veterans`` (137 x 6, survival only), and ``gbsg2-small`` / ``whas500-small``: 200 patients of those per repeat
  with signal-free standard-normal "gene" columns added up to 80 features (the small, wide regime of the kept-aside
  cohort). For classification the survival sets use their event indicator as the label (as the issue's cohort
  does).
- kept aside (never used to choose anything, run once at the end): ``breast_cancer`` (scikit-survival's
  Desmedt et al. 2007 cohort: 198 patients, 76 microarray genes + 4 clinical variables, 26 % distant metastases)
  and ``aids`` (ACTG 320 trial, 1,151 x 11, 8 % events).
- ``generated``: the GDC-format cohort of ``monai_dianet.data.synthetic.tcga`` (240 cases, a new cohort per repeat;
  log TPM of the 64 most variable genes + the clinical table; classification label from ``labels.tsv``; overall
  survival from ``vital_status`` / ``days_to_death`` / ``days_to_last_follow_up`` of ``clinical.tsv``, read by
  ``monai_dianet.apps.tcga.load_tcga_survival_cohort`` as the TCGA bundle's survival task does, which keeps the
  cases with an outcome). The generator plants the outcome in the clinical score only (age, stage).

Run (CPU, 1 thread; about 1-2 minutes per data set and task)::

    python benchmarks/bench_onconet.py --task classification --datasets breast_cancer aids
    python benchmarks/bench_onconet.py --task survival --datasets gbsg2 whas500 --set loss=nll
"""

from __future__ import annotations

import argparse
import ast
import json
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from monai_dianet.estimators import OncoNetClassifier, OncoNetSurvival
from monai_dianet.metrics import concordance_index, survival_array, time_dependent_auc

DEVELOPMENT = ("wisconsin", "gbsg2", "whas500", "flchain", "veterans", "gbsg2-small", "whas500-small")
KEPT_ASIDE = ("breast_cancer", "aids")


def load_dataset(name: str, task: str, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list]:
    """(X, time, event, clinical columns); classification uses ``event`` as the label (``time`` unused)."""
    import sksurv.datasets as sd
    from sklearn.datasets import load_breast_cancer

    if name == "wisconsin":
        if task == "survival":
            raise ValueError("wisconsin has no survival outcome.")
        x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        # 0 = malignant in scikit-learn; predict malignancy
        return x, np.zeros(len(x)), (np.asarray(y) == 0), []
    if name == "generated":
        return _generated(task, seed)
    if name.endswith("-small"):
        # the small-cohort regime of the kept-aside cohort, from a development set: 200 patients per repeat, and
        # standard-normal columns without any signal as "genes" up to 80 features (real clinical columns)
        x, stime, event, clinical = load_dataset(name[: -len("-small")], task, seed)
        rng = np.random.default_rng(seed)
        keep = rng.choice(len(x), 200, replace=False)
        noise = pd.DataFrame(rng.normal(size=(200, 80 - x.shape[1])),
                             columns=[f"noise{i}" for i in range(80 - x.shape[1])])
        x = pd.concat([noise, x.iloc[keep].reset_index(drop=True)], axis=1)
        return x, stime[keep], event[keep], clinical
    loaders = {
        "gbsg2": sd.load_gbsg2, "whas500": sd.load_whas500, "flchain": sd.load_flchain,
        "veterans": sd.load_veterans_lung_cancer, "breast_cancer": sd.load_breast_cancer, "aids": sd.load_aids,
    }
    x, y = loaders[name]()
    event_field, time_field = y.dtype.names
    event, stime = np.asarray(y[event_field]).astype(bool), np.asarray(y[time_field], dtype=float)
    if name == "flchain":
        keep = np.random.default_rng(0).choice(len(x), 1000, replace=False)
        x, event, stime = x.iloc[keep].reset_index(drop=True), event[keep], stime[keep]
    if name == "veterans" and task == "classification":
        raise ValueError("veterans has 93 % events: not a classification set.")
    clinical = ["age", "er", "grade", "size"] if name == "breast_cancer" else list(x.columns)
    return x.reset_index(drop=True), stime, event, clinical


def _generated(task: str, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list]:
    from monai_dianet.apps.tcga import load_tcga_cohort, load_tcga_survival_cohort
    from monai_dianet.data.synthetic.tcga import generate_tcga

    with tempfile.TemporaryDirectory() as tmp:
        generate_tcga(tmp, num=240, seed=seed, num_genes=256, patch_size=16, patches_per_case=1, progress=False)
        # survival: the cases with an outcome in clinical.tsv, as the TCGA bundle's survival task reads them
        cohort = load_tcga_survival_cohort(tmp, patches=None) if task == "survival" else load_tcga_cohort(tmp)
    expr = np.log1p(cohort.expression)
    genes = expr[expr.var().sort_values(ascending=False).index[:64]].reindex(cohort.case_ids)
    clinical = cohort.clinical.reindex(cohort.case_ids)
    table = pd.concat([genes, clinical], axis=1).reset_index(drop=True)
    table.columns = [str(c) for c in table.columns]
    if task == "classification":
        return table, np.zeros(len(table)), np.asarray(cohort.labels) > 0, list(clinical.columns)
    outcome = cohort.outcome.reindex(cohort.case_ids)
    return table, outcome["time"].to_numpy(float), outcome["event"].to_numpy(bool), list(clinical.columns)


def baseline_preprocessor(x: pd.DataFrame) -> ColumnTransformer:
    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c]) and not pd.api.types.is_bool_dtype(x[c])]
    categorical = [c for c in x.columns if c not in numeric]
    parts = [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)]
    if categorical:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                           OneHotEncoder(handle_unknown="ignore", sparse_output=False)), categorical))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def _objects(x: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as plain objects (scikit-learn's imputers do not take pandas categories with NaN)."""
    x = x.copy()
    for c in x.columns:
        if not pd.api.types.is_numeric_dtype(x[c]) or pd.api.types.is_bool_dtype(x[c]):
            x[c] = x[c].astype(object).where(x[c].notna(), np.nan)
    return x


def classification_models(x: pd.DataFrame, clinical: list, seed: int, overrides: dict) -> dict:
    return {
        "OncoNetClassifier (defaults)": OncoNetClassifier(clinical_columns=clinical, random_state=seed, **overrides),
        "LogisticRegressionCV": make_pipeline(baseline_preprocessor(x),
                                              LogisticRegressionCV(max_iter=5000, use_legacy_attributes=False)),
        "GradientBoosting": make_pipeline(baseline_preprocessor(x), GradientBoostingClassifier(random_state=seed)),
    }


def _coxnet(x: pd.DataFrame, x_train: pd.DataFrame, y_train: np.ndarray, seed: int):
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    path = make_pipeline(baseline_preprocessor(x), CoxnetSurvivalAnalysis(l1_ratio=0.5, alpha_min_ratio=0.01,
                                                                          n_alphas=30, max_iter=100000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alphas = path.fit(x_train, y_train)[-1].alphas_
        search = GridSearchCV(
            make_pipeline(baseline_preprocessor(x), CoxnetSurvivalAnalysis(l1_ratio=0.5, max_iter=100000)),
            {"coxnetsurvivalanalysis__alphas": [[a] for a in alphas]},
            cv=KFold(5, shuffle=True, random_state=seed), error_score=0.5,
        ).fit(x_train, y_train)
    return search


def run_split(task: str, name: str, x, stime, event, clinical, train, test, seed, overrides, models) -> dict:
    scores: dict[str, dict[str, float]] = {}
    xtr, xte = _objects(x.iloc[train]), _objects(x.iloc[test])
    if task == "classification":
        for model_name, model in classification_models(x, clinical, seed, overrides).items():
            if models and not any(m in model_name for m in models):
                continue
            t0 = time.perf_counter()
            model.fit(xtr if "OncoNet" not in model_name else x.iloc[train], event[train])
            prob = model.predict_proba(xte if "OncoNet" not in model_name else x.iloc[test])[:, 1]
            scores[model_name] = {"auc": roc_auc_score(event[test], prob), "seconds": time.perf_counter() - t0}
        return scores
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    y = survival_array(stime, event)
    candidates = {
        "OncoNetSurvival (defaults)": lambda: OncoNetSurvival(clinical_columns=clinical, random_state=seed,
                                                              **overrides).fit(x.iloc[train], y[train]),
        "CoxPH": lambda: make_pipeline(baseline_preprocessor(x), CoxPHSurvivalAnalysis(alpha=1e-2)).fit(xtr, y[train]),
        "Coxnet": lambda: _coxnet(x, xtr, y[train], seed),
    }
    for model_name, fit in candidates.items():
        if models and not any(m in model_name for m in models):
            continue
        t0 = time.perf_counter()
        model = fit()
        risk = model.predict(x.iloc[test] if "OncoNet" in model_name else xte)
        scores[model_name] = {"cindex": concordance_index(stime[test], event[test], risk),
                              "seconds": time.perf_counter() - t0}
        try:
            scores[model_name]["td_auc"] = time_dependent_auc(
                stime[train], event[train], stime[test], event[test], risk
            )[2]
        except ValueError:
            scores[model_name]["td_auc"] = float("nan")
    return scores


def benchmark(task: str, name: str, folds: int, repeats: int, overrides: dict, models: list) -> dict:
    results: dict[str, list[dict]] = {}
    for repeat in range(repeats):
        x, stime, event, clinical = load_dataset(name, task, seed=repeat)
        strata = event.astype(int)
        for k, (train, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=repeat).split(x, strata)):
            seed = repeat * 100 + k
            split = run_split(task, name, x, stime, event, clinical, train, test, seed, overrides, models)
            line = "  ".join(f"{m.split(' ')[0]} {v['auc' if task == 'classification' else 'cindex']:.3f}"
                             for m, v in split.items())
            print(f"  {name} repeat {repeat} fold {k}: {line}", flush=True)
            for m, v in split.items():
                results.setdefault(m, []).append(v)
    return results


def summarise(task: str, name: str, results: dict) -> list[str]:
    metric = "auc" if task == "classification" else "cindex"
    means = {m: float(np.mean([r[metric] for r in rs])) for m, rs in results.items()}
    baselines = [m for m in means if not m.startswith("OncoNet")]
    best = max(baselines, key=means.get) if baselines else None
    rows = []
    for m, rs in results.items():
        values = np.array([r[metric] for r in rs])
        ratio = f"{means[m] / means[best]:.3f}" if best else "-"
        extra = ""
        if task == "survival":
            td = np.array([r["td_auc"] for r in rs])
            extra = f" | {np.nanmean(td):.3f} +- {np.nanstd(td):.3f}"
        seconds = np.mean([r["seconds"] for r in rs])
        rows.append(f"| {name} | {m} | {values.mean():.3f} +- {values.std():.3f}{extra} | {ratio} | {seconds:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["classification", "survival"], default="classification")
    parser.add_argument("--datasets", nargs="+", default=list(KEPT_ASIDE))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=[], help="only models whose name contains one of these")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override OncoNet estimator parameters (development runs; the default rows use none)")
    parser.add_argument("--json", default=None, help="also write the per-fold scores here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in args.set)}
    metric = "AUC" if args.task == "classification" else "C-index | mean time-dependent AUC"
    rows, everything = [], {}
    for name in args.datasets:
        print(f"== {name} ({args.task}), {args.repeats} x stratified {args.folds}-fold CV", flush=True)
        results = benchmark(args.task, name, args.folds, args.repeats, overrides, args.models)
        everything[name] = results
        rows += summarise(args.task, name, results)
    print(f"\n| data set | model | {metric} (mean +- sd over folds) | ratio to best baseline | fit+predict s |")
    print("|---|---|---|---|---|" + ("---|" if args.task == "survival" else ""))
    print("\n".join(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"task": args.task, "overrides": args.set, "results": everything}, f, indent=1)


if __name__ == "__main__":
    main()
