# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""``monai_dianet.bundle.start_run`` in a real ``python -m monai.bundle run``: one-line input errors, version check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monai_dianet.bundle import MONAIVersionWarning, check_monai_version

ROOT = Path(__file__).resolve().parents[2]

# A minimal bundle whose config raises an InputError where a real bundle would: in a config expression
# (a missing checkpoint), or in a transform run by a DataLoader worker inside an evaluator with StatsHandler
# (a corrupt image); and a plain bug. "(_ for _ in ()).throw(e)" raises e inside a config expression.
CONFIG = {
    "imports": ["$import monai_dianet", "$import monai_dianet.bundle", "$import monai_dianet.utils"],
    "where": "expression",
    "fail": "$lambda d: (_ for _ in ()).throw(monai_dianet.utils.InputError('image ' + d['image'] + ' is not a "
    "NIfTI file; expected .nii.gz')) if @where == 'transform' else d",
    "dataset": {"_target_": "Dataset", "data": [{"image": "case0.nii.gz"}],
                "transform": {"_target_": "Compose", "transforms": [{"_target_": "Lambda", "func": "@fail"}]}},
    "evaluator": {
        "_target_": "SupervisedEvaluator", "device": "cpu", "network": "$torch.nn.Identity()",
        "val_data_loader": {"_target_": "DataLoader", "dataset": "@dataset", "num_workers": 1},
        "val_handlers": [{"_target_": "StatsHandler", "iteration_log": False}],
    },
    "initialize": ["$monai_dianet.bundle.start_run(@_meta_)"],
    "run": [
        "$(_ for _ in ()).throw(monai_dianet.utils.MissingInputError('checkpoint models/model.pt does not exist; "
        "train first')) if @where == 'expression' else None",
        "$1 / 0 if @where == 'bug' else None",
        "$@evaluator.run()",
    ],
}
LOGGING = """[loggers]
keys=root
[handlers]
keys=console
[formatters]
keys=plain
[logger_root]
level=INFO
handlers=console
[handler_console]
class=StreamHandler
level=INFO
formatter=plain
args=(sys.stdout,)
[formatter_plain]
format=%(asctime)s - %(name)s - %(levelname)s - %(message)s
"""


def run_bundle(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/run.json", *args],
        cwd=bundle, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    (root / "configs").mkdir()
    (root / "configs" / "run.json").write_text(json.dumps(CONFIG, indent=2))
    (root / "configs" / "metadata.json").write_text(json.dumps({"version": "0.1.0", "monai_version": "1.0.0"}))
    (root / "configs" / "logging.conf").write_text(LOGGING)
    return root


@pytest.mark.slow
@pytest.mark.parametrize(
    "where, message",
    [
        ("expression", "checkpoint models/model.pt does not exist; train first"),
        ("transform", "image case0.nii.gz is not a NIfTI file; expected .nii.gz"),
    ],
)
def test_input_error_is_one_line_without_traceback(bundle, where, message):
    result = run_bundle(bundle, "--where", where)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr + result.stdout
    assert result.stderr.rstrip().splitlines()[-1] == f"error: {message}"
    # the version check warned at start: metadata.json says MONAI 1.0.0
    assert "MONAIVersionWarning: this bundle was made with MONAI 1.0.0" in result.stderr
    if where == "transform":  # StatsHandler / ignite log it as one line too
        assert f"input error: {message}" in result.stdout


@pytest.mark.slow
def test_a_bug_keeps_its_traceback(bundle):
    result = run_bundle(bundle, "--where", "bug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ZeroDivisionError" in result.stderr


@pytest.mark.parametrize(
    "expected, installed, ok",
    [("1.6.1", "1.6.0", True), ("1.6.1", "1.6.3+4.gabc", True), ("1.6.1", "1.7.0", False),
     ("1.6.1", "1.5.2", False), ("1.6.0rc1", "1.6.2", True), ("1.6", "1.10.0", False), ("2.0.0", "1.6.1", False)],
)
def test_check_monai_version(expected, installed, ok):
    if ok:
        assert check_monai_version({"monai_version": expected}, installed=installed)
    else:
        with pytest.warns(MONAIVersionWarning, match=f"made with MONAI {expected}"):
            assert not check_monai_version({"monai_version": expected}, installed=installed)


@pytest.mark.parametrize("metadata", [None, {}, {"monai_version": "unknown"}])
def test_check_monai_version_without_a_usable_version(metadata):
    with pytest.warns(MONAIVersionWarning, match="monai_version"):
        assert not check_monai_version(metadata, installed="1.6.1")
