# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""End-to-end tests of the dianet_brats_segmentation bundle, run the way users run it (``python -m monai.bundle``).

Everything is kept tiny (16-48 voxel volumes, one or two epochs, 2 MC samples) so the whole file stays within a few
minutes on two CPU cores; the numbers the model reaches are not checked, only that each config runs and writes what
the bundle promises.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_dianet.apps.brats import BRATS_LAYOUTS, find_brats_cases
from monai_dianet.data.synthetic import generate_brats
from monai_dianet.metrics import CASE_SCORES
from tests.utils import exception_chain

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "dianet_brats_segmentation"
CONFIGS = BUNDLE / "configs"
SHAPE = (48, 40, 32)
# tiny overrides shared by every run: the ROI is the smallest the batch-normalised backbone trains on
SMALL = ["--roi_size", "[64,32,32]", "--prior_size", "[8,8,8]", "--num_workers", "0", "--val_fraction", "0.4"]


def _configs(*names: str) -> str:
    files = [str(CONFIGS / n) for n in names]
    return files[0] if len(files) == 1 else "[" + ",".join(f"'{f}'" for f in files) + "]"


def _env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), MKL_NUM_THREADS="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _bundle_cmd(action: str, configs: str, bundle_root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monai.bundle", action, "--config_file", configs, "--bundle_root", str(bundle_root), *args]


