# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Evaluator-style treatment inference: an inferer that treats each patient of a batch with a quantile network,
and a handler that writes the per-decision recommendation records."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.inferers import Inferer

from ..utils.errors import InputError
from .agents.risk import quantile_cvar
from .envs import TreatmentEnv
from .evaluation import run_episode, summarize_episodes
from .recommendation import recommendation_record

__all__ = ["TreatmentRolloutInferer", "PatientIndexBatch", "RecommendationWriter"]


class PatientIndexBatch:
    """``prepare_batch`` for an evaluator over ``{"patient_index": i}`` items: returns ``(indices, None)``."""

    def __call__(self, batchdata, device=None, non_blocking: bool = False, **kwargs):
        items = batchdata if isinstance(batchdata, (list, tuple)) else [batchdata]
        indices = []
        for item in items:
            value = item["patient_index"]
            indices.extend(np.asarray(value.cpu() if torch.is_tensor(value) else value).reshape(-1).tolist())
        return [int(i) for i in indices], None


class TreatmentRolloutInferer(Inferer):
    """Treat each patient of a batch for a whole course with the CVaR-greedy policy of a quantile network.

    The ``network`` maps observations ``(B, obs_dim)`` to return quantiles ``(B, n_quantiles, n_actions)`` (e.g.
    :class:`~monai_dianet.rl.agents.QuantileQNetwork` loaded from an ATLP checkpoint). At each cycle the inferer
    builds a :func:`~monai_dianet.rl.recommendation.recommendation_record` (every action's quantiles, mean and
    CVaR, the recommended action and the review flag) and applies the recommended action in ``env``.

    Args:
        env: a cohort :class:`TreatmentEnv` (inputs are indices into its patients).
        cvar_alpha: risk level of the action choice.
        review_threshold: quantile spread above which a recommendation is flagged for review (None: no
            threshold; records then carry ``needs_review: null``).
        seed: reset seed of every patient (measurement noise).
        spread_levels: quantile levels of the spread.

    Returns (when called):
        one dict per patient: ``patient_id``, ``description``, ``record`` (the
        :class:`~monai_dianet.rl.evaluation.EpisodeRecord`) and ``recommendations`` (one record per cycle,
        with the cycle, day, the simulated state at the visit, the reward and the state after the cycle).

    Example::

        inferer = TreatmentRolloutInferer(env, cvar_alpha=0.5, review_threshold=2.0)
        results = inferer([0, 1], network)
    """

    def __init__(self, env: TreatmentEnv, cvar_alpha: float = 1.0, review_threshold: float | None = None,
                 seed: int = 0, spread_levels: tuple[float, float] = (0.1, 0.9)) -> None:
        super().__init__()
        quantile_cvar(torch.zeros(1, 1, 1), cvar_alpha)
        self.env = env
        self.cvar_alpha = float(cvar_alpha)
        self.review_threshold = review_threshold
        self.seed = seed
        self.spread_levels = spread_levels
        self.labels = [a.label for a in env.actions]

    def __call__(self, inputs: Sequence[int], network: torch.nn.Module, *args: Any, **kwargs: Any) -> list[dict]:
        device = next(network.parameters()).device
        results = []
        for index in inputs:
            if not 0 <= int(index) < len(self.env.patients):
                raise InputError(f"patient_index {index} is outside the cohort of {len(self.env.patients)} patients.")
            steps: list[dict] = []

            def policy(obs: np.ndarray, info: dict) -> int:
                with torch.no_grad():
                    q = network(torch.as_tensor(obs[None], dtype=torch.float32, device=device))[0].cpu().numpy()
                rec = recommendation_record(q, self.labels, self.cvar_alpha, self.review_threshold, self.spread_levels)
                steps.append({"cycle": info["cycle"], "day": info["day"], "state_at_visit": info["state"], **rec})
                return rec["recommended_action"]

            record = run_episode(self.env, policy, seed=self.seed, options={"patient_index": int(index)})
            for step, reward, info in zip(steps, record.rewards, record.infos[1:]):
                step.update(reward=reward, state_after_cycle=info["state"], hospitalised=info["reward_components"]
                            ["hospitalised"], died=info["reward_components"]["died"])
            profile = self.env.patients[int(index)]
            results.append({"patient_id": record.patient_id, "description": dict(profile.description),
                            "record": record, "recommendations": steps})
        return results


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    os.replace(tmp, path)


class RecommendationWriter:
    """Ignite handler: writes ``<output_dir>/<patient_id>.json`` per patient (from a
    :class:`TreatmentRolloutInferer`'s ``pred``) and ``summary.json`` at the end of the run.

    Args:
        output_dir: folder of the records (created).
        pred_key: key of the inferer's output in ``engine.state.output``.
        meta: extra entries of ``summary.json`` (e.g. the split, the checkpoint and the threshold used).
    """

    def __init__(self, output_dir: str | Path, pred_key: str = "pred", meta: dict | None = None) -> None:
        self.output_dir = Path(output_dir)
        self.pred_key = pred_key
        self.meta = dict(meta or {})
        self.records: list = []
        self.flags: list[bool] = []

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.write)
        engine.add_event_handler(Events.COMPLETED, self.summarise)

    def started(self, engine) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.records, self.flags = [], []

    def write(self, engine) -> None:
        for result in engine.state.output[self.pred_key]:
            record = result["record"]
            self.records.append(record)
            flags = [s["needs_review"] for s in result["recommendations"]]
            self.flags.extend(bool(f) for f in flags if f is not None)
            _atomic_json(self.output_dir / f"{result['patient_id']}.json", {
                "patient_id": result["patient_id"],
                "profile": result["description"],
                "recommendations": result["recommendations"],
                "outcome": {"return": record.total_return, "survived": record.survived,
                            "initial_tumour": record.initial_tumour, "final_tumour": record.final_tumour,
                            "cumulative_toxicity": record.cumulative_toxicity,
                            "cumulative_exposure": record.cumulative_exposure,
                            "hospitalisations": record.hospitalisations},
            })

    def summarise(self, engine) -> None:
        summary = {**self.meta, **summarize_episodes(self.records),
                   "review_rate": float(np.mean(self.flags)) if self.flags else None}
        _atomic_json(self.output_dir / "summary.json", summary)
