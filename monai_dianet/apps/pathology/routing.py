# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""ACWI routing at the slide level: accept the automatic result of a slide, or send it to a pathologist.

The ACWI idea (Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology
in AI-assisted medical imaging", Scientific Reports, 2025) selects the inference pathway by model confidence. Per
patch, DIANet's MC-dropout path costs only the dropout decodings on top of the shared encoding (see
:class:`~monai_dianet.inferers.MCDropoutInferer`), so the slide pipeline takes the refined (MC-dropout) path for
every patch and routes the whole slide on its case-level MC uncertainty: ``accept`` when it is at most the
threshold, else ``review``. The threshold is fitted on validation slides (never the test split): the largest one
whose accepted slides have an error rate (predicted CAMELYON17 category differs from the truth) at most
``target_error``, read from the package's risk-coverage curve.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from monai_dianet.apps.pathology.metrics import write_evaluation
from monai_dianet.inferers.router import risk_coverage_curve
from monai_dianet.utils.errors import InputError, MissingInputError

__all__ = ["SlideRouter", "fit_slide_router"]


class SlideRouter:
    """``callable(case_uncertainty) -> {"decision", "score", "threshold"}`` with ``accept`` at or below the threshold.

    Args:
        threshold: uncertainty threshold; None accepts nothing (every slide goes to review).
        report: fit details kept in the saved file.

    Example::

        router = SlideRouter.load("models/router.json")
        router(0.013)  # {"decision": "accept", "score": 0.013, "threshold": 0.02}
    """

    def __init__(self, threshold: float | None, report: dict | None = None) -> None:
        self.threshold = None if threshold is None else float(threshold)
        self.report = report or {}

    def __call__(self, score: float) -> dict:
        accept = self.threshold is not None and float(score) <= self.threshold
        return {"decision": "accept" if accept else "review", "score": float(score), "threshold": self.threshold}

    def save(self, path: str | os.PathLike) -> str:
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"threshold": self.threshold, "report": self.report}, f, indent=2)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, fit_command: str = "") -> SlideRouter:
        """Read a router written by :meth:`save`.

        Raises:
            MissingInputError: no such file (the message names ``fit_command``, which writes it).
            InputError: not a router file.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise MissingInputError(
                f"router file {path} does not exist; it is fitted on validation slides at the end of training"
                + (f" ({fit_command})" if fit_command else "")
                + ", or pass --router_file none to run without routing."
            )
        try:
            with open(path) as f:
                data = json.load(f)
            return cls(data["threshold"], data.get("report"))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path} is not a slide router file ({type(exc).__name__}: {exc}).") from None


def fit_slide_router(scores: Sequence[float], correct: Sequence[bool], target_error: float = 0.1) -> SlideRouter:
    """Fit the threshold on validation slides: the largest uncertainty whose accepted slides err at most
    ``target_error`` (None when even the most certain slide is wrong).

    Args:
        scores: case-level uncertainty of each validation slide.
        correct: whether each slide's predicted category is right.
        target_error: highest error rate allowed among accepted slides.

    Raises:
        InputError: no validation slides.
    """
    if not len(scores):
        raise InputError("no validation slides to fit the slide router on; use a validation split with slides.")
    curve = risk_coverage_curve(scores, correct)
    threshold = None
    ranked = curve["thresholds"]
    for k, (risk, t) in enumerate(zip(curve["risk"], ranked)):
        tied_with_next = k + 1 < len(ranked) and ranked[k + 1] == t  # a threshold accepts all tied slides
        if not tied_with_next and risk <= target_error + 1e-12:
            threshold = t
    report = {"target_error": float(target_error), "validation_slides": len(scores),
              "aurc": curve["aurc"], "accepted_validation": sum(float(s) <= threshold for s in scores)
              if threshold is not None else 0}
    return SlideRouter(threshold, report)


def fit_router_on_validation(
    output_dir: str | os.PathLike,
    records: Sequence[dict],
    entries: Sequence[dict],
    checkpoint: str,
    router_file: str | os.PathLike,
    target_error: float = 0.1,
) -> SlideRouter:
    """Evaluate the validation slides (``output_dir/metrics.json``, ``slides.csv``, ``froc.png``), fit the slide
    router on them and save it to ``router_file``.

    Args:
        output_dir: where the validation evaluation goes.
        records: slide records of the validation slides.
        entries: their datalist entries.
        checkpoint: the model file used (for the record).
        router_file: output router file.
        target_error: see :func:`fit_slide_router`.

    Returns:
        the fitted router (its report holds the validation figures).
    """
    summary, rows = write_evaluation(output_dir, records, entries, "validation", checkpoint, None)
    scores = [float(r["case_uncertainty"] or 0.0) for r in rows]
    correct = [r["true_category"] == r["predicted_category"] for r in rows]
    router = fit_slide_router(scores, correct, target_error)
    router.report["validation"] = {k: summary[k] for k in ("slides", "slide_auc", "category_accuracy")}
    router.report["validation"]["froc"] = (summary["froc"] or {}).get("froc")
    router.save(router_file)
    return router
