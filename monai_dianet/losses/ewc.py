# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Elastic weight consolidation penalty for continual learning (Kirkpatrick et al. 2017; DIANet paper, eq 26).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from monai.utils import LossReduction
from torch import nn
from torch.nn.modules.loss import _Loss
from tqdm.auto import tqdm

from monai_dianet.losses.l2sp import parameter_distances, select_parameters

__all__ = ["EWCLoss", "default_prepare_batch"]


def default_prepare_batch(batch: Any, device: torch.device | str | None = None) -> tuple[torch.Tensor, Any]:
    """Split a loader batch into ``(inputs, targets)``: MONAI dicts (``"image"``, ``"label"``) or ``(x, y)`` pairs.

    Raises:
        KeyError: for a dict batch without ``"image"`` or ``"label"``.
        ValueError: for any other batch structure.
    """
    if isinstance(batch, Mapping):
        for key in ("image", "label"):
            if key not in batch:
                raise KeyError(f"EWC batch dict has no {key!r} key (keys: {sorted(batch)}); pass prepare_batch.")
        x, y = batch["image"], batch["label"]
    elif isinstance(batch, (list, tuple)) and len(batch) == 2:
        x, y = batch
    else:
        raise ValueError(f"EWC cannot split a batch of type {type(batch).__name__}; pass prepare_batch.")
    x = x.to(device) if device is not None else x
    if isinstance(y, torch.Tensor) and device is not None:
        y = y.to(device)
    elif isinstance(y, Mapping) and device is not None:
        y = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in y.items()}
    return x, y


def _index_target(y: Any, i: int) -> Any:
    if isinstance(y, torch.Tensor):
        return y[i : i + 1]
    if isinstance(y, Mapping):
        return {k: _index_target(v, i) for k, v in y.items()}
    return y


