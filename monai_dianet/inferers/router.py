# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Uncertainty-aware routing of cases (ACWI decision support, DIANet paper, Discussion: "dynamically selecting the
inference pathway based on model confidence").

Hand-written (no MONAI counterpart). :class:`ACWIRouter` is an :class:`~monai.inferers.Inferer`: each case takes the
fast pass and gets a case-level uncertainty score. ``score <= t_accept``: **accept** the fast prediction. Otherwise
**refine**: run the slower path (MC dropout and/or flip TTA, :class:`MCDropoutInferer`), whose prediction replaces
the fast one, and rescore it; if the refined score is still ``> t_review`` the case is flagged for **review** by a
human (the refined prediction is returned with the flag).

The thresholds are fitted on validation cases by :func:`fit_router_thresholds` to a user target: ``t_accept`` is the
largest threshold whose accepted validation cases have an error rate ``<= target_error`` (selective
classification); ``t_review`` follows a review budget (at most that fraction of all cases goes to review) or,
without a budget, is the largest threshold whose automatically decided cases (accepted + refined-and-kept) still
meet ``target_error``. Reading and writing the fitted thresholds, and fitting them during an evaluation run, are the
job of :mod:`monai_dianet.handlers.routing`; the per-case record of :mod:`monai_dianet.transforms.routing`; the
risk-coverage figure of :func:`monai_dianet.visualize.save_router_risk_coverage`.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.metrics import DiceMetric

from monai_dianet.inferers.mc_dropout import MCDropoutInferer
from monai_dianet.metrics.uncertainty import case_uncertainty, check_activation, predictive_entropy
from monai_dianet.utils import RouteDecision, UncertaintyScore

__all__ = [
    "ACWIRouter",
    "case_correct",
    "fit_router_thresholds",
    "risk_coverage_curve",
    "router_outcome",
    "routing_disabled",
    "select_case_score",
]


CaseScore = str | Callable[[dict[str, torch.Tensor]], torch.Tensor]


def _score_name(score: CaseScore) -> str:
    return score if isinstance(score, str) else getattr(score, "__name__", "callable")


def routing_disabled(router_file: Any) -> bool:
    """Whether a router file setting asks to run without routing: None, ``""`` or ``"none"`` (any case)."""
    return router_file is None or str(router_file).strip().lower() in ("", "none")


def risk_coverage_curve(scores: Sequence[float], correct: Sequence[bool]) -> dict[str, Any]:
    """Risk-coverage curve of accepting the k most confident cases (lowest score first), k = 1..N.

    Args:
        scores: case uncertainty scores (higher = less confident).
        correct: whether each case's prediction is correct.

    Returns:
        dict with ``coverage`` (k / N), ``risk`` (error rate among the k accepted), ``thresholds`` (score of the
        k-th case) as lists, and ``aurc`` (mean risk over k, the area under the curve; lower is better).

    Raises:
        ValueError: empty or mismatched inputs.
    """
    s = np.asarray(scores, dtype=float)
    c = np.asarray(correct, dtype=bool)
    if s.ndim != 1 or s.shape != c.shape or s.size == 0:
        raise ValueError(f"scores and correct must be equal-length non-empty 1D, got {s.shape} and {c.shape}.")
    order = np.argsort(s, kind="stable")
    errors = np.cumsum(~c[order])
    k = np.arange(1, s.size + 1)
    risk = errors / k
    return {
        "coverage": (k / s.size).tolist(),
        "risk": risk.tolist(),
        "thresholds": s[order].tolist(),
        "aurc": float(risk.mean()),
    }


def select_case_score(scores: Mapping[str, Sequence[float]], correct: Sequence[bool]) -> dict[str, Any]:
    """Choose among candidate case scores the one whose risk-coverage curve (:func:`risk_coverage_curve`) has the
    lowest area (AURC), i.e. the score that best ranks the cases by their error.

    Args:
        scores: ``{name: one score per case}`` in order of preference: equal AURCs go to the earlier candidate, so
            list the simpler scores first.
        correct: whether each case's prediction is correct (the path the scores belong to, e.g. the fast path).

    Returns:
        ``{"aurc": {name: AURC}, "chosen": name}``.

    Raises:
        ValueError: no candidate, or a candidate whose scores do not match ``correct``.

    Example::

        select_case_score({"volume_mean": [0.1, 0.4], "boundary_mean": [0.4, 0.1]}, [True, False])["chosen"]
        # "volume_mean": its lowest score is the correct case
    """
    if not scores:
        raise ValueError("need at least one candidate case score to choose from.")
    aurc = {name: risk_coverage_curve(values, correct)["aurc"] for name, values in scores.items()}
    return {"aurc": aurc, "chosen": min(aurc, key=aurc.__getitem__)}


