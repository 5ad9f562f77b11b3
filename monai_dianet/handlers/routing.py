# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Handlers around :class:`~monai_dianet.inferers.ACWIRouter`: reading its fitted thresholds before a run
(:class:`RouterLoader`, the counterpart of MONAI's ``CheckpointLoader``), fitting them during an evaluation run
(:class:`RouterFitHandler`), and the router file format (:func:`save_router_file`, :func:`load_router_file`)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.utils import IgniteInfo, min_version, optional_import

from monai_dianet.inferers.router import ACWIRouter, case_correct, fit_router_thresholds
from monai_dianet.visualize.plots import save_router_risk_coverage

if TYPE_CHECKING:
    from ignite.engine import Engine, Events
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

__all__ = ["save_router_file", "load_router_file", "RouterLoader", "RouterFitHandler"]


def save_router_file(
    path: str | os.PathLike, router: ACWIRouter, report: Mapping[str, Any], min_dice: float | None = None
) -> str:
    """Write fitted thresholds (``report["thresholds"]``), the router's settings and the fit report as JSON, atomically.

    Args:
        path: the JSON file.
        router: the router whose settings (score, reduction, activation) the thresholds belong to.
        report: the report of :func:`~monai_dianet.inferers.fit_router_thresholds`.
        min_dice: the Dice from which a segmentation counted as correct in the fit (kept for the record).

    Returns:
        the path written.
    """
    data = {"thresholds": dict(report["thresholds"]), **router.settings(), "min_dice": min_dice, "report": report}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return str(path)


def load_router_file(path: str | os.PathLike, router: ACWIRouter) -> dict[str, Any]:
    """Set ``router``'s thresholds from a file written by :func:`save_router_file`; returns the file's content.

    Raises:
        FileNotFoundError: no such file.
        KeyError: no ``"thresholds"`` in the file.
        ValueError: the file was fitted with another score, reduction or activation than ``router`` uses.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"router file not found: {path}")
    data = json.loads(Path(path).read_text())
    if "thresholds" not in data:
        raise KeyError(f"{path}: expected a 'thresholds' entry, got keys {sorted(data)}.")
    for key, mine in router.settings().items():
        if key in data and data[key] != mine:
            raise ValueError(f"{path} was fitted with {key}={data[key]!r} but this router uses {mine!r}.")
    router.set_thresholds(data["thresholds"])
    return data


class RouterLoader:
    """Set an :class:`~monai_dianet.inferers.ACWIRouter`'s thresholds from its file when the engine starts.

    Args:
        router: the router (e.g. the evaluator's ``inferer``).
        load_path: the file written by :func:`save_router_file`.
        required: a missing file raises; with False the router keeps the thresholds it was built with.
    """

    def __init__(self, router: ACWIRouter, load_path: str | os.PathLike, required: bool = True) -> None:
        self.router = router
        self.load_path = load_path
        self.required = required

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine) -> None:
        if self.required or os.path.isfile(self.load_path):
            load_router_file(self.load_path, self.router)


def _value(item: Mapping[str, Any], key: str) -> Any:
    if key not in item:
        raise KeyError(f"RouterFitHandler: the engine output has no {key!r}; keys: {sorted(item)}.")
    return item[key]


class RouterFitHandler:
    """Fit an :class:`~monai_dianet.inferers.ACWIRouter`'s thresholds on the cases of an evaluation run.

    Every case must have run both paths (a router built with ``thresholds={"accept": None, "review": None}``),
    so the fast and refined predictions, their scores and the label are in each decollated engine output (after
    ``FlattenSubKeysd(keys="pred", prefix="pred")``: ``pred_mean``, ``pred_fast_mean``, ``pred_fast_score``,
    ``pred_refined_score``). At the end of the epoch the thresholds are fitted by
    :func:`~monai_dianet.inferers.fit_router_thresholds`, written with :func:`save_router_file`, the curves drawn
    with :func:`~monai_dianet.visualize.save_router_risk_coverage`, and the report kept as
    ``engine.state.routing``.

    Args:
        router: the evaluator's router.
        router_file: JSON file to write.
        target_error: see :func:`~monai_dianet.inferers.fit_router_thresholds`.
        review_budget: see :func:`~monai_dianet.inferers.fit_router_thresholds`.
        min_dice: see :func:`~monai_dianet.inferers.case_correct`.
        curve_path: PNG of the risk-coverage curves (None: no figure).
        pred_key, fast_pred_key, fast_score_key, refined_score_key, label_key: keys of the engine output.

    Raises (at the end of the epoch):
        ValueError: a case did not run the refine path, or there were no cases.
    """

    def __init__(
        self,
        router: ACWIRouter,
        router_file: str | os.PathLike,
        target_error: float = 0.05,
        review_budget: float | None = 0.1,
        min_dice: float = 0.7,
        curve_path: str | os.PathLike | None = None,
        pred_key: str = "pred_mean",
        fast_pred_key: str = "pred_fast_mean",
        fast_score_key: str = "pred_fast_score",
        refined_score_key: str = "pred_refined_score",
        label_key: str = "label",
    ) -> None:
        self.router = router
        self.router_file = router_file
        self.target_error = target_error
        self.review_budget = review_budget
        self.min_dice = float(min_dice)
        self.curve_path = curve_path
        self.keys = (pred_key, fast_pred_key, fast_score_key, refined_score_key, label_key)
        self._cases: list[tuple[float, float, bool, bool]] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._fit)

    def _reset(self, engine: Engine) -> None:
        self._cases = []

    def _collect(self, engine: Engine) -> None:
        outputs = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
        pred_key, fast_key, fast_score_key, refined_score_key, label_key = self.keys
        act = self.router.activation
        for item in outputs:
            refined = float(torch.as_tensor(_value(item, refined_score_key)))
            if math.isnan(refined):
                raise ValueError(
                    "RouterFitHandler needs both paths on every case: build the router with "
                    "thresholds={'accept': None, 'review': None}."
                )
            label = _value(item, label_key)
            self._cases.append((
                float(torch.as_tensor(_value(item, fast_score_key))),
                refined,
                case_correct(_value(item, fast_key), label, act, self.min_dice),
                case_correct(_value(item, pred_key), label, act, self.min_dice),
            ))

    def _fit(self, engine: Engine) -> None:
        if not self._cases:
            raise ValueError("RouterFitHandler: no case to fit the router thresholds on.")
        fast, refined, fast_ok, refined_ok = (list(v) for v in zip(*self._cases))
        report = fit_router_thresholds(
            fast, refined, fast_ok, refined_ok, self.target_error, self.review_budget, self.router.score_name
        )
        if self.curve_path is not None:
            report["curve_path"] = save_router_risk_coverage(self.curve_path, report)
        save_router_file(self.router_file, self.router, report, self.min_dice)
        engine.state.routing = report
