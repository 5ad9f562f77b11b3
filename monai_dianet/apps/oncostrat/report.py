# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Clinician-readable evaluation of a treatment policy on held-out patients: the learned policy against the
standard protocols (summary table, ratios to the best protocol, per-patient trajectory figures)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...rl.envs import TreatmentEnv
from ...rl.evaluation import evaluate_cohort, ratios_to_reference, summarize_episodes
from ...rl.plots import plot_treatment_trajectories
from ...utils.errors import InputError
from .protocols import standard_protocols

__all__ = ["TreatmentReportHandler"]


class TreatmentReportHandler:
    """Ignite handler for an evaluator running :class:`~monai_dianet.rl.inference.TreatmentRolloutInferer`.

    At the end of the run it treats the same patients with every standard protocol
    (:func:`~monai_dianet.apps.oncostrat.protocols.standard_protocols`), and writes to ``output_dir``:

    - ``metrics.json``: the split and its size, the checkpoint, the learned policy's summary (mean and
      10th-percentile return, survival, final/initial tumour, cumulative toxicity and exposure,
      hospitalisations), every protocol's summary, and the ratios of the policy to ``reference_protocol`` (the
      best protocol on validation patients, chosen at training);
    - ``metrics.csv``: the same summaries as a table;
    - ``trajectories/<patient>.png`` for the first ``max_figures`` patients: tumour, immune cells, drugs and
      toxicity under the learned policy and under the reference protocol.

    Args:
        env: the environment the inferer uses (same patients).
        output_dir: output folder.
        reference_protocol: name of the reference protocol (a key of ``standard_protocols(env)``).
        meta: entries added to ``metrics.json`` (split name, checkpoint...).
        max_figures: trajectory figures to draw.
        pred_key: key of the inferer's output in ``engine.state.output``.
    """

    def __init__(self, env: TreatmentEnv, output_dir: str | Path, reference_protocol: str,
                 meta: Mapping[str, Any] | None = None, max_figures: int = 4, pred_key: str = "pred") -> None:
        self.env = env
        self.output_dir = Path(output_dir)
        self.protocols = standard_protocols(env)
        if reference_protocol not in self.protocols:
            raise InputError(f"reference protocol {reference_protocol!r} is not one of {sorted(self.protocols)}.")
        self.reference = reference_protocol
        self.meta = dict(meta or {})
        self.max_figures = int(max_figures)
        self.pred_key = pred_key
        self.results: list[dict] = []

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, lambda e: self.results.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED,
                                 lambda e: self.results.extend(e.state.output[self.pred_key]))
        engine.add_event_handler(Events.COMPLETED, self.report)

    def report(self, engine=None) -> dict[str, Any]:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        records = [r["record"] for r in self.results]
        ids = [r.patient_id for r in records]
        index = {p.patient_id: k for k, p in enumerate(self.env.patients)}
        indices = [index[i] for i in ids]
        summaries = {"learned policy": summarize_episodes(records)}
        protocol_records = {}
        for name, protocol in self.protocols.items():
            protocol_records[name] = evaluate_cohort(self.env, protocol, indices)
            summaries[name] = summarize_episodes(protocol_records[name])
        metrics = {
            **self.meta,
            "num_patients": len(ids),
            "reference_protocol": self.reference,
            "summaries": summaries,
            "ratios_to_reference": ratios_to_reference(summaries["learned policy"], summaries[self.reference]),
        }
        tmp = self.output_dir / ".metrics.json.tmp"
        tmp.write_text(json.dumps(metrics, indent=1))
        os.replace(tmp, self.output_dir / "metrics.json")
        keys = list(summaries["learned policy"])
        lines = ["policy," + ",".join(keys)] + [f"{n}," + ",".join(f"{s[k]:.6g}" for k in keys)
                                                for n, s in summaries.items()]
        (self.output_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
        for k, record in enumerate(records[: self.max_figures]):
            plot_treatment_trajectories(
                {"learned policy": record, self.protocols[self.reference].name: protocol_records[self.reference][k]},
                self.env.model, self.output_dir / "trajectories" / f"{record.patient_id}.png",
            )
        return metrics
