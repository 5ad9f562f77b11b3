# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The Model Zoo's checks on every bundle (``monai_dianet.bundle.zoo``): metadata against the shipped schema,
network input/output format, TorchScript export reloaded with ``torch.jit.load`` (equal to eager within 1e-4),
and MONAI's train workflow properties.

A new bundle adds one entry to ``BUNDLES``: a function that prepares tiny data and random weights in ``tmp_path``
and returns the overrides and shapes of its checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser

from monai_dianet.bundle import (
    check_torchscript_export,
    check_workflow_properties,
    load_bundle_config,
    verify_bundle_metadata,
    verify_bundle_net,
)
from monai_dianet.apps.tcga import build_training_data
from monai_dianet.data.synthetic import generate_brats, generate_camelyon
from monai_dianet.data.synthetic.tcga import generate_tcga

BUNDLES_DIR = Path(__file__).resolve().parents[2] / "bundles"


def _random_weights(bundle: Path, tmp_path: Path, config: str = "inference.json", **override) -> Path:
    parser = load_bundle_config(bundle, config, override)
    torch.manual_seed(0)
    path = tmp_path / "random_model.pt"
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)
    return path


def brats(tmp_path: Path) -> dict:
    bundle = BUNDLES_DIR / "dianet_brats_segmentation"
    generate_brats(tmp_path / "data" / "b21", num=2, seed=0, shape=(32, 32, 32), layout="2021")
    generate_brats(tmp_path / "data" / "b23", num=1, seed=1, shape=(32, 32, 32), layout="2023")
    return {
        "bundle": bundle,
        "override": {"bundle_root": str(tmp_path)},
        "ckpt": _random_weights(bundle, tmp_path),
        "input_shape": (1, 4, 32, 32, 32),
        "test_shapes": [(2, 4, 64, 32, 32)],
        "train": {"dataset_dir": str(tmp_path / "data"), "num_workers": 0, "prior_size": [8, 8, 8]},
    }


def camelyon(tmp_path: Path) -> dict:
    bundle = BUNDLES_DIR / "dianet_camelyon_segmentation"
    generate_camelyon(tmp_path / "data", num=2, seed=0, size=1024, mpp=4.0, tumor_fraction=0.5)
    return {
        "bundle": bundle,
        "override": {"bundle_root": str(tmp_path)},
        "ckpt": _random_weights(bundle, tmp_path),
        "input_shape": (1, 3, 64, 64),
        "test_shapes": [(4, 3, 64, 64)],  # traced for one patch size (the bundle reads fixed patches)
        "train": {"dataset_dir": str(tmp_path / "data"), "num_workers": 0, "val_fraction": 0.5, "val_patches": 8,
                  "test_fraction": 0.0, "num_patches": 8, "patch_size": 32},
    }


def tcga(tmp_path: Path) -> dict:
    """The classification configs of the TCGA bundle; the network's sizes come from the preprocessing file that
    training fits (here on a 12-case cohort), as in a real run."""
    bundle = BUNDLES_DIR / "onconet_tcga_classification"
    generate_tcga(tmp_path / "data", num=12, seed=0, num_genes=96, patch_size=32, progress=False)
    build_training_data(str(tmp_path / "data"), str(tmp_path / "models"), num_genes=16, patch_size=32)
    override = {"bundle_root": str(tmp_path), "embed_dim": 16}
    return {
        "bundle": bundle,
        "override": override,
        "ckpt": _random_weights(bundle, tmp_path, **override),
        "input_shape": (2, 3, 32, 32),  # the image-only input (genes and clinical masked), as verify_net_in_out
        "test_shapes": [(3, 3, 64, 64)],
        "train": {"dataset_dir": str(tmp_path / "data"), "num_genes": 16, "patch_size": 32},
    }


BUNDLES = {"dianet_brats_segmentation": brats, "dianet_camelyon_segmentation": camelyon,
           "onconet_tcga_classification": tcga}


@pytest.fixture(params=sorted(BUNDLES))
def bundle(request, tmp_path) -> dict:
    return BUNDLES[request.param](tmp_path)


@pytest.mark.slow
def test_zoo_checks(bundle):
    verify_bundle_metadata(bundle["bundle"])
    verify_bundle_net(bundle["bundle"], **bundle["override"])
    worst = check_torchscript_export(
        bundle["bundle"], bundle["ckpt"], bundle["input_shape"], test_shapes=bundle["test_shapes"],
        atol=1e-4, **bundle["override"],
    )
    assert worst <= 1e-4
    workflow = check_workflow_properties(
        bundle["bundle"], "train.json", "train", **bundle["override"], **bundle["train"]
    )
    assert len(workflow.train_dataset) > 0


def test_zoo_checks_fail_on_a_bad_bundle(tmp_path):
    """The checks can fail: a metadata file without its required keys, a network with the wrong output width."""
    source = BUNDLES_DIR / "dianet_brats_segmentation" / "configs"
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "meta_schema.json").write_text((source / "meta_schema.json").read_text())
    meta = ConfigParser.load_config_file(source / "metadata.json")
    (configs / "metadata.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "task"}))
    with pytest.raises(ValueError, match="task"):
        verify_bundle_metadata(tmp_path)
    (configs / "metadata.json").write_text((source / "metadata.json").read_text())
    verify_bundle_metadata(tmp_path)
    inference = ConfigParser.load_config_file(source / "inference.json")
    inference["network_def"]["out_channels"] = 2
    (configs / "inference.json").write_text(json.dumps(inference))
    with pytest.raises(ValueError, match="output channel"):
        verify_bundle_net(tmp_path)
    # a network whose forward branches on the input size: tracing fixes the branch taken at the traced shape
    inference["network_def"] = (
        "$type('Branchy', (torch.nn.Module,), "
        "{'__module__': 'branchy', 'forward': lambda self, x: 2 * x if x.shape[-1] > 8 else x})()"
    )
    (configs / "inference.json").write_text(json.dumps(inference))
    torch.save({}, tmp_path / "empty.pt")
    assert check_torchscript_export(tmp_path, tmp_path / "empty.pt", (1, 4, 8, 8, 8)) == 0.0
    with pytest.raises(AssertionError, match="differs from eager"):
        check_torchscript_export(tmp_path, tmp_path / "empty.pt", (1, 4, 8, 8, 8), test_shapes=[(1, 4, 8, 8, 16)])
