# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""End-to-end tests of the dianet_camelyon_segmentation bundle, run as users run it (``monai.bundle.run``; the
command lines ``torchrun ... -m monai.bundle run`` and ``python -m monai.bundle run`` for bad input), on the embedded
default and on a ``dataset_dir`` of slides + ASAP XML in another folder layout. One training run on the embedded
default serves every test that needs a trained bundle.

Everything is tiny (1024-pixel slides read at 4 um/px in 32-pixel patches, one epoch of 64 patches, 2 MC
samples): the numbers the model reaches are not checked, only that each config runs and writes what the bundle
promises, and that bad input ends with one line naming the file.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

openslide = pytest.importorskip("openslide")

from monai.bundle import run as bundle_run  # noqa: E402

from monai_dianet.apps.pathology import camelyon_datalist, plan_slides  # noqa: E402
from monai_dianet.bundle import MONAIVersionWarning  # noqa: E402
from monai_dianet.data.synthetic import generate_camelyon, write_asap_polygons  # noqa: E402
from monai_dianet.utils.errors import input_error_message  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "dianet_camelyon_segmentation"
CONFIGS = BUNDLE / "configs"
SMALL = {
    "synthetic_slides": 6, "synthetic_size": 1024, "working_mpp": 4.0, "patch_size": 32, "heatmap_level": 2,
    "num_patches": 64, "val_patches": 32, "eval_patches": 32, "batch_size": 16, "mc_samples": 2, "num_workers": 0,
    "max_epochs": 1,
}


def _configs(*names: str) -> str:
    files = [str(CONFIGS / n) for n in names]
    return files[0] if len(files) == 1 else "[" + ",".join(f"'{f}'" for f in files) + "]"


