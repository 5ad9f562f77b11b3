# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Logging the parts of a composite loss (task, KL, prior, domain, L2-SP, EWC ...) through MONAI handlers.

The DIANet trainers put each part of the loss into ``engine.state.output`` as a flat scalar entry named
``"loss/<part>"`` (flat because MONAI's decollation of ``engine.state.output`` would break a nested dict).
:func:`from_loss_parts` turns an iteration output back into ``{"loss/<part>": value}``, which MONAI's
``StatsHandler`` / ``TensorBoardStatsHandler`` print and plot per iteration; :class:`LossPartsHandler` averages
the parts over each epoch into ``engine.state.metrics`` so the same handlers report them per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from monai.utils import IgniteInfo, min_version, optional_import

if TYPE_CHECKING:
    from ignite.engine import Engine, Events
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

__all__ = ["LOSS_PARTS_PREFIX", "loss_part_key", "from_loss_parts", "LossPartsHandler"]

LOSS_PARTS_PREFIX = "loss/"


def loss_part_key(name: str, prefix: str = LOSS_PARTS_PREFIX) -> str:
    """The ``engine.state.output`` key of loss part ``name`` (``"kl"`` -> ``"loss/kl"``)."""
    return f"{prefix}{name}"


def _as_float(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean().item())
    return float(value)


def from_loss_parts(output: Mapping | Sequence[Mapping] | None, prefix: str = LOSS_PARTS_PREFIX) -> dict[str, float]:
    """Collect the loss parts of one iteration output as ``{"loss/<part>": value}``.

    Works on the raw output dict and on the decollated list of dicts (where every item carries the same,
    replicated, values; the first item is used). Use it as the ``output_transform`` of MONAI's
    ``StatsHandler`` or ``TensorBoardStatsHandler``; in a bundle config import it
    (``"imports": ["$from monai_dianet.handlers import from_loss_parts"]``) and set
    ``"output_transform": "$from_loss_parts"``.

    Args:
        output: ``engine.state.output``.
        prefix: key prefix of the parts.

    Returns:
        the parts, empty when there are none (MONAI's handlers then print nothing).

    Example::

        StatsHandler(name="train", output_transform=from_loss_parts).attach(trainer)
    """
    if output is None:
        return {}
    if isinstance(output, Sequence) and not isinstance(output, (str, bytes)):
        if len(output) == 0:
            return {}
        output = output[0]
    if not isinstance(output, Mapping):
        return {}
    return {str(k): _as_float(v) for k, v in output.items() if isinstance(k, str) and k.startswith(prefix)}


class LossPartsHandler:
    """Average every loss part over an epoch and store it in ``engine.state.metrics``.

    Attach it before MONAI's ``StatsHandler`` / ``TensorBoardStatsHandler`` so that their epoch-level
    logging (which prints and plots ``engine.state.metrics``) shows the per-epoch mean of each part.
    Non-finite values are skipped (counted in no mean).

    Args:
        prefix: key prefix of the parts in ``engine.state.output``.
        metric_prefix: prefix of the names written into ``engine.state.metrics``
            (``"train_"`` -> ``"train_loss/kl"``).

    Example::

        handlers = [LossPartsHandler(), StatsHandler(output_transform=from_loss_parts)]
        trainer = DIANetTrainer(..., train_handlers=handlers)
        trainer.run()
        trainer.state.metrics["loss/total"]
    """

    def __init__(self, prefix: str = LOSS_PARTS_PREFIX, metric_prefix: str = "") -> None:
        self.prefix = prefix
        self.metric_prefix = metric_prefix
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def attach(self, engine: Engine) -> None:
        """Register the epoch reset, the per-iteration accumulation and the epoch-end write."""
        if not engine.has_event_handler(self.epoch_started, Events.EPOCH_STARTED):
            engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        if not engine.has_event_handler(self.iteration_completed, Events.ITERATION_COMPLETED):
            engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        if not engine.has_event_handler(self.epoch_completed, Events.EPOCH_COMPLETED):
            engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def epoch_started(self, engine: Engine) -> None:
        self._sums, self._counts = {}, {}

    def iteration_completed(self, engine: Engine) -> None:
        for key, value in from_loss_parts(engine.state.output, self.prefix).items():
            if math.isfinite(value):
                self._sums[key] = self._sums.get(key, 0.0) + value
                self._counts[key] = self._counts.get(key, 0) + 1

    def epoch_completed(self, engine: Engine) -> None:
        for key, total in self._sums.items():
            engine.state.metrics[f"{self.metric_prefix}{key}"] = total / self._counts[key]