class EWCLoss(_Loss):
    r"""Diagonal-Fisher elastic weight consolidation, the regulariser of eq 26.

    .. math::

        \mathcal{L}_{\text{continual}} = \sum_i \mathcal{L}^{(i)}_{\text{task}} + \lambda_4
            \sum_j F_j (\theta_j - \theta^*_j)^2

    This module computes ``lambda_4 * sum_j F_j (theta_j - theta*_j)^2`` where ``theta*`` are the parameters
    after the old task and ``F`` the diagonal of the empirical Fisher information on the old task's data,
    ``F_j = E[(d log p(y | x) / d theta_j)^2]``, estimated by :meth:`from_dataloader`.
    (The ``1/2`` of Kirkpatrick et al. is folded into ``weight``.)

    Reduction: ``"none"`` -> per-parameter-tensor penalties ``(J,)``; ``"sum"`` -> their sum (eq 26 term);
    ``"mean"`` -> the sum divided by the number of scalar parameters.

    Args:
        model: the network being trained on the new task; kept by reference.
        fisher: ``{parameter name: diagonal Fisher tensor}`` (same shapes as the parameters).
        optimum: ``{name: theta*}``; default a copy of the model's current parameters.
        weight: ``lambda_4``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Raises:
        ValueError: when ``fisher`` is empty, names unknown parameters, or has mismatched shapes / negative values.

    Example::

        ewc = EWCLoss.from_dataloader(model, old_task_loader, num_batches=50)
        ewc.save("ewc_task1.pt")
        loss = new_task_loss + ewc()
    """

    def __init__(
        self,
        model: nn.Module,
        fisher: Mapping[str, torch.Tensor],
        optimum: Mapping[str, torch.Tensor] | None = None,
        weight: float = 1.0,
        reduction: LossReduction | str = LossReduction.SUM,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if not fisher:
            raise ValueError("EWCLoss: the Fisher dict is empty.")
        params = dict(model.named_parameters())
        unknown = [n for n in fisher if n not in params]
        if unknown:
            raise ValueError(f"EWCLoss: Fisher names unknown parameter(s) {unknown[:5]}.")
        optimum = {n: params[n] for n in fisher} if optimum is None else optimum
        self.fisher: dict[str, torch.Tensor] = {}
        self.optimum: dict[str, torch.Tensor] = {}
        for name, f in fisher.items():
            p = params[name]
            if name not in optimum:
                raise ValueError(f"EWCLoss: optimum has no entry for parameter {name!r}.")
            for label, t in (("Fisher", f), ("optimum", optimum[name])):
                if tuple(t.shape) != tuple(p.shape):
                    raise ValueError(
                        f"EWCLoss: {label} of {name!r} has shape {tuple(t.shape)}, parameter has {tuple(p.shape)}."
                    )
            if (f < 0).any():
                raise ValueError(f"EWCLoss: Fisher of {name!r} has negative entries.")
            self.fisher[name] = f.detach().clone().to(device=p.device, dtype=p.dtype)
            self.optimum[name] = optimum[name].detach().clone().to(device=p.device, dtype=p.dtype)
        self._model = (model,)  # not registered as a submodule
        self.weight = float(weight)

    @classmethod
    def from_dataloader(
        cls,
        model: nn.Module,
        loader: Iterable,
        loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
        num_batches: int | None = None,
        param_filter: str | Callable[[str], bool] | None = None,
        prepare_batch: Callable[[Any, torch.device | str | None], tuple[torch.Tensor, Any]] = default_prepare_batch,
        per_sample: bool = True,
        device: torch.device | str | None = None,
        progress: bool = True,
        **kwargs: Any,
    ) -> EWCLoss:
        """Estimate the diagonal empirical Fisher on the old task's data and snapshot ``theta*``.

        For each sample (``per_sample=True``) or batch, the negative log-likelihood ``loss_fn(model(x), y)`` is
        back-propagated and the squared gradients are averaged. The model runs in eval mode (no dropout); its
        mode and gradients are restored afterwards.

        Args:
            model: the network trained on the old task (its current parameters become ``theta*``).
            loader: iterable of batches (e.g. a MONAI ``DataLoader``).
            loss_fn: negative log-likelihood ``(model output, target) -> scalar``; default cross-entropy
                (classification). A :class:`~monai_dianet.losses.DIANetLoss` works for DIANet outputs.
            num_batches: stop after this many batches; ``None`` uses the whole loader.
            param_filter: regex or predicate selecting the parameters (default: all trainable ones).
            prepare_batch: ``(batch, device) -> (inputs, targets)``.
            per_sample: one backward pass per sample (the empirical Fisher proper) instead of per batch
                (cheaper; squares of batch-mean gradients underestimate it by about the batch size).
            device: device to move batches to; default the model's.
            progress: show a tqdm bar.
            kwargs: ``weight`` and ``reduction`` for the constructor.

        Returns:
            an :class:`EWCLoss` around ``model``.

        Raises:
            ValueError: when the loader yields no batch or no parameter is selected.
        """
        loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
        params = select_parameters(model, param_filter)
        if not params:
            raise ValueError("EWCLoss.from_dataloader: no trainable parameter is selected.")
        if device is None:
            device = next(iter(params.values())).device
        fisher = {n: torch.zeros_like(p) for n, p in params.items()}
        all_params = dict(model.named_parameters())
        saved_grads = {n: None if p.grad is None else p.grad.detach().clone() for n, p in all_params.items()}
        was_training = model.training
        model.eval()
        count = 0
        total = num_batches
        if total is None and hasattr(loader, "__len__"):
            total = len(loader)  # type: ignore[arg-type]
        try:
            for b, batch in enumerate(tqdm(loader, total=total, desc="EWC Fisher", disable=not progress)):
                if num_batches is not None and b >= num_batches:
                    break
                x, y = prepare_batch(batch, device)
                chunks = [(x[i : i + 1], _index_target(y, i)) for i in range(x.shape[0])] if per_sample else [(x, y)]
                for xi, yi in chunks:
                    model.zero_grad(set_to_none=True)
                    loss_fn(model(xi), yi).backward()
                    for n, p in params.items():
                        if p.grad is not None:
                            fisher[n] += p.grad.detach() ** 2
                    count += 1
        finally:
            model.train(was_training)
            for n, p in all_params.items():
                p.grad = saved_grads[n]
        if count == 0:
            raise ValueError("EWCLoss.from_dataloader: the loader yielded no batch.")
        fisher = {n: f / count for n, f in fisher.items()}
        return cls(model, fisher, **kwargs)

    def forward(self, model: nn.Module | None = None) -> torch.Tensor:
        """
        Args:
            model: the model to penalise; default the one given at construction.

        Returns:
            ``weight * sum_j F_j (theta_j - theta*_j)^2``, reduced.
        """
        model = self._model[0] if model is None else model
        terms = parameter_distances(model, self.optimum, "EWCLoss", "Fisher", scale=self.fisher)
        terms = self.weight * terms
        if self.reduction == LossReduction.SUM.value:
            return terms.sum()
        if self.reduction == LossReduction.MEAN.value:
            return terms.sum() / sum(f.numel() for f in self.fisher.values())
        return terms

    def state(self) -> dict[str, Any]:
        """Fisher, optimum and weight as a plain dict (CPU tensors), e.g. for a checkpoint."""
        return {
            "fisher": {n: f.cpu() for n, f in self.fisher.items()},
            "optimum": {n: t.cpu() for n, t in self.optimum.items()},
            "weight": self.weight,
            "reduction": self.reduction,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`state` with ``torch.save``."""
        torch.save(self.state(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, model: nn.Module, **kwargs: Any) -> EWCLoss:
        """Rebuild an :class:`EWCLoss` around ``model`` from a file written by :meth:`save`.

        Raises:
            FileNotFoundError: when ``path`` does not exist.
            KeyError: when the file lacks ``"fisher"`` or ``"optimum"``.
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f"EWC state file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("fisher", "optimum"):
            if key not in state:
                raise KeyError(f"EWC state file {path} has no {key!r} entry.")
        kwargs.setdefault("weight", state.get("weight", 1.0))
        kwargs.setdefault("reduction", state.get("reduction", LossReduction.SUM.value))
        return cls(model, state["fisher"], optimum=state["optimum"], **kwargs)
