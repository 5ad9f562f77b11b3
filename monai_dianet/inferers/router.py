# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Uncertainty-aware routing of cases (ACWI decision support, DIANet paper, Discussion: "dynamically selecting the
inference pathway based on model confidence").

Hand-written (no MONAI counterpart). Each case takes the fast deterministic pass and gets a case-level uncertainty
score. ``score <= t_accept``: **accept** the fast prediction. Otherwise **refine**: run the slower path (MC dropout
and/or flip TTA, :class:`MCDropoutInferer`), whose prediction replaces the fast one, and rescore it; if the refined
score is still ``> t_review`` the case is flagged for **review** by a human (the refined prediction is returned with
the flag). Thresholds are fitted on validation data (:meth:`ACWIRouter.fit`) to a user target: ``t_accept`` is the
largest threshold whose accepted validation cases have an error rate ``<= target_error`` (selective classification);
``t_review`` follows a review budget (at most that fraction of all cases goes to review) or, without a budget, is the
largest threshold whose automatically decided cases (accepted + refined-and-kept) still meet ``target_error``.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from monai.inferers import Inferer
from monai.metrics import DiceMetric

from monai_dianet.inferers.mc_dropout import MCDropoutInferer
from monai_dianet.metrics.uncertainty import case_uncertainty, check_activation, predictive_entropy

__all__ = ["ACWIRouter", "risk_coverage_curve", "DECISIONS", "SCORES"]

DECISIONS = ("accept", "refine", "review")
SCORES = ("entropy", "mutual_information", "variance")


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


