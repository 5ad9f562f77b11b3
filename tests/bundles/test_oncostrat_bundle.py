# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The OncoStrat treatment-policy bundle: train (with resume), evaluate on test patients, inference records,
Model Zoo checks and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from monai_dianet.bundle import load_bundle_config

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "oncostrat_treatment_policy"
SMALL = ["--synthetic_cases", "30", "--learning_starts", "50", "--eval_freq", "100", "--num_cycles", "6"]


def _copy_bundle(dst: Path) -> Path:
    root = dst / "bundle"
    shutil.copytree(BUNDLE, root, ignore=shutil.ignore_patterns("models", "eval", "data", "__pycache__"))
    return root


def _run(root: Path, configs: list[str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run`` as a user types it."""
    files = [str(root / "configs" / f"{c}.json") for c in configs]
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--bundle_root", str(root), "--config_file",
           files[0] if len(files) == 1 else str(files), "--meta_file", str(root / "configs" / "metadata.json"),
           "--logging_file", str(root / "configs" / "logging.conf"), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=root)
    if ok:
        assert proc.returncode == 0, f"{configs} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


_MANY = """
import ast, json, sys
from monai.bundle import run
for configs, overrides in json.loads(sys.argv[1]):
    run(config_file=configs, **{k: ast.literal_eval(v) if v[:1] in "0123456789-[" else v for k, v in overrides.items()})
"""


def _run_many(root: Path, runs: list[tuple[list[str], list[str]]]) -> subprocess.CompletedProcess:
    """Several ``monai.bundle run`` calls in one process (the package is imported once: a faster test)."""
    jobs = []
    for configs, args in runs:
        files = [str(root / "configs" / f"{c}.json") for c in configs]
        overrides = dict(zip(args[::2], args[1::2]))
        overrides = {k.lstrip("-"): v for k, v in overrides.items()}
        overrides.update(bundle_root=str(root), meta_file=str(root / "configs" / "metadata.json"),
                         logging_file=str(root / "configs" / "logging.conf"))
        jobs.append((files, overrides))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", _MANY, json.dumps(jobs)], capture_output=True, text=True,
                          timeout=900, env=env, cwd=root)
    assert proc.returncode == 0, f"bundle runs failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from monai_dianet.data.synthetic.tcga import generate_tcga

    tmp = tmp_path_factory.mktemp("oncostrat")
    root = _copy_bundle(tmp)
    generate_tcga(tmp / "new", num=4, seed=7, num_genes=90, patches_per_case=1, patch_size=16, progress=False)
    proc = _run_many(root, [
        (["train"], [*SMALL, "--total_timesteps", "200"]),
        (["train"], [*SMALL, "--total_timesteps", "300"]),  # resumes from policy_last.zip
        (["inference", "evaluate"], [*SMALL, "--max_figures", "2"]),
        # the training cohort given as a dataset folder: still its test split
        (["inference", "evaluate"], [*SMALL, "--max_figures", "0", "--output_dir", str(tmp / "eval_dataset_dir"),
                                     "--dataset_dir", str(root / "data" / "tcga_oncostrat")]),
        (["inference"], [*SMALL, "--dataset_dir", str(tmp / "new"), "--output_dir", str(tmp / "rec")]),
    ])
    assert "resuming from" in proc.stdout + proc.stderr
    return root


@pytest.mark.slow
def test_train_writes_model_curves_and_config(trained):
    models, out = trained / "models", trained / "eval"
    history = json.loads((models / "policy_last.zip.history.json").read_text())
    assert [h["timesteps"] for h in history["validation"]] == [100, 200, 300]
    for name in ("model.pt", "policy_best.zip", "policy_last.zip", "policy_config.json"):
        assert (models / name).is_file(), name
    config = json.loads((models / "policy_config.json").read_text())
    assert [h["timesteps"] for h in json.loads((out / "training_history.json").read_text())["validation"]] == [
        100, 200, 300]
    assert config["timesteps"] == 300 and config["review_threshold"] > 0
    split = config["split"]
    assert len(split["test"]) == 6 and not set(split["test"]) & (set(split["training"]) | set(split["validation"]))
    assert config["validation"]["best_fixed_protocol"] in config["validation"]["protocols"]
    assert (out / "learning_curve.png").stat().st_size > 10_000


@pytest.mark.slow
def test_evaluate_on_test_patients_and_inference_records(trained):
    out = trained / "eval"
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((trained / "models" / "policy_config.json").read_text())
    assert metrics["split"] == "test" and metrics["num_patients"] == 6
    assert metrics["reference_protocol"] == config["validation"]["best_fixed_protocol"]
    assert set(metrics["summaries"]) >= {"learned policy", "no treatment", "maximum dose every cycle"}
    assert len(list((out / "trajectories").glob("*.png"))) == 2
    records = sorted((out / "records").glob("TCGA-*.json"))
    assert {r.stem for r in records} == set(config["split"]["test"])
    assert metrics["checkpoint"] == str(trained / "models" / "model.pt")
    # --dataset_dir of the training cohort: the same test patients, never every patient
    again = trained.parent / "eval_dataset_dir"
    assert json.loads((again / "metrics.json").read_text())["num_patients"] == 6
    assert {r.stem for r in (again / "records").glob("TCGA-*.json")} == set(config["split"]["test"])
    # inference on a new cohort: every patient, one JSON record per patient with every decision
    rec = trained.parent / "rec"
    summary = json.loads((rec / "summary.json").read_text())
    assert summary["split"] == "all" and summary["episodes"] == 4 and summary["training_or_validation_patients"] == 0
    record = json.loads(next(rec.glob("TCGA-*.json")).read_text())
    step = record["recommendations"][0]
    assert len(step["actions"]) == 7 and all(len(a["quantiles"]) == 25 for a in step["actions"])
    assert step["recommended_label"] == step["actions"][step["recommended_action"]]["label"]
    assert step["cvar_alpha"] == config["cvar_alpha"] and isinstance(step["needs_review"], bool)
    assert step["review_threshold"] == pytest.approx(config["review_threshold"])
    assert {"stage", "age", "prior_therapy"} <= set(record["profile"]) and "return" in record["outcome"]


@pytest.mark.slow
def test_model_zoo_checks(trained, tmp_path):
    from monai.bundle import ConfigWorkflow, ckpt_export, verify_metadata, verify_net_in_out

    configs = trained / "configs"
    verify_metadata(meta_file=str(configs / "metadata.json"), filepath=str(configs / "meta_schema.json"))
    verify_net_in_out(net_id="network_def", meta_file=str(configs / "metadata.json"),
                      config_file=str(configs / "inference.json"), bundle_root=str(trained))
    ts = tmp_path / "model.ts"
    ckpt_export(net_id="network_def", filepath=str(ts), ckpt_file=str(trained / "models" / "model.pt"),
                meta_file=str(configs / "metadata.json"), config_file=str(configs / "inference.json"),
                bundle_root=str(trained))
    parser = load_bundle_config(configs.parent, "inference.json", {"bundle_root": str(trained)})
    net = parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(trained / "models" / "model.pt"))
    net.eval()
    x = torch.rand(3, parser.get_parsed_content("network_args")["obs_dim"])
    assert torch.allclose(torch.jit.load(str(ts))(x), net(x), atol=1e-4)
    workflow = ConfigWorkflow(config_file=str(configs / "inference.json"), meta_file=str(configs / "metadata.json"),
                              workflow_type="infer", bundle_root=str(trained))
    workflow.initialize()
    assert workflow.check_properties() in (None, [])


@pytest.mark.slow
def test_bad_input_is_one_line(tmp_path):
    root = _copy_bundle(tmp_path)
    proc = _run(root, ["inference"], *SMALL, ok=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "does not exist" in line]
    assert lines and "create it with: python -m monai.bundle run" in lines[0] and "Traceback" not in proc.stderr
    proc = _run(root, ["train"], "--dataset_dir", str(tmp_path / "missing"), ok=False)
    assert proc.returncode != 0 and "is not a folder" in proc.stderr and "Traceback" not in proc.stderr
