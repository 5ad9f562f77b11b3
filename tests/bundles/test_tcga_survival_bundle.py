# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The survival task of the OncoNet TCGA bundle (configs/*_survival.json): train through the fit API, evaluate on
the test split (C-index, time-dependent AUC, Kaplan-Meier PNG), inference, Model Zoo checks, clear errors.

The bundle runs go through ``monai.bundle.run`` in the test process (the package is imported once); one command
line run checks the one-line error of the CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from monai.bundle import run as bundle_run

from monai_dianet.apps.tcga import build_survival_data, load_tcga_survival_cohort, survival_dataset
from monai_dianet.bundle import check_torchscript_export, check_workflow_properties
from monai_dianet.data.synthetic.tcga import generate_tcga
from monai_dianet.utils.errors import InputError, MissingInputError

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "onconet_tcga_classification"
CASES = 40
# tiny settings: 40 generated cases, 16 genes, a 2-member ensemble of at most 5 epochs with the wide path fixed
TINY = {"synthetic_cases": CASES, "num_genes": 16, "max_epochs": 5, "patience": 2, "n_splits": 2, "wide": True}


def _run(root: Path, config: str, **override) -> None:
    configs = root / "configs"
    bundle_run(config_file=str(configs / f"{config}.json"), meta_file=str(configs / "metadata.json"),
               logging_file=str(configs / "logging.conf"), bundle_root=str(root), **override)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("survival") / "bundle"
    shutil.copytree(BUNDLE, root, ignore=shutil.ignore_patterns("models", "eval", "data", "__pycache__"))
    _run(root, "train_survival", **TINY)
    _run(root, "evaluate_survival", synthetic_cases=CASES)
    _run(root, "inference_survival", synthetic_cases=CASES)
    return root


def _csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_train_evaluate_inference_on_the_embedded_cohort(trained):
    root, models = trained, trained / "models" / "survival"
    assert (models / "model.pt").is_file() and (models / "preprocessing.json").is_file()
    record = json.loads((models / "survival_model.json").read_text())
    splits = {k: set(v) for k, v in record["splits"].items()}
    cohort = load_tcga_survival_cohort(root / "data" / "tcga_synthetic", patches=None)
    # the cases with an outcome, split three ways without overlap, every split with an event (stratified)
    assert set().union(*splits.values()) == set(cohort.case_ids)
    assert sum(map(len, splits.values())) == len(cohort.case_ids)
    assert all(cohort.outcome.loc[list(ids), "event"].any() for ids in splits.values())
    assert len(record["thresholds"]) == 1 and 0.0 <= record["validation"]["cindex"] <= 1.0
    assert record["network"]["num_members"] == 2 and record["network"]["network_kwargs"]["wide"] is True

    out = root / "eval" / "survival"
    metrics = {row[0]: float(row[1]) for row in csv.reader(open(out / "metrics.csv"))}
    assert set(metrics) == {"cindex", "td_auc"} and 0.0 <= metrics["cindex"] <= 1.0
    report = json.loads((out / "metrics.json").read_text())
    assert report["split"] == "test" and report["num_cases"] == len(splits["test"])
    assert report["metrics"]["cindex"] == pytest.approx(metrics["cindex"])
    assert report["checkpoint"].endswith("models/survival/model.pt")
    assert report["survival"]["thresholds_from"] == "given"
    km = report["survival"]["kaplan_meier"]
    assert (out / "kaplan_meier.png").stat().st_size > 10_000 and 0.0 <= km["logrank_p_value"] <= 1.0
    evaluated = {r["case_id"]: r for r in _csv(out / "predictions.csv")}
    assert set(evaluated) == splits["test"]  # never a training or validation case

    predicted = {r["case_id"]: r for r in _csv(out / "inference" / "predictions.csv")}
    every = load_tcga_survival_cohort(root / "data" / "tcga_synthetic", patches=None, require_outcome=False)
    assert set(predicted) == set(every.case_ids)  # every case, with or without an outcome
    assert sum(r["time"] == "" for r in predicted.values()) == len(every.case_ids) - len(cohort.case_ids) > 0
    for case, row in evaluated.items():  # the same module and cut-off as the evaluation
        assert float(predicted[case]["risk"]) == pytest.approx(float(row["risk"]), abs=1e-6)
        assert predicted[case]["risk_group"] == row["risk_group"]
        assert int(row["risk_group"]) == int(float(row["risk"]) > record["thresholds"][0])


