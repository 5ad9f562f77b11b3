# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""PNG figures for explanations, uncertainty, calibration, routing and training (matplotlib, Agg canvas).

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas directly, so importing this module never
changes the global matplotlib backend. Arrays may be numpy arrays or tensors; 2D images are ``(H, W)`` or
``(C, H, W)`` (a leading batch of 1 is dropped), 3D volumes ``(H, W, D)`` / ``(C, H, W, D)``: a 3D volume is shown
at one slice along ``axis`` (default the last), chosen by :func:`select_slice` (most foreground in the label or
prediction, else the middle) unless ``slice_index`` is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "infer_spatial_dims",
    "select_slice",
    "to_display_2d",
    "save_fig5_panels",
    "save_uncertainty_overlay",
    "save_reliability_diagram",
    "save_risk_coverage_curve",
    "save_router_risk_coverage",
    "save_learning_curves",
    "save_figure",
]


def _np(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().float().numpy()
    return np.asarray(a)


def _strip(a: np.ndarray, spatial_dims: int) -> np.ndarray:
    """Drop leading singleton dims beyond (C, *spatial)."""
    while a.ndim > spatial_dims + 1 and a.shape[0] == 1:
        a = a[0]
    return a


def _labels(a: Any, spatial_dims: int) -> np.ndarray:
    """A label map ``(*spatial)`` from a label map or channel probabilities/one-hot ``(C, *spatial)``."""
    arr = _strip(_np(a), spatial_dims)
    if arr.ndim == spatial_dims + 1:
        arr = arr.argmax(0) if arr.shape[0] > 1 else (arr[0] > 0.5).astype(np.int64)
    if arr.ndim != spatial_dims:
        raise ValueError(
            f"expected a label map with {spatial_dims} spatial dims (optionally channel-first), got {arr.shape}."
        )
    return arr


def infer_spatial_dims(a: Any) -> int:
    """2 or 3 from an image's shape, singleton dims squeezed: 2 for ``(H, W)``; 3 for ``(C, H, W, D)``; a 3-dim
    array is ``(C, H, W)`` (2D) when its first size is at most 4 (channels), else ``(H, W, D)``. Pass
    ``spatial_dims`` explicitly where this guess does not fit."""
    sq = np.squeeze(_np(a))
    if sq.ndim <= 2:
        return 2
    if sq.ndim == 3:
        return 2 if sq.shape[0] <= 4 else 3
    return 3


def select_slice(volume: Any, mask: Any | None = None, axis: int = -1) -> int:
    """Index along ``axis`` of the slice with the most foreground (``mask > 0``), else the middle slice.

    Args:
        volume: ``(*spatial)`` or channel-first 3D array (only its shape is used when ``mask`` is given).
        mask: optional label/probability map broadcastable to the spatial shape.
        axis: spatial axis to slice (negative counts from the end).
    """
    vol = _np(volume)
    size = vol.shape[axis]
    if mask is not None:
        m = _np(mask)
        m = m.reshape(-1, *m.shape[-3:]).max(0) if m.ndim > 3 else m
        fg = (m > 0).sum(axis=tuple(i for i in range(m.ndim) if i != (axis % m.ndim)))
        if fg.max() > 0:
            return int(fg.argmax())
    return size // 2


def to_display_2d(
    a: Any, spatial_dims: int | None = None, slice_index: int | None = None, axis: int = -1, channel: int = 0,
    mask: Any | None = None, labels: bool = False,
) -> np.ndarray:
    """A 2D array for ``imshow`` from a 2D/3D image, map or label volume (see the module docstring).

    Args:
        a: the array/tensor.
        spatial_dims: 2 or 3; :func:`infer_spatial_dims` when None.
        slice_index: slice along ``axis`` for 3D (default :func:`select_slice` with ``mask``).
        axis: slicing axis for 3D.
        channel: channel shown for channel-first arrays (ignored for ``labels``).
        mask: foreground used to choose the slice.
        labels: treat ``a`` as a label map / channel probabilities and return class indices.
    """
    arr = _np(a)
    if spatial_dims is None:
        spatial_dims = infer_spatial_dims(arr)
    if labels:
        arr = _labels(arr, spatial_dims)
    else:
        arr = _strip(arr, spatial_dims)
        if arr.ndim == spatial_dims + 1:
            arr = arr[channel]
        if arr.ndim != spatial_dims:
            raise ValueError(f"cannot display an array of shape {_np(a).shape} as {spatial_dims}D.")
    if spatial_dims == 3:
        idx = select_slice(arr, mask, axis) if slice_index is None else int(slice_index)
        arr = np.take(arr, idx, axis=axis)
    return arr


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100, **kwargs: Any) -> str:
    """Write ``fig`` as PNG through its own Agg canvas (the global matplotlib backend is left alone).

    Args:
        fig: a ``matplotlib.figure.Figure`` built without pyplot.
        path: output file; missing parent folders are created.
        dpi: resolution (default 100).
        kwargs: further ``Figure.savefig`` arguments, e.g. ``bbox_inches="tight"``.

    Returns:
        the path as a string.

    Example:
        >>> fig = Figure(figsize=(4, 3)); fig.add_subplot().plot([0, 1]); save_figure(fig, "out/curve.png")
    """
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, format="png", **kwargs)
    return path


