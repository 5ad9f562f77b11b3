# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Preprocessing of TCGA multimodal data, fitted on training cases only, saved as JSON.

- :class:`ScaleGeneExpression`: gene selection (a given list, or the top-variance genes of the training
  cases), ``log1p`` and per-gene standardisation with training statistics.
- :class:`EncodeClinical`: numeric columns imputed with the training median, standardised with training
  statistics, plus one missing-indicator per column; AJCC stage text converted to a number; categorical
  columns one-hot encoded (or indexed) with an "unknown" bucket for missing and unseen values.
- :class:`LoadHistologyPatch`: RGB patch file(s) of a case -> ``(3, H, W)`` float tensor in [0, 1], zeros
  when the case has no patch.

Each has a dictionary twin (:class:`ScaleGeneExpressiond`, :class:`EncodeClinicald`,
:class:`LoadHistologyPatchd`) for MONAI ``Compose`` pipelines over datalist items. The two fitted
preprocessors are hand-written (scikit-learn's scalers do not carry gene selection, missing indicators and
unknown buckets together and are not a dependency of this package); they serialise to plain JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable, Resize, Transform
from monai.utils import convert_to_tensor

from monai_dianet.utils.errors import InputError, MissingInputError

__all__ = [
    "ajcc_stage_to_number",
    "ScaleGeneExpression",
    "EncodeClinical",
    "LoadHistologyPatch",
    "ScaleGeneExpressiond",
    "EncodeClinicald",
    "LoadHistologyPatchd",
    "ScaleGeneExpressionD",
    "ScaleGeneExpressionDict",
    "EncodeClinicalD",
    "EncodeClinicalDict",
    "LoadHistologyPatchD",
    "LoadHistologyPatchDict",
]

_STAGE = re.compile(r"^\s*stage\s+(0|iv|iii|ii|i)([abc]?)\d?\s*$", re.IGNORECASE)
_ROMAN = {"0": 0.0, "i": 1.0, "ii": 2.0, "iii": 3.0, "iv": 4.0}
DEFAULT_STAGE_COLUMNS = ("ajcc_pathologic_stage", "ajcc_clinical_stage")