def _largest_threshold_within(
    scores: np.ndarray, wrong: np.ndarray, base_errors: float, base_count: int, target: float
) -> float | None:
    """Largest score t with (base_errors + errors among scores <= t) / (base_count + count) <= target."""
    order = np.argsort(scores, kind="stable")
    s, w = scores[order], wrong[order]
    best = None
    errs = base_errors + np.cumsum(w)
    counts = base_count + np.arange(1, s.size + 1)
    for i in range(s.size):
        if i + 1 < s.size and s[i + 1] == s[i]:
            continue  # a threshold accepts all tied scores together
        if errs[i] / counts[i] <= target + 1e-12:
            best = float(s[i])
    return best


def fit_router_thresholds(
    fast_scores: Sequence[float],
    refined_scores: Sequence[float],
    fast_correct: Sequence[bool],
    refined_correct: Sequence[bool],
    target_error: float = 0.05,
    review_budget: float | None = 0.1,
    score: str = "entropy",
) -> dict[str, Any]:
    """Choose ``t_accept`` and ``t_review`` from validation cases that ran both paths, and report the risk-coverage
    curves of both.

    Args:
        fast_scores: case scores of the fast path, one per validation case.
        refined_scores: case scores of the refined path.
        fast_correct: whether the fast prediction of each case is correct (see :func:`case_correct`).
        refined_correct: whether the refined prediction of each case is correct.
        target_error: maximum error rate among accepted cases (and, without ``review_budget``, among all
            automatically decided cases).
        review_budget: maximum fraction of all cases sent to review; ``None`` uses ``target_error`` instead.
        score: name of the score (kept in the report).

    Returns:
        the report: ``thresholds`` (``{"accept", "review"}``, floats or None), ``n``, ``score``, ``target_error``,
        ``review_budget``, ``fast`` and ``refined`` risk-coverage curves (``coverage``, ``risk``, ``thresholds``,
        ``aurc``), ``outcome`` on the validation cases with the fitted thresholds (counts per decision, error of
        accepted / refined-and-kept / automated / all-fast / all-refined cases) and ``curve_path`` (None; set by
        whoever draws the figure).

    Raises:
        ValueError: empty or mismatched inputs, ``target_error`` or ``review_budget`` outside [0, 1].
    """
    if not 0.0 <= target_error <= 1.0:
        raise ValueError(f"target_error must be in [0, 1], got {target_error}.")
    if review_budget is not None and not 0.0 <= review_budget <= 1.0:
        raise ValueError(f"review_budget must be in [0, 1], got {review_budget}.")
    n = len(fast_scores)
    if n == 0 or not len(refined_scores) == len(fast_correct) == len(refined_correct) == n:
        raise ValueError(
            f"need a non-empty validation set with one score and one correctness per path and case, got "
            f"{n}, {len(refined_scores)}, {len(fast_correct)} and {len(refined_correct)}."
        )
    sf, sr = np.asarray(fast_scores, dtype=float), np.asarray(refined_scores, dtype=float)
    wf, wr = ~np.asarray(fast_correct, dtype=bool), ~np.asarray(refined_correct, dtype=bool)
    t_acc = _largest_threshold_within(sf, wf, 0.0, 0, target_error)
    accepted = sf <= t_acc if t_acc is not None else np.zeros(n, bool)
    rest = ~accepted
    r_scores = sr[rest]
    if r_scores.size == 0:
        t_rev: float | None = None
    elif review_budget is not None:
        k = int(math.floor(review_budget * n + 1e-9))
        desc = np.sort(r_scores)[::-1]
        t_rev = float(np.nextafter(desc[-1], -np.inf)) if k >= desc.size else float(desc[k])
    else:
        t_rev = _largest_threshold_within(
            r_scores, wr[rest], float(wf[accepted].sum()), int(accepted.sum()), target_error
        )
        if t_rev is None:
            t_rev = float(np.nextafter(r_scores.min(), -np.inf))
    thresholds = {"accept": t_acc, "review": t_rev}
    return {
        "n": n,
        "score": score,
        "target_error": target_error,
        "review_budget": review_budget,
        **router_outcome(sf, sr, ~wf, ~wr, thresholds),
        "curve_path": None,
    }


