# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNetSurvival: a scikit-survival-style survival model around OncoNet for genomic + clinical tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from monai_dianet.utils.errors import InputError
from monai_dianet.estimators.base import OncoNetEstimatorBase
from monai_dianet.losses.cox import CoxPHLoss
from monai_dianet.losses.discrete_time_nll import DiscreteTimeNLLLoss, discretize_survival_times, survival_time_bins
from monai_dianet.metrics.survival import check_survival_data, concordance_index
from monai_dianet.networks.nets.onconet import OncoNet

__all__ = ["OncoNetSurvival", "survival_target"]

SURVIVAL_LOSSES = ("cox", "nll")


def survival_target(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(time, event) from scikit-survival's structured array (event field first, time second) or an (N, 2) array /
    DataFrame of (time, event).

    Raises:
        ValueError: another layout, NaN/negative times, non-binary events or no event at all (one line).
    """
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None.")
    arr = np.asarray(y)
    if arr.dtype.names is not None:
        if len(arr.dtype.names) != 2:
            raise InputError(f"y must have two fields (event, time), got {arr.dtype.names}.")
        event, time = arr[arr.dtype.names[0]], arr[arr.dtype.names[1]]
    elif arr.ndim == 2 and arr.shape[1] == 2:
        time, event = arr[:, 0], arr[:, 1]
    else:
        raise InputError(
            "y must be a scikit-survival structured array (event, time) or an (N, 2) array of (time, event), "
            f"got shape {arr.shape}."
        )
    return check_survival_data(time, event, "y")


class OncoNetSurvival(OncoNetEstimatorBase, BaseEstimator):
    """OncoNet survival model for patient tables, following scikit-learn / scikit-survival conventions: ``fit(X, y)``
    with ``y`` a scikit-survival structured array (``sksurv.util.Surv.from_arrays``) or (time, event) columns,
    ``predict`` / ``predict_risk`` give risk scores (higher = earlier event), ``score`` gives Harrell's C-index.

    Same networks, preprocessing and inner-fold ensemble as :class:`~monai_dianet.estimators.OncoNetClassifier`,
    with a survival head: ``loss="cox"`` (one risk output, :class:`~monai_dianet.losses.CoxPHLoss`, Breslow ties;
    full-batch by default so the risk sets are whole) or ``loss="nll"`` (``num_bins`` discrete-time hazards,
    :class:`~monai_dianet.losses.DiscreteTimeNLLLoss`, bins at the training event-time quantiles). Members stop
    early on their validation fold's loss. The ensemble averages member log-risks (Cox) or survival curves (NLL).

    Args:
        loss: ``"cox"`` or ``"nll"``.
        num_bins: discrete-time intervals for ``loss="nll"``.
        nll_alpha: extra weight of uncensored patients in the NLL.
        the others: as :class:`~monai_dianet.estimators.OncoNetClassifier` (``candidates`` are ranked by inner
            cross-validated C-index).

    Attributes:
        members_, inner_cv_score_ (inner cross-validated C-index), preprocessor_, bin_edges_ (NLL).

    Example::

        from sksurv.util import Surv
        model = OncoNetSurvival(clinical_columns=["age", "size"]).fit(frame, Surv.from_arrays(event, time))
        risk = model.predict_risk(test_frame)
    """

    def __init__(
        self,
        clinical_columns: Sequence[Any] | None = None,
        loss: str = "cox",
        num_bins: int = 4,
        nll_alpha: float = 0.0,
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
        if self.loss not in SURVIVAL_LOSSES:
            raise ValueError(f"loss must be one of {SURVIVAL_LOSSES}, got {self.loss!r}.")
        time, event = survival_target(y)
        if event.sum() < self.n_splits:
            raise InputError(
                f"y has {int(event.sum())} events; the {self.n_splits} inner folds need one each at least."
            )
        target = {"time": time.astype(np.float32), "event": event.astype(np.float32)}
        if self.loss == "nll":
            self.bin_edges_ = survival_time_bins(time, event, self.num_bins)
            target["interval"] = discretize_survival_times(time, self.bin_edges_).astype(np.int64)
        return target, event.astype(np.int64)

    def _num_outputs(self) -> int:
        return 1 if self.loss == "cox" else len(self.bin_edges_) + 1

    def _loss(self, net: OncoNet, outputs: torch.Tensor, target: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.loss == "cox":
            return CoxPHLoss()(outputs[:, 0], target["time"], target["event"])
        return DiscreteTimeNLLLoss(alpha=self.nll_alpha)(outputs, target["interval"], target["event"])

    def _ensemble_mode(self) -> str:
        return self.loss

    def _combine(self, outputs: np.ndarray) -> np.ndarray:
        return super()._combine(outputs)[:, 0]

    def _inner_score(self, target: dict[str, np.ndarray], prediction: np.ndarray) -> float:
        return concordance_index(target["time"], target["event"], prediction)

    def fit(self, X: Any, y: Any) -> OncoNetSurvival:
        """Fit the preprocessing and the ensemble on a (N, F) table and survival outcomes.

        Raises:
            ValueError: bad shapes, a column missing for every patient, censored-only outcomes, NaN or negative times,
                or fewer events than inner folds.
        """
        return self._fit(X, y)

    def predict_risk(self, X: Any) -> np.ndarray:
        """(N,) risk scores (higher = earlier event)."""
        return self._predict_outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """(N,) risk scores, as scikit-survival's models return them."""
        return self.predict_risk(X)

    def score(self, X: Any, y: Any) -> float:
        """Harrell's C-index of the predicted risks on (X, y)."""
        time, event = survival_target(y)
        return concordance_index(time, event, self.predict_risk(X))