def ajcc_stage_to_number(value: Any) -> float:
    """Map AJCC stage text to a number: ``Stage 0`` 0, ``Stage I`` 1, ``Stage IIB`` 2.25, ``Stage IV`` 4.

    The sub-stage letter adds 0.25 per step (A +0, B +0.25, C +0.5). Missing values, ``Stage X``, ``not
    reported`` and other text give NaN. Numbers pass through.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan")
    if isinstance(value, (int, float, np.number)):
        return float(value)
    match = _STAGE.match(str(value))
    if match is None:
        return float("nan")
    letter = match.group(2).lower()
    return _ROMAN[match.group(1).lower()] + (0.25 * "abc".index(letter) if letter else 0.0)


def _check_fitted(obj, attr: str) -> None:
    if getattr(obj, attr) is None:
        raise RuntimeError(f"{type(obj).__name__} is not fitted: call fit() on the training cases or load().")


class ScaleGeneExpression(Transform):
    """Select genes, ``log1p`` and standardise expression with statistics of the training cases.

    Selection: ``genes`` (a fixed list of gene ids) or, when None, the ``num_genes`` genes of highest
    variance over the training cases (after ``log1p`` when enabled; ties keep the input order); with both
    None every gene is kept. Selected genes keep the input column order. Genes with (near) zero training
    variance are only centred.

    Args:
        genes: gene ids to keep, in this order.
        num_genes: number of top-variance genes to keep when ``genes`` is None.
        log1p: apply ``log1p`` before selection and standardisation (TPM/counts are heavy-tailed).
        standardize: subtract the training mean and divide by the training standard deviation per gene.
        eps: standard deviations below this are replaced by 1.

    Example::

        scaler = ScaleGeneExpression(num_genes=128).fit(tpm.loc[train_ids])
        x = scaler(tpm.loc[val_ids])      # (N, 128) float32, no statistics of the val cases used
        scaler.save("genes.json"); scaler = ScaleGeneExpression.load("genes.json")
    """

    def __init__(
        self,
        genes: Sequence[str] | None = None,
        num_genes: int | None = None,
        log1p: bool = True,
        standardize: bool = True,
        eps: float = 1e-6,
    ) -> None:
        if num_genes is not None and num_genes < 1:
            raise ValueError(f"num_genes must be positive, got {num_genes}.")
        self.genes = list(genes) if genes is not None else None
        self.num_genes = num_genes
        self.log1p = log1p
        self.standardize = standardize
        self.eps = eps
        self.selected_genes: list[str] | None = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.num_fit_cases: int | None = None

    @property
    def num_features(self) -> int:
        """Number of output genes G."""
        _check_fitted(self, "selected_genes")
        return len(self.selected_genes)

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame.to_numpy(dtype=np.float64)
        if self.log1p:
            if np.nanmin(values, initial=0.0) < 0:
                raise ValueError("log1p needs non-negative expression values (TPM, FPKM or counts).")
            values = np.log1p(values)
        return values

    def fit(self, expression: pd.DataFrame) -> ScaleGeneExpression:
        """Fit on the training cases (rows) x genes (columns); rows with missing values are ignored.

        Raises:
            ValueError: genes not in the columns, fewer than one complete row, or ``num_genes`` larger
                than the number of genes.
        """
        complete = expression.dropna(axis=0, how="any")
        if len(complete) == 0:
            raise ValueError("ScaleGeneExpression.fit: no training case with complete expression values.")
        columns = [str(c) for c in complete.columns]
        complete = complete.set_axis(columns, axis=1)
        if self.genes is not None:
            unknown = [g for g in self.genes if g not in set(columns)]
            if unknown:
                raise ValueError(f"{len(unknown)} requested gene(s) not in the expression table: {unknown[:10]}.")
            selected = list(self.genes)
        elif self.num_genes is not None:
            if self.num_genes > len(columns):
                raise ValueError(f"num_genes={self.num_genes} but the expression table has {len(columns)} genes.")
            variance = self._values(complete).var(axis=0)
            top = np.sort(np.argsort(-variance, kind="stable")[: self.num_genes])
            selected = [columns[i] for i in top]
        else:
            selected = columns
        values = self._values(complete[selected])
        self.selected_genes = selected
        self.mean = values.mean(axis=0) if self.standardize else np.zeros(len(selected))
        std = values.std(axis=0) if self.standardize else np.ones(len(selected))
        self.std = np.where(std < self.eps, 1.0, std)
        self.num_fit_cases = int(len(complete))
        return self

    def transform(self, expression: pd.DataFrame | pd.Series | None) -> np.ndarray:
        """Selected, transformed and standardised values: ``(N, G)`` for a DataFrame, ``(G,)`` for a Series.

        ``None`` (a case without expression) gives zeros ``(G,)``; NaN values become 0 (the training mean).

        Raises:
            ValueError: when selected genes are missing from the input.
        """
        _check_fitted(self, "selected_genes")
        if expression is None:
            return np.zeros(len(self.selected_genes), dtype=np.float32)
        single = isinstance(expression, pd.Series)
        frame = expression.to_frame().T if single else expression
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        missing = [g for g in self.selected_genes if g not in frame.columns]
        if missing:
            raise ValueError(f"{len(missing)} selected gene(s) missing from the input: {missing[:10]}.")
        values = (self._values(frame[self.selected_genes]) - self.mean) / self.std
        values = np.nan_to_num(values, nan=0.0).astype(np.float32)
        return values[0] if single else values

    def __call__(self, expression: pd.DataFrame | pd.Series | None) -> np.ndarray:
        return self.transform(expression)

    def to_dict(self) -> dict:
        """JSON-serialisable state (configuration and fitted statistics)."""
        _check_fitted(self, "selected_genes")
        return {
            "type": "ScaleGeneExpression",
            "genes": self.genes,
            "num_genes": self.num_genes,
            "log1p": self.log1p,
            "standardize": self.standardize,
            "eps": self.eps,
            "selected_genes": self.selected_genes,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "num_fit_cases": self.num_fit_cases,
        }

    @classmethod
    def from_dict(cls, state: Mapping) -> ScaleGeneExpression:
        """Rebuild a fitted scaler from :meth:`to_dict` output (also states saved under the class's earlier name,
        ``type="GeneExpressionScaler"``, which has the same fields)."""
        if state.get("type") not in ("ScaleGeneExpression", "GeneExpressionScaler"):
            raise ValueError(f"not a ScaleGeneExpression state: type={state.get('type')!r}.")
        obj = cls(state["genes"], state["num_genes"], state["log1p"], state["standardize"], state["eps"])
        obj.selected_genes = list(state["selected_genes"])
        obj.mean = np.asarray(state["mean"], dtype=np.float64)
        obj.std = np.asarray(state["std"], dtype=np.float64)
        obj.num_fit_cases = state.get("num_fit_cases")
        return obj

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ScaleGeneExpression:
        """Read a scaler saved by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