class ACWIRouter:
    """Route each case to ``accept`` / ``refine`` / ``review`` by its case-level uncertainty.

    Args:
        network: the model (put in eval mode by the router; routing runs under ``torch.no_grad``).
        fast_inferer: the fast path; ``None`` runs ``network(x)`` once (deterministic). Any MONAI ``Inferer`` or
            callable ``(x, network) -> logits | dict`` works (e.g. ``SlidingWindowInferer``, or a small
            :class:`MCDropoutInferer` when the score needs samples).
        refine_inferer: the slow path, returning :class:`MCDropoutInferer`'s dict; default
            ``MCDropoutInferer(num_samples=10, activation=activation, tta_flips=[0])``.
        activation: "softmax" or "sigmoid" (how logits become probabilities).
        score: "entropy", "mutual_information", "variance" (the map reduced with ``score_reduction``) or a callable
            ``pred_dict -> (B,) tensor``; "mutual_information"/"variance" need a stochastic ``fast_inferer``
            (a single deterministic pass has none).
        thresholds: ``{"accept": float | None, "review": float | None}``; ``None`` entries mean "accept nothing"
            and "review nothing". Without thresholds :meth:`route` raises until :meth:`fit` or :meth:`load`.
        score_reduction: case reduction of the score map ("mean", "max", "sum", "quantile").
        task: DIANet head to use (default the main head).
        min_dice: a segmentation case counts as correct when its Dice (mean over foreground classes) >= this.
        spatial_dims: 2 or 3 (default ``network.spatial_dims`` when it has one). When known, a case may be given
            as ``(C, *spatial)`` and the batch dim is added; otherwise cases must be ``(1, C, *spatial)``.

    Raises:
        ValueError: unknown score/activation, or a sample-based score with a deterministic fast path.

    Example:
        >>> router = ACWIRouter(dianet, refine_inferer=MCDropoutInferer(num_samples=10, tta_flips=[0, 1]))
        >>> report = router.fit(val_images, val_labels, target_error=0.05, review_budget=0.1, curve_path="rc.png")
        >>> router.save("router.json")
        >>> prediction, record = router.route(image)  # record["decision"] in {"accept", "refine", "review"}
    """

    def __init__(
        self,
        network: nn.Module,
        fast_inferer: Inferer | Callable | None = None,
        refine_inferer: Inferer | Callable | None = None,
        activation: str = "softmax",
        score: str | Callable[[dict[str, torch.Tensor]], torch.Tensor] = "entropy",
        thresholds: dict[str, float | None] | None = None,
        score_reduction: str = "mean",
        task: str | None = None,
        min_dice: float = 0.7,
        spatial_dims: int | None = None,
    ) -> None:
        self.network = network.eval()
        self.spatial_dims = spatial_dims if spatial_dims is not None else getattr(network, "spatial_dims", None)
        self.activation = check_activation(activation)
        if not callable(score) and score not in SCORES:
            raise ValueError(f"score must be one of {SCORES} or a callable, got {score!r}.")
        if score in ("mutual_information", "variance") and fast_inferer is None:
            raise ValueError(
                f"score={score!r} needs stochastic samples but the fast path is one deterministic pass; pass e.g. "
                "fast_inferer=MCDropoutInferer(num_samples=4) or use score='entropy'."
            )
        self.fast_inferer = fast_inferer
        self.refine_inferer = refine_inferer or MCDropoutInferer(
            num_samples=10, activation=activation, tta_flips=[0], task=task
        )
        self.score = score
        self.score_reduction = score_reduction
        self.task = task
        self.min_dice = float(min_dice)
        self.thresholds: dict[str, float | None] | None = None
        if thresholds is not None:
            self.set_thresholds(thresholds)
        self.report: dict[str, Any] | None = None

    # thresholds, persistence ---------------------------------------------------------------------------------------

    def set_thresholds(self, thresholds: dict[str, float | None]) -> None:
        """Set ``{"accept": t_a, "review": t_r}`` (floats or None).

        Raises:
            KeyError: a key is missing.
        """
        for key in ("accept", "review"):
            if key not in thresholds:
                raise KeyError(f"thresholds need an {key!r} entry, got {sorted(thresholds)}.")
        self.thresholds = {k: None if thresholds[k] is None else float(thresholds[k]) for k in ("accept", "review")}

    @property
    def score_name(self) -> str:
        return self.score if isinstance(self.score, str) else getattr(self.score, "__name__", "callable")

    def save(self, path: str | os.PathLike) -> str:
        """Write thresholds, settings and the last fit report as JSON; returns the path."""
        if self.thresholds is None:
            raise ValueError("no thresholds to save: call fit() or set_thresholds() first.")
        data = {
            "thresholds": self.thresholds,
            "score": self.score_name,
            "score_reduction": self.score_reduction,
            "activation": self.activation,
            "min_dice": self.min_dice,
            "report": self.report,
        }
        path = os.fspath(path)
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
        return path

    def load(self, path: str | os.PathLike) -> ACWIRouter:
        """Read thresholds (and the report) written by :meth:`save`; returns self.

        Raises:
            FileNotFoundError: no such file.
            KeyError: no "thresholds" in the file.
            ValueError: the file was fitted with a different score or activation than this router uses.
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f"router file not found: {path}")
        with open(path) as f:
            data = json.load(f)
        if "thresholds" not in data:
            raise KeyError(f"{path}: expected a 'thresholds' entry, got keys {sorted(data)}.")
        for key, mine in (("score", self.score_name), ("activation", self.activation),
                          ("score_reduction", self.score_reduction)):
            if key in data and data[key] != mine:
                raise ValueError(f"{path} was fitted with {key}={data[key]!r} but this router uses {mine!r}.")
        self.set_thresholds(data["thresholds"])
        self.min_dice = float(data.get("min_dice", self.min_dice))
        self.report = data.get("report")
        return self

    # inference -----------------------------------------------------------------------------------------------------

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

    def _fast(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.network(x) if self.fast_inferer is None else self.fast_inferer(x, self.network)
        return self._as_pred(out)

    def _refine(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._as_pred(self.refine_inferer(x, self.network))

    def case_score(self, pred: dict[str, torch.Tensor]) -> torch.Tensor:
        """Case-level uncertainty ``(B,)`` of a prediction dict (higher = less confident)."""
        if callable(self.score):
            return torch.as_tensor(self.score(pred)).reshape(-1).float()
        if self.score not in pred:
            raise KeyError(f"prediction has no {self.score!r} map; keys: {sorted(pred)}.")
        return case_uncertainty(pred[self.score], self.score_reduction)

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"case input must be a tensor, got {type(x).__name__}.")
        if self.spatial_dims is not None and x.ndim == self.spatial_dims + 1:
            return x.unsqueeze(0)
        if self.spatial_dims is not None and x.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"case input must be (C, *spatial) or (1, C, *spatial) with {self.spatial_dims} spatial dims, "
                f"got shape {tuple(x.shape)}."
            )
        return x

    def _summary(self, pred: dict[str, torch.Tensor]) -> dict[str, Any]:
        p = pred["mean"][0]
        if p.ndim == 1:
            if self.activation == "softmax":
                return {"task": "classification", "label": int(p.argmax()), "probabilities": [float(v) for v in p]}
            return {
                "task": "classification",
                "labels": [int(v > 0.5) for v in p],
                "probabilities": [float(v) for v in p],
            }
        if self.activation == "softmax":
            counts = torch.bincount(p.argmax(0).flatten(), minlength=p.shape[0])
        else:
            counts = (p > 0.5).flatten(1).sum(1)
        return {"task": "segmentation", "shape": list(p.shape[1:]), "voxels_per_class": [int(v) for v in counts]}

    def route(self, case_input: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Route one case.

        Args:
            case_input: ``(1, C, *spatial)``, or ``(C, *spatial)`` when the router knows ``spatial_dims``.

        Returns:
            ``(prediction, record)``: the used path's dict ("mean", "entropy", "variance", "mutual_information"
            [, "aleatoric"]) with batch 1, and a JSON-serialisable record with ``decision``, ``scores``
            (``fast``, ``refined`` or None), ``thresholds``, ``score`` (name), ``timings_ms`` (``fast``,
            ``refine``, ``total``) and ``prediction`` (summary: class and probabilities, or voxels per class).

        Raises:
            RuntimeError: no thresholds yet (call :meth:`fit` or :meth:`load`).
        """
        if self.thresholds is None:
            raise RuntimeError("ACWIRouter has no thresholds: call fit(), load() or set_thresholds() first.")
        x = self._batch(case_input)
        if x.shape[0] != 1:
            raise ValueError(f"route() takes one case, got a batch of {x.shape[0]}.")
        t0 = time.perf_counter()
        with torch.no_grad():
            fast = self._fast(x)
            s_fast = float(self.case_score(fast)[0])
            t1 = time.perf_counter()
            t_acc, t_rev = self.thresholds["accept"], self.thresholds["review"]
            refined_score, t2 = None, t1
            if t_acc is not None and s_fast <= t_acc:
                decision, pred = "accept", fast
            else:
                pred = self._refine(x)
                refined_score = float(self.case_score(pred)[0])
                t2 = time.perf_counter()
                decision = "review" if (t_rev is not None and refined_score > t_rev) else "refine"
        record = {
            "decision": decision,
            "score": self.score_name,
            "scores": {"fast": s_fast, "refined": refined_score},
            "thresholds": dict(self.thresholds),
            "timings_ms": {"fast": 1e3 * (t1 - t0), "refine": 1e3 * (t2 - t1) if refined_score is not None else 0.0,
                           "total": 1e3 * (time.perf_counter() - t0)},
            "prediction": self._summary(pred),
        }
        return pred, record

    __call__ = route

    # fitting -------------------------------------------------------------------------------------------------------

    def is_correct(self, pred: dict[str, torch.Tensor], target: torch.Tensor) -> bool:
        """Correctness of one case's prediction.

        Classification (``mean`` is ``(1, C)``): softmax ``argmax == label`` (label an int or one-hot); sigmoid: every
        label equals ``p > 0.5``. Segmentation: Dice (MONAI ``DiceMetric``, mean over foreground classes for
        softmax, over all channels for sigmoid; an empty class predicted empty counts as 1) ``>= min_dice``.
        ``target`` for segmentation: a label map ``([1, ]*spatial)`` (softmax) or multi-channel binary mask.
        """
        p = pred["mean"]
        t = torch.as_tensor(target).to(p.device)
        if p.ndim == 2:
            if self.activation == "softmax":
                label = int(t.argmax()) if t.numel() == p.shape[1] and t.numel() > 1 else int(t.reshape(-1)[0])
                return int(p[0].argmax()) == label
            return bool(((p[0] > 0.5).float() == t.reshape(-1).float()).all())
        if self.activation == "softmax":
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
        return float(dice.nanmean()) >= self.min_dice

    def fit(
        self,
        val_inputs: torch.Tensor | Sequence[torch.Tensor],
        val_targets: torch.Tensor | Sequence[Any] | None = None,
        correct: Sequence[bool] | None = None,
        target_error: float = 0.05,
        review_budget: float | None = 0.1,
        curve_path: str | os.PathLike | None = None,
    ) -> dict[str, Any]:
        """Choose ``t_accept`` and ``t_review`` on validation cases and report the risk-coverage curves.

        Every validation case runs both paths (fast and refined) so the report covers both.

        Args:
            val_inputs: ``(N, C, *spatial)`` or a sequence of per-case tensors (shaped as for :meth:`route`).
            val_targets: labels / masks per case (see :meth:`is_correct`); or give ``correct``.
            correct: per-case correctness (used for both paths) instead of targets.
            target_error: maximum error rate among accepted cases (and, without ``review_budget``, among all
                automatically decided cases).
            review_budget: maximum fraction of all cases sent to review; ``None`` uses ``target_error`` instead.
            curve_path: optional PNG path for the risk-coverage plot.

        Returns:
            the report (also kept as ``self.report`` and saved by :meth:`save`): ``thresholds``, ``n``,
            ``fast`` and ``refined`` risk-coverage curves (``coverage``, ``risk``, ``thresholds``, ``aurc``),
            ``outcome`` on the validation cases with the fitted thresholds (counts per decision, error of
            accepted / automated / all-fast cases, mean score of each group), and ``curve_path``.

        Raises:
            ValueError: neither or both of ``val_targets``/``correct``, length mismatch, bad target/budget.
        """
        if (val_targets is None) == (correct is None):
            raise ValueError("give exactly one of val_targets or correct.")
        if not 0.0 <= target_error <= 1.0:
            raise ValueError(f"target_error must be in [0, 1], got {target_error}.")
        if review_budget is not None and not 0.0 <= review_budget <= 1.0:
            raise ValueError(f"review_budget must be in [0, 1], got {review_budget}.")
        n = len(val_inputs)
        if n == 0 or (val_targets is not None and len(val_targets) != n) or (correct is not None and len(correct) != n):
            raise ValueError(f"need a non-empty validation set with one target/correct per input (got {n} inputs).")
        s_fast, s_ref, c_fast, c_ref = [], [], [], []
        with torch.no_grad():
            for i in range(n):
                x = val_inputs[i : i + 1] if isinstance(val_inputs, torch.Tensor) else self._batch(val_inputs[i])
                fast, ref = self._fast(x), self._refine(x)
                s_fast.append(float(self.case_score(fast)[0]))
                s_ref.append(float(self.case_score(ref)[0]))
                if correct is not None:
                    c_fast.append(bool(correct[i]))
                    c_ref.append(bool(correct[i]))
                else:
                    c_fast.append(self.is_correct(fast, val_targets[i]))  # type: ignore[index]
                    c_ref.append(self.is_correct(ref, val_targets[i]))  # type: ignore[index]
        sf, sr = np.asarray(s_fast), np.asarray(s_ref)
        wf, wr = ~np.asarray(c_fast), ~np.asarray(c_ref)
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
        self.set_thresholds({"accept": t_acc, "review": t_rev})
        reviewed = rest & (sr > t_rev) if t_rev is not None else np.zeros(n, bool)
        refined = rest & ~reviewed
        auto_wrong = wf[accepted].sum() + wr[refined].sum()
        n_auto = int(accepted.sum() + refined.sum())

        def _rate(mask: np.ndarray, wrong: np.ndarray) -> float | None:
            return float(wrong[mask].mean()) if mask.any() else None

        report: dict[str, Any] = {
            "n": n,
            "score": self.score_name,
            "target_error": target_error,
            "review_budget": review_budget,
            "thresholds": dict(self.thresholds),  # type: ignore[arg-type]
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
            "curve_path": None,
        }
        self.report = report
        if curve_path is not None:
            report["curve_path"] = self.save_curve(curve_path)
        return report

    def save_curve(self, path: str | os.PathLike) -> str:
        """Save the last fit's risk-coverage curves (fast and refined) with the accept operating point as PNG."""
        from monai_dianet.visualize.plots import save_risk_coverage_curve

        if self.report is None:
            raise ValueError("no fit report: call fit() first.")
        rep = self.report
        points = {}
        out = rep["outcome"]
        if out["accept"] and out["error_accepted"] is not None:
            points["accept threshold"] = (out["accept"] / rep["n"], out["error_accepted"])
        return save_risk_coverage_curve(
            path,
            {"fast pass": (rep["fast"]["coverage"], rep["fast"]["risk"]),
             "refined": (rep["refined"]["coverage"], rep["refined"]["risk"])},
            aurc={"fast pass": rep["fast"]["aurc"], "refined": rep["refined"]["aurc"]},
            operating_points=points,
            target_risk=rep["target_error"],
            title=f"risk-coverage ({rep['score']})",
        )
