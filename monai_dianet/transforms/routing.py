# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The per-case record of an ACWI routing decision, built in postprocessing from the outputs of
:class:`~monai_dianet.inferers.ACWIRouter` (one decollated case), ready for a writer's JSON file."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from monai_dianet.inferers.router import routing_disabled

__all__ = ["prediction_summary", "routing_record", "routing_status", "RoutingRecordd"]


def prediction_summary(mean: torch.Tensor, activation: str) -> dict[str, Any]:
    """A short JSON summary of one case's probabilities ``(C,)`` or ``(C, *spatial)``: the class and probabilities
    of a classification, or the shape and foreground voxels per class of a segmentation."""
    p = torch.as_tensor(mean)
    if p.ndim == 1:
        if activation == "softmax":
            return {"task": "classification", "label": int(p.argmax()), "probabilities": [float(v) for v in p]}
        return {"task": "classification", "labels": [int(v > 0.5) for v in p], "probabilities": [float(v) for v in p]}
    if activation == "softmax":
        counts = torch.bincount(p.argmax(0).flatten(), minlength=p.shape[0])
    else:
        counts = (p > 0.5).flatten(1).sum(1)
    return {"task": "segmentation", "shape": list(p.shape[1:]), "voxels_per_class": [int(v) for v in counts]}


def routing_status(
    enabled: bool,
    router_file: Any = None,
    fitted_on: str = "validation cases",
    off_effect: str = "every case took the refine path and none was accepted early or flagged for review",
) -> dict[str, Any]:
    """The ``routing`` entry of a per-case (or per-slide) record: whether a fitted router was used, and which.

    Args:
        enabled: whether a fitted router decided.
        router_file: the file its thresholds came from (written only when ``enabled``).
        fitted_on: what the thresholds were fitted on, for the note.
        off_effect: what running without a router meant for the cases, for the note.

    Returns:
        ``{"enabled": bool, "router_file": str | None, "note": str}``; with routing off ``router_file`` is None and
        the note says explicitly that no router was used.

    Example::

        routing_status(False, off_effect="no slide was accepted or flagged for review")
    """
    if not enabled:
        return {"enabled": False, "router_file": None,
                "note": f"routing off: no router was used (no fitted thresholds); {off_effect}"}
    return {"enabled": True, "router_file": None if router_file is None else str(router_file),
            "note": f"thresholds fitted on {fitted_on}"}


def _number(value: Any) -> float | None:
    v = float(torch.as_tensor(value).reshape(-1)[0])
    return None if math.isnan(v) else v


def routing_record(case: Mapping[str, Any], router: Any, router_file: Any = None) -> dict[str, Any]:
    """The JSON-serialisable record of one routed case.

    Args:
        case: one case of the router's output (``"mean"``, ``"decision"``, ``"fast_score"``, ``"refined_score"``,
            ``"fast_ms"``, ``"refine_ms"``, ``"total_ms"``), e.g. after ``decollate_batch``.
        router: the :class:`~monai_dianet.inferers.ACWIRouter` that produced it (thresholds, score name,
            activation).
        router_file: where the thresholds came from, stated in the record's ``"routing"`` entry: a file, or
            ``"none"`` when routing was turned off (then every case took the refine path and no decision was made);
            None leaves the entry out.

    Returns:
        ``{"decision", "score" (name), "scores": {"fast", "refined" (None when not run)}, "thresholds",
        "timings_ms": {"fast", "refine", "total"}, "prediction": prediction_summary(...)[, "routing": {"enabled",
        "router_file", "note"}]}``.

    Raises:
        KeyError: ``case`` lacks one of the router's outputs.
    """
    missing = [k for k in ("mean", "decision", "fast_score", "refined_score", "fast_ms", "refine_ms", "total_ms")
               if k not in case]
    if missing:
        raise KeyError(f"routing_record: the case lacks the router output(s) {missing}; keys: {sorted(case)}.")
    record = {
        "decision": str(case["decision"]),
        "score": router.score_name,
        "scores": {"fast": _number(case["fast_score"]), "refined": _number(case["refined_score"])},
        "thresholds": dict(router.thresholds),
        "timings_ms": {k: _number(case[f"{k}_ms"]) for k in ("fast", "refine", "total")},
        "prediction": prediction_summary(case["mean"], router.activation),
    }
    if router_file is not None:
        record["routing"] = routing_status(not routing_disabled(router_file), router_file)
    return record


class RoutingRecordd(MapTransform):
    """Postprocessing of :class:`~monai_dianet.inferers.ACWIRouter` outputs for one decollated case: writes the
    routing record and the case-level uncertainty of the path taken under their own keys.

    Runs before any spatial inversion (the record's prediction summary describes the routed prediction).

    Args:
        keys: the key of the router's output dictionary (``"pred"`` in an evaluator).
        router: the router (its thresholds, score name and activation go into the record).
        router_file: where the thresholds came from, or ``"none"`` (routing off); stated in the record (see
            :func:`routing_record`). None leaves it out.
        record_key: output key of the record (:func:`routing_record`).
        score_key: output key of the case-level uncertainty (the refined score when the refine path ran, else the
            fast one).
        allow_missing_keys: don't raise when a key is absent.

    Example::

        RoutingRecordd("pred", router)({"pred": case})["route"]["decision"]  # "accept", "refine" or "review"
    """

    def __init__(
        self,
        keys: KeysCollection,
        router: Any,
        router_file: Any = None,
        record_key: str = "route",
        score_key: str = "case_uncertainty",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.router = router
        self.router_file = router_file
        self.record_key = record_key
        self.score_key = score_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            record = routing_record(d[key], self.router, self.router_file)
            d[self.record_key] = record
            scores = record["scores"]
            d[self.score_key] = scores["refined"] if scores["refined"] is not None else scores["fast"]
        return d
