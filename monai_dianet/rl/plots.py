# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Figures of treatment-policy training and of treated patients (PNG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..utils.errors import InputError
from ..visualize.plots import save_figure
from .dynamics.base import TumourODEModel
from .evaluation import EpisodeRecord

__all__ = ["plot_learning_curve", "plot_treatment_trajectories"]


def plot_learning_curve(
    history: Sequence[Mapping[str, Any]],
    train_returns: Sequence[tuple[int, float]],
    path: str | Path,
    title: str = "treatment policy learning curve",
    smooth: int = 20,
    reference: Mapping[str, float] | None = None,
) -> Path:
    """Training episode returns (moving average) and validation mean / 10th-percentile returns vs environment steps.

    Args:
        history: validation entries with ``timesteps``, ``mean_return``, ``p10_return``.
        train_returns: ``(timesteps, return)`` of training episodes.
        path: output PNG.
        title: figure title.
        smooth: moving-average window of the training returns.
        reference: ``{name: mean return}`` of reference policies drawn as horizontal lines (validation patients).

    Returns:
        the PNG path.
    """
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    if len(train_returns):
        steps, returns = np.asarray(train_returns, dtype=float).T
        window = max(1, min(smooth, len(returns)))
        avg = np.convolve(returns, np.ones(window) / window, mode="valid")
        ax.plot(steps, returns, ".", color="0.75", markersize=2, label="training episodes")
        ax.plot(steps[window - 1 :], avg, color="0.35", label=f"training (moving mean of {window})")
    if len(history):
        steps = [h["timesteps"] for h in history]
        ax.plot(steps, [h["mean_return"] for h in history], "o-", color="tab:blue", label="validation mean")
        ax.plot(steps, [h["p10_return"] for h in history], "s--", color="tab:red", label="validation 10th percentile")
    for i, (name, value) in enumerate((reference or {}).items()):
        ax.axhline(value, color=f"C{i + 3}", linestyle=":", label=f"{name} (validation mean)")
    ax.set_xlabel("environment steps (treatment cycles)")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return Path(save_figure(fig, path, dpi=110))


def plot_treatment_trajectories(
    records: Mapping[str, EpisodeRecord], model: TumourODEModel, path: str | Path, title: str = ""
) -> Path:
    """One patient under several policies: tumour, immune cells, drug levels and toxicity over time.

    Args:
        records: ``{policy name: EpisodeRecord}`` of the same patient.
        model: the ODE model (gives the tumour, immune, drug and toxicity states).
        path: output PNG.
        title: figure title (default: the patient id).

    Returns:
        the PNG path.

    Raises:
        InputError: for no records.
    """
    if not records:
        raise InputError("plot_treatment_trajectories needs at least one episode record.")
    names = list(model.state_names)
    fig = Figure(figsize=(8, 10))
    axes = fig.subplots(4, 1, sharex=True)
    for k, (policy, rec) in enumerate(records.items()):
        color = f"C{k}"
        days = np.asarray(rec.days)
        states = np.asarray(rec.states)
        axes[0].semilogy(days, np.maximum(states[:, names.index(model.tumour_state)], 1e-1), color=color, label=policy)
        for j, s in enumerate(model.immune_states):
            axes[1].semilogy(days, np.maximum(states[:, names.index(s)], 1e-1), color=color,
                             linestyle=("-", "--", ":", "-.")[j % 4], label=f"{policy}: {s}")
        for j, s in enumerate(model.drug_states):
            values = states[:, names.index(s)]
            peak = values.max() if values.max() > 0 else 1.0
            axes[2].plot(days, values / peak, color=color, linestyle=("-", "--", ":")[j % 3],
                         label=f"{policy}: {s} (/{peak:.3g})")
        baseline = rec.infos[0]["state"][model.toxicity_state] / rec.infos[0]["toxicity_ratio"]
        axes[3].plot(days, states[:, names.index(model.toxicity_state)] / baseline, color=color, label=policy)
        for cycle, (label, info) in enumerate(zip(rec.action_labels, rec.infos[:-1])):
            if label != "no treatment":
                axes[0].plot(info["day"], 10 ** (0.3 * k), marker="v", color=color, markersize=5)
        if not rec.survived:
            axes[0].plot(days[-1], max(states[-1, names.index(model.tumour_state)], 1e-1), "kx", markersize=10)
    axes[0].set_ylabel(f"tumour ({model.tumour_state})")
    patient = next(iter(records.values())).patient_id
    axes[0].set_title(title or f"patient {patient} (triangles: treatment cycles, x: death)")
    axes[1].set_ylabel("immune cells")
    axes[2].set_ylabel("drug (relative to peak)")
    axes[3].set_ylabel(f"toxicity: {model.toxicity_state} / healthy")
    axes[3].set_xlabel("day")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return Path(save_figure(fig, path, dpi=100))
