# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Cohort preparation and the fitted preprocessing of the OncoNet TCGA bundle.

``prepare_tcga_cohort`` returns the cohort folder (GDC formats): ``dataset_dir`` when given, else an embedded
synthetic cohort written once by :func:`monai_dianet.data.synthetic.generate_tcga` under ``bundle_root/data``.
Training fits the preprocessing on its training split and saves it next to the weights; evaluation and inference
reuse that file, so a held-out cohort is transformed with the training statistics only.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import torch.distributed as dist

from monai_dianet.apps.tcga.data import (
    TCGAData,
    TCGAMultimodalDataset,
    build_tcga_data,
    load_tcga_cohort,
    load_tcga_preprocessing,
)
from monai_dianet.data import prepare_embedded_data
from monai_dianet.data.synthetic.tcga import generate_tcga

__all__ = [
    "PREPROCESSING_FILE",
    "prepare_tcga_cohort",
    "build_training_data",
    "load_preprocessing",
    "evaluation_dataset",
    "require_checkpoint",
]

#: file name of the fitted preprocessing that training saves beside the weights
PREPROCESSING_FILE = "preprocessing.json"


def _is_rank0() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _barrier() -> None:
    """Wait for every rank (multi-process training, ``configs/multi_gpu_train.json``); no-op otherwise."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def prepare_tcga_cohort(
    dataset_dir: str | os.PathLike | None,
    bundle_root: str | os.PathLike,
    num: int = 240,
    seed: int = 0,
    num_genes: int = 256,
    patch_size: int = 64,
) -> str:
    """The cohort folder to use: ``dataset_dir`` if given (must exist), else the embedded synthetic cohort
    ``<bundle_root>/data/tcga_synthetic``, written by :func:`monai_dianet.data.synthetic.generate_tcga` through
    :func:`monai_dianet.data.prepare_embedded_data` (once per setting, atomic, safe under ``torchrun``).

    Raises:
        FileNotFoundError: when ``dataset_dir`` is given but is not a folder.
    """
    return prepare_embedded_data(
        dataset_dir,
        Path(bundle_root) / "data" / "tcga_synthetic",
        functools.partial(generate_tcga, progress=False),
        num=num,
        seed=seed,
        num_genes=num_genes,
        patch_size=patch_size,
    )


def build_training_data(
    root: str, ckpt_dir: str, num_genes: int = 64, val_fraction: float = 0.25, seed: int = 0, patch_size: int = 64
) -> TCGAData:
    """Read and split the cohort, fit the preprocessing on the training cases and save it to ``ckpt_dir``
    (by rank 0 only when torch.distributed is initialised)."""
    data = build_tcga_data(
        root, num_genes=num_genes, val_fraction=val_fraction, seed=seed, spatial_size=(patch_size, patch_size)
    )
    if _is_rank0():  # every rank fits the same preprocessing (same split); one writes it
        os.makedirs(ckpt_dir, exist_ok=True)
        data.save_preprocessing(Path(ckpt_dir) / PREPROCESSING_FILE)
    _barrier()
    return data


def load_preprocessing(ckpt_dir: str) -> dict[str, Any]:
    """The preprocessing saved by training (see :func:`monai_dianet.apps.tcga.data.load_tcga_preprocessing`),
    plus ``num_genes``, ``num_clinical``, ``num_classes`` and ``clinical_names``.

    Raises:
        FileNotFoundError: when training has not been run (no ``preprocessing.json`` in ``ckpt_dir``).
    """
    path = Path(ckpt_dir) / PREPROCESSING_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run configs/train.json first (it saves the fitted preprocessing).")
    prep = load_tcga_preprocessing(path)
    prep["num_genes"] = prep["gene_scaler"].num_features
    prep["num_clinical"] = prep["clinical_encoder"].num_features
    prep["num_classes"] = max(len(prep["classes"]), 2)
    prep["clinical_names"] = prep["clinical_encoder"].feature_names
    return prep


def evaluation_dataset(
    root: str, prep: dict[str, Any], patch_size: int = 64, split: str = "auto"
) -> TCGAMultimodalDataset:
    """Dataset of the cases to evaluate or predict, transformed with the saved preprocessing.

    ``split="auto"``: the cases not used for training (the validation cases of the training cohort, or every case
    of a new cohort); ``"all"``: every case.
    """
    if split not in ("auto", "all"):
        raise ValueError(f"split must be 'auto' or 'all', got {split!r}.")
    cohort = load_tcga_cohort(root)
    cases = cohort.case_ids
    if split == "auto":
        seen = set(prep["train_case_ids"])
        unseen = [c for c in cases if c not in seen]
        cases = unseen or cases
    items = cohort.datalist(cases, genes=prep["gene_scaler"].selected_genes)
    return TCGAMultimodalDataset(
        items,
        prep["gene_scaler"],
        prep["clinical_encoder"],
        prep["edge_index"],
        prep["edge_weight"],
        spatial_size=(patch_size, patch_size),
    )


def require_checkpoint(ckpt_dir: str, name: str = "model.pt") -> str:
    """Path of a trained checkpoint; FileNotFoundError naming it (and the fix) when absent."""
    path = Path(ckpt_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run configs/train.json first.")
    return str(path)
