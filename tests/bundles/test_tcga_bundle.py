# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""End-to-end runs of the OncoNet TCGA bundle (train, evaluate, inference) with and without a data folder."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from monai_dianet.data.synthetic.tcga import generate_tcga

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "onconet_tcga_classification"
SMALL = ["--max_epochs", "1", "--patch_size", "32", "--num_genes", "24", "--batch_size", "8", "--embed_dim", "16"]


def _copy_bundle(dst: Path) -> Path:
    root = dst / "bundle"
    shutil.copytree(BUNDLE, root, ignore=shutil.ignore_patterns("models", "eval", "data", "__pycache__"))
    return root


def _run(root: Path, config: str, *args: str) -> None:
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--bundle_root", str(root), "--config_file",
           str(root / "configs" / f"{config}.json"), "--meta_file", str(root / "configs" / "metadata.json"),
           "--logging_file", str(root / "configs" / "logging.conf"), *SMALL, *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=root)
    assert proc.returncode == 0, f"{config} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _check_metrics(output_dir: Path) -> dict[str, float]:
    with open(output_dir / "metrics.csv") as f:
        metrics = {row[0]: float(row[1]) for row in csv.reader(f)}
    assert set(metrics) >= {"accuracy", "macro_f1", "auc", "ece"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    return metrics


def _check_report(out: Path, num_cases: int, max_figures: int) -> list[dict]:
    records = json.loads((out / "predictions.json").read_text())
    assert len(records) == num_cases
    for r in records:
        assert abs(sum(r["probabilities"].values()) - 1.0) < 1e-4
        assert r["uncertainty"] >= 0 and r["predictive_entropy"] >= 0
        assert abs(sum(r["modality_weights"].values()) - 1.0) < 1e-4
        for m, w in r["modality_weights"].items():
            assert (w > 0) == (m in r["modalities_present"])  # absent modality: exactly 0
        assert bool(r["top_genes"]) == ("genes" in r["modalities_present"])
        assert bool(r["top_clinical"]) == ("clinical" in r["modalities_present"])
    with open(out / "predictions.csv") as f:
        assert len(list(csv.DictReader(f))) == num_cases
    assert len(list((out / "figures").glob("*.png"))) == min(num_cases, max_figures)
    return records


@pytest.mark.slow
def test_bundle_embedded_cohort(tmp_path):
    root = _copy_bundle(tmp_path)
    common = ["--synthetic_cases", "16"]
    _run(root, "train", *common)
    assert (root / "models" / "model.pt").is_file() and (root / "models" / "preprocessing.json").is_file()
    assert (root / "data" / "tcga_synthetic" / "labels.tsv").is_file()
    split = json.loads((root / "models" / "preprocessing.json").read_text())["split_case_ids"]
    assert [len(split[k]) for k in ("training", "validation", "test")] == [10, 3, 3]  # 16 cases, 0.2 / 0.2
    _run(root, "evaluate", *common)
    _check_metrics(root / "eval")
    report = json.loads((root / "eval" / "metrics.json").read_text())
    assert report["split"] == "test" and report["num_cases"] == 3 and report["checkpoint"].endswith("model.pt")
    _run(root, "inference", *common, "--mc_samples", "3", "--max_figures", "2", "--amp", "bf16")  # CPU bf16 path
    records = _check_report(root / "eval" / "inference", 3, 2)  # the 3 test cases
    assert {r["case_id"] for r in records} == set(split["test"])
    _check_one_line_errors(root, tmp_path, split)


def _check_one_line_errors(root: Path, tmp_path: Path, split: dict) -> None:
    """Bad splits and missing files stop evaluate.json with one message, never with training cases."""
    from monai.bundle import run as bundle_run

    from monai_dianet.utils import input_error_message

    empty = tmp_path / "models_no_test"
    shutil.copytree(root / "models", empty)
    prep = json.loads((empty / "preprocessing.json").read_text())
    prep["split_case_ids"]["test"] = []
    (empty / "preprocessing.json").write_text(json.dumps(prep))
    cases = [
        ({"eval_split": "training"}, "--eval_split 'training' is not a split this evaluation may use"),
        ({"eval_split": "cohort"}, "--eval_split cohort: 13 cases of .* were used for training or validation"),
        ({"ckpt_dir": str(empty)}, "the test split is empty .*training cases are never used instead"),
        ({"ckpt_dir": str(tmp_path / "none")}, "checkpoint .*model.pt does not exist; create it with: python -m "
         "monai.bundle run --config_file configs/train.json"),
    ]
    for overrides, expected in cases:
        with pytest.raises(Exception) as info:
            bundle_run(config_file=str(root / "configs" / "evaluate.json"), bundle_root=str(root), synthetic_cases=16,
                       patch_size=32, embed_dim=16, output_dir=str(tmp_path / "o"), **overrides)
        message = input_error_message(info.value)
        assert message is not None and re.search(expected, message), message


@pytest.mark.slow
def test_bundle_with_dataset_dir_and_held_out_cohort(tmp_path):
    root = _copy_bundle(tmp_path)
    train_dir, held_out = tmp_path / "tcga_train", tmp_path / "tcga_new"
    generate_tcga(train_dir, num=16, seed=3, num_genes=96, patch_size=32, progress=False)
    generate_tcga(held_out, num=8, seed=4, num_genes=96, patch_size=32, missing_rate=0.3, progress=False)
    out = tmp_path / "out"
    _run(root, "train", "--dataset_dir", str(train_dir), "--output_dir", str(out))
    assert not (root / "data").exists()  # no embedded cohort when data is given
    _run(root, "evaluate", "--dataset_dir", str(held_out), "--output_dir", str(out), "--eval_split", "cohort")
    _check_metrics(out)
    assert json.loads((out / "metrics.json").read_text())["num_cases"] == 8
    _run(root, "inference", "--dataset_dir", str(held_out), "--output_dir", str(out / "inference"),
         "--mc_samples", "2", "--max_figures", "1", "--infer_split", "cohort")
    records = _check_report(out / "inference", 8, 1)  # a new cohort: every case
    assert any(len(r["modalities_present"]) < 3 for r in records)


@pytest.mark.slow
def test_multi_gpu_train_torchrun_gloo_from_repo_root(tmp_path):
    """``multi_gpu_train.json`` under torchrun with 2 CPU processes (gloo), started from outside the bundle.

    20 cases: 12 training cases (6 per process: batches of 4 and 2; a batch of one case would not train the
    batch-normalised image encoder) and 4 validation cases (2 per process: the ranks' metric batches must match)."""
    root = _copy_bundle(tmp_path)
    configs = f"['{root / 'configs' / 'train.json'}','{root / 'configs' / 'multi_gpu_train.json'}']"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "monai.bundle", "run",
           "--bundle_root", str(root), "--config_file", configs, *SMALL, "--batch_size", "4", "--synthetic_cases", "20"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"torchrun failed:\n{log[-4000:]}"
    assert log.count("SupervisedTrainer - INFO - Epoch[1] Complete") == 2  # both ranks trained
    state = torch.load(root / "models" / "model.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in state)  # saved without the DDP wrapper
    assert (root / "models" / "preprocessing.json").is_file() and (root / "models" / "checkpoint_final.pt").is_file()
    assert len(list((root / "data" / "tcga_synthetic" / "patches").iterdir())) > 0  # rank 0 wrote the cohort