def save_fig5_panels(
    path: str | os.PathLike,
    image: Any,
    saliency: Any | None = None,
    cam: Any | None = None,
    uncertainty: Any | None = None,
    prediction: Any | None = None,
    label: Any | None = None,
    slice_index: int | None = None,
    axis: int = -1,
    channel: int = 0,
    titles: Mapping[str, str] | None = None,
    spatial_dims: int | None = None,
    dpi: int = 100,
) -> str:
    """Seed Fig. 5 panels as one PNG: image, attention/saliency heatmap, Grad-CAM, (uncertainty), GT vs prediction.

    Panels are drawn for the arguments given (the image always); with ``saliency``, ``cam``, ``prediction`` and
    ``label`` it is exactly Fig. 5, ``uncertainty`` adds an entropy panel. Heatmaps are overlaid on the image; the
    last panel shows the ground-truth foreground contour in green and the prediction in red. For 3D inputs one slice
    is drawn (the label's, else the prediction's, most-foreground slice unless ``slice_index``).

    Args:
        path: output PNG path (parent folders are created).
        image: ``(C, *spatial)`` or ``(*spatial)``; ``channel`` picks the displayed channel.
        saliency, cam, uncertainty: maps ``(1, *spatial)`` / ``(*spatial)`` (a saliency ``A * x`` with C channels
            shows ``channel``).
        prediction, label: label maps or channel probabilities/one-hot.
        slice_index, axis: 3D slice selection.
        titles: optional panel titles keyed by "image", "saliency", "cam", "uncertainty", "overlay".
        spatial_dims: 2 or 3 (default :func:`infer_spatial_dims` of ``image``).
        dpi: resolution.

    Returns:
        the written path.
    """
    img_np = _np(image)
    sd = infer_spatial_dims(img_np) if spatial_dims is None else int(spatial_dims)
    sel = label if label is not None else prediction
    if sd == 3 and slice_index is None:
        if sel is not None:
            sel_lbl = _labels(sel, 3)
            slice_index = select_slice(sel_lbl, sel_lbl, axis)
        else:
            slice_index = _strip(img_np, 3).shape[axis] // 2
    base = to_display_2d(img_np, sd, slice_index, axis, channel)
    names = {"image": "image", "saliency": "attention saliency", "cam": "Grad-CAM", "uncertainty": "uncertainty",
             "overlay": "GT (green) vs prediction (red)"}
    names.update(titles or {})
    panels: list[tuple[str, np.ndarray | None, str | None]] = [("image", None, None)]
    for key, val, cmap in (("saliency", saliency, "jet"), ("cam", cam, "jet"), ("uncertainty", uncertainty, "magma")):
        if val is not None:
            panels.append((key, to_display_2d(val, sd, slice_index, axis, channel), cmap))
    if prediction is not None or label is not None:
        panels.append(("overlay", None, None))
    cols = min(len(panels), 3 if len(panels) > 4 else 2) if len(panels) > 1 else 1
    rows = int(np.ceil(len(panels) / cols))
    fig = Figure(figsize=(4 * cols, 4 * rows))
    for i, (key, heat, cmap) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(base, cmap="gray")
        if heat is not None:
            im = ax.imshow(heat, cmap=cmap, alpha=0.5)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        if key == "overlay":
            for lbl, color in ((label, "lime"), (prediction, "red")):
                if lbl is not None:
                    fg = (to_display_2d(lbl, sd, slice_index, axis, labels=True) > 0).astype(float)
                    if fg.any() and not fg.all():
                        ax.contour(fg, levels=[0.5], colors=color, linewidths=1.5)
        ax.set_title(names[key])
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def save_uncertainty_overlay(
    path: str | os.PathLike,
    image: Any,
    uncertainty: Any,
    slice_index: int | None = None,
    axis: int = -1,
    channel: int = 0,
    mask: Any | None = None,
    title: str = "predictive entropy",
    spatial_dims: int | None = None,
    dpi: int = 100,
) -> str:
    """Image with an uncertainty map (e.g. the inferer's "entropy") overlaid, plus the map alone.

    For 3D, the slice with the highest total uncertainty is drawn unless ``slice_index`` or ``mask`` is given.

    Returns:
        the written path.
    """
    unc = _np(uncertainty)
    unc_sq = np.squeeze(unc)
    sd = infer_spatial_dims(image) if spatial_dims is None else int(spatial_dims)
    if sd == 3 and slice_index is None:
        if mask is not None:
            slice_index = select_slice(unc_sq, _labels(mask, 3), axis)
        else:
            u = unc_sq.reshape(-1, *unc_sq.shape[-3:]).sum(0)
            slice_index = int(u.sum(axis=tuple(i for i in range(3) if i != axis % 3)).argmax())
    base = to_display_2d(image, sd, slice_index, axis, channel)
    heat = to_display_2d(unc, sd, slice_index, axis, 0)
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(base, cmap="gray")
    ax.imshow(heat, cmap="magma", alpha=0.5)
    ax.set_title(f"image + {title}")
    ax.axis("off")
    ax = fig.add_subplot(1, 2, 2)
    im = ax.imshow(heat, cmap="magma")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title)
    ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def save_reliability_diagram(
    path: str | os.PathLike, data: Mapping[str, Any], title: str = "reliability", dpi: int = 100
) -> str:
    """Reliability diagram from :func:`monai_dianet.metrics.reliability_diagram_data` output.

    Bars: accuracy per confidence bin; the diagonal is perfect calibration; bin counts below.

    Raises:
        KeyError: when ``data`` lacks "bin_edges", "accuracy", "confidence" or "counts".
    """
    for key in ("bin_edges", "accuracy", "confidence", "counts"):
        if key not in data:
            raise KeyError(f"reliability data needs {key!r}; got keys {sorted(data)}.")
    edges = np.asarray(data["bin_edges"])
    acc = np.nan_to_num(np.asarray(data["accuracy"], dtype=float))
    conf = np.asarray(data["confidence"], dtype=float)
    counts = np.asarray(data["counts"], dtype=float)
    width = np.diff(edges)
    fig = Figure(figsize=(5, 6))
    ax = fig.add_subplot(2, 1, 1)
    ax.bar(edges[:-1], acc, width=width, align="edge", edgecolor="k", alpha=0.7, label="accuracy")
    ok = ~np.isnan(conf)
    ax.plot(conf[ok], np.asarray(data["accuracy"], dtype=float)[ok], "o", color="C1", label="mean confidence")
    ax.plot([0, 1], [0, 1], "k--", label="perfect")
    ece = data.get("ece")
    ax.set_title(f"{title}" + (f" (ECE {float(ece):.3f})" if ece is not None else ""))
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax = fig.add_subplot(2, 1, 2)
    ax.bar(edges[:-1], counts, width=width, align="edge", edgecolor="k")
    ax.set_xlabel("confidence")
    ax.set_ylabel("count")
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def save_risk_coverage_curve(
    path: str | os.PathLike,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    aurc: Mapping[str, float] | None = None,
    operating_points: Mapping[str, tuple[float, float]] | None = None,
    target_risk: float | None = None,
    title: str = "risk-coverage",
    dpi: int = 100,
) -> str:
    """Risk (error among accepted cases) versus coverage (fraction accepted), one line per curve.

    Args:
        curves: ``{name: (coverage, risk)}``.
        aurc: optional ``{name: area under the risk-coverage curve}`` shown in the legend.
        operating_points: optional ``{name: (coverage, risk)}`` markers (e.g. the fitted accept threshold).
        target_risk: optional horizontal line.

    Returns:
        the written path.
    """
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot(1, 1, 1)
    for name, (cov, risk) in curves.items():
        lab = name + (f" (AURC {aurc[name]:.3f})" if aurc and name in aurc else "")
        ax.plot(np.asarray(cov, float), np.asarray(risk, float), label=lab)
    for name, (c, r) in (operating_points or {}).items():
        ax.plot([c], [r], "o", label=name)
    if target_risk is not None:
        ax.axhline(target_risk, color="k", linestyle="--", label=f"target {target_risk:g}")
    ax.set_xlabel("coverage")
    ax.set_ylabel("risk (error among accepted)")
    ax.set_xlim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def save_router_risk_coverage(path: str | os.PathLike, report: Mapping[str, Any], dpi: int = 100) -> str:
    """The risk-coverage curves of a router fit (fast pass and refined path) with the accept operating point and
    the target error.

    Args:
        path: PNG file to write.
        report: the report of :func:`monai_dianet.inferers.fit_router_thresholds` (or of
            :class:`monai_dianet.handlers.RouterReportHandler`); its ``"split"``, when given, goes into the title.

    Returns:
        the written path.
    """
    points = {}
    out = report["outcome"]
    if out["accept"] and out["error_accepted"] is not None:
        points["accept threshold"] = (out["accept"] / report["n"], out["error_accepted"])
    return save_risk_coverage_curve(
        path,
        {"fast pass": (report["fast"]["coverage"], report["fast"]["risk"]),
         "refined": (report["refined"]["coverage"], report["refined"]["risk"])},
        aurc={"fast pass": report["fast"]["aurc"], "refined": report["refined"]["aurc"]},
        operating_points=points,
        target_risk=report["target_error"],
        title=f"risk-coverage ({report['score']}" + (f", {report['split']} cases)" if report.get("split") else ")"),
        dpi=dpi,
    )


def save_learning_curves(
    path: str | os.PathLike,
    history: Mapping[str, Sequence[float]],
    xlabel: str = "epoch",
    title: str = "learning curves",
    log_y: bool = False,
    dpi: int = 100,
) -> str:
    """One line per logged quantity (e.g. ``{"loss": [...], "val_dice": [...]}``).

    Raises:
        ValueError: when ``history`` is empty.
    """
    if not history:
        raise ValueError("history is empty: nothing to plot.")
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for name, values in history.items():
        v = np.asarray(list(values), dtype=float)
        ax.plot(np.arange(1, len(v) + 1), v, marker="o" if len(v) < 30 else None, label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi)