def router_outcome(
    fast_scores: Sequence[float],
    refined_scores: Sequence[float],
    fast_correct: Sequence[bool],
    refined_correct: Sequence[bool],
    thresholds: Mapping[str, float | None],
) -> dict[str, Any]:
    """What given thresholds do on cases that ran both paths: the decisions and error rates, and the risk-coverage
    curves of both paths. With thresholds fitted on validation cases and test cases here, this is the router's test
    figure (what :class:`~monai_dianet.handlers.RouterReportHandler` reports).

    Args:
        fast_scores, refined_scores: case scores of the two paths, one per case.
        fast_correct, refined_correct: whether each path's prediction of each case is correct.
        thresholds: ``{"accept": float | None, "review": float | None}`` (None: accept / review nothing).

    Returns:
        ``{"thresholds", "fast", "refined" (risk-coverage curves), "outcome": {"accept", "refine", "review" (counts),
        "error_all_fast", "error_all_refined", "error_accepted", "error_refined_kept", "error_automated"}}``; an
        error rate of no case is None.

    Raises:
        ValueError: no case, or inputs of different lengths.

    Example::

        test = router_outcome(fast, refined, fast_ok, refined_ok, fit_report["thresholds"])["outcome"]
    """
    n = len(fast_scores)
    if n == 0 or not len(refined_scores) == len(fast_correct) == len(refined_correct) == n:
        raise ValueError(
            f"need at least one case with one score and one correctness per path, got {n}, {len(refined_scores)}, "
            f"{len(fast_correct)} and {len(refined_correct)}."
        )
    sf, sr = np.asarray(fast_scores, dtype=float), np.asarray(refined_scores, dtype=float)
    wf, wr = ~np.asarray(fast_correct, dtype=bool), ~np.asarray(refined_correct, dtype=bool)
    t_acc, t_rev = thresholds["accept"], thresholds["review"]
    accepted = sf <= t_acc if t_acc is not None else np.zeros(n, bool)
    rest = ~accepted
    reviewed = rest & (sr > t_rev) if t_rev is not None else np.zeros(n, bool)
    refined = rest & ~reviewed
    auto_wrong = wf[accepted].sum() + wr[refined].sum()
    n_auto = int(accepted.sum() + refined.sum())

    def _rate(mask: np.ndarray, wrong: np.ndarray) -> float | None:
        return float(wrong[mask].mean()) if mask.any() else None

    return {
        "thresholds": {"accept": t_acc, "review": t_rev},
        "fast": risk_coverage_curve(sf, ~wf),
        "refined": risk_coverage_curve(sr, ~wr),
        "outcome": {
            "accept": int(accepted.sum()),
            "refine": int(refined.sum()),
            "review": int(reviewed.sum()),
            "error_all_fast": float(wf.mean()),
            "error_all_refined": float(wr.mean()),
            "error_accepted": _rate(accepted, wf),
            "error_refined_kept": _rate(refined, wr),
            "error_automated": float(auto_wrong / n_auto) if n_auto else None,
        },
    }


