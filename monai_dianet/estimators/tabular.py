# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tabular preprocessing of the OncoNet estimators: genomic and clinical column groups, fitted on training data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from monai_dianet.utils.errors import InputError

__all__ = ["as_frame", "ModalityTableTransformer"]


def as_frame(x: Any, columns: Sequence[Any] | None = None) -> pd.DataFrame:
    """A 2D numpy array, list of rows or DataFrame as a DataFrame (integer column names for arrays).

    Raises:
        ValueError: not 2D, or no rows/columns.
    """
    if isinstance(x, pd.DataFrame):
        frame = x
    else:
        array = np.asarray(x)
        if array.ndim != 2:
            raise InputError(f"X must be 2D (patients x features), got an array of shape {array.shape}.")
        frame = pd.DataFrame(array, columns=columns)
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise InputError(f"X must have at least one row and one column, got shape {frame.shape}.")
    return frame


def _is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


class ModalityTableTransformer(TransformerMixin, BaseEstimator):
    """Split a patient table into the genomic and the clinical modality and encode each for a network, with
    statistics fitted on the training patients only (scikit-learn ``ColumnTransformer``).

    Numeric columns: median imputation and standardisation; categorical columns (pandas category, object, string
    or bool dtype): most-frequent imputation and one-hot encoding (unknown categories at transform time encode as
    all zeros). Columns named in ``clinical_columns`` form the clinical modality, all others the genomic one.

    Args:
        clinical_columns: names (DataFrame input) or positions of the clinical columns; None: no clinical modality.

    Example::

        prep = ModalityTableTransformer(clinical_columns=["age", "grade"]).fit(train_frame)
        genes, clinical = prep.transform(test_frame)
    """

    def __init__(self, clinical_columns: Sequence[Any] | None = None) -> None:
        self.clinical_columns = clinical_columns

    def _groups(self, frame: pd.DataFrame) -> dict[str, list[Any]]:
        names = list(frame.columns)
        chosen = list(self.clinical_columns) if self.clinical_columns is not None else []
        clinical = []
        for c in chosen:
            if c in names:
                clinical.append(c)
            elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(names):
                clinical.append(names[int(c)])
            else:
                raise InputError(f"clinical_columns: column {c!r} is not in X (columns {names[:8]}...).")
        genes = [c for c in names if c not in clinical]
        return {"genes": genes, "clinical": clinical}

    def _block(self, frame: pd.DataFrame, cols: list[Any]) -> pd.DataFrame:
        """The columns ``cols``; categorical ones as plain objects with NaN for missing (what the imputer expects)."""
        block = frame[cols].copy()
        for c in cols:
            if c in self.categorical_:
                block[c] = block[c].astype(object).where(block[c].notna(), np.nan)
            else:
                block[c] = pd.to_numeric(block[c], errors="raise").astype(float)
        return block

    def fit(self, X: Any, y: Any = None) -> ModalityTableTransformer:
        frame = as_frame(X)
        empty = [c for c in frame.columns if frame[c].isna().all()]
        if empty:
            raise InputError(f"X: column(s) {empty[:5]} are missing for every patient; drop them.")
        self.columns_ = list(frame.columns)
        self.groups_ = self._groups(frame)
        self.categorical_ = [c for c in self.columns_ if _is_categorical(frame[c])]
        self.transformers_: dict[str, ColumnTransformer] = {}
        for name, cols in self.groups_.items():
            if not cols:
                continue
            # positions inside the block: column names may themselves be integers (numpy input)
            numeric = [i for i, c in enumerate(cols) if c not in self.categorical_]
            categorical = [i for i, c in enumerate(cols) if c in self.categorical_]
            parts = []
            if numeric:
                parts.append(("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric))
            if categorical:
                encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
                imputer = SimpleImputer(strategy="most_frequent")
                parts.append(("categorical", make_pipeline(imputer, encoder), categorical))
            self.transformers_[name] = ColumnTransformer(parts, sparse_threshold=0.0).fit(self._block(frame, cols))
        return self

    def transform(self, X: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        """
        Returns:
            (genes, clinical) float32 arrays of shape (N, width) or None for an absent modality.

        Raises:
            ValueError: the columns differ from those seen in ``fit``.
        """
        check_is_fitted(self, "transformers_")
        frame = as_frame(X, columns=None if isinstance(X, pd.DataFrame) else self.columns_)
        if list(frame.columns) != self.columns_:
            missing = [c for c in self.columns_ if c not in frame.columns]
            raise InputError(f"X must have the {len(self.columns_)} columns seen in fit; missing {missing[:5]}.")
        out = []
        for name in ("genes", "clinical"):
            if name not in self.transformers_:
                out.append(None)
                continue
            block = self._block(frame, self.groups_[name])
            out.append(np.asarray(self.transformers_[name].transform(block), dtype=np.float32))
        return out[0], out[1]
