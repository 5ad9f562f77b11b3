# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Shared fitting machinery of the OncoNet estimators: preprocessing, inner-split ensembles, early stopping."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from monai_dianet.utils.errors import InputError
from monai_dianet.estimators.ensemble import OncoNetEnsemble, combine_member_outputs
from monai_dianet.estimators.tabular import ModalityTableTransformer
from monai_dianet.networks.nets.onconet import OncoNet

__all__ = ["OncoNetEstimatorBase"]


class OncoNetEstimatorBase(BaseEstimator, metaclass=ABCMeta):
    """Base of :class:`~monai_dianet.estimators.OncoNetClassifier` and :class:`~monai_dianet.estimators.OncoNetSurvival`
    (not used directly).

    ``fit`` encodes the table with :class:`ModalityTableTransformer` fitted on the training rows only, then trains an
    ensemble: the training rows are split into ``n_splits`` stratified inner folds (``n_repeats`` times with other
    shuffles); one :class:`~monai_dianet.networks.nets.OncoNet` is trained per fold on the other folds, with early
    stopping on that fold's validation loss, and the ensemble averages the members' predictions. The members'
    predictions on their own validation folds give an inner cross-validated score (``inner_cv_score_``), computed
    without touching any data outside ``fit``'s ``X``. With ``candidates`` the ensemble is built once per candidate
    setting and the one with the best inner cross-validated score is kept (model selection by inner CV);
    ``wide="auto"`` (the default) doubles the candidates, with and without the linear wide path.

    Subclasses define the outputs, the loss, the score and how member predictions are combined.
    """

    def _common_init(self, **params: Any) -> None:
        for key, value in params.items():
            setattr(self, key, value)

    # -- to be provided by subclasses -------------------------------------------------------------------------------
    @abstractmethod
    def _encode_target(self, y: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Targets as arrays for the loss, and the labels to stratify the inner folds by."""

    @abstractmethod
    def _num_outputs(self) -> int:
        ...

    @abstractmethod
    def _loss(self, net: OncoNet, outputs: torch.Tensor, target: dict[str, torch.Tensor]) -> torch.Tensor:
        ...

    @abstractmethod
    def _ensemble_mode(self) -> str:
        """How member outputs are combined (see :func:`~monai_dianet.estimators.ensemble.combine_member_outputs`)."""

    def _combine(self, outputs: np.ndarray) -> np.ndarray:
        """Member outputs (M, N, K) -> one prediction per patient, (N, K) or (N, 1)."""
        return combine_member_outputs(torch.as_tensor(outputs), self._ensemble_mode()).numpy()

    @abstractmethod
    def _inner_score(self, target: dict[str, np.ndarray], prediction: np.ndarray) -> float:
        """Higher is better."""

    # -- shared -----------------------------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return torch.device(self.device if self.device is not None else "cpu")

    def _network_kwargs(self, settings: dict[str, Any], num_genes: int, num_clinical: int) -> dict[str, Any]:
        """The :class:`~monai_dianet.networks.nets.OncoNet` arguments of one member (plain values)."""
        hidden = [int(h) for h in settings["hidden_dims"]]
        snn = settings["genomic_encoder"] == "snn"
        return {
            "num_classes": self._num_outputs(),
            "num_genes": num_genes,
            "num_clinical": num_clinical,
            "embed_dim": settings["embed_dim"],
            "image_encoder": None,
            "genomic_encoder": settings["genomic_encoder"] if num_genes else None,
            "clinical": num_clinical > 0,
            "wide": bool(settings["wide"]),
            "dropout": settings["dropout"],
            "fusion": "attention",
            "genomic_kwargs": {"hidden_dims": hidden, "feature_gate": bool(settings["feature_gate"])} if snn else None,
            "clinical_kwargs": {"hidden_dims": hidden, "norm": False, "missing_indicator": False},
        }

    def _settings(self, candidate: dict[str, Any] | None = None) -> dict[str, Any]:
        settings = {k: getattr(self, k) for k in self._get_param_names()}
        settings.update(candidate or {})
        return settings

    @staticmethod
    def _to_tensors(arrays: dict[str, np.ndarray | None], device: torch.device) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v, device=device) for k, v in arrays.items() if v is not None}

    def _forward(self, net: OncoNet, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return net(genes=inputs.get("genes"), clinical=inputs.get("clinical"))

    @staticmethod
    def _state(net: OncoNet) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in net.state_dict().items()}

    def _train_member(
        self,
        settings: dict[str, Any],
        inputs: dict[str, np.ndarray | None],
        target: dict[str, np.ndarray],
        fit_idx: np.ndarray,
        val_idx: np.ndarray,
        seed: int,
    ) -> OncoNet:
        """One network trained on ``fit_idx`` with early stopping on the loss of ``val_idx``."""
        device = self._device()
        x = self._to_tensors(inputs, device)
        t = self._to_tensors(target, device)
        part = {name: torch.as_tensor(idx, device=device) for name, idx in (("fit", fit_idx), ("val", val_idx))}
        x_val = {k: v[part["val"]] for k, v in x.items()}
        t_val = {k: v[part["val"]] for k, v in t.items()}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            num_genes = 0 if x.get("genes") is None else x["genes"].shape[1]
            num_clinical = 0 if x.get("clinical") is None else x["clinical"].shape[1]
            net = OncoNet(**self._network_kwargs(settings, num_genes, num_clinical)).to(device)
            optimizer = torch.optim.AdamW(
                net.parameters(), lr=settings["learning_rate"], weight_decay=settings["weight_decay"], foreach=True
            )
            generator = torch.Generator(device="cpu").manual_seed(seed)
            best, best_state, stale = float("inf"), self._state(net), 0
            n = len(fit_idx)
            batch = settings["batch_size"] or n
            for epoch in range(settings["max_epochs"]):
                net.train()
                order = part["fit"][torch.randperm(n, generator=generator).to(device)]
                for start in range(0, n, batch):
                    idx = order[start : start + batch]
                    if len(idx) < 2:
                        continue
                    out = self._forward(net, {k: v[idx] for k, v in x.items()})
                    loss = self._loss(net, out, {k: v[idx] for k, v in t.items()})
                    if settings["gate_penalty"] > 0:
                        loss = loss + settings["gate_penalty"] * net.penalty()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                net.eval()
                with torch.no_grad():
                    val = float(self._loss(net, self._forward(net, x_val), t_val))
                if val < best - 1e-6:
                    best, best_state, stale = val, self._state(net), 0
                else:
                    stale += 1
                    if stale >= settings["patience"]:
                        break
                if self.verbose:
                    print(f"  seed {seed} epoch {epoch}: validation loss {val:.4f}", flush=True)
            net.load_state_dict(best_state)
        return net.eval()

    @torch.no_grad()
    def _member_outputs(self, nets: Sequence[OncoNet], inputs: dict[str, np.ndarray | None]) -> np.ndarray:
        x = self._to_tensors(inputs, self._device())
        return np.stack([self._forward(net.eval(), x).float().cpu().numpy() for net in nets])

    def _fit_ensemble(self, settings: dict[str, Any], inputs, target, strata) -> tuple[list[OncoNet], float]:
        members, oof_sum = [], None
        oof_count = np.zeros(len(strata))
        for repeat in range(settings["n_repeats"]):
            seed0 = int(settings["random_state"]) * 7919 + repeat * 104729
            folds = StratifiedKFold(settings["n_splits"], shuffle=True, random_state=seed0 % (2**31))
            for k, (fit_idx, val_idx) in enumerate(folds.split(np.zeros(len(strata)), strata)):
                net = self._train_member(settings, inputs, target, fit_idx, val_idx, seed0 + k)
                members.append(net)
                out = self._member_outputs([net], {m: None if v is None else v[val_idx] for m, v in inputs.items()})[0]
                if oof_sum is None:
                    oof_sum = np.zeros((len(strata),) + out.shape[1:])
                oof_sum[val_idx] += out
                oof_count[val_idx] += 1
        oof = oof_sum / oof_count.reshape((-1,) + (1,) * (oof_sum.ndim - 1))
        return members, self._inner_score(target, self._combine(oof[None]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed by the preprocessing
        tags.non_deterministic = self.device not in (None, "cpu")
        return tags

    def _validate_table(self, X: Any, reset: bool) -> pd.DataFrame:
        """X as a DataFrame after scikit-learn's checks (2D, not sparse, no infinity, feature count and names)."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            frame = X
        else:
            array = check_array(X, dtype=None, ensure_all_finite="allow-nan", ensure_min_samples=1)
            if array.dtype.kind not in "biufO":
                raise InputError(f"X must hold numbers (or objects for categories), got dtype {array.dtype}.")
            scalar = (str, int, float, bool, type(None))
            if array.dtype.kind == "O" and not all(isinstance(v, scalar) for v in array.flat):
                raise TypeError("X: every entry must be a string or a number (argument must be a string or a number).")
            validate_data(self, array, skip_check_array=True, reset=reset)
            frame = pd.DataFrame(array, columns=None if reset else self.preprocessor_.columns_)
        if reset and frame.shape[0] < 2 * self.n_splits:
            raise InputError(f"X has {frame.shape[0]} sample(s); n_splits={self.n_splits} inner folds need at least "
                             f"{2 * self.n_splits} samples.")
        return frame

    def _fit(self, X: Any, y: Any) -> OncoNetEstimatorBase:
        if self.genomic_encoder not in ("snn", "mlp", "transformer"):
            raise ValueError(f"genomic_encoder must be 'snn', 'mlp' or 'transformer', got {self.genomic_encoder!r}.")
        if self.n_splits < 2 or self.n_repeats < 1:
            raise ValueError(f"n_splits must be >= 2 and n_repeats >= 1, got {self.n_splits}, {self.n_repeats}.")
        frame = self._validate_table(X, reset=True)
        target, strata = self._encode_target(y)
        if len(strata) != len(frame):
            raise InputError(f"X has {len(frame)} rows but y has {len(strata)}.")
        self.preprocessor_ = ModalityTableTransformer(self.clinical_columns).fit(frame)
        genes, clinical = self.preprocessor_.transform(frame)
        inputs = {"genes": genes, "clinical": clinical}
        candidates = [dict(c) for c in self.candidates] if self.candidates else [{}]
        if self.wide not in (True, False, "auto"):
            raise ValueError(f"wide must be True, False or 'auto', got {self.wide!r}.")
        if self.wide == "auto":  # inner CV decides whether the linear wide path helps on this cohort
            candidates = [
                variant
                for c in candidates
                for variant in ([c] if "wide" in c else [{**c, "wide": w} for w in (True, False)])
            ]
        self.inner_cv_scores_ = []
        best = None
        for candidate in candidates:
            unknown = set(candidate) - set(self._get_param_names())
            if unknown:
                raise ValueError(f"candidates: unknown parameter(s) {sorted(unknown)}.")
            members, score = self._fit_ensemble(self._settings(candidate), inputs, target, strata)
            self.inner_cv_scores_.append(score)
            if best is None or score > best[0]:
                best = (score, candidate, members)
        self.inner_cv_score_, self.best_candidate_, self.members_ = best
        widths = [0 if v is None else v.shape[1] for v in (genes, clinical)]
        self.network_kwargs_ = self._network_kwargs(self._settings(self.best_candidate_), *widths)
        return self

    def to_module(self) -> OncoNetEnsemble:
        """The fitted ensemble and its numeric preprocessing (median imputation, standardisation) as one torch module,
        in eval mode on the CPU; on a numeric table it gives the same predictions as the estimator (its ``forward``
        takes the genomic and the clinical columns as two tensors, in the table's column order).

        Raises:
            ValueError: the table had categorical columns (their one-hot encoding is not part of the module; encode
                them as numbers before ``fit``).
        """
        check_is_fitted(self, "members_")
        kwargs = dict(self.network_kwargs_)
        module = OncoNetEnsemble(len(self.members_), kwargs.pop("num_genes"), kwargs.pop("num_clinical"),
                                 mode=self._ensemble_mode(), network_kwargs=kwargs)
        for target, member in zip(module.members, self.members_):
            target.load_state_dict(member.state_dict())
        for name, transformer in self.preprocessor_.transformers_.items():
            if "categorical" in transformer.named_transformers_:
                raise InputError(f"to_module: the {name} columns include categorical ones; encode them as numbers.")
            imputer, scaler = transformer.named_transformers_["numeric"]
            module.set_preprocessing(name, imputer.statistics_, scaler.mean_, scaler.scale_)
        return module.cpu().eval()

    def _predict_outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "members_")
        frame = self._validate_table(X, reset=False)
        genes, clinical = self.preprocessor_.transform(frame)
        return self._combine(self._member_outputs(self.members_, {"genes": genes, "clinical": clinical}))
