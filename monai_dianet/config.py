# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Configuration report for monai-dianet, in the style of :func:`monai.config.print_config`."""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from importlib import metadata
from typing import TextIO

import monai
import numpy as np
import torch
from monai.config import print_config as monai_print_config

import monai_dianet

__all__ = ["get_optional_config_values", "print_config"]

# (distribution name, what it is used for)
OPTIONAL_PACKAGES: tuple[tuple[str, str], ...] = (
    ("nibabel", "NIfTI I/O (BraTS)"),
    ("openslide-python", "whole-slide images (CAMELYON)"),
    ("openslide-bin", "OpenSlide shared library"),
    ("tifffile", "pyramidal TIFF writing"),
    ("imagecodecs", "JPEG tiles in TIFF"),
    ("torch-geometric", "gene-interaction graph encoder (OncoNet)"),
    ("gymnasium", "treatment-policy environment (OncoStrat)"),
    ("pydicom", "DICOM I/O"),
    ("highdicom", "DICOM SEG writing"),
    ("pynetdicom", "DICOM networking (PACS)"),
    ("pandas", "GDC tables (TCGA)"),
    ("scikit-learn", "baselines and metrics"),
    ("scikit-survival", "survival metrics, Kaplan-Meier and Cox baselines (OncoNet)"),
    ("matplotlib", "PNG plots"),
    ("pytorch-ignite", "MONAI engines"),
    ("tensorboard", "training logs"),
    ("einops", "MONAI transformer blocks"),
    ("tqdm", "progress bars"),
)


def get_optional_config_values() -> OrderedDict[str, str]:
    """Return the installed version of each optional dependency, or ``"NOT INSTALLED"``.

    Returns:
        mapping ``"<distribution> (<purpose>)" -> version``.
    """
    values: OrderedDict[str, str] = OrderedDict()
    for name, purpose in OPTIONAL_PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "NOT INSTALLED"
        values[f"{name} ({purpose})"] = version
    return values


def print_config(file: TextIO = sys.stdout, monai_details: bool = False) -> None:
    """Print monai-dianet, MONAI, PyTorch and optional dependency versions.

    Args:
        file: stream to print to.
        monai_details: also print MONAI's own :func:`monai.config.print_config` report.

    Example::

        python -c "import monai_dianet.config as c; c.print_config()"
    """
    print(f"monai-dianet version: {monai_dianet.__version__}", file=file)
    print(f"MONAI version: {monai.__version__}", file=file)
    print(f"Numpy version: {np.__version__}", file=file)
    print(f"Pytorch version: {torch.__version__}", file=file)
    print(f"CUDA available: {torch.cuda.is_available()}", file=file)
    print(f"Python version: {sys.version.split()[0]}", file=file)
    print(f"Package path: {os.path.dirname(monai_dianet.__file__)}", file=file)
    print("\nOptional dependencies:", file=file)
    for key, version in get_optional_config_values().items():
        print(f"{key}: {version}", file=file)
    if monai_details:
        print("\nMONAI configuration:", file=file)
        monai_print_config(file=file)


if __name__ == "__main__":
    print_config()