def _run(cmd: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"command failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("brats_bundle_data")
    generate_brats(root / "mixed" / "b21", num=3, seed=0, shape=SHAPE, layout="2021")
    generate_brats(root / "mixed" / "b23", num=2, seed=1, shape=SHAPE, layout="2023")
    generate_brats(root / "new21", num=1, seed=7, shape=(40, 44, 30), layout="2021")
    generate_brats(root / "new23", num=1, seed=8, shape=(44, 40, 30), layout="2023")
    for layout in ("21", "23"):  # inference needs no label map
        for seg in (root / f"new{layout}").glob("*/*seg.nii.gz"):
            seg.unlink()
    return {"mixed": root / "mixed", "new2021": root / "new21", "new2023": root / "new23"}


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> dict:
    """Train on --dataset_dir for 2 epochs, killed (SIGKILL) after the first epoch's checkpoint, then resumed."""
    root = tmp_path_factory.mktemp("brats_bundle_run")
    cmd = _bundle_cmd("run", _configs("train.json"), root, "--dataset_dir", str(data["mixed"]), "--max_epochs", "2", *SMALL)
    log1 = root / "first.log"
    ckpt = root / "models" / "checkpoint.pt"
    with open(log1, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 600
        while not ckpt.is_file() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        killed_running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert ckpt.is_file(), log1.read_text()[-4000:]
    first = torch.load(ckpt, map_location="cpu", weights_only=False)
    resumed = _run(cmd + ["--resume", "true"])
    final = torch.load(ckpt, map_location="cpu", weights_only=False)

    def epoch(state: dict) -> int:  # ignite keeps the iteration count and the epoch length
        return int(state["trainer"]["iteration"]) // int(state["trainer"]["epoch_length"])

    return {
        "root": root,
        "killed_running": killed_running,
        "first_epoch": epoch(first),
        "final_epoch": epoch(final),
        "resume_log": resumed.stdout + resumed.stderr,
    }


def test_train_dataset_dir_kill_and_resume(trained):
    root = trained["root"]
    assert trained["first_epoch"] == 1 and trained["final_epoch"] == 2
    log = trained["resume_log"]
    assert "Restored all variables from" in log and "checkpoint.pt" in log
    assert "resuming from iteration" in log and "epoch 1 until 2 epochs" in log
    state = torch.load(root / "models" / "model.pt", map_location="cpu", weights_only=True)
    assert any(k.startswith("backbone") for k in state) and not any(k.startswith("module.") for k in state)
    assert list((root / "eval").glob("events.out.tfevents.*"))  # TensorBoard logs
    assert not list((root / "models").glob("tmp*"))  # atomic saves leave no temporary files


def test_train_embedded_default(tmp_path):
    _run(_bundle_cmd("run", _configs("train.json"), tmp_path, "--max_epochs", "1", "--synthetic_cases", "2",
                     "--synthetic_shape", "[40,40,32]", *SMALL))
    assert (tmp_path / "models" / "model.pt").is_file() and (tmp_path / "models" / "checkpoint.pt").is_file()
    cases = find_brats_cases(tmp_path / "data")
    assert sorted(c["layout"] for c in cases) == ["2021", "2021", "2023", "2023"]


@pytest.fixture(scope="module")
def evaluated(trained, data, tmp_path_factory) -> Path:
    """evaluate.json on the trained model: router fitted on the 2 validation cases, metrics on the 1 test case."""
    out = tmp_path_factory.mktemp("brats_bundle_eval")
    _run(_bundle_cmd("run", _configs("train.json", "evaluate.json"), trained["root"], "--dataset_dir",
                     str(data["mixed"]), "--output_dir", str(out), "--mc_samples", "2", *SMALL))
    return out


@pytest.mark.parametrize("layout", ["2021", "2023"])
def test_inference_writes_input_grid_and_convention(trained, evaluated, data, tmp_path, layout):
    """2021: with the router fitted by evaluate.json; 2023: routing turned off (``--router_file none``)."""
    out = tmp_path / "out"
    router = [] if layout == "2021" else ["--router_file", "none"]
    _run(_bundle_cmd("run", _configs("inference.json"), trained["root"], "--dataset_dir", str(data[f"new{layout}"]),
                     "--output_dir", str(out), "--mc_samples", "2", "--save_png", "true", "--roi_size", "[64,32,32]",
                     "--num_workers", "0", *router))
    (case,) = find_brats_cases(data[f"new{layout}"], require_label=False)
    cid = case["case_id"]
    ref = nib.load(case["image"][0])
    seg = nib.load(out / f"{cid}_seg.nii.gz")
    assert seg.shape == ref.shape and np.allclose(seg.affine, ref.affine)
    assert set(np.unique(np.asarray(seg.dataobj)).tolist()) <= set(BRATS_LAYOUTS[layout].labels)
    unc = nib.load(out / f"{cid}_uncertainty.nii.gz")
    assert unc.shape == ref.shape and np.allclose(unc.affine, ref.affine)
    assert np.all(np.asarray(unc.dataobj) >= 0)
    record = json.loads((out / f"{cid}.json").read_text())
    assert record["layout"] == layout and set(record["volumes_ml"]) == {"TC", "WT", "ET"}
    assert record["route"]["decision"] in ("accept", "refine", "review") and record["case_uncertainty"] >= 0
    routing = record["route"]["routing"]
    if router:
        assert routing["enabled"] is False and record["route"]["decision"] == "refine"
    else:
        assert routing["enabled"] is True and routing["router_file"].endswith("router.json")
        fitted = json.loads((trained["root"] / "models" / "router.json").read_text())
        assert record["route"]["thresholds"] == fitted["thresholds"] and record["route"]["score"] == fitted["score"]
    assert (out / f"{cid}_overlay.png").is_file()


def test_evaluate_on_test_split_with_router_fitted_on_validation(trained, evaluated):
    out = evaluated
    report = json.loads((out / "metrics.json").read_text())
    for name in ("mean_dice", "ece", *(f"{m}_{r}" for m in ("mean_dice", "hd95") for r in ("tc", "wt", "et"))):
        assert name in report["metrics"]
    assert 0.0 <= report["metrics"]["ece"] <= 1.0
    # 5 cases, val_fraction 0.4, test_fraction 0.2: 2 training, 2 validation (router fit), 1 test (reported)
    assert report["split"] == "test" and report["num_cases"] == 1 and report["validation"]["num_cases"] == 2
    assert report["checkpoint"].endswith("model.pt") and report["router_file"].endswith("router.json")
    routing = report["routing"]
    assert routing["split"] == "test" and routing["n"] == 1 and "aurc" in routing["refined"]
    assert routing["fitted_on"]["split"] == "validation" and routing["fitted_on"]["n"] == 2
    fitted = json.loads((trained["root"] / "models" / "router.json").read_text())
    assert routing["thresholds"] == fitted["thresholds"] and fitted["report"]["split"] == "validation"
    # the case score chosen on the validation split by the lowest AURC among the configured candidates
    selection = fitted["report"]["score_selection"]
    assert list(selection["aurc"]) == [f"entropy_{n}" for n in CASE_SCORES]
    assert fitted["score"] == selection["chosen"] == routing["score"] == fitted["report"]["score"]
    assert selection["aurc"][selection["chosen"]] == min(selection["aurc"].values())
    assert routing["fitted_on"]["score_selection"] == selection  # metrics.json states the validation choice
    rows = (out / "mean_dice_raw.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[0].startswith("BraTS")  # one row per test case
    assert (out / "risk_coverage_test.png").is_file() and (out / "risk_coverage_validation.png").is_file()


def test_one_line_errors_missing_files_and_empty_split(trained, data, tmp_path):
    """A missing checkpoint or router file, an empty or unknown split: one message naming it and the fix."""
    from monai.bundle import run as bundle_run

    from monai_dianet.utils import input_error_message

    cases = [
        ("inference.json", {"ckpt_dir": str(tmp_path / "none")}, r"checkpoint .*model\.pt does not exist; create it "
         r"with: python -m monai.bundle run --config_file configs/train.json"),
        ("inference.json", {"router_file": str(tmp_path / "r.json")}, r"router file .*r\.json does not exist; fit "
         r"it with: .*evaluate\.json.*--router_file none"),
        (["train.json", "evaluate.json"], {"test_fraction": 0.0}, "the test split is empty .*training cases are never "
         "used instead"),
        (["train.json", "evaluate.json"], {"eval_split": "training"}, "--eval_split 'training' is not a split this "
         "evaluation may use"),
    ]
    for configs, overrides, expected in cases:
        with pytest.raises(Exception) as info:
            bundle_run(config_file=[str(CONFIGS / c) for c in ([configs] if isinstance(configs, str) else configs)],
                       bundle_root=str(trained["root"]), dataset_dir=str(data["mixed"]),
                       output_dir=str(tmp_path / "o"), roi_size=[64, 32, 32], num_workers=0, val_fraction=0.4,
                       **overrides)
        message = input_error_message(info.value)
        assert message is not None and re.search(expected, message), message


def test_verify_metadata_and_net_offline(tmp_path):
    schema = str(CONFIGS / "meta_schema.json")
    _run([sys.executable, "-m", "monai.bundle", "verify_metadata", "--meta_file", str(CONFIGS / "metadata.json"),
          "--filepath", schema])
    _run([sys.executable, "-m", "monai.bundle", "verify_net_in_out", "network_def", "--meta_file",
          str(CONFIGS / "metadata.json"), "--config_file", str(CONFIGS / "inference.json"), "--bundle_root", str(BUNDLE)])
    from monai.bundle import verify_metadata

    meta = json.loads((CONFIGS / "metadata.json").read_text())
    del meta["network_data_format"]
    bad = tmp_path / "metadata.json"
    bad.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="network_data_format"):
        verify_metadata(meta_file=str(bad), filepath=schema)


def test_train_domain_adaptive(data, tmp_path):
    """Source = the 2021 cases, unlabelled target = the 2023 cases (the default split of the domain-adaptive mode)."""
    proc = _run(_bundle_cmd("run", _configs("train.json", "train_domain_adaptive.json"), tmp_path, "--dataset_dir",
                            str(data["mixed"]), "--max_epochs", "1", *SMALL))
    log = proc.stdout + proc.stderr
    assert "DomainAdaptiveTrainer" in log and "loss/domain:" in log
    assert (tmp_path / "models" / "model.pt").is_file()


def test_multi_gpu_train_torchrun_gloo(data, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "monai.bundle", "run",
           "--config_file", _configs("train.json", "multi_gpu_train.json"), "--bundle_root", str(tmp_path),
           "--dataset_dir", str(data["mixed"]), "--max_epochs", "1", *SMALL]
    proc = _run(cmd)
    assert (tmp_path / "models" / "model.pt").is_file() and (tmp_path / "models" / "checkpoint.pt").is_file()
    assert "DistributedDataParallel" not in json.dumps(list(torch.load(tmp_path / "models" / "model.pt")))
    assert proc.stdout.count("Epoch[1] Complete") + proc.stderr.count("Epoch[1] Complete") >= 2  # both ranks trained


def _parser(config: str, **overrides):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(CONFIGS / config))
    parser.update(overrides)
    return parser


def _copy_mixed(data: dict, dest: Path) -> Path:
    import shutil

    shutil.copytree(data["mixed"], dest)
    return dest


def test_error_missing_sequence(data, tmp_path):
    root = _copy_mixed(data, tmp_path / "ds")
    case = root / "b23" / "BraTS-GLI-00001-000"
    (case / "BraTS-GLI-00001-000-t2f.nii.gz").unlink()
    parser = _parser("train.json", bundle_root=str(tmp_path), dataset_dir=str(root))
    with pytest.raises(Exception) as err:
        parser.get_parsed_content("train_datalist")
    msg = exception_chain(err.value)
    assert "BraTS-GLI-00001-000" in msg and str(case / "BraTS-GLI-00001-000-t2f.nii.gz") in msg


def test_error_shape_mismatch(data, tmp_path):
    root = _copy_mixed(data, tmp_path / "ds")
    bad = root / "b21" / "BraTS2021_00001" / "BraTS2021_00001_t2.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((48, 40, 30), np.int16), np.eye(4)), str(bad))
    parser = _parser("inference.json", bundle_root=str(tmp_path), dataset_dir=str(root))
    dataset = parser.get_parsed_content("dataset")
    index = [d["case_id"] for d in dataset.data].index("BraTS2021_00001")
    with pytest.raises(Exception) as err:
        dataset[index]
    msg = exception_chain(err.value)
    assert "BraTS2021_00001" in msg and str(bad) in msg and "(48, 40, 30)" in msg


def test_error_unknown_label(data, tmp_path):
    root = _copy_mixed(data, tmp_path / "ds")
    seg = root / "b23" / "BraTS-GLI-00000-000" / "BraTS-GLI-00000-000-seg.nii.gz"
    img = nib.load(seg)
    labels = np.asarray(img.dataobj).copy()
    labels[labels == 3] = 4  # 2021 enhancing label inside a 2023 case
    nib.save(nib.Nifti1Image(labels, img.affine), str(seg))
    parser = _parser("train.json", bundle_root=str(tmp_path), dataset_dir=str(root), val_fraction=0.0)
    entries = parser.get_parsed_content("train_datalist")
    entry = next(e for e in entries if e["case_id"] == "BraTS-GLI-00000-000")
    with pytest.raises(Exception) as err:
        parser.get_parsed_content("validate#preprocessing")(entry)
    msg = exception_chain(err.value)
    assert "BraTS-GLI-00000-000" in msg and str(seg) in msg and "[4]" in msg and "[0, 1, 2, 3]" in msg
