# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Cohort preparation and the fitted preprocessing of the OncoNet TCGA bundle.

``prepare_tcga_cohort`` returns the cohort folder (GDC formats): ``dataset_dir`` when given, else an embedded
synthetic cohort written once by :func:`monai_dianet.data.synthetic.generate_tcga` under ``bundle_root/data``.
Training splits the cohort into training, validation and test cases, fits the preprocessing on its training split
and saves it, with the case ids of each split, next to the weights; evaluation and inference reuse that file, so the
test cases (or a held-out cohort) are transformed with the training statistics only and never mixed with the cases
that training or validation saw.
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
from monai_dianet.bundle.checks import require_file
from monai_dianet.data import EVALUATION_SPLITS, prepare_embedded_data, select_cases
from monai_dianet.data.synthetic.tcga import generate_tcga
from monai_dianet.utils.errors import InputError, MissingInputError

__all__ = [
    "PREPROCESSING_FILE",
    "prepare_tcga_cohort",
    "build_training_data",
    "load_preprocessing",
    "evaluation_dataset",
    "require_checkpoint",
    "EVALUATION_SPLITS",
    "TRAIN_COMMAND",
]

#: file name of the fitted preprocessing that training saves beside the weights
PREPROCESSING_FILE = "preprocessing.json"

#: the command that writes the weights and the preprocessing (from the bundle folder)
TRAIN_COMMAND = "python -m monai.bundle run --config_file configs/train.json"


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
    root: str,
    ckpt_dir: str,
    num_genes: int = 64,
    val_fraction: float = 0.2,
    seed: int = 0,
    patch_size: int = 64,
    test_fraction: float = 0.2,
) -> TCGAData:
    """Read and split the cohort (training / validation / test, stratified by label), fit the preprocessing on the
    training cases and save it with the split's case ids to ``ckpt_dir`` (by rank 0 only when torch.distributed is
    initialised)."""
    data = build_tcga_data(
        root, num_genes=num_genes, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
        spatial_size=(patch_size, patch_size),
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
        MissingInputError: when training has not been run (no ``preprocessing.json`` in ``ckpt_dir``).
    """
    path = Path(ckpt_dir) / PREPROCESSING_FILE
    if not path.is_file():
        raise MissingInputError(f"preprocessing file {path} does not exist; train first (it saves the fitted "
                                f"preprocessing): {TRAIN_COMMAND}")
    prep = load_tcga_preprocessing(path)
    prep["num_genes"] = prep["gene_scaler"].num_features
    prep["num_clinical"] = prep["clinical_encoder"].num_features
    prep["num_classes"] = max(len(prep["classes"]), 2)
    prep["clinical_names"] = prep["clinical_encoder"].feature_names
    return prep


def evaluation_dataset(
    root: str, prep: dict[str, Any], patch_size: int = 64, split: str = "test", option: str = "--eval_split"
) -> TCGAMultimodalDataset:
    """Dataset of the cases to evaluate or predict, transformed with the saved preprocessing.

    Never falls back to cases that training or validation saw.

    Args:
        root: the cohort folder.
        prep: the output of :func:`load_preprocessing`.
        patch_size: histology patch size.
        split: ``"test"`` or ``"validation"``: those cases of the training cohort (``root`` must hold them);
            ``"cohort"``: every case of a new cohort, none of which may be a training or validation case.
        option: the option that set ``split``, for the messages.

    Raises:
        InputError: an unknown split, an empty split, a preprocessing file without the split's case ids (written
            by an older version: retrain), split cases missing from ``root``, or a ``"cohort"`` that shares cases
            with training or validation.
    """
    saved = prep.get("split_case_ids") or {}
    if not saved:
        raise InputError(f"the preprocessing file has no split case ids (written by an older version); retrain: "
                         f"{TRAIN_COMMAND}")
    cohort = load_tcga_cohort(root)
    cases = select_cases(saved, cohort.case_ids, split, EVALUATION_SPLITS, option, command=TRAIN_COMMAND, source=root)
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
    """Path of a trained checkpoint.

    Raises:
        MissingInputError: it does not exist (the message names it and the command that writes it).
    """
    return require_file(Path(ckpt_dir) / name, "checkpoint", TRAIN_COMMAND)
