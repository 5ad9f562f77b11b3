# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Per-patient risk scores and risk groups of a survival evaluator, and the Kaplan-Meier PNG of the groups."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.utils import IgniteInfo, min_version, optional_import

from monai_dianet.visualize.kaplan_meier import risk_groups, save_kaplan_meier_risk_groups

if TYPE_CHECKING:
    from ignite.engine import Engine, Events
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

__all__ = ["SurvivalReportSaver"]

logger = logging.getLogger(__name__)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class SurvivalReportSaver:
    """Collect an evaluator's per-patient risk scores and write them when the run ends.

    Reads each decollated output's ``pred`` (the risk score, higher = earlier event) and ``label`` ((time, event),
    NaN time when unknown, as :class:`~monai_dianet.engines.SurvivalPrepareBatch` makes it) and the batch's
    ``id_key``. Writes ``predictions.csv`` and ``predictions.json`` (``case_id``, ``risk``, ``risk_group`` with
    0 = lowest, ``time``, ``event``) and, with ``kaplan_meier`` and known outcomes, ``kaplan_meier.png``: the
    Kaplan-Meier curves of the risk groups with the log-rank p-value
    (:func:`~monai_dianet.visualize.save_kaplan_meier_risk_groups`). The group statistics (or why there is no
    curve) are stored as ``engine.state.survival`` for :class:`~monai_dianet.handlers.MetricsReportHandler`.

    Args:
        output_dir: folder of the outputs (created).
        thresholds: cut points between risk groups, chosen beforehand (e.g. on the validation patients, as the
            TCGA bundle's survival task does); None: the quantiles of the evaluated patients' own risks (then the
            groups are not an independent test).
        num_groups: number of risk groups (``len(thresholds) + 1`` when thresholds are given).
        kaplan_meier: write the Kaplan-Meier PNG when outcomes are known.
        id_key: batch key of the case identifier.
        title: title of the Kaplan-Meier figure (the log-rank p-value is added), e.g. naming the evaluated split.

    Example::

        SurvivalReportSaver("eval/survival", thresholds=[0.12])  # in an evaluator's val_handlers
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        thresholds: Sequence[float] | None = None,
        num_groups: int = 2,
        kaplan_meier: bool = True,
        id_key: str = "case_id",
        title: str = "Kaplan-Meier curves of predicted risk groups",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.thresholds = None if thresholds is None else [float(t) for t in thresholds]
        self.num_groups = num_groups if thresholds is None else len(self.thresholds) + 1
        self.kaplan_meier = kaplan_meier
        self.id_key = id_key
        self.title = title
        self._rows: list[dict[str, Any]] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def _reset(self, engine: Engine) -> None:
        self._rows = []

    def _collect(self, engine: Engine) -> None:
        batch, output = engine.state.batch, engine.state.output
        if isinstance(output, dict):  # not decollated: one dict of batched tensors
            size = len(torch.as_tensor(output["pred"]))
            output = [{k: v[i] for k, v in output.items()} for i in range(size)]
            batch = [{self.id_key: batch[self.id_key][i]} for i in range(size)]
        for item, out in zip(batch, output):
            risk = float(torch.as_tensor(out["pred"]).reshape(-1)[0])
            time, event = (float(v) for v in torch.as_tensor(out["label"]).reshape(-1)[:2])
            self._rows.append({
                "case_id": str(item[self.id_key]),
                "risk": risk,
                "time": None if math.isnan(time) else time,
                "event": None if math.isnan(time) else bool(event),
            })

    def __call__(self, engine: Engine) -> None:
        if not self._rows:
            raise ValueError("SurvivalReportSaver: the evaluator produced no case.")
        risk = np.array([r["risk"] for r in self._rows])
        groups, thresholds = risk_groups(risk, self.num_groups, self.thresholds)
        for row, group in zip(self._rows, groups):
            row["risk_group"] = int(group)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        columns = ["case_id", "risk", "risk_group", "time", "event"]
        _write_atomic(self.output_dir / "predictions.json", json.dumps(self._rows, indent=1))
        tmp = self.output_dir / ".predictions.csv.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows({k: ("" if r[k] is None else r[k]) for k in columns} for r in self._rows)
        os.replace(tmp, self.output_dir / "predictions.csv")
        state: dict[str, Any] = {"num_cases": len(self._rows), "thresholds": [float(t) for t in thresholds],
                                 "thresholds_from": "given" if self.thresholds is not None else "these cases"}
        known = [r for r in self._rows if r["time"] is not None]
        if self.kaplan_meier:
            state["kaplan_meier"] = self._kaplan_meier(known, thresholds)
        engine.state.survival = state

    def _kaplan_meier(self, known: list[dict[str, Any]], thresholds: np.ndarray) -> dict[str, Any]:
        """The log-rank statistics of the PNG, or why there is none (logged as a warning)."""
        reason = None
        if len(known) < len(self._rows):
            reason = f"{len(self._rows) - len(known)} of {len(self._rows)} cases have no outcome"
        elif not any(r["event"] for r in known):
            reason = "no case has an event"
        elif len({int(g) for g in np.searchsorted(thresholds, [r["risk"] for r in known], side="right")}) < 2:
            reason = "every case falls into one risk group"
        if reason is not None:
            logger.warning("no Kaplan-Meier curve: %s.", reason)
            return {"skipped": reason}
        stats = save_kaplan_meier_risk_groups(
            str(self.output_dir / "kaplan_meier.png"),
            np.array([r["time"] for r in known]),
            np.array([r["event"] for r in known]),
            np.array([r["risk"] for r in known]),
            num_groups=self.num_groups,
            thresholds=thresholds,
            title=self.title,
        )
        logger.info("Kaplan-Meier of %d risk groups: log-rank p = %.3g (%s)", self.num_groups,
                    stats["logrank_p_value"], stats["path"])
        return stats
