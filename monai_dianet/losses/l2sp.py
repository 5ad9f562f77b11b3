# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""L2-SP transfer regulariser (Li et al. 2018; DIANet paper, eq 25).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import torch
from monai.utils import LossReduction
from torch import nn
from torch.nn.modules.loss import _Loss

__all__ = ["L2SPLoss", "parameter_distances", "select_parameters"]


def select_parameters(
    model: nn.Module, param_filter: str | Callable[[str], bool] | None = None, trainable_only: bool = True
) -> dict[str, nn.Parameter]:
    """Named parameters of ``model`` kept by ``param_filter``.

    Args:
        model: the network.
        param_filter: ``None`` (all), a regular expression searched in each parameter name, or a predicate on
            the name.
        trainable_only: skip parameters with ``requires_grad=False`` (e.g. a frozen backbone).

    Returns:
        an ordered ``{name: parameter}`` dict.
    """
    if isinstance(param_filter, str):
        pattern = re.compile(param_filter)
        keep: Callable[[str], bool] = lambda name: pattern.search(name) is not None  # noqa: E731
    elif param_filter is None:
        keep = lambda name: True  # noqa: E731
    else:
        keep = param_filter
    return {n: p for n, p in model.named_parameters() if keep(n) and (p.requires_grad or not trainable_only)}


def parameter_distances(
    model: nn.Module,
    reference: Mapping[str, torch.Tensor],
    owner: str,
    recorded_in: str,
    scale: Mapping[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """``(J,)`` squared distances ``sum(scale_j * (theta_j - reference_j)^2)`` of the model's parameters to a
    recorded state, one per recorded parameter (in ``reference`` order, on the parameters' devices).

    Args:
        model: the network.
        reference: ``{name: tensor}`` recorded parameters (the source state, the optimum of an old task).
        owner, recorded_in: the loss and the record named in the error message.
        scale: optional per-parameter weights of the same shapes (e.g. a Fisher information).

    Raises:
        KeyError: a recorded parameter is not in the model.
    """
    current = dict(model.named_parameters())
    missing = [n for n in reference if n not in current]
    if missing:
        raise KeyError(f"{owner}: the model has no parameter(s) {missing[:5]} recorded in the {recorded_in}.")
    terms = []
    for name, ref in reference.items():
        param = current[name]
        sq = (param - ref.to(param.device)).pow(2)
        terms.append((scale[name].to(param.device) * sq if scale is not None else sq).sum())
    return torch.stack(terms)


class L2SPLoss(_Loss):
    r"""Squared Frobenius distance between the current parameters and the source-trained ones (eq 25).

    .. math::

        \mathcal{L}_{\text{transfer}} = w \, \|\mathcal{M}_s - \mathcal{M}_t\|_F^2
            = w \sum_{j} \|\theta_j - \theta_j^{s}\|_F^2

    over the selected parameter tensors ``theta_j``; ``theta^s`` is a snapshot taken at construction (or given
    as ``source_state``). Parameters absent from the source state (a new head) are not penalised.

    Reduction: ``"none"`` -> per-parameter-tensor distances ``(J,)`` (order of :attr:`parameter_names`);
    ``"sum"`` -> their sum (eq 25); ``"mean"`` -> the sum divided by the number of scalar parameters.

    Args:
        model: the network being fine-tuned; kept by reference (not registered as a submodule).
        source_state: source parameters ``{name: tensor}``; default: a copy of ``model``'s current parameters.
        param_filter: regex or predicate on parameter names (see :func:`select_parameters`).
        weight: the factor ``w`` (lambda of the transfer term).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: when no parameter is selected or a source tensor's shape differs from the model's.

    Example::

        model.load_state_dict(torch.load("source.pt"))
        l2sp = L2SPLoss(model)
        loss = task_loss + l2sp()
    """

    def __init__(
        self,
        model: nn.Module,
        source_state: Mapping[str, torch.Tensor] | None = None,
        param_filter: str | Callable[[str], bool] | None = None,
        weight: float = 1.0,
        reduction: LossReduction | str = LossReduction.SUM,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        params = select_parameters(model, param_filter)
        if source_state is not None:
            params = {n: p for n, p in params.items() if n in source_state}
        if not params:
            raise ValueError("L2SPLoss: no parameter of the model is selected (check param_filter/source_state).")
        snapshot = {}
        for name, p in params.items():
            ref = p if source_state is None else source_state[name]
            if tuple(ref.shape) != tuple(p.shape):
                raise ValueError(
                    f"L2SPLoss: source parameter {name!r} has shape {tuple(ref.shape)}, model has {tuple(p.shape)}."
                )
            snapshot[name] = ref.detach().clone().to(device=p.device, dtype=p.dtype)
        self._model = (model,)  # a tuple keeps the model out of this module's submodules and state_dict
        self.source_state = snapshot
        self.weight = float(weight)

    @property
    def parameter_names(self) -> list[str]:
        """Names of the penalised parameters, in the order of the ``"none"`` reduction."""
        return list(self.source_state)

    def forward(self, model: nn.Module | None = None) -> torch.Tensor:
        """
        Args:
            model: the model to compare; default the one given at construction.

        Returns:
            the weighted squared distance to the source parameters.
        """
        model = self._model[0] if model is None else model
        dists = parameter_distances(model, self.source_state, "L2SPLoss", "source state")
        dists = self.weight * dists
        if self.reduction == LossReduction.SUM.value:
            return dists.sum()
        if self.reduction == LossReduction.MEAN.value:
            return dists.sum() / sum(t.numel() for t in self.source_state.values())
        return dists
