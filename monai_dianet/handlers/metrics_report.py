# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""One JSON file with an evaluation run's metrics and whatever other handlers left in ``engine.state``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.utils import IgniteInfo, min_version, optional_import

if TYPE_CHECKING:
    from ignite.engine import Engine, Events
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

__all__ = ["MetricsReportHandler"]

logger = logging.getLogger(__name__)


class MetricsReportHandler:
    """Write ``{"metrics": {name: value}, "num_cases": n, "split", <state entries>, <extra>, <other engines>}`` as
    JSON when a run completes, and log one line per engine naming the split the figures come from.

    MONAI's ``MetricsSaver`` writes one CSV per metric; this handler adds the one-file summary a bundle user reads,
    with the number of evaluated cases (the length of the engine's dataset) and entries that other handlers store
    on ``engine.state`` (e.g. ``"routing"`` from :class:`~monai_dianet.handlers.RouterFitHandler`).

    Args:
        output_file: the JSON file (written atomically; its folder is created).
        split: the name of the evaluated cases (``"test"``), written and logged with the figures.
        state_keys: names of ``engine.state`` attributes to include (an absent attribute raises).
        extra: further JSON-serialisable entries.
        other_engines: ``{name: engine}`` of engines that ran before this one (e.g. the evaluator of the validation
            cases that fitted the router); their metrics and case counts go under ``name`` (read when this run
            completes).

    Example::

        MetricsReportHandler("eval/metrics.json", "test", ["routing"], extra={"router_file": "models/router.json"})
    """

    def __init__(
        self,
        output_file: str | os.PathLike,
        split: str = "evaluated",
        state_keys: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
        other_engines: Mapping[str, Engine] | None = None,
    ) -> None:
        self.output_file = Path(output_file)
        self.split = split
        self.state_keys = tuple(state_keys)
        self.extra = dict(extra or {})
        self.other_engines = dict(other_engines or {})

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    @staticmethod
    def _summary(engine: Engine) -> dict[str, Any]:
        metrics = {k: float(torch.as_tensor(v).float().mean()) for k, v in engine.state.metrics.items()}
        return {"metrics": metrics, "num_cases": len(engine.data_loader.dataset)}

    @staticmethod
    def _log(split: str, summary: Mapping[str, Any]) -> None:
        values = ", ".join(f"{k} {v:.4f}" for k, v in summary["metrics"].items())
        logger.info(f"{split} split ({summary['num_cases']} cases): {values}")

    def __call__(self, engine: Engine) -> None:
        report: dict[str, Any] = {**self._summary(engine), "split": self.split}
        for name, other in self.other_engines.items():
            report[name] = self._summary(other)
            self._log(name, report[name])
        self._log(self.split, report)
        for key in self.state_keys:
            if not hasattr(engine.state, key):
                raise AttributeError(f"MetricsReportHandler: engine.state has no {key!r} (which handler sets it?).")
            report[key] = getattr(engine.state, key)
        report.update(self.extra)
        self.output_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.output_file.with_name(f".{self.output_file.name}.tmp")
        tmp.write_text(json.dumps(report, indent=2))
        os.replace(tmp, self.output_file)
