# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNetClassifier: a scikit-learn classifier around OncoNet for genomic + clinical tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin
from sklearn.metrics import log_loss
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from monai_dianet.utils.errors import InputError
from monai_dianet.estimators.base import OncoNetEstimatorBase
from monai_dianet.networks.nets.onconet import OncoNet

__all__ = ["OncoNetClassifier"]


class OncoNetClassifier(ClassifierMixin, OncoNetEstimatorBase):
    """OncoNet for patient tables, with scikit-learn's estimator conventions (``fit`` / ``predict_proba`` /
    ``predict``; ``clone``, ``get_params`` / ``set_params``, ``cross_val_score`` and ``GridSearchCV`` work).

    The table's ``clinical_columns`` form the clinical modality (clinical MLP), every other column the genomic one
    (a self-normalising network, optionally with feature gates); both are fused by modality attention, and a linear
    wide path on the same columns can be added to the logits (by default inner cross-validation decides).
    Preprocessing (imputation, standardisation, one-hot encoding) is fitted on the training rows. Training: an
    ensemble of ``n_splits`` x ``n_repeats`` networks, each trained on the other inner folds of the training rows
    with AdamW and early stopping on its own fold's cross-entropy; probabilities are the members' average (see
    :class:`~monai_dianet.estimators.base.OncoNetEstimatorBase`).

    The defaults were chosen by repeated cross-validation on public cohorts shipped in scikit-learn and
    scikit-survival (``benchmarks/bench_onconet.py`` documents which, and which were kept aside).

    Args:
        clinical_columns: names (DataFrame) or positions of the clinical columns; None: all columns are genomic.
        genomic_encoder: ``"snn"`` (default), ``"mlp"`` or ``"transformer"`` for the non-clinical columns.
        wide: add the linear wide path (True), leave it out (False), or ``"auto"``: fit both ensembles and keep the
            one with the better inner cross-validated score (it helps where a linear model is strong, and fits
            noise where many columns carry no signal; measured on the development cohorts).
        embed_dim: shared embedding size d.
        hidden_dims: hidden widths of the genomic and clinical encoders.
        dropout: dropout (AlphaDropout in the SNN) of encoders and projections.
        feature_gate: feature-wise sigmoid gates in front of the SNN.
        gate_penalty: weight of the gates' L1 penalty (sparsity).
        learning_rate / weight_decay: AdamW settings (weight decay on every parameter).
        max_epochs / patience: epoch budget and early-stopping patience (epochs without a better validation loss).
        batch_size: mini-batch size (None: full batch).
        n_splits / n_repeats: inner folds per repeat and repeats; the ensemble has ``n_splits * n_repeats`` members.
        candidates: optional list of parameter dicts (e.g. ``[{"weight_decay": 0.01}, {"weight_decay": 0.1}]``); one
            ensemble is fitted per candidate and the best by inner cross-validated log-loss is kept.
        random_state: seed of the inner splits, the initialisations and the batch order.
        device: torch device for training and prediction (``"cpu"``, ``"cuda"``...).
        verbose: print each member's validation losses.

    Attributes:
        classes_: the class labels.
        members_: the trained networks.
        inner_cv_score_: inner cross-validated negative log-loss of the kept ensemble (higher is better).
        preprocessor_: the fitted :class:`~monai_dianet.estimators.tabular.ModalityTableTransformer`.

    Example::

        from sklearn.model_selection import cross_val_score
        clf = OncoNetClassifier(clinical_columns=["age", "grade"])
        cross_val_score(clf, frame, labels, scoring="roc_auc", cv=5)
    """

    def __init__(
        self,
        clinical_columns: Sequence[Any] | None = None,
        genomic_encoder: str = "snn",
        wide: bool | str = "auto",
        embed_dim: int = 16,
        hidden_dims: Sequence[int] = (32,),
        dropout: float = 0.25,
        feature_gate: bool = False,
        gate_penalty: float = 0.0,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-2,
        max_epochs: int = 300,
        patience: int = 30,
        batch_size: int | None = None,
        n_splits: int = 5,
        n_repeats: int = 1,
        candidates: Sequence[dict[str, Any]] | None = None,
        random_state: int = 0,
        device: str | None = None,
        verbose: bool = False,
    ) -> None:
        self._common_init(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})

    def _encode_target(self, y: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if y is None:
            raise ValueError("requires y to be passed, but the target y is None.")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        if len(self.classes_) < 2:
            raise InputError(f"y needs at least 2 classes, got {len(self.classes_)} class (one class).")
        codes = self._label_encoder.transform(y).astype(np.int64)
        if np.bincount(codes).min() < self.n_splits:
            raise InputError(f"every class needs at least n_splits={self.n_splits} patients for the inner folds.")
        return {"label": codes}, codes

    def _num_outputs(self) -> int:
        return len(self.classes_)

    def _loss(self, net: OncoNet, outputs: torch.Tensor, target: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(outputs, target["label"])

    def _ensemble_mode(self) -> str:
        return "softmax"

    def _inner_score(self, target: dict[str, np.ndarray], prediction: np.ndarray) -> float:
        return -float(log_loss(target["label"], prediction, labels=np.arange(len(self.classes_))))

    def fit(self, X: Any, y: Any) -> OncoNetClassifier:
        """Fit the preprocessing and the ensemble on a (N, F) table (numpy or pandas) and (N,) class labels.

        Raises:
            ValueError: bad shapes, a column missing for every patient, fewer than 2 classes, or a class with fewer
                patients than ``n_splits``.
        """
        return self._fit(X, y)

    def predict_proba(self, X: Any) -> np.ndarray:
        """(N, K) class probabilities, columns in the order of ``classes_``."""
        return self._predict_outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """(N,) most probable class labels."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
