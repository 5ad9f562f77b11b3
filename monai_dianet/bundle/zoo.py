# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The MONAI Model Zoo's checks of a bundle, runnable offline on any monai-dianet bundle.

The Model Zoo's CI verifies each bundle's ``metadata.json`` against the metadata schema, feeds the network a
tensor shaped as ``network_data_format`` says, exports it to TorchScript, and checks that the train and inference
configs define the properties of MONAI's bundle workflows. These functions run the same MONAI commands
(``monai.bundle.verify_metadata``, ``verify_net_in_out``, ``ckpt_export``, ``ConfigWorkflow.check_properties``)
with a bundle folder as the only argument, and with the schema shipped in the bundle
(``configs/meta_schema.json``) because ``verify_metadata`` otherwise downloads it. The TorchScript check also
reloads the export with ``torch.jit.load`` and compares it with the eager network, which ``ckpt_export`` does
not do. Each raises on failure, so a bundle's test is one call per check.

Example::

    root = "bundles/dianet_brats_segmentation"
    verify_bundle_metadata(root)
    verify_bundle_net(root)
    check_torchscript_export(root, "models/model.pt", input_shape=(1, 4, 64, 64, 32))
    check_workflow_properties(root, "train.json", "train", dataset_dir="/data/brats")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigWorkflow, ckpt_export, verify_metadata, verify_net_in_out

from monai_dianet.bundle.config import load_bundle_config

__all__ = ["check_torchscript_export", "check_workflow_properties", "verify_bundle_metadata", "verify_bundle_net"]

PathLike = str | os.PathLike


def _configs(bundle: PathLike, config: str | Sequence[str]) -> list[str]:
    names = [config] if isinstance(config, str) else list(config)
    return [str(Path(bundle, "configs", name)) for name in names]


def _meta_file(bundle: PathLike) -> str:
    return str(Path(bundle, "configs", "metadata.json"))


def verify_bundle_metadata(bundle: PathLike, schema: PathLike | None = None) -> None:
    """``monai.bundle verify_metadata`` of ``configs/metadata.json`` against the schema shipped with the bundle.

    Args:
        bundle: the bundle folder (its ``configs/``); the run may use another ``bundle_root`` (``override``).
        schema: the JSON schema file; default ``configs/meta_schema.json`` of the bundle (offline).

    Raises:
        FileNotFoundError: when the schema file is missing (``verify_metadata`` would try to download it).
        ValueError: when the metadata does not follow the schema (MONAI's message names the failing key).
    """
    schema = Path(bundle, "configs", "meta_schema.json") if schema is None else Path(schema)
    if not schema.is_file():
        raise FileNotFoundError(f"metadata schema {schema} is missing; ship it with the bundle to verify offline")
    verify_metadata(meta_file=_meta_file(bundle), filepath=str(schema))


def verify_bundle_net(
    bundle: PathLike,
    config: str | Sequence[str] = "inference.json",
    net_id: str = "network_def",
    device: str = "cpu",
    n: int = 1,
    **override: Any,
) -> None:
    """``monai.bundle verify_net_in_out``: the network maps the metadata's input format to its output format.

    Args:
        bundle: the bundle folder (its ``configs/``); the run may use another ``bundle_root`` (``override``).
        config: config file name(s) under ``configs/`` that define ``net_id``.
        net_id: the network's config id.
        device: where to run the network.
        n: the value of ``n`` in spatial shapes such as ``"32*n"``.
        override: config overrides (e.g. ``bundle_root``, a ``ckpt_dir`` with a fitted preprocessing file).

    Raises:
        ValueError: output channels or dtype differ from ``network_data_format``.
    """
    override.setdefault("bundle_root", str(bundle))
    configs = _configs(bundle, config)
    verify_net_in_out(
        net_id=net_id, meta_file=_meta_file(bundle), config_file=configs if len(configs) > 1 else configs[0],
        device=device, n=n, **override,
    )


def _network(bundle: PathLike, config: str | Sequence[str], net_id: str, ckpt_file: PathLike, override: dict):
    network = load_bundle_config(bundle, config, override).get_parsed_content(net_id)
    network.load_state_dict(torch.load(ckpt_file, map_location="cpu", weights_only=True))
    return network.eval()