def case_correct(mean: torch.Tensor, target: Any, activation: str = "softmax", min_dice: float = 0.7) -> bool:
    """Correctness of one case's prediction, as the router's threshold fitting counts it.

    Classification (``mean`` is ``(C,)``): softmax ``argmax == label`` (label an int or one-hot); sigmoid: every
    label equals ``p > 0.5``. Segmentation (``mean`` is ``(C, *spatial)``): Dice (MONAI ``DiceMetric``, mean over
    foreground classes for softmax, over all channels for sigmoid; an empty class predicted empty counts as 1)
    ``>= min_dice``; ``target`` is a label map ``([1, ]*spatial)`` (softmax) or a ``(C, *spatial)`` binary mask
    (sigmoid).

    Args:
        mean: the probabilities of one case (no batch dim).
        target: its label or mask.
        activation: ``"softmax"`` or ``"sigmoid"``.
        min_dice: Dice from which a segmentation counts as correct.

    Returns:
        True when the prediction counts as correct.
    """
    p = torch.as_tensor(mean)[None]
    t = torch.as_tensor(target).to(p.device)
    if p.ndim == 2:
        if activation == "softmax":
            label = int(t.argmax()) if t.numel() == p.shape[1] and t.numel() > 1 else int(t.reshape(-1)[0])
            return int(p[0].argmax()) == label
        return bool(((p[0] > 0.5).float() == t.reshape(-1).float()).all())
    if activation == "softmax":
        c = p.shape[1]
        lbl = t.reshape(p.shape[2:]).long()
        y = torch.nn.functional.one_hot(lbl, c).movedim(-1, 0)[None].float()
        y_hat = torch.nn.functional.one_hot(p[0].argmax(0), c).movedim(-1, 0)[None].float()
        include_bg = c == 1
    else:
        y = t.reshape(p.shape).float()
        y_hat = (p > 0.5).float()
        include_bg = True
    dice = DiceMetric(include_background=include_bg, reduction="mean", ignore_empty=False)(y_hat, y)
    return float(dice.nanmean()) >= min_dice


