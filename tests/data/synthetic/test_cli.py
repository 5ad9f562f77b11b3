# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Command line of the synthetic data generators: python -m monai_dianet.data.synthetic."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

from monai_dianet.data.synthetic.__main__ import main

COMMAND = [sys.executable, "-m", "monai_dianet.data.synthetic"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_brats_command_writes_loadable_cases(tmp_path):
    result = _run("brats", "--out", str(tmp_path), "--num", "2")
    assert result.returncode == 0, result.stderr
    assert "Wrote 2 BraTS 2021 cases (96x96x64 voxels" in result.stdout
    assert "BraTS 2021 cases" in result.stderr and "100%" in result.stderr  # tqdm progress bar
    data = Compose([LoadImaged(keys=["image", "label"]), EnsureChannelFirstd(keys=["image", "label"])])(
        {
            "image": [
                str(tmp_path / "BraTS2021_00001" / f"BraTS2021_00001_{s}.nii.gz") for s in ("t1", "t1ce", "t2", "flair")
            ],
            "label": str(tmp_path / "BraTS2021_00001" / "BraTS2021_00001_seg.nii.gz"),
        }
    )
    assert tuple(data["image"].shape) == (4, 96, 96, 64)
    assert set(np.unique(data["label"].numpy()).tolist()) == {0, 1, 2, 4}


@pytest.mark.slow
def test_command_error_without_traceback(tmp_path):
    result = _run("mri", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "invalid choice: 'mri'" in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("usage: python -m monai_dianet.data.synthetic")
    assert lines[-1].startswith("python -m monai_dianet.data.synthetic: error:")


@pytest.mark.parametrize(
    "args, message",
    [
        (["tcga2", "--out", "{tmp}"], "invalid choice"),
        (["brats", "--out", "{tmp}", "--num", "0"], "--num: must be a positive integer, got 0"),
        (["camelyon", "--out", "{tmp}", "--num", "-3"], "--num: must be a positive integer"),
        (["brats", "--out", "{tmp}", "--num", "two"], "--num: must be a positive integer, got 'two'"),
        (["brats", "--out", "{tmp}", "--seed", "-1"], "--seed: must be a non-negative integer"),
        (["brats", "--out", "{tmp}/file.txt"], "cannot write to output folder"),
        (["brats", "--out", "{tmp}", "--shape", "96", "96"], "--shape: shape must be three integers"),
        (["brats", "--out", "{tmp}", "--shape", "8", "96", "64"], "between 16 and 512"),
        (["brats", "--out", "{tmp}", "--shape", "96", "x", "64"], "--shape: invalid int value: 'x'"),
        (["camelyon", "--out", "{tmp}", "--shape", "1000"], "--shape: size must be"),
        (["camelyon", "--out", "{tmp}", "--shape", "1024", "1024", "3"], "--shape: size must be"),
        (["camelyon", "--out", "{tmp}", "--layout", "2023"], "--layout: only the brats generator"),
        (["tcga", "--out", "{tmp}", "--shape", "64"], "--shape: the tcga generator takes no shape"),
        (["brats", "--out", "{tmp}", "--layout", "2022"], "--layout: invalid choice"),
        (["brats"], "required: --out"),
        (["tcga", "--out", "{tmp}/new", "--num", "3"], "--num: num must be an integer of at least 4"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        main([a.format(tmp=tmp_path) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.glob("**/*.nii.gz")) and not list(tmp_path.glob("**/*.tif"))
    assert not (tmp_path / "new").exists()  # no empty output folder left behind


def test_brats_2023_layout(tmp_path, capsys):
    shape = ["--shape", "32", "32", "32"]
    assert main(["brats", "--out", str(tmp_path), "--num", "1", "--seed", "3", *shape, "--layout", "2023"]) == 0
    out = capsys.readouterr().out
    assert "Wrote 1 BraTS 2023 cases (32x32x32 voxels" in out and "labels 0, 1, 2, 3" in out
    assert (tmp_path / "BraTS-GLI-00000-000" / "BraTS-GLI-00000-000-t2f.nii.gz").is_file()
    assert (tmp_path / "dataset.json").is_file()


def test_camelyon_command(tmp_path, capsys):
    openslide = pytest.importorskip("openslide")
    assert main(["camelyon", "--out", str(tmp_path), "--num", "2", "--shape", "1024", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert "Wrote 2 CAMELYON-style slides (1 tumor, 1 normal; 3 levels from 1024x1024" in captured.out
    assert "normal_001.tif: normal, no annotation" in captured.out
    assert "CAMELYON slides" in captured.err  # tqdm progress bar
    with open(tmp_path / "labels.csv", newline="") as f:
        assert [r["label"] for r in csv.DictReader(f)] == ["tumor", "normal"]
    with openslide.OpenSlide(str(tmp_path / "images" / "tumor_001.tif")) as slide:
        assert slide.level_count == 3


def test_tcga_command(tmp_path, capsys):
    pytest.importorskip("monai_dianet.data.synthetic.tcga")
    assert main(["tcga", "--out", str(tmp_path), "--num", "24", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Wrote a TCGA cohort (24 cases) in GDC formats to {tmp_path}")
    assert (tmp_path / "gdc_sample_sheet.tsv").is_file() and (tmp_path / "clinical.tsv").is_file()