def check_torchscript_export(
    bundle: PathLike,
    ckpt_file: PathLike,
    input_shape: Sequence[int],
    config: str | Sequence[str] = "inference.json",
    net_id: str = "network_def",
    filepath: PathLike | None = None,
    atol: float = 1e-4,
    test_shapes: Sequence[Sequence[int]] = (),
    seed: int = 0,
    **override: Any,
) -> float:
    """``monai.bundle ckpt_export`` (traced) to TorchScript, reloaded with ``torch.jit.load``, compared with eager.

    The eager network is built from the same config and checkpoint; both run in eval mode on the same random
    inputs (``input_shape``, the shape traced, and each of ``test_shapes``).

    Args:
        bundle: the bundle folder (its ``configs/``); the run may use another ``bundle_root`` (``override``).
        ckpt_file: the weights (a state dict, as the bundle's ``model.pt``).
        input_shape: the input shape used for tracing, ``(B, C, *spatial)``.
        config: config file name(s) under ``configs/`` that define ``net_id``.
        net_id: the network's config id.
        filepath: where to write the TorchScript file; default a temporary file, removed afterwards.
        atol: the largest absolute difference allowed between the exported and the eager outputs.
        test_shapes: further input shapes to compare (a traced graph may have fixed some sizes).
        seed: seed of the random inputs.
        override: config overrides passed to ``ckpt_export`` and to the eager network's config.

    Returns:
        The largest absolute difference found.

    Raises:
        AssertionError: the exported network's output differs from the eager one by more than ``atol``, or
            has another shape.
    """
    override.setdefault("bundle_root", str(bundle))
    configs = _configs(bundle, config)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp, "model.ts") if filepath is None else filepath)
        ckpt_export(
            net_id=net_id, filepath=path, ckpt_file=str(ckpt_file), meta_file=_meta_file(bundle),
            config_file=configs if len(configs) > 1 else configs[0], use_trace=True, input_shape=list(input_shape),
            **override,
        )
        exported = torch.jit.load(path, map_location="cpu")
    eager = _network(bundle, config, net_id, ckpt_file, override)
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    with torch.no_grad():
        for shape in (input_shape, *test_shapes):
            x = torch.rand(*shape, generator=generator)
            want, got = eager(x), exported(x)
            if want.shape != got.shape:
                raise AssertionError(f"TorchScript output shape {tuple(got.shape)} != eager {tuple(want.shape)}")
            diff = float((want - got).abs().max())
            if not diff <= atol:
                raise AssertionError(f"TorchScript output differs from eager by {diff:.3g} > {atol} at input {shape}")
            worst = max(worst, diff)
    return worst


def check_workflow_properties(
    bundle: PathLike, config: str | Sequence[str], workflow_type: str, **override: Any
) -> ConfigWorkflow:
    """``ConfigWorkflow(...).check_properties()``: the config defines MONAI's train or inference properties.

    Required properties are instantiated to check them (a train config builds its trainer, so give a small
    ``dataset_dir`` in ``override``), and optional ones must use MONAI's config ids when present.

    Args:
        bundle: the bundle folder (its ``configs/``); the run may use another ``bundle_root`` (``override``).
        config: config file name(s) under ``configs/``.
        workflow_type: ``"train"`` or ``"infer"``.
        override: config overrides (``bundle_root`` defaults to ``bundle``).

    Returns:
        The initialised workflow (its properties can be read, e.g. ``workflow.trainer``).

    Raises:
        AssertionError: with the names of the missing or misplaced properties.
    """
    override.setdefault("bundle_root", str(bundle))
    workflow = ConfigWorkflow(
        config_file=_configs(bundle, config), meta_file=_meta_file(bundle),
        logging_file=str(Path(bundle, "configs", "logging.conf")), workflow_type=workflow_type, **override,
    )
    workflow.initialize()
    missing = workflow.check_properties()
    if missing:
        raise AssertionError(f"{workflow_type} workflow of {bundle} lacks the properties {missing}")
    return workflow
