# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The survival task of the OncoNet TCGA bundle (``configs/*_survival.json``).

Training goes through the fit API: :class:`~monai_dianet.estimators.OncoNetSurvival` is fitted on the training
cases' gene expression and clinical columns (its inner-fold ensemble, early stopping and inner-CV choice of the
wide path), exported as one module (:meth:`~monai_dianet.estimators.OncoNetSurvival.to_module`) and saved as
``model.pt``; the validation cases give the validation C-index and the cut-off between predicted risk groups.
Evaluation and inference run that module in a MONAI ``SupervisedEvaluator``. Cases are split into training,
validation and test by :func:`monai_dianet.data.split_datalist`, stratified by the event indicator.

Files that training writes to ``ckpt_dir``: ``preprocessing.json`` (gene selection and scaling, clinical
encoding, fitted on the training cases), ``model.pt`` (the ensemble's ``state_dict``) and
``survival_model.json`` (the ensemble's constructor arguments, the risk-group cut-offs, the training outcomes for
the time-dependent AUC, the case ids of each split and the validation scores).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from monai.inferers import Inferer, SimpleInferer

from monai_dianet.apps.tcga.data import TCGAData, TCGAMultimodalDataset, build_tcga_data
from monai_dianet.apps.tcga.preprocessing import PREPROCESSING_FILE, _barrier, _is_rank0, load_preprocessing
from monai_dianet.apps.tcga.survival import load_tcga_survival_cohort
from monai_dianet.data import SPLITS
from monai_dianet.estimators import OncoNetSurvival
from monai_dianet.metrics.survival import concordance_index, survival_array, time_dependent_auc
from monai_dianet.utils.errors import InputError, MissingInputError
from monai_dianet.visualize.kaplan_meier import risk_groups

__all__ = [
    "SURVIVAL_MODEL_FILE",
    "SURVIVAL_SPLITS",
    "OncoNetSurvivalTrainer",
    "build_survival_data",
    "load_survival_model",
    "survival_dataset",
    "survival_table",
]

logger = logging.getLogger(__name__)

#: file of the survival ensemble's settings, cut-offs and splits that training saves beside the weights
SURVIVAL_MODEL_FILE = "survival_model.json"
#: the values of ``eval_split`` / ``infer_split``
SURVIVAL_SPLITS = (*SPLITS, "all")
_PATCH = (8, 8)  # the survival task reads no image; the dataset's unused image placeholder stays small


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def build_survival_data(
    root: str,
    ckpt_dir: str,
    num_genes: int = 64,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> TCGAData:
    """Read the survival cohort (:func:`~monai_dianet.apps.tcga.load_tcga_survival_cohort`: cases of the clinical
    table with a usable outcome, gene expression and clinical columns, no images), split it by case with
    :func:`monai_dianet.data.split_datalist` stratified by the event, fit the gene selection/scaling and the clinical
    encoding on the training cases and save them to ``ckpt_dir`` (by rank 0 only when torch.distributed is on).

    Raises:
        InputError: a validation fraction of 0 (the risk-group cut-off and the validation score need validation
            cases), and the cohort's input errors.
    """
    if val_fraction <= 0:
        raise InputError(f"val_fraction must be > 0 for the survival task (validation cases choose the risk-group "
                         f"cut-off), got {val_fraction}.")
    cohort = load_tcga_survival_cohort(root, patches=None)
    data = build_tcga_data(cohort, num_genes=num_genes, val_fraction=val_fraction, test_fraction=test_fraction,
                           seed=seed, spatial_size=_PATCH, random_patch_train=False)
    if _is_rank0():
        os.makedirs(ckpt_dir, exist_ok=True)
        _atomic_write(Path(ckpt_dir) / PREPROCESSING_FILE, data.save_preprocessing)
    _barrier()
    return data


def survival_table(dataset: TCGAMultimodalDataset) -> dict[str, Any]:
    """The model inputs and outcomes of a dataset's cases as arrays, as the evaluator's batches hold them.

    Returns:
        ``{"genes": (N, G), "clinical": (N, C), "time": (N,), "event": (N,), "case_ids": [...]}`` (float32 inputs,
        absent modalities as zeros).
    """
    items = [dataset[i] for i in range(len(dataset))]
    width = {k: dataset.gene_scaler.num_features if k == "genes" else dataset.clinical_encoder.num_features
             for k in ("genes", "clinical")}
    table = {k: np.stack([np.asarray(it[k], dtype=np.float32) for it in items]) if items
             else np.zeros((0, width[k]), np.float32) for k in ("genes", "clinical")}
    table["time"] = np.array([float(it.get("time", np.nan)) for it in items])
    table["event"] = np.array([bool(it.get("event", False)) for it in items])
    table["case_ids"] = [str(it["case_id"]) for it in items]
    return table


class OncoNetSurvivalTrainer:
    """Train the survival task through the fit API and save what evaluation and inference load.

    ``run()`` fits ``estimator`` (an :class:`~monai_dianet.estimators.OncoNetSurvival`; its ``clinical_columns``
    must be the clinical feature names of ``data``) on the training cases, exports the fitted ensemble with its
    preprocessing as one module, scores it on the validation cases (C-index, mean time-dependent AUC), chooses the
    cut-offs between ``num_groups`` risk groups as the quantiles of the validation risks, and writes ``model.pt``
    and ``survival_model.json`` atomically to ``ckpt_dir``. The test cases are not touched.

    Args:
        estimator: the unfitted estimator.
        data: from :func:`build_survival_data`.
        ckpt_dir: output folder.
        num_groups: number of predicted risk groups (2: below / above the validation median).
        max_epochs: the estimator's ``max_epochs`` (epochs per ensemble member, with early stopping); None keeps the
            estimator's. A MONAI train workflow reads it as the trainer's ``max_epochs`` property.
        inferer: runs the exported module on the validation inputs (default MONAI's ``SimpleInferer``), as the
            evaluator does.

    Example::

        data = build_survival_data("tcga_root", "models/survival")
        estimator = OncoNetSurvival(clinical_columns=data.clinical_feature_names)
        OncoNetSurvivalTrainer(estimator, data, "models/survival").run()
    """

    def __init__(
        self,
        estimator: OncoNetSurvival,
        data: TCGAData,
        ckpt_dir: str,
        num_groups: int = 2,
        max_epochs: int | None = None,
        inferer: Inferer | None = None,
    ) -> None:
        if max_epochs is not None:
            estimator.set_params(max_epochs=int(max_epochs))
        self.estimator = estimator
        self.max_epochs = estimator.max_epochs
        self.data = data
        self.ckpt_dir = Path(ckpt_dir)
        self.num_groups = num_groups
        self.inferer = SimpleInferer() if inferer is None else inferer

    def _frame(self, table: dict[str, Any]) -> pd.DataFrame:
        columns = [*self.data.genes, *self.data.clinical_feature_names]
        if len(set(columns)) != len(columns):
            raise InputError("gene ids and clinical feature names overlap; rename the clinical columns.")
        return pd.DataFrame(np.hstack([table["genes"], table["clinical"]]), columns=columns)

    def run(self) -> dict[str, Any]:
        """Fit, validate and save; returns the validation scores."""
        train = survival_table(self.data.datasets["training"])
        val = survival_table(self.data.datasets["validation"])
        if not val["event"].any():
            raise InputError(f"the {len(val['event'])} validation cases have no event; raise val_fraction or use "
                             "more cases (the validation C-index needs events).")
        start = time.perf_counter()
        logger.info("fitting %s on %d training cases (%d events, %d genes, %d clinical features)",
                    type(self.estimator).__name__, len(train["time"]), int(train["event"].sum()),
                    train["genes"].shape[1], train["clinical"].shape[1])
        self.estimator.fit(self._frame(train), survival_array(train["time"], train["event"]))
        module = self.estimator.to_module()
        logger.info("fitted %d members in %.1f s (inner cross-validated C-index %.3f, kept %s)",
                    len(self.estimator.members_), time.perf_counter() - start, self.estimator.inner_cv_score_,
                    self.estimator.best_candidate_ or "the given settings")
        with torch.no_grad():
            inputs = {k: torch.as_tensor(val[k]) for k in ("genes", "clinical")}
            risk = self.inferer(inputs, module)[:, 0].numpy()
        validation = {"num_cases": len(risk), "events": int(val["event"].sum()),
                      "cindex": concordance_index(val["time"], val["event"], risk)}
        try:
            validation["td_auc"] = time_dependent_auc(train["time"], train["event"], val["time"], val["event"], risk)[2]
        except ValueError as err:
            logger.warning("validation time-dependent AUC not defined (%s)", err)
            validation["td_auc"] = None
        thresholds = risk_groups(risk, self.num_groups)[1]
        logger.info("validation (%d cases, %d events): C-index %.3f, time-dependent AUC %s; risk-group cut-offs %s",
                    validation["num_cases"], validation["events"], validation["cindex"], validation["td_auc"],
                    np.round(thresholds, 4).tolist())
        params = {k: v for k, v in self.estimator.get_params().items() if k != "clinical_columns"}
        record = {
            "network": module.config,
            "thresholds": [float(t) for t in thresholds],
            "train_outcome": {"time": train["time"].tolist(), "event": train["event"].tolist()},
            "splits": {name: [d["case_id"] for d in items] for name, items in self.data.splits.items()},
            "validation": validation,
            "inner_cv_cindex": float(self.estimator.inner_cv_score_),
            "estimator": json.loads(json.dumps(params, default=str)),
            "best_candidate": json.loads(json.dumps(self.estimator.best_candidate_, default=str)),
        }
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.ckpt_dir / "model.pt", lambda p: torch.save(module.state_dict(), p))
        _atomic_write(self.ckpt_dir / SURVIVAL_MODEL_FILE, lambda p: p.write_text(json.dumps(record, indent=1)))
        logger.info("saved %s and %s", self.ckpt_dir / "model.pt", self.ckpt_dir / SURVIVAL_MODEL_FILE)
        return validation


def load_survival_model(ckpt_dir: str) -> dict[str, Any]:
    """Read ``survival_model.json`` (see :class:`OncoNetSurvivalTrainer`).

    Raises:
        MissingInputError: training has not been run (no such file, or no ``model.pt``), naming the command.
        InputError: a file that is not a survival model file.
    """
    path = Path(ckpt_dir) / SURVIVAL_MODEL_FILE
    for needed in (path, Path(ckpt_dir) / "model.pt"):
        if not needed.is_file():
            raise MissingInputError(f"{needed} not found: train first with configs/train_survival.json.")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON ({err}).") from None
    missing = [k for k in ("network", "thresholds", "train_outcome", "splits") if k not in record]
    if missing:
        raise InputError(f"{path}: missing key(s) {missing}; not a survival model file.")
    return record


def survival_dataset(
    root: str, ckpt_dir: str, split: str = "test", require_outcome: bool = True
) -> TCGAMultimodalDataset:
    """The cases of ``split`` in the cohort ``root``, transformed with the preprocessing saved by training.

    Args:
        root: cohort folder (the training cohort, or another one with ``split="all"``).
        ckpt_dir: where training saved ``preprocessing.json`` and ``survival_model.json``.
        split: ``"test"`` (evaluation default), ``"validation"``, ``"training"`` (the case ids saved by training)
            or ``"all"`` (every case of ``root``).
        require_outcome: only cases with a usable outcome (evaluation); False for inference.

    Raises:
        InputError: an unknown split, or a split without any case in ``root`` (e.g. ``test_fraction`` 0, or a new
            cohort: use ``split="all"``); never falls back to other cases.
    """
    if split not in SURVIVAL_SPLITS:
        raise InputError(f"split {split!r} is not one of {list(SURVIVAL_SPLITS)}.")
    record = load_survival_model(ckpt_dir)
    prep = load_preprocessing(ckpt_dir)
    cohort = load_tcga_survival_cohort(root, patches=None, require_outcome=require_outcome)
    cases = cohort.case_ids
    if split != "all":
        chosen = set(record["splits"].get(split, []))
        cases = [c for c in cases if c in chosen]
    if not cases:
        raise InputError(f"split {split!r} has no case in {root} (training saved {len(record['splits'].get(split, []))}"
                         f" {split} case ids); train with test_fraction > 0, or pass split 'all' for a new cohort.")
    items = cohort.datalist(cases, genes=prep["gene_scaler"].selected_genes)
    return TCGAMultimodalDataset(items, prep["gene_scaler"], prep["clinical_encoder"], spatial_size=_PATCH)
