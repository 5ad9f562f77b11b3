# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Ignite handler that stitches slide heat maps from a patch evaluator's outputs and writes each finished slide."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.utils import ProbMapKeys, WSIPatchKeys, min_version, optional_import
from monai.utils.enums import IgniteInfo

from monai_dianet.apps.pathology.data import SlidePlan
from monai_dianet.apps.pathology.inference import HeatmapStitcher, SlideMaps

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

__all__ = ["SlideHeatmapHandler"]


class SlideHeatmapHandler:
    """Stitch per-patch predictions into slide heat maps during an evaluator run, like MONAI's ``ProbMapProducer``
    but with per-pixel maps and an uncertainty map, and hand each finished slide to ``writer``.

    Every iteration reads, for each patch of the (decollated or collated) batch, the slide name and level-0
    location from ``batch["image"].meta`` (as :func:`~monai_dianet.apps.pathology.data.patch_dataset` stores them)
    and the prediction from ``output[pred_key]``: either a dict (``MCDropoutInferer``: ``prob_key`` with the mean
    probability, ``uncertainty_key`` with the uncertainty map) or a probability tensor. Channel ``channel`` is the
    tumour channel (``-1``: the last one, the only one of a sigmoid output). Slides without any patch are written
    (empty) when the run starts; slides still incomplete at the end are logged as errors.

    Args:
        plans: the slides of the run, with their patch grids.
        writer: ``callable(SlideMaps)`` called when a slide is complete (e.g.
            :class:`~monai_dianet.apps.pathology.inference.SlideOutputWriter`); None keeps the maps in ``results``.
        pred_key: output key of the prediction.
        prob_key, uncertainty_key: keys inside a dict prediction.
        channel: tumour channel.
        name: logger name (default the engine's logger).
        name_key, location_key: batch keys of the slide name and location (when present).
    """

    def __init__(
        self,
        plans: Sequence[SlidePlan],
        writer: Callable[[SlideMaps], Any] | None = None,
        pred_key: str = "pred",
        prob_key: str = "mean",
        uncertainty_key: str | None = "mutual_information",
        channel: int = -1,
        name: str | None = None,
        name_key: str = "name",
        location_key: str = "location",
    ) -> None:
        self.plans = list(plans)
        self.writer = writer
        self.pred_key, self.prob_key, self.uncertainty_key = pred_key, prob_key, uncertainty_key
        self.channel = int(channel)
        self.name_key, self.location_key = name_key, location_key
        self.logger = logging.getLogger(name)
        self._name = name
        self.stitcher = HeatmapStitcher(self.plans)
        self.results: list[Any] = []

    def attach(self, engine) -> None:
        if self._name is None:
            self.logger = engine.logger
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _done(self, maps: SlideMaps) -> None:
        self.results.append(maps if self.writer is None else self.writer(maps))
        self.logger.info(f"slide {maps.plan.name} done ({len(self.results)}/{len(self.plans)})")

    def _started(self, engine) -> None:
        self.stitcher = HeatmapStitcher(self.plans)
        self.results = []
        for maps in self.stitcher.empty_slides():
            self._done(maps)

    def _completed(self, engine) -> None:
        if self.stitcher.pending:
            self.logger.error(f"slides with missing patches (no output written): {self.stitcher.pending}")

    def _tumour(self, value) -> torch.Tensor:
        """The tumour channel of ``(B, C)`` (classifier) or ``(B, C, h, w)`` (segmentation) predictions."""
        value = torch.as_tensor(value).detach().float()
        return value[:, self.channel] if value.ndim in (2, 4) else value

    def _batch(self, engine) -> tuple[list[str], torch.Tensor, Any]:
        """Slide names, level-0 locations ``(B, 2)`` and predictions of the iteration, collated."""
        batch, output = engine.state.batch, engine.state.output
        if isinstance(batch, dict) and self.name_key in batch:  # PatchMetaToKeysd's keys, not decollated
            return [str(n) for n in batch[self.name_key]], batch[self.location_key], output[self.pred_key]
        if isinstance(batch, dict):  # not decollated: metadata of the batch's MetaTensor
            meta = batch["image"].meta
            names = [str(n) for n in meta[ProbMapKeys.NAME.value]]
            location = meta[WSIPatchKeys.LOCATION.value]
            if isinstance(location, (list, tuple)):  # a location collated per coordinate
                location = torch.stack([torch.as_tensor(c) for c in location], 1)
            return names, torch.as_tensor(location), output[self.pred_key]
        if self.name_key in batch[0]:
            names = [str(b[self.name_key]) for b in batch]
            locations = torch.stack([torch.as_tensor(b[self.location_key]) for b in batch])
        else:
            names = [str(b["image"].meta[ProbMapKeys.NAME.value]) for b in batch]
            locations = torch.stack([torch.as_tensor(b["image"].meta[WSIPatchKeys.LOCATION.value]) for b in batch])
        preds = [o[self.pred_key] for o in output]
        if isinstance(preds[0], dict):
            return names, locations, {k: torch.stack([torch.as_tensor(p[k]) for p in preds]) for k in preds[0]}
        return names, locations, torch.stack([torch.as_tensor(p) for p in preds])

    def __call__(self, engine) -> None:
        names, locations, pred = self._batch(engine)
        if isinstance(pred, dict):
            prob = self._tumour(pred[self.prob_key])
            unc = pred.get(self.uncertainty_key) if self.uncertainty_key else None
            unc = None if unc is None else self._tumour(unc)
        else:
            prob, unc = self._tumour(pred), None
        for maps in self.stitcher.add_batch(names, locations, prob, unc):
            self._done(maps)
