# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""CAMELYON17 slide categories and patient pN-stages: the ``stage_labels.csv`` format and the challenge's rules.

CAMELYON17 ("From Detection of Individual Metastases to Classification of Lymph Node Status at the Patient
Level: The CAMELYON17 Challenge", Bandi et al., IEEE Transactions on Medical Imaging 38(2), 2019,
doi:10.1109/TMI.2018.2867350) labels each lymph-node slide by its largest metastasis (largest diameter):
isolated tumour cells (ITC, at most 0.2 mm), micro-metastasis (more than 0.2 mm, at most 2.0 mm) or
macro-metastasis (more than 2.0 mm), and each patient (five nodes) by the pN-stage these imply:

- ``pN0``: no ITC, micro- or macro-metastasis;
- ``pN0(i+)``: only ITCs;
- ``pN1mi``: micro-metastases, no macro-metastasis;
- ``pN1``: metastases (micro or macro) in 1-3 nodes, at least one a macro-metastasis;
- ``pN2``: metastases in 4-9 nodes, at least one a macro-metastasis.

The challenge scores pN-stages with the quadratic-weighted Cohen's kappa (scikit-learn's ``cohen_kappa_score``).
No library implements these rules; they are written here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist
from sklearn.metrics import cohen_kappa_score

from monai_dianet.utils.errors import InputError, MissingInputError

__all__ = [
    "SLIDE_CATEGORIES",
    "PN_STAGES",
    "ITC_MAX_MM",
    "MICRO_MAX_MM",
    "lesion_category",
    "slide_category",
    "pn_stage",
    "polygon_diameter",
    "read_stage_labels",
    "patient_of",
    "stage_kappa",
]

SLIDE_CATEGORIES = ("negative", "itc", "micro", "macro")
PN_STAGES = ("pN0", "pN0(i+)", "pN1mi", "pN1", "pN2")
ITC_MAX_MM = 0.2
MICRO_MAX_MM = 2.0


def lesion_category(diameter_mm: float) -> str:
    """CAMELYON17 category of one metastasis from its largest diameter in mm: ``itc``, ``micro`` or ``macro``."""
    if diameter_mm <= ITC_MAX_MM:
        return "itc"
    return "micro" if diameter_mm <= MICRO_MAX_MM else "macro"


def slide_category(diameters_mm: Iterable[float]) -> str:
    """Category of a slide: that of its largest metastasis, ``negative`` without any."""
    diameters = [float(d) for d in diameters_mm]
    return lesion_category(max(diameters)) if diameters else "negative"


def pn_stage(categories: Iterable[str]) -> str:
    """pN-stage of a patient from the categories of their lymph-node slides (CAMELYON17 rules).

    Raises:
        ValueError: an unknown category, or more than 9 metastatic nodes (beyond pN2).

    Example::

        >>> pn_stage(["negative", "micro", "macro", "negative", "itc"])
        'pN1'
    """
    categories = list(categories)
    unknown = [c for c in categories if c not in SLIDE_CATEGORIES]
    if unknown:
        raise ValueError(f"unknown slide categories {unknown}; expected {SLIDE_CATEGORIES}.")
    metastatic = sum(c in ("micro", "macro") for c in categories)
    if "macro" in categories:
        if metastatic > 9:
            raise ValueError(f"{metastatic} metastatic nodes: pN-stages beyond pN2 are not defined here.")
        return "pN1" if metastatic <= 3 else "pN2"
    if "micro" in categories:
        return "pN1mi"
    return "pN0(i+)" if "itc" in categories else "pN0"


def polygon_diameter(points: np.ndarray) -> float:
    """Largest distance between two vertices of a polygon (its maximum Feret diameter), in input units."""
    points = np.asarray(points, dtype=np.float64)
    try:
        points = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):  # collinear or too few points: all vertices are candidates
        pass
    return float(pdist(points).max()) if len(points) > 1 else 0.0


def patient_of(slide: str) -> str:
    """Patient id of a CAMELYON17 slide name (``patient_004_node_4`` -> ``patient_004``); else the name itself."""
    name = os.path.splitext(os.path.basename(slide))[0]
    return name.split("_node_")[0]


def read_stage_labels(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, str]]:
    """Read a CAMELYON17 ``stage_labels.csv``: patient rows (``patient_000.zip,pN1``) and slide rows
    (``patient_000_node_0.tif,negative``) under a ``patient,stage`` header.

    Returns:
        ``(slides, patients)``: slide name without extension -> category, patient id -> pN-stage.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a bad header, or an unknown category or stage (naming the file and line).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingInputError(f"stage labels file {path} not found.")
    slides: dict[str, str] = {}
    patients: dict[str, str] = {}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["patient", "stage"]:
        raise InputError(f"{path}: expected a 'patient,stage' header (CAMELYON17 stage_labels.csv), got {rows[:1]}.")
    for line, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        if len(row) < 2:
            raise InputError(f"{path}:{line}: expected 'name,stage', got {row}.")
        name, stage = row[0].strip(), row[1].strip()
        if name.lower().endswith(".zip"):
            if stage not in PN_STAGES:
                raise InputError(f"{path}:{line}: unknown pN-stage {stage!r} for {name}; expected one of {PN_STAGES}.")
            patients[name[:-4]] = stage
        else:
            if stage.lower() not in SLIDE_CATEGORIES:
                raise InputError(
                    f"{path}:{line}: unknown slide label {stage!r} for {name}; expected one of {SLIDE_CATEGORIES}."
                )
            slides[os.path.splitext(name)[0]] = stage.lower()
    return slides, patients


def stage_kappa(
    truth: Mapping[str, str], predicted: Mapping[str, str], labels: Sequence[str] = PN_STAGES
) -> float | None:
    """Quadratic-weighted Cohen's kappa (CAMELYON17's score) over the keys both mappings share.

    Args:
        truth: id -> true stage (or slide category).
        predicted: id -> predicted stage (or category).
        labels: the ordered classes (``PN_STAGES`` or ``SLIDE_CATEGORIES``).

    Returns:
        the kappa, or None when fewer than 2 ids are shared or all of them agree on one class (kappa undefined).
    """
    keys = sorted(set(truth) & set(predicted))
    if len(keys) < 2:
        return None
    y_true, y_pred = [truth[k] for k in keys], [predicted[k] for k in keys]
    if len(set(y_true) | set(y_pred)) < 2:
        return None
    return float(cohen_kappa_score(y_true, y_pred, labels=list(labels), weights="quadratic"))