class ACWIRouter(Inferer):
    """Route each case of a batch to ``accept`` / ``refine`` / ``review`` by its case-level uncertainty.

    An inferer like MONAI's: ``router(inputs, network)`` runs, per case, the fast path, and the refine path unless
    the case is accepted, and returns one dictionary for the batch. In a ``SupervisedEvaluator`` it is the
    evaluator's ``inferer``; its outputs land under ``"pred"`` and decollate into one dictionary per case.

    Args:
        fast_inferer: the fast path; ``None`` runs ``network(x)`` once (deterministic). Any MONAI ``Inferer`` or
            callable ``(x, network) -> logits | dict`` works (e.g. ``SlidingWindowInferer``, or a small
            :class:`MCDropoutInferer` when the score needs samples).
        refine_inferer: the slow path, returning :class:`MCDropoutInferer`'s dict; default
            ``MCDropoutInferer(num_samples=10, activation=activation, tta_flips=[0])``.
        activation: "softmax" or "sigmoid" (how logits become probabilities).
        score: "entropy", "mutual_information", "variance" (the map reduced with ``score_reduction``) or a callable
            ``pred_dict -> (B,) tensor`` named by its ``__name__`` (e.g.
            :class:`~monai_dianet.metrics.SegmentationCaseScore`); "mutual_information"/"variance" need a stochastic
            ``fast_inferer`` (a single deterministic pass has none). A sequence of them lists candidates, simplest
            first: the router uses the first until one is chosen (:meth:`set_score`), which
            :class:`~monai_dianet.handlers.RouterFitHandler` does on validation cases by the lowest AURC
            (:func:`select_case_score`) and a router file then restores.
        thresholds: ``{"accept": float | None, "review": float | None}``; ``None`` entries mean "accept nothing"
            and "review nothing" (then every case runs both paths, as needed to fit the thresholds). Without
            thresholds a call raises until they are set (:meth:`set_thresholds`, or
            :class:`~monai_dianet.handlers.RouterLoader` in a workflow).
        score_reduction: case reduction of the score map ("mean", "max", "sum", "quantile").
        task: DIANet head to use (default the main head).

    Returns (on call):
        a dictionary for the batch ``(B, ...)``: ``"mean"`` (the probabilities of the path each case took) with the
        uncertainty maps of that path (``"entropy"``, ``"variance"``, ``"mutual_information"``[, ``"aleatoric"``]),
        ``"fast_mean"`` (the fast path's probabilities), ``"score"`` (the case score of the path taken),
        ``"fast_score"``, ``"refined_score"`` (NaN where the refine path did not run), ``"decision"`` (a list of
        strings, :class:`~monai_dianet.utils.RouteDecision` values) and the timings ``"fast_ms"``,
        ``"refine_ms"``, ``"total_ms"``. With several candidate scores and both thresholds None (every case runs
        both paths, as for fitting), also ``"fast_scores"`` and ``"refined_scores"``: ``(B, K)``, every
        candidate's score in the order of :attr:`score_names` (only then: scoring every candidate costs a few
        morphological passes over the volume per path).

    Raises:
        ValueError: unknown score/activation, no or duplicate candidate names, or a sample-based score with a
            deterministic fast path.

    Example::

        router = ACWIRouter(SlidingWindowInferer(roi), MCDropoutInferer(num_samples=8, inferer=SlidingWindowInferer(roi)),
                            activation="sigmoid", thresholds={"accept": 0.2, "review": 0.6})
        out = router(image, network)  # out["decision"] == ["refine"], out["mean"].shape == image.shape
        # candidates, chosen on validation cases by RouterFitHandler:
        # ACWIRouter(..., score=[SegmentationCaseScore(n, activation="sigmoid") for n in CASE_SCORES])
    """

    def __init__(
        self,
        fast_inferer: Inferer | Callable | None = None,
        refine_inferer: Inferer | Callable | None = None,
        activation: str = "softmax",
        score: CaseScore | Sequence[CaseScore] = "entropy",
        thresholds: Mapping[str, float | None] | None = None,
        score_reduction: str = "mean",
        task: str | None = None,
    ) -> None:
        super().__init__()
        self.activation = check_activation(activation)
        candidates = [score] if isinstance(score, str) or callable(score) else list(score)
        for s in candidates:
            if not callable(s) and s not in tuple(UncertaintyScore):
                raise ValueError(
                    f"score must be one of {[u.value for u in UncertaintyScore]} or a callable, got {s!r}."
                )
            if s in (UncertaintyScore.MUTUAL_INFORMATION, UncertaintyScore.VARIANCE) and fast_inferer is None:
                raise ValueError(
                    f"score={s!r} needs stochastic samples but the fast path is one deterministic pass; pass e.g. "
                    "fast_inferer=MCDropoutInferer(num_samples=4) or use score='entropy'."
                )
        self.score_candidates: dict[str, CaseScore] = {_score_name(s): s for s in candidates}
        if not candidates or len(self.score_candidates) != len(candidates):
            raise ValueError(f"need candidate scores with distinct names, got {[_score_name(s) for s in candidates]}.")
        self.fast_inferer = fast_inferer
        self.refine_inferer = refine_inferer or MCDropoutInferer(
            num_samples=10, activation=activation, tta_flips=[0], task=task
        )
        self.score = candidates[0]
        self.score_reduction = score_reduction
        self.task = task
        self.thresholds: dict[str, float | None] | None = None
        if thresholds is not None:
            self.set_thresholds(thresholds)

    def set_thresholds(self, thresholds: Mapping[str, float | None]) -> None:
        """Set ``{"accept": t_a, "review": t_r}`` (floats or None).

        Raises:
            KeyError: a key is missing.
        """
        for key in ("accept", "review"):
            if key not in thresholds:
                raise KeyError(f"thresholds need an {key!r} entry, got {sorted(thresholds)}.")
        self.thresholds = {k: None if thresholds[k] is None else float(thresholds[k]) for k in ("accept", "review")}

    def set_score(self, name: str) -> None:
        """Use the candidate score ``name`` (one of :attr:`score_names`).

        Raises:
            ValueError: ``name`` is not a candidate of this router.
        """
        if name not in self.score_candidates:
            raise ValueError(f"this router cannot compute the case score {name!r}; its scores: {self.score_names}.")
        self.score = self.score_candidates[name]

    @property
    def score_name(self) -> str:
        return _score_name(self.score)

    @property
    def score_names(self) -> list[str]:
        """The names of the candidate scores, in order of preference."""
        return list(self.score_candidates)

    def settings(self) -> dict[str, Any]:
        """The settings a fitted threshold file must agree with (score, its reduction, activation)."""
        return {"score": self.score_name, "score_reduction": self.score_reduction, "activation": self.activation}

    def _head(self, out: Any) -> torch.Tensor:
        if isinstance(out, torch.Tensor):
            return out
        if hasattr(out, "main"):
            return getattr(out, self.task) if self.task else out.main
        raise ValueError(f"unsupported network output {type(out).__name__}.")

    def _as_pred(self, out: Any) -> dict[str, torch.Tensor]:
        if isinstance(out, dict) and "mean" in out:
            return out
        logits = self._head(out).float()
        probs = torch.softmax(logits, 1) if self.activation == "softmax" else torch.sigmoid(logits)
        ent = predictive_entropy(probs, self.activation)
        return {"mean": probs, "entropy": ent, "variance": torch.zeros_like(probs),
                "mutual_information": torch.zeros_like(ent)}

    def case_score(self, pred: dict[str, torch.Tensor], score: CaseScore | None = None) -> torch.Tensor:
        """Case-level uncertainty ``(B,)`` of a prediction dict (higher = less confident) by ``score`` (default the
        router's current score)."""
        score = self.score if score is None else score
        if callable(score):
            return torch.as_tensor(score(pred)).reshape(-1).float()
        if score not in pred:
            raise KeyError(f"prediction has no {score!r} map; keys: {sorted(pred)}.")
        return case_uncertainty(pred[score], self.score_reduction)

    def _candidate_scores(self, pred: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([self.case_score(pred, s).cpu() for s in self.score_candidates.values()], 1)

    def _route_case(self, x: torch.Tensor, network: Callable, *args: Any, **kwargs: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        fast_out = network(x, *args, **kwargs) if self.fast_inferer is None else self.fast_inferer(x, network)
        fast = self._as_pred(fast_out)
        s_fast = float(self.case_score(fast)[0])
        t1 = time.perf_counter()
        t_acc, t_rev = self.thresholds["accept"], self.thresholds["review"]  # type: ignore[index]
        refined_score, t2 = math.nan, t1
        if t_acc is not None and s_fast <= t_acc:
            decision, pred = RouteDecision.ACCEPT, fast
        else:
            pred = self._as_pred(self.refine_inferer(x, network))
            refined_score = float(self.case_score(pred)[0])
            t2 = time.perf_counter()
            decision = RouteDecision.REVIEW if (t_rev is not None and refined_score > t_rev) else RouteDecision.REFINE
        out = dict(pred)
        out["fast_mean"] = fast["mean"]
        out["fast_score"] = s_fast
        out["refined_score"] = refined_score
        out["score"] = s_fast if math.isnan(refined_score) else refined_score
        out["decision"] = decision.value
        if len(self.score_candidates) > 1 and t_acc is None and t_rev is None:
            out["fast_scores"] = self._candidate_scores(fast)
            out["refined_scores"] = self._candidate_scores(pred)  # both thresholds None: the refine path ran
        out["fast_ms"], out["refine_ms"] = 1e3 * (t1 - t0), 1e3 * (t2 - t1)
        out["total_ms"] = 1e3 * (time.perf_counter() - t0)
        return out

    def __call__(self, inputs: torch.Tensor, network: Callable, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Route every case of ``inputs``.

        Args:
            inputs: ``(B, C, *spatial)`` (or ``(B, C)``-shaped features for a classifier).
            network: the model, in eval mode; ``args``/``kwargs`` go to ``network`` on the default fast path.

        Returns:
            the dictionary described in the class docstring.

        Raises:
            RuntimeError: no thresholds yet.
        """
        if self.thresholds is None:
            raise RuntimeError("ACWIRouter has no thresholds: set them (set_thresholds, thresholds=, RouterLoader).")
        if not isinstance(inputs, torch.Tensor):
            raise ValueError(f"inputs must be a tensor (B, C, ...), got {type(inputs).__name__}.")
        x_all = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs
        with torch.no_grad():
            cases = [self._route_case(x_all[i : i + 1], network, *args, **kwargs) for i in range(x_all.shape[0])]
        keys = [k for k in cases[0] if all(k in c for c in cases)]
        out: dict[str, Any] = {}
        for key in keys:
            values = [c[key] for c in cases]
            if isinstance(values[0], torch.Tensor):
                out[key] = torch.cat(values)
            elif isinstance(values[0], str):
                out[key] = values
            else:
                out[key] = torch.tensor(values, dtype=torch.float64 if key.endswith("_ms") else torch.float32)
        return out