@pytest.mark.slow
def test_zoo_checks(trained, tmp_path):
    root = trained
    width = json.loads((root / "models" / "survival" / "survival_model.json").read_text())["network"]
    width = width["num_genes"] + width["num_clinical"]
    worst = check_torchscript_export(root, root / "models" / "survival" / "model.pt", (4, width),
                                     config="inference_survival.json", test_shapes=[(9, width)], atol=1e-4,
                                     bundle_root=str(root), synthetic_cases=CASES)
    assert worst <= 1e-4
    workflow = check_workflow_properties(root, "inference_survival.json", "infer", bundle_root=str(root),
                                         synthetic_cases=CASES)
    assert len(workflow.dataset) == CASES
    # the train workflow's properties (building them fits nothing; its preprocessing goes to another folder)
    workflow = check_workflow_properties(root, "train_survival.json", "train", bundle_root=str(root),
                                         ckpt_dir=str(tmp_path / "models"), synthetic_cases=CASES, num_genes=16)
    assert len(workflow.train_dataset) > 0 and (tmp_path / "models" / "preprocessing.json").is_file()


def test_split_and_input_errors(trained, tmp_path):
    data, ckpt = str(trained / "data" / "tcga_synthetic"), str(trained / "models" / "survival")
    with pytest.raises(InputError, match="'bogus' is not one of"):
        survival_dataset(data, ckpt, split="bogus")
    assert len(survival_dataset(data, ckpt, split="validation")) > 0
    with pytest.raises(MissingInputError, match="survival_model.json not found: train first"):
        survival_dataset(data, str(tmp_path / "none"))
    with pytest.raises(InputError, match="val_fraction must be > 0"):
        build_survival_data(data, str(tmp_path / "m"), val_fraction=0.0)
    # a new cohort has none of the saved test cases: refused, never evaluated on other cases
    generate_tcga(tmp_path / "new", num=8, seed=5, num_genes=96, patch_size=16, patches_per_case=1, progress=False)
    with pytest.raises(InputError, match="split 'test' has no case.*split 'all'"):
        survival_dataset(str(tmp_path / "new"), ckpt)
    assert len(survival_dataset(str(tmp_path / "new"), ckpt, split="all", require_outcome=False)) == 8
    # censored-only outcomes
    clinical = tmp_path / "new" / "clinical.tsv"
    table = pd.read_csv(clinical, sep="\t", dtype=str, keep_default_na=False)
    table["vital_status"] = table["vital_status"].replace("Dead", "Alive")
    table.to_csv(clinical, sep="\t", index=False)
    with pytest.raises(InputError, match="every case is censored"):
        build_survival_data(str(tmp_path / "new"), str(tmp_path / "m"))


@pytest.mark.slow
def test_cli_error_is_one_line(trained, tmp_path):
    """``monai.bundle run`` as a user types it: evaluation before training is one line, no traceback."""
    configs = trained / "configs"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--bundle_root", str(trained), "--config_file",
           str(configs / "evaluate_survival.json"), "--meta_file", str(configs / "metadata.json"),
           "--logging_file", str(configs / "logging.conf"), "--synthetic_cases", str(CASES),
           "--ckpt_dir", str(tmp_path / "none")]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=trained.parent)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    line = proc.stderr.rstrip().splitlines()[-1]
    assert line.startswith("error: ") and "survival_model.json not found: train first" in line