def _args(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in (f"--{k}", json.dumps(v) if not isinstance(v, str) else v)]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _subprocess(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=BUNDLE, env=_env(), capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def _in_process(config: str | list[str], root: Path, **overrides) -> None:
    bundle_run(config_file=config, bundle_root=str(root), meta_file=str(CONFIGS / "metadata.json"),
               logging_file=str(CONFIGS / "logging.conf"), **{**SMALL, **overrides})


def _check_slide_outputs(folder: Path, slides: dict[str, str], routing: bool = True) -> None:
    """Per slide: an OpenSlide pyramid aligned with the slide, parsable XML inside it, a CSV, and a JSON record whose
    routing entry has the BraTS case records' form (a decision with a router, else a note that none was used)."""
    for name, path in slides.items():
        record = json.loads((folder / f"{name}.json").read_text())
        for key in ("slide_score", "predicted_category", "lesion_count", "lesions", "case_uncertainty", "routing"):
            assert key in record, key
        assert record["routing"]["enabled"] is routing
        if routing:
            assert record["routing"]["decision"] in ("accept", "review")
            assert record["routing"]["router_file"].endswith("router.json")
        else:
            assert record["routing"]["router_file"] is None and "no router was used" in record["routing"]["note"]
        with openslide.OpenSlide(path) as slide, openslide.OpenSlide(folder / f"{name}_heatmap.tif") as heat:
            assert heat.level_count >= 2
            d = record["heatmap_downsample"]
            assert (heat.dimensions[0] * d, heat.dimensions[1] * d) == slide.dimensions
            width, height = slide.dimensions
        root = ET.parse(folder / f"{name}_lesions.xml").getroot()
        assert root.tag == "ASAP_Annotations"
        for c in root.iter("Coordinate"):
            assert 0 <= float(c.get("X")) <= width and 0 <= float(c.get("Y")) <= height
        with open(folder / f"{name}.csv") as f:
            for prob, x, y in csv.reader(f):
                assert 0 <= float(prob) <= 1 and 0 <= int(x) < width and 0 <= int(y) < height
        for suffix in ("_overlay.png", "_uncertainty.png", "_uncertainty.tif"):
            assert (folder / f"{name}{suffix}").is_file()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """train.json, evaluate.json and inference.json on the embedded default, in this process (the command line is
    run by the torchrun test and the one-line error test); returns the bundle root and the warnings of each run.

    The other tests reuse this trained bundle (its checkpoint and router) instead of training again.
    """
    root = tmp_path_factory.mktemp("camelyon_bundle")
    runs = {}
    for name in ("train", "evaluate", "inference"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _in_process(_configs(f"{name}.json"), root)
        runs[name] = [w.category for w in caught]
    return root, runs


def test_embedded_default_runs(embedded):
    root, runs = embedded
    assert (root / "models" / "model.pt").is_file() and (root / "models" / "checkpoint.pt").is_file()
    router = json.loads((root / "models" / "router.json").read_text())
    assert router["report"]["validation_slides"] == 2  # fitted on the validation split only
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["slides"] == 2 and metrics["tumour_slides"] == 1
    assert metrics["checkpoint"] == str(root / "models" / "model.pt")
    for key in ("patch_dice", "patch_auc", "slide_auc", "froc", "category_kappa", "pn_kappa"):
        assert key in metrics
    assert metrics["routing"]["enabled"] is True and metrics["routing"]["accept"] + metrics["routing"]["review"] == 2
    fit = json.loads((root / "eval" / "validation" / "metrics.json").read_text())["routing"]  # before any router
    assert fit["enabled"] is False and fit["router_file"] is None
    assert (root / "eval" / "slides.csv").is_file() and (root / "eval" / "validation" / "metrics.json").is_file()
    test_ids = {r["slide"] for r in csv.DictReader(open(root / "eval" / "slides.csv"))}
    validation_ids = {r["slide"] for r in csv.DictReader(open(root / "eval" / "validation" / "slides.csv"))}
    assert not test_ids & validation_ids
    slides = {e["case_id"]: e["image"] for e in camelyon_datalist(root / "data" / "camelyon")}
    assert len(slides) == 6
    _check_slide_outputs(root / "output", slides)
    assert MONAIVersionWarning not in runs["train"]


@pytest.fixture(scope="module")
def dataset_dir(embedded, tmp_path_factory):
    """The embedded slides in the CAMELYON16 folder layout, plus a normal slide without mpp metadata."""
    root = tmp_path_factory.mktemp("camelyon16")
    source = embedded[0] / "data" / "camelyon"
    for entry in camelyon_datalist(source):
        kind = "tumor" if entry["annotation"] else "normal"
        (root / "training" / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(entry["image"], root / "training" / kind / f"case_{entry['case_id']}.tif")
        if entry["annotation"]:
            (root / "lesion_annotations").mkdir(exist_ok=True)
            shutil.copy(entry["annotation"], root / "lesion_annotations" / f"case_{entry['case_id']}.xml")
    extra = generate_camelyon(root / "extra", num=1, seed=5, size=1024, mpp=None, tumor_fraction=0.0)[0]
    shutil.move(extra["slide"], root / "training" / "normal" / "case_nompp.tif")
    shutil.rmtree(root / "extra")
    return root


def test_dataset_dir_runs(embedded, dataset_dir, tmp_path):
    """evaluate.json and inference.json (routing off) on a dataset_dir, with the embedded run's checkpoint and router
    (training on a dataset_dir is run by the torchrun and ResNet-18 tests). This dataset's test slides may be slides
    that checkpoint trained on: only the outputs are checked here, never the figures."""
    entries = camelyon_datalist(dataset_dir)
    assert len(entries) == 7 and sum(e["label"] == "tumor" for e in entries) == 3
    common = {"dataset_dir": str(dataset_dir), "ckpt_dir": str(embedded[0] / "models")}
    _in_process(_configs("evaluate.json"), tmp_path, **common)
    with pytest.warns(UserWarning, match=r"case_nompp\.tif: no microns-per-pixel.*assuming 4\.0 um/px"):
        _in_process(_configs("inference.json"), tmp_path, router_file="none", **common)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["slides"] == 2
    assert metrics["checkpoint"] == str(embedded[0] / "models" / "model.pt")
    _check_slide_outputs(tmp_path / "output", {e["case_id"]: e["image"] for e in entries}, routing=False)
    assert not json.loads((tmp_path / "output" / "case_nompp.json").read_text())["mpp_from_file"]


def test_multi_gpu_train_torchrun(embedded, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "monai.bundle", "run", "--config_file", _configs("train.json", "multi_gpu_train.json"),
           "--bundle_root", str(tmp_path), "--dataset_dir", str(embedded[0] / "data" / "camelyon")]
    proc = _subprocess(cmd + _args(SMALL))
    log = proc.stdout + proc.stderr
    assert log.count("Epoch[1] Complete") >= 2  # both ranks trained
    assert (tmp_path / "models" / "model.pt").is_file() and (tmp_path / "models" / "router.json").is_file()


def test_resnet18_baseline_trains(embedded, tmp_path):
    _in_process([str(CONFIGS / "train.json"), str(CONFIGS / "train_resnet18.json")], tmp_path,
                dataset_dir=str(embedded[0] / "data" / "camelyon"))
    assert (tmp_path / "models" / "resnet18" / "model.pt").is_file()
    router = json.loads((tmp_path / "models" / "resnet18" / "router.json").read_text())
    assert router["report"]["validation_slides"] == 2


def _bad_dataset(folder: Path, source: Path, kind: str) -> Path:
    """One tumour slide with its XML, broken in one way."""
    entry = next(e for e in camelyon_datalist(source) if e["annotation"])
    folder.mkdir(parents=True)
    slide, xml = folder / "slide.tif", folder / "slide.xml"
    shutil.copy(entry["image"], slide)
    shutil.copy(entry["annotation"], xml)
    if kind == "corrupt":
        slide.write_bytes(slide.read_bytes()[:5000])
    elif kind == "flat":
        import tifffile

        with tifffile.TiffFile(entry["image"]) as tif:
            tifffile.imwrite(slide, tif.pages[0].asarray(), tile=(256, 256), photometric="rgb")
    elif kind == "no_polygons":
        write_asap_polygons(xml, [])
    elif kind == "outside":
        write_asap_polygons(xml, [np.array([[10.0, 10.0], [4000.0, 10.0], [4000.0, 500.0]])])
    return folder


@pytest.mark.parametrize(
    "kind, message",
    [
        ("corrupt", r"slide\.tif: OpenSlide cannot open this slide"),
        ("flat", r"slide\.tif: not pyramidal"),
        ("no_polygons", r"slide\.xml: no polygon annotations"),
        ("outside", r"slide\.xml: tumour coordinates span x 10\.0\.\.4000\.0.*outside the slide \(1024x1024"),
    ],
)
def test_bad_slides_and_annotations_name_the_file(embedded, tmp_path, kind, message):
    folder = _bad_dataset(tmp_path / kind, embedded[0] / "data" / "camelyon", kind)
    with pytest.raises(ValueError, match=message):
        plan_slides(camelyon_datalist(folder), working_mpp=4.0, patch_size=32, heatmap_level=2)


def test_one_line_errors_from_the_bundle(embedded, tmp_path):
    folder = _bad_dataset(tmp_path / "data", embedded[0] / "data" / "camelyon", "corrupt")
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", _configs("inference.json"),
           "--bundle_root", str(embedded[0]), "--dataset_dir", str(folder), "--output_dir", str(tmp_path / "out")]
    proc = _subprocess(cmd + _args(SMALL), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {folder / 'slide.tif'}: OpenSlide cannot open")
    # missing checkpoint, missing router, empty test split, unknown split, all slides: one clear message each
    cases = [
        ("inference.json", {"ckpt_dir": str(tmp_path / "none")}, "checkpoint .* does not exist; create it with"),
        ("inference.json", {"router_file": str(tmp_path / "r.json")}, r"router file .*r\.json does not exist"),
        ("evaluate.json", {"test_fraction": 0.0}, "the test split is empty"),
        ("evaluate.json", {"eval_split": "tests"}, "--eval_split 'tests' is not a split"),
        ("evaluate.json", {"eval_split": "all"}, "--eval_split 'all' is not a split this evaluation may use"),
        ("inference.json", {"amp": "fp64"}, "amp must be one of"),
    ]
    for config, overrides, expected in cases:
        with pytest.raises(Exception) as info:
            _in_process(_configs(config), embedded[0], output_dir=str(tmp_path / "o"), **overrides)
        assert input_error_message(info.value) is not None
        assert __import__("re").search(expected, input_error_message(info.value)), input_error_message(info.value)