class EncodeClinical(Transform):
    """Encode clinical columns into a numeric vector (and optional categorical indices), fitted on train.

    Numeric columns: missing values imputed with the training median, then standardised with the training
    mean/std (computed after imputation); with ``missing_indicator`` one extra 0/1 feature per numeric
    column flags a missing value. AJCC stage columns (``stage_columns`` present in the data) are converted
    with :func:`ajcc_stage_to_number` and treated as numeric. Categorical columns: the categories seen in
    training at least ``min_frequency`` times; index 0 is the "unknown" bucket (missing or unseen value).
    ``categorical_mode="onehot"`` appends one-hot blocks (unknown column first) to the numeric vector and
    leaves the categorical index array empty; ``"index"`` returns the indices separately (for embeddings).

    Feature layout of the numeric vector: ``[numeric..., numeric missing indicators..., one-hot blocks...]``,
    named by :attr:`feature_names`.

    Args:
        numeric: numeric columns; with ``categorical`` also None, columns are chosen at fit time from the
            table's dtypes (float -> numeric, text -> categorical; stage columns numeric; skipped: columns
            missing in every training case, ``*_id`` columns and text columns with a distinct value per case).
            Outcome columns (vital_status, days_to_death...) are not recognised: pass explicit columns.
        categorical: categorical columns.
        stage_columns: columns holding AJCC stage text, converted to numbers.
        categorical_mode: ``"onehot"`` or ``"index"``.
        missing_indicator: add the numeric missing indicators.
        min_frequency: rarer training categories fall in the unknown bucket.
        eps: standard deviations below this are replaced by 1.

    Example::

        enc = EncodeClinical(numeric=["age_at_index"], categorical=["gender"]).fit(clinical.loc[train_ids])
        x, cat = enc(clinical.loc[val_ids])   # (N, F) float32, (N, 0) int64 in one-hot mode
    """

    def __init__(
        self,
        numeric: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        stage_columns: Sequence[str] = DEFAULT_STAGE_COLUMNS,
        categorical_mode: str = "onehot",
        missing_indicator: bool = True,
        min_frequency: int = 1,
        eps: float = 1e-6,
    ) -> None:
        if categorical_mode not in ("onehot", "index"):
            raise ValueError(f"categorical_mode must be 'onehot' or 'index', got {categorical_mode!r}.")
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be at least 1, got {min_frequency}.")
        self.numeric = list(numeric) if numeric is not None else None
        self.categorical = list(categorical) if categorical is not None else None
        self.stage_columns = list(stage_columns)
        self.categorical_mode = categorical_mode
        self.missing_indicator = missing_indicator
        self.min_frequency = min_frequency
        self.eps = eps
        self.numeric_columns: list[str] | None = None
        self.categorical_columns: list[str] = []
        self.median: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.categories: dict[str, list[str]] = {}

    def _numeric_values(self, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
        out = np.empty((len(frame), len(columns)), dtype=np.float64)
        for j, c in enumerate(columns):
            col = frame[c]
            if c in self.stage_columns:
                out[:, j] = [ajcc_stage_to_number(v) for v in col]
            else:
                converted = pd.to_numeric(col, errors="coerce")
                bad = col.notna() & converted.isna()
                if bad.any():
                    raise ValueError(f"numeric clinical column {c!r} has non-numeric values {list(col[bad])[:5]}.")
                out[:, j] = converted.to_numpy(dtype=np.float64)
        return out

    def fit(self, clinical: pd.DataFrame) -> EncodeClinical:
        """Fit on the training cases (rows) of a clinical table (e.g. from ``read_gdc_clinical``).

        Raises:
            ValueError: requested columns missing from the table, or no usable column.
        """
        if self.numeric is None and self.categorical is None:
            numeric, categorical = [], []
            for c in clinical.columns:
                present = clinical[c].dropna()
                if present.empty or str(c).endswith("_id") or str(c) == "id":
                    continue
                if c in self.stage_columns or pd.api.types.is_numeric_dtype(clinical[c]):
                    numeric.append(c)
                elif len(present) < 2 or present.nunique() < len(present):
                    categorical.append(c)  # a text column with a distinct value per case is an identifier
        else:
            numeric, categorical = list(self.numeric or []), list(self.categorical or [])
            unknown = [c for c in numeric + categorical if c not in clinical.columns]
            if unknown:
                raise ValueError(f"clinical column(s) {unknown} not in the table; available {list(clinical.columns)}.")
        if not numeric and not categorical:
            raise ValueError("EncodeClinical.fit: no clinical column to encode.")
        values = self._numeric_values(clinical, numeric)
        with np.errstate(all="ignore"):
            median = np.array([np.nanmedian(v) if np.isfinite(v).any() else 0.0 for v in values.T])
        imputed = np.where(np.isnan(values), median, values)
        self.numeric_columns = numeric
        self.categorical_columns = categorical
        self.median = median
        self.mean = imputed.mean(axis=0) if len(imputed) else np.zeros(len(numeric))
        std = imputed.std(axis=0) if len(imputed) else np.ones(len(numeric))
        self.std = np.where(std < self.eps, 1.0, std)
        self.categories = {}
        for c in categorical:
            counts = clinical[c].dropna().astype(str).value_counts()
            self.categories[c] = sorted(counts[counts >= self.min_frequency].index)
        return self

    @property
    def feature_names(self) -> list[str]:
        """Names of the numeric output features, in order."""
        _check_fitted(self, "numeric_columns")
        names = list(self.numeric_columns)
        if self.missing_indicator:
            names += [f"{c}__missing" for c in self.numeric_columns]
        if self.categorical_mode == "onehot":
            for c in self.categorical_columns:
                names += [f"{c}=__unknown"] + [f"{c}={v}" for v in self.categories[c]]
        return names

    @property
    def num_features(self) -> int:
        """Length F of the numeric output vector."""
        return len(self.feature_names)

    @property
    def cardinalities(self) -> list[int]:
        """Number of index values per categorical column in ``"index"`` mode (categories + unknown)."""
        _check_fitted(self, "numeric_columns")
        if self.categorical_mode != "index":
            return []
        return [len(self.categories[c]) + 1 for c in self.categorical_columns]

    def transform(self, clinical: pd.DataFrame | pd.Series | Mapping | None) -> tuple[np.ndarray, np.ndarray]:
        """Encode a table ``(N, F), (N, C)`` or one case (a Series/Mapping) ``(F,), (C,)``.

        ``None`` (a case without clinical data) gives zeros ``(F,)`` and zeros ``(C,)``. Missing columns in
        the input count as missing values.
        """
        _check_fitted(self, "numeric_columns")
        num_cat = len(self.categorical_columns) if self.categorical_mode == "index" else 0
        if clinical is None:
            return np.zeros(self.num_features, dtype=np.float32), np.zeros(num_cat, dtype=np.int64)
        single = not isinstance(clinical, pd.DataFrame)
        frame = pd.DataFrame([dict(clinical)]) if single else clinical
        frame = frame.reindex(columns=list(dict.fromkeys(self.numeric_columns + self.categorical_columns)))
        values = self._numeric_values(frame, self.numeric_columns)
        missing = np.isnan(values)
        numeric = (np.where(missing, self.median, values) - self.mean) / self.std
        blocks = [numeric]
        if self.missing_indicator:
            blocks.append(missing.astype(np.float64))
        indices = np.zeros((len(frame), len(self.categorical_columns)), dtype=np.int64)
        for j, c in enumerate(self.categorical_columns):
            lookup = {v: i + 1 for i, v in enumerate(self.categories[c])}
            indices[:, j] = [0 if pd.isna(v) else lookup.get(str(v), 0) for v in frame[c]]
            if self.categorical_mode == "onehot":
                blocks.append(np.eye(len(lookup) + 1)[indices[:, j]])
        features = np.concatenate(blocks, axis=1).astype(np.float32)
        if self.categorical_mode == "onehot":
            indices = indices[:, :0]
        return (features[0], indices[0]) if single else (features, indices)

    def __call__(self, clinical: pd.DataFrame | pd.Series | Mapping | None) -> tuple[np.ndarray, np.ndarray]:
        return self.transform(clinical)

    def to_dict(self) -> dict:
        """JSON-serialisable state (configuration and fitted statistics)."""
        _check_fitted(self, "numeric_columns")
        return {
            "type": "EncodeClinical",
            "numeric": self.numeric,
            "categorical": self.categorical,
            "stage_columns": self.stage_columns,
            "categorical_mode": self.categorical_mode,
            "missing_indicator": self.missing_indicator,
            "min_frequency": self.min_frequency,
            "eps": self.eps,
            "numeric_columns": self.numeric_columns,
            "categorical_columns": self.categorical_columns,
            "median": self.median.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "categories": self.categories,
        }

    @classmethod
    def from_dict(cls, state: Mapping) -> EncodeClinical:
        """Rebuild a fitted encoder from :meth:`to_dict` output (also states saved under the class's earlier names,
        ``type="ClinicalTableEncoder"`` or ``"ClinicalEncoder"``, which have the same fields)."""
        if state.get("type") not in ("EncodeClinical", "ClinicalTableEncoder", "ClinicalEncoder"):
            raise ValueError(f"not an EncodeClinical state: type={state.get('type')!r}.")
        obj = cls(
            state["numeric"],
            state["categorical"],
            state["stage_columns"],
            state["categorical_mode"],
            state["missing_indicator"],
            state["min_frequency"],
            state["eps"],
        )
        obj.numeric_columns = list(state["numeric_columns"])
        obj.categorical_columns = list(state["categorical_columns"])
        obj.median = np.asarray(state["median"], dtype=np.float64)
        obj.mean = np.asarray(state["mean"], dtype=np.float64)
        obj.std = np.asarray(state["std"], dtype=np.float64)
        obj.categories = {k: list(v) for k, v in state["categories"].items()}
        return obj

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> EncodeClinical:
        """Read an encoder saved by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


class LoadHistologyPatch(Randomizable, Transform):
    """Load one RGB histology patch of a case as a ``(3, H, W)`` float32 tensor in [0, 1].

    The input is a path or a list of paths (the case's patches): the first one is loaded, or a random one
    with ``random_patch=True`` (training). ``None`` or an empty list (the case has no image) gives zeros of
    ``spatial_size``. Images of another size are resized (bilinear, anti-aliased) to ``spatial_size``.
    PIL reads the file directly: MONAI's ``PILReader`` returns width-first arrays, which would transpose
    non-square patches.

    Args:
        spatial_size: output ``(H, W)``; None keeps the file's size (then a missing image is an error).
        random_patch: pick a random patch of the case instead of the first.

    Raises:
        MissingInputError: for a path that does not exist (also a ``FileNotFoundError``).
        InputError: for a file that is not a readable image (also a ``ValueError``).
        ValueError: for a missing image with ``spatial_size=None``.
    """

    def __init__(self, spatial_size: Sequence[int] | None = (64, 64), random_patch: bool = False) -> None:
        self.spatial_size = tuple(int(s) for s in spatial_size) if spatial_size is not None else None
        if self.spatial_size is not None and len(self.spatial_size) != 2:
            raise ValueError(f"spatial_size must be (H, W), got {spatial_size}.")
        self.random_patch = random_patch
        self._index = 0
        self._resize = Resize(self.spatial_size, mode="bilinear", anti_aliasing=True) if self.spatial_size else None

    def randomize(self, data: Sequence[str]) -> None:
        self._index = int(self.R.randint(len(data))) if self.random_patch and len(data) > 1 else 0

    def __call__(self, paths: str | Path | Sequence[str | Path] | None) -> torch.Tensor:
        from PIL import Image

        if isinstance(paths, (str, Path)):
            paths = [paths]
        if not paths:
            if self.spatial_size is None:
                raise ValueError("no histology patch for this case and spatial_size=None: cannot make zeros.")
            return torch.zeros((3, *self.spatial_size), dtype=torch.float32)
        self.randomize(paths)
        path = Path(paths[self._index])
        if not path.is_file():
            raise MissingInputError(f"histology patch not found: {path}")
        try:
            with Image.open(path) as im:
                array = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        except (OSError, ValueError, SyntaxError) as e:  # PIL: UnidentifiedImageError, truncated or broken data
            raise InputError(f"histology patch {path} cannot be read ({e}); expected a PNG/JPEG/TIFF image") from e
        image = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        if self._resize is not None and tuple(image.shape[1:]) != self.spatial_size:
            image = convert_to_tensor(self._resize(image), dtype=torch.float32, track_meta=False).clamp(0.0, 1.0)
        return image


class ScaleGeneExpressiond(MapTransform):
    """Dictionary twin of :class:`ScaleGeneExpression`: raw per-case expression (a pandas Series indexed
    by gene id, or None) -> ``(G,)`` float32 tensor.

    Args:
        keys: keys of the expression entries.
        scaler: a fitted :class:`ScaleGeneExpression`.
        allow_missing_keys: do not raise for absent keys.
    """

    def __init__(self, keys: KeysCollection, scaler: ScaleGeneExpression, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = scaler

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = torch.from_numpy(self.scaler(d[key]))
        return d


class EncodeClinicald(MapTransform):
    """Dictionary twin of :class:`EncodeClinical`: raw per-case clinical values (Series/Mapping or None)
    -> ``d[key]`` ``(F,)`` float32 tensor and ``d[f"{key}_{cat_postfix}"]`` ``(C,)`` int64 tensor (empty in
    one-hot mode).

    Args:
        keys: keys of the clinical entries.
        encoder: a fitted :class:`EncodeClinical`.
        cat_postfix: postfix of the categorical index key.
        allow_missing_keys: do not raise for absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        encoder: EncodeClinical,
        cat_postfix: str = "cat",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.encoder = encoder
        self.cat_postfix = cat_postfix

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            features, categories = self.encoder(d[key])
            d[key] = torch.from_numpy(features)
            d[f"{key}_{self.cat_postfix}"] = torch.from_numpy(categories)
        return d


class LoadHistologyPatchd(Randomizable, MapTransform):
    """Dictionary twin of :class:`LoadHistologyPatch` (path, list of paths or None -> ``(3, H, W)``).

    Args:
        keys: keys of the patch path entries.
        spatial_size: output ``(H, W)``.
        random_patch: pick a random patch of the case (training).
        allow_missing_keys: do not raise for absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        spatial_size: Sequence[int] | None = (64, 64),
        random_patch: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.loader = LoadHistologyPatch(spatial_size, random_patch)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.loader.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:
        self.loader.randomize(data)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


ScaleGeneExpressionD = ScaleGeneExpressionDict = ScaleGeneExpressiond
EncodeClinicalD = EncodeClinicalDict = EncodeClinicald
LoadHistologyPatchD = LoadHistologyPatchDict = LoadHistologyPatchd
