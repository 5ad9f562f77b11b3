# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Handlers around :class:`~monai_dianet.inferers.ACWIRouter`: reading its fitted thresholds before a run
(:class:`RouterLoader`, the counterpart of MONAI's ``CheckpointLoader``), fitting them during an evaluation run on
validation cases (:class:`RouterFitHandler`), reporting what the fitted thresholds do on other cases, e.g. the test
split (:class:`RouterReportHandler`), and the router file format (:func:`save_router_file`,
:func:`load_router_file`)."""

from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.utils import IgniteInfo, min_version, optional_import

from monai_dianet.inferers.router import (
    ACWIRouter,
    case_correct,
    fit_router_thresholds,
    router_outcome,
    routing_disabled,
    select_case_score,
)
from monai_dianet.utils.errors import InputError, MissingInputError
from monai_dianet.utils.io import read_json
from monai_dianet.visualize.plots import save_router_risk_coverage

if TYPE_CHECKING:
    from ignite.engine import Engine, Events
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

__all__ = [
    "save_router_file",
    "load_router_file",
    "RouterLoader",
    "RouterFitHandler",
    "RouterReportHandler",
]

logger = logging.getLogger(__name__)


def _outcome_text(outcome: Mapping[str, Any] | None) -> str:
    """``accept a / refine r / review v, error of automated cases e`` of an outcome dictionary."""
    if not outcome:
        return "unknown"
    err = outcome.get("error_automated")
    return (f"accept {outcome['accept']} / refine {outcome['refine']} / review {outcome['review']}, error of "
            f"automated cases {'n/a' if err is None else f'{err:.3f}'}")


def save_router_file(
    path: str | os.PathLike, router: ACWIRouter, report: Mapping[str, Any], min_dice: float | None = None
) -> str:
    """Write fitted thresholds (``report["thresholds"]``), the router's settings and the fit report as JSON, atomically.

    Args:
        path: the JSON file.
        router: the router whose settings (score, reduction, activation) the thresholds belong to.
        report: the report of :func:`~monai_dianet.inferers.fit_router_thresholds` (with the choice of the case score
            and every candidate's AURC under ``"score_selection"`` when :class:`RouterFitHandler` chose one).
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


def load_router_file(
    path: str | os.PathLike, router: ACWIRouter, fit_command: str = "", thresholds: bool = True
) -> dict[str, Any]:
    """Set ``router``'s case score (the one chosen in the fit) and thresholds from a file written by
    :func:`save_router_file`; returns the file's content.

    Args:
        path: the router file.
        router: the router to set; the file's score must be one of its :attr:`~ACWIRouter.score_names`.
        fit_command: the command that writes the file, named in the message when it is missing.
        thresholds: also set the thresholds (False: only check the file and set the score, for a router that has to
            keep running both paths on every case, as :class:`RouterReportHandler` needs).

    Raises:
        MissingInputError: no such file.
        InputError: the file is not JSON, has no ``"thresholds"``, names a score the router cannot compute, or was
            fitted with another reduction or activation than ``router`` uses.

    Example::

        load_router_file("models/router.json", router)  # router.score_name: the score chosen on validation
    """
    if not os.path.isfile(path):
        hint = f"; fit it with: {fit_command}" if fit_command else ""
        raise MissingInputError(f"router file {path} does not exist{hint} (or pass --router_file none to run "
                                "without routing)")
    data = read_json(path, "router file", expected=dict)
    if not isinstance(data.get("thresholds"), dict):
        raise InputError(f"router file {path}: expected a 'thresholds' object, got keys {sorted(data)}.")
    for key, mine in router.settings().items():
        if key != "score" and key in data and data[key] != mine:
            raise InputError(f"router file {path} was fitted with {key}={data[key]!r} but this router uses {mine!r}.")
    if "score" in data:
        if data["score"] not in router.score_names:
            raise InputError(f"router file {path} was fitted with the case score {data['score']!r}, which this router "
                             f"cannot compute (its scores: {router.score_names}).")
        router.set_score(data["score"])
    if thresholds:
        router.set_thresholds(data["thresholds"])
    return data


class RouterLoader:
    """Set an :class:`~monai_dianet.inferers.ACWIRouter`'s thresholds from its file when the engine starts.

    There is no silent default: a missing file stops the run with the command that fits it. Routing is turned off
    only when asked, with ``load_path`` ``"none"`` (e.g. ``--router_file none``): the router then accepts and
    reviews nothing (every case takes the refine path) and :attr:`enabled` is False, which the per-case records
    state (:class:`~monai_dianet.transforms.RoutingRecordd` with ``router_file``).

    Args:
        router: the router (e.g. the evaluator's ``inferer``).
        load_path: the file written by :func:`save_router_file`, or ``"none"``.
        fit_command: the command that writes the file, for the message when it is missing.

    Raises (when the engine starts):
        MissingInputError: the file does not exist.
        InputError: the file does not fit the router (see :func:`load_router_file`).
    """

    def __init__(self, router: ACWIRouter, load_path: str | os.PathLike | None, fit_command: str = "") -> None:
        self.router = router
        self.load_path = load_path
        self.fit_command = fit_command

    @property
    def enabled(self) -> bool:
        return not routing_disabled(self.load_path)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine) -> None:
        if self.enabled:
            load_router_file(self.load_path, self.router, self.fit_command)  # type: ignore[arg-type]
        else:
            self.router.set_thresholds({"accept": None, "review": None})


class _RouterCases(ABC):
    """Collects, per case of an evaluation run whose router ran both paths on every case, the scores of both paths
    (of every candidate score when ``candidate_keys`` are given and the router has several) and whether each path's
    prediction is correct; the subclasses use them at the end of the epoch."""

    def __init__(
        self,
        router: ACWIRouter,
        min_dice: float | None,
        keys: tuple[str, str, str, str, str] = ("pred_mean", "pred_fast_mean", "pred_fast_score",
                                                "pred_refined_score", "label"),
        candidate_keys: tuple[str, str] | None = None,
    ) -> None:
        self.router = router
        self.min_dice = None if min_dice is None else float(min_dice)
        self.keys = keys
        self.candidate_keys = candidate_keys
        self._cases: list[tuple[np.ndarray, np.ndarray, bool, bool]] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _reset(self, engine: Engine) -> None:
        self._cases = []

    def _collect(self, engine: Engine) -> None:
        outputs = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
        pred_key, fast_key, fast_score_key, refined_score_key, label_key = self.keys
        act = self.router.activation
        min_dice = 0.7 if self.min_dice is None else self.min_dice
        if self.candidate_keys is not None and len(self.router.score_names) > 1:
            fast_score_key, refined_score_key = self.candidate_keys
        for item in outputs:
            refined = _scores(self, item, refined_score_key)
            if np.isnan(refined).any():
                raise ValueError(
                    f"{type(self).__name__} needs both paths on every case: build the router with "
                    "thresholds={'accept': None, 'review': None}."
                )
            label = _value(self, item, label_key)
            self._cases.append((
                _scores(self, item, fast_score_key),
                refined,
                case_correct(_value(self, item, fast_key), label, act, min_dice),
                case_correct(_value(self, item, pred_key), label, act, min_dice),
            ))

    def _columns(self) -> tuple[np.ndarray, np.ndarray, list, list]:
        """Fast and refined scores ``(N, K)`` (K candidate scores, or 1), fast and refined correctness ``(N,)``."""
        if not self._cases:
            raise ValueError(f"{type(self).__name__}: no case to fit or report the router thresholds on.")
        fast, refined, fast_ok, refined_ok = zip(*self._cases)
        return np.stack(fast), np.stack(refined), list(fast_ok), list(refined_ok)

    @abstractmethod
    def _epoch_completed(self, engine: Engine) -> None: ...


def _value(handler: Any, item: Mapping[str, Any], key: str) -> Any:
    if key not in item:
        raise KeyError(f"{type(handler).__name__}: the engine output has no {key!r}; keys: {sorted(item)}.")
    return item[key]


def _scores(handler: Any, item: Mapping[str, Any], key: str) -> np.ndarray:
    return torch.as_tensor(_value(handler, item, key)).detach().cpu().double().reshape(-1).numpy()


class RouterFitHandler(_RouterCases):
    """Fit an :class:`~monai_dianet.inferers.ACWIRouter`'s thresholds on the cases of an evaluation run (the
    validation cases: thresholds are a choice, never made on test cases).

    Every case must have run both paths (a router built with ``thresholds={"accept": None, "review": None}``),
    so the fast and refined predictions, their scores and the label are in each decollated engine output (after
    ``FlattenSubKeysd(keys="pred", prefix="pred")``: ``pred_mean``, ``pred_fast_mean``, ``pred_fast_score``,
    ``pred_refined_score``). At the end of the epoch the thresholds are fitted by
    :func:`~monai_dianet.inferers.fit_router_thresholds`, written with :func:`save_router_file`, the curves drawn
    with :func:`~monai_dianet.visualize.save_router_risk_coverage`, and the report kept as
    ``engine.state.routing``.

    When the router has several candidate scores, the case score is chosen first: the candidate whose fast-path
    risk-coverage curve on these cases has the lowest AURC (:func:`~monai_dianet.inferers.select_case_score`; equal
    AURCs go to the earlier, simpler candidate). The thresholds are fitted for it, the router is set to it, and the
    file and report hold the choice and every candidate's AURC (``"score_selection": {"criterion", "aurc",
    "chosen"}``). The candidates' scores come
    from the router's ``fast_scores``/``refined_scores`` outputs (``pred_fast_scores``, ``pred_refined_scores``).

    Args:
        router: the evaluator's router.
        router_file: JSON file to write.
        target_error: see :func:`~monai_dianet.inferers.fit_router_thresholds`.
        review_budget: see :func:`~monai_dianet.inferers.fit_router_thresholds`.
        min_dice: see :func:`~monai_dianet.inferers.case_correct`.
        curve_path: PNG of the risk-coverage curves (None: no figure).
        split: the name of the cases fitted on, kept in the report (``"validation"``).
        pred_key, fast_pred_key, fast_score_key, refined_score_key, label_key: keys of the engine output.
        fast_scores_key, refined_scores_key: keys of every candidate's scores (routers with several candidates).

    Raises (at the end of the epoch):
        ValueError: a case did not run the refine path, or there were no cases.

    Example::

        scores = [SegmentationCaseScore(n, activation="sigmoid") for n in CASE_SCORES]
        router = ACWIRouter(sw, mc, "sigmoid", score=scores, thresholds={"accept": None, "review": None})
        RouterFitHandler(router, "models/router.json").attach(validation_evaluator)
    """

    def __init__(
        self,
        router: ACWIRouter,
        router_file: str | os.PathLike,
        target_error: float = 0.05,
        review_budget: float | None = 0.1,
        min_dice: float = 0.7,
        curve_path: str | os.PathLike | None = None,
        split: str = "validation",
        pred_key: str = "pred_mean",
        fast_pred_key: str = "pred_fast_mean",
        fast_score_key: str = "pred_fast_score",
        refined_score_key: str = "pred_refined_score",
        label_key: str = "label",
        fast_scores_key: str = "pred_fast_scores",
        refined_scores_key: str = "pred_refined_scores",
    ) -> None:
        super().__init__(router, min_dice, (pred_key, fast_pred_key, fast_score_key, refined_score_key, label_key),
                         (fast_scores_key, refined_scores_key))
        self.router_file = router_file
        self.target_error = target_error
        self.review_budget = review_budget
        self.curve_path = curve_path
        self.split = split

    def _epoch_completed(self, engine: Engine) -> None:
        fast, refined, fast_ok, refined_ok = self._columns()
        selection, k = None, 0
        if fast.shape[1] > 1:
            names = self.router.score_names
            selection = {
                "criterion": f"lowest AURC of the fast path on the {self.split} cases; ties: the earlier candidate",
                **select_case_score({name: fast[:, i] for i, name in enumerate(names)}, fast_ok),
            }
            k = names.index(selection["chosen"])
            self.router.set_score(selection["chosen"])
        report = fit_router_thresholds(
            fast[:, k], refined[:, k], fast_ok, refined_ok, self.target_error, self.review_budget,
            self.router.score_name
        )
        report["score_selection"] = selection
        report["split"] = self.split
        if self.curve_path is not None:
            report["curve_path"] = save_router_risk_coverage(self.curve_path, report)
        save_router_file(self.router_file, self.router, report, self.min_dice)
        chosen = "" if selection is None else (
            f"case score {selection['chosen']} chosen by AURC ("
            + ", ".join(f"{name} {aurc:.4f}" for name, aurc in selection["aurc"].items()) + "); ")
        logger.info(f"router thresholds fitted on the {self.split} split ({report['n']} cases): {chosen}"
                    f"{_outcome_text(report['outcome'])}; written to {self.router_file}")
        engine.state.routing = report


class RouterReportHandler(_RouterCases):
    """Report what the thresholds of a router file do on the cases of this evaluation run (the test split), with the
    figure of the cases they were fitted on (from the file) beside it.

    Every case must run both paths (a router built with ``thresholds={"accept": None, "review": None}``), as for
    :class:`RouterFitHandler`; when the engine starts the router takes the file's case score (the one chosen on
    validation), and at the end the file's thresholds are applied to the collected scores by
    :func:`~monai_dianet.inferers.router_outcome`. At the end of the epoch ``engine.state.routing`` holds
    ``{"router_file", "split", "n", "score", "target_error", "thresholds", "outcome", "fast", "refined",
    "curve_path", "fitted_on": {"split", "n", "outcome", "score_selection"}}``.

    Args:
        router: the evaluator's router.
        router_file: the file written by :class:`RouterFitHandler` (on validation cases).
        split: the name of this run's cases, for the report (``"test"``).
        curve_path: PNG of this run's risk-coverage curves (None: no figure).
        min_dice: Dice from which a segmentation counts as correct; None: the value the file was fitted with.
        pred_key, fast_pred_key, fast_score_key, refined_score_key, label_key: keys of the engine output.

    Raises:
        MissingInputError: (when the engine starts) the router file does not exist.
        InputError: (when the engine starts) the file does not fit the router (see :func:`load_router_file`).
        ValueError: (at the end of the epoch) a case did not run the refine path, or there were no cases.
    """

    def __init__(
        self,
        router: ACWIRouter,
        router_file: str | os.PathLike,
        split: str = "test",
        curve_path: str | os.PathLike | None = None,
        min_dice: float | None = None,
        pred_key: str = "pred_mean",
        fast_pred_key: str = "pred_fast_mean",
        fast_score_key: str = "pred_fast_score",
        refined_score_key: str = "pred_refined_score",
        label_key: str = "label",
    ) -> None:
        super().__init__(router, min_dice, (pred_key, fast_pred_key, fast_score_key, refined_score_key, label_key))
        self.router_file = router_file
        self.split = split
        self.curve_path = curve_path
        self._fitted: dict[str, Any] = {}

    def attach(self, engine: Engine) -> None:
        super().attach(engine)
        engine.add_event_handler(Events.STARTED, self._load)

    def _load(self, engine: Engine) -> None:
        # the file's score, not its thresholds: the router keeps running both paths on every case
        self._fitted = load_router_file(self.router_file, self.router, thresholds=False)
        if self.min_dice is None:
            self.min_dice = self._fitted.get("min_dice") or 0.7

    def _epoch_completed(self, engine: Engine) -> None:
        fast, refined, fast_ok, refined_ok = self._columns()
        report = router_outcome(fast[:, 0], refined[:, 0], fast_ok, refined_ok, self._fitted["thresholds"])
        fitted = self._fitted.get("report", {})
        report = {
            "router_file": os.fspath(self.router_file),
            "split": self.split,
            "n": len(fast),
            "score": self.router.score_name,
            "target_error": fitted.get("target_error"),
            **report,
            "curve_path": None,
            "fitted_on": {"split": fitted.get("split"), "n": fitted.get("n"), "outcome": fitted.get("outcome"),
                          "score_selection": fitted.get("score_selection")},
        }
        if self.curve_path is not None:
            report["curve_path"] = save_router_risk_coverage(self.curve_path, report)
        logger.info(f"router on the {self.split} split ({report['n']} cases): {_outcome_text(report['outcome'])} "
                    f"(thresholds fitted on the {report['fitted_on']['split']} split, {report['fitted_on']['n']} "
                    f"cases: {_outcome_text(report['fitted_on']['outcome'])})")
        engine.state.routing = report
