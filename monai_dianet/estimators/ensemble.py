# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The fitted ensemble of an OncoNet estimator as one torch module (for MONAI engines, bundles and TorchScript)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from monai_dianet.losses.discrete_time_nll import hazards_to_survival
from monai_dianet.networks.nets.onconet import OncoNet

__all__ = ["ENSEMBLE_MODES", "OncoNetEnsemble", "combine_member_outputs"]

ENSEMBLE_MODES = ("softmax", "cox", "nll")
"""How member outputs are combined: class probabilities, Cox log-risks, discrete-time hazard logits."""

_INPUTS = ("genes", "clinical")


def combine_member_outputs(outputs: torch.Tensor, mode: str) -> torch.Tensor:
    """Combine the (M, B, K) outputs of M ensemble members into one prediction per patient.

    Args:
        outputs: member outputs (logits, Cox log-risks or hazard logits).
        mode: ``"softmax"``: mean class probability, (B, K); ``"cox"``: mean log-risk, (B, 1); ``"nll"``: risk
            ``-sum_k mean_m S_mk`` (minus the expected number of intervals survived, from the members' averaged
            survival curves; see :func:`~monai_dianet.losses.hazards_to_survival`), (B, 1).

    Returns:
        the combined prediction (higher risk = earlier event for the survival modes).
    """
    if mode == "softmax":
        return torch.softmax(outputs, dim=-1).mean(0)
    if mode == "cox":
        return outputs[..., :1].mean(0)
    if mode == "nll":
        survival = hazards_to_survival(outputs.flatten(0, 1)).reshape(outputs.shape)
        return -survival.mean(0).sum(-1, keepdim=True)
    raise ValueError(f"mode must be one of {ENSEMBLE_MODES}, got {mode!r}.")


class OncoNetEnsemble(nn.Module):
    """The members of a fitted :class:`~monai_dianet.estimators.OncoNetClassifier` /
    :class:`~monai_dianet.estimators.OncoNetSurvival` with their input preprocessing, as one module.

    ``forward`` fills missing values (NaN) with the training medians and standardises each column with the
    training mean and scale (buffers set by the estimator's :meth:`to_module`; identity until then), runs every
    member on the genomic and clinical columns and combines their outputs with :func:`combine_member_outputs`. On
    a numeric table its output equals the estimator's ``predict_proba`` / ``predict_risk``. The constructor
    arguments are plain values (``config``), so the module can be rebuilt from a JSON file and loaded from a
    ``state_dict`` (as a MONAI bundle's ``network_def`` with ``CheckpointLoader``).

    Args:
        num_members: ensemble size.
        num_genes: genomic columns G (0: none).
        num_clinical: clinical columns C (0: none).
        mode: see :data:`ENSEMBLE_MODES`.
        network_kwargs: :class:`~monai_dianet.networks.nets.OncoNet` arguments shared by the members
            (``num_genes`` / ``num_clinical`` are set from the arguments above).

    Example::

        module = OncoNetSurvival(clinical_columns=[10, 11]).fit(x, y).to_module()
        risk = module(genes=torch.as_tensor(x[:, :10]), clinical=torch.as_tensor(x[:, 10:]))  # (N, 1)
    """

    def __init__(
        self,
        num_members: int,
        num_genes: int,
        num_clinical: int,
        mode: str = "cox",
        network_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if mode not in ENSEMBLE_MODES:
            raise ValueError(f"mode must be one of {ENSEMBLE_MODES}, got {mode!r}.")
        if num_members < 1 or num_genes + num_clinical < 1:
            raise ValueError(f"need at least one member and one column, got {num_members}, {num_genes + num_clinical}.")
        kwargs = dict(network_kwargs or {})
        kwargs.update(num_genes=num_genes, num_clinical=num_clinical)
        self.mode = mode
        shared = {k: v for k, v in kwargs.items() if k not in ("num_genes", "num_clinical")}
        self.config = {"num_members": num_members, "num_genes": num_genes, "num_clinical": num_clinical,
                       "mode": mode, "network_kwargs": shared}
        self.members = nn.ModuleList(OncoNet(**kwargs) for _ in range(num_members))
        for name, width in zip(_INPUTS, (num_genes, num_clinical)):
            self.register_buffer(f"{name}_fill", torch.zeros(width))
            self.register_buffer(f"{name}_shift", torch.zeros(width))
            self.register_buffer(f"{name}_scale", torch.ones(width))
        self.eval()

    def set_preprocessing(self, name: str, fill: Any, shift: Any, scale: Any) -> None:
        """Set the missing-value fill, shift and scale of the ``"genes"`` or ``"clinical"`` columns."""
        for kind, value in (("fill", fill), ("shift", shift), ("scale", scale)):
            buffer = getattr(self, f"{name}_{kind}")
            buffer.copy_(torch.as_tensor(value, dtype=buffer.dtype).reshape(buffer.shape))

    def _prepare(self, name: str, x: torch.Tensor | None) -> torch.Tensor | None:
        fill = getattr(self, f"{name}_fill")
        if fill.numel() == 0:
            return None
        if x is None:
            raise ValueError(f"OncoNetEnsemble was fitted with {name} columns; pass {name}.")
        x = x.to(fill.dtype)
        x = torch.where(torch.isnan(x), fill, x)
        return (x - getattr(self, f"{name}_shift")) / getattr(self, f"{name}_scale")

    def forward(
        self, genes: torch.Tensor | Mapping[str, torch.Tensor] | None = None, clinical: torch.Tensor | None = None
    ) -> torch.Tensor:
        """
        Args:
            genes: (B, G) genomic columns, a (B, G + C) tensor of the genomic then the clinical columns (without
                ``clinical``; the one-tensor form that MONAI's bundle checks and TorchScript tracing use), or a batch
                dictionary with ``genes`` and ``clinical``.
            clinical: (B, C) clinical columns.

        Returns:
            (B, K) class probabilities (``"softmax"``) or (B, 1) risk scores.
        """
        if isinstance(genes, Mapping):
            genes, clinical = genes.get("genes"), genes.get("clinical")
        num_genes = self.genes_fill.shape[0]
        if clinical is None and genes is not None and self.clinical_fill.shape[0] and genes.shape[-1] > num_genes:
            genes, clinical = genes[:, :num_genes], genes[:, num_genes:]
        inputs = {name: self._prepare(name, x) for name, x in zip(_INPUTS, (genes, clinical))}
        outputs = torch.stack([member(genes=inputs["genes"], clinical=inputs["clinical"]) for member in self.members])
        return combine_member_outputs(outputs, self.mode)
