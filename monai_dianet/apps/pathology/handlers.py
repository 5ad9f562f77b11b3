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
    ) -> None:
        self.plans = list(plans)
        self.writer = writer
        self.pred_key, self.prob_key, self.uncertainty_key = pred_key, prob_key, uncertainty_key
        self.channel = int(channel)
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
        """The tumour channel of ``(C,)`` (classifier) or ``(C, h, w)`` (segmentation); other shapes as they are."""
        value = torch.as_tensor(value).detach().float()
        return value[self.channel] if value.ndim in (1, 3) else value

    def _items(self, engine) -> list[tuple[dict, Any]]:
        batch, output = engine.state.batch, engine.state.output
        if isinstance(batch, dict):  # not decollated: split the batch here
            meta = batch["image"].meta
            preds = output[self.pred_key]
            count = len(meta[ProbMapKeys.NAME.value])
            items = []
            for i in range(count):
                pred = {k: v[i] for k, v in preds.items()} if isinstance(preds, dict) else preds[i]
                location = meta[WSIPatchKeys.LOCATION.value]
                location = [location[0][i], location[1][i]] if isinstance(location, (list, tuple)) else location[i]
                items.append(({"name": meta[ProbMapKeys.NAME.value][i], "location": location}, pred))
            return items
        return [
            (
                {"name": b["image"].meta[ProbMapKeys.NAME.value], "location": b["image"].meta["location"]},
                o[self.pred_key],
            )
            for b, o in zip(batch, output)
        ]

    def __call__(self, engine) -> None:
        for meta, pred in self._items(engine):
            if isinstance(pred, dict):
                prob = self._tumour(pred[self.prob_key])
                unc = pred.get(self.uncertainty_key) if self.uncertainty_key else None
                unc = None if unc is None else self._tumour(unc)
            else:
                prob, unc = self._tumour(pred), None
            location = [float(v) for v in torch.as_tensor(meta["location"]).reshape(-1)[:2]]
            maps = self.stitcher.add(str(meta["name"]), location, prob, unc)
            if maps is not None:
                self._done(maps)
