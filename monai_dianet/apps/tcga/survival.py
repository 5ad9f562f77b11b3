# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Overall-survival labels from a GDC ``clinical.tsv`` (``vital_status``, ``days_to_death``,
``days_to_last_follow_up``), and the TCGA cohort of the cases that have them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monai_dianet.apps.tcga.data import AUTO, TCGACohort, _find, load_tcga_cohort
from monai_dianet.apps.tcga.gdc import GDC_NA_VALUES, _normalise_clinical_columns
from monai_dianet.utils.errors import InputError, MissingInputError

__all__ = ["SURVIVAL_COLUMNS", "read_gdc_survival", "load_tcga_survival_cohort"]

logger = logging.getLogger(__name__)

SURVIVAL_COLUMNS = ("vital_status", "days_to_death", "days_to_last_follow_up")
"""The GDC clinical fields that define overall survival (days from diagnosis)."""

_UNKNOWN_STATUS = ("not reported", "unknown")


def read_gdc_survival(
    path: str | Path,
    case_ids: Sequence[str] | None = None,
    on_missing: str = "drop",
) -> pd.DataFrame:
    """Overall survival per case from a GDC ``clinical.tsv`` (the table the GDC portal exports; ``'--`` = missing).

    GDC writes one row per case and treatment / follow-up, so the rows of a case are combined: the case is dead if
    any row says ``vital_status == "Dead"``; the event time is its ``days_to_death`` (the largest if the rows
    disagree), a living case is censored at its largest ``days_to_last_follow_up``. A dead case without
    ``days_to_death``, a living one without follow-up, or one whose vital status is not reported has no usable
    outcome.

    Args:
        path: the GDC clinical table (tab-separated; newer downloads' dotted names such as
            ``demographic.vital_status`` are accepted).
        case_ids: the cohort's cases (e.g. those with expression data); each must be in the table.
        on_missing: cases without a usable outcome: ``"drop"`` them (the returned frame lists the kept cases) or
            ``"raise"``.

    Returns:
        DataFrame indexed by ``case_submitter_id`` with ``time`` (float, days) and ``event`` (bool).

    Raises:
        MissingInputError: no such file.
        InputError: (one line naming the file) a survival column absent or missing for every case, negative or
            non-numeric times, requested cases absent from the table, no case with a usable outcome, censored-only
            outcomes, or cases without outcome with ``on_missing="raise"``.

    Example::

        outcome = read_gdc_survival("clinical.tsv")
        outcome.loc["TCGA-05-4244"]  # time 1523.0, event True
    """
    if on_missing not in ("drop", "raise"):
        raise ValueError(f"on_missing must be 'drop' or 'raise', got {on_missing!r}.")
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"GDC clinical table not found: {path}")
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=list(GDC_NA_VALUES))
    raw.columns = _normalise_clinical_columns(list(raw.columns))
    needed = ("case_submitter_id",) + SURVIVAL_COLUMNS
    absent = [c for c in needed if c not in raw.columns]
    if absent:
        raise InputError(f"{path}: no {absent} column(s); overall survival needs {list(needed)}.")
    status = raw["vital_status"].str.strip().str.lower()
    raw["vital_status"] = status.where(~status.isin(_UNKNOWN_STATUS))
    if raw["vital_status"].notna().any() and not (raw["vital_status"] == "dead").any():
        raise InputError(f"{path}: every case is censored (vital_status never 'Dead'); survival needs events.")
    for c in SURVIVAL_COLUMNS:
        if raw[c].isna().all():
            raise InputError(f"{path}: column {c!r} is missing ('--) for every case; no survival outcome can be built")
    days = {}
    for c in ("days_to_death", "days_to_last_follow_up"):
        values = pd.to_numeric(raw[c], errors="coerce")
        bad = raw[c].notna() & values.isna()
        if bad.any():
            raise InputError(f"{path}: column {c!r} has non-numeric values {raw.loc[bad, c].unique()[:3].tolist()}.")
        if (values < 0).any():
            cases = raw.loc[values < 0, "case_submitter_id"].unique()[:5].tolist()
            raise InputError(f"{path}: column {c!r} has negative days for case(s) {cases}.")
        days[c] = values
    frame = pd.DataFrame(
        {
            "case_submitter_id": raw["case_submitter_id"],
            "dead": raw["vital_status"] == "dead",
            "known": raw["vital_status"].notna(),
            "death": days["days_to_death"],
            "follow_up": days["days_to_last_follow_up"],
        }
    )
    per_case = frame.groupby("case_submitter_id", sort=False).agg(
        dead=("dead", "any"), known=("known", "any"), death=("death", "max"), follow_up=("follow_up", "max")
    )
    if case_ids is not None:
        ids = [str(c) for c in case_ids]
        unknown = [c for c in ids if c not in per_case.index]
        if unknown:
            raise InputError(
                f"{path}: {len(unknown)} case(s) of the cohort are not in the clinical table (e.g. {unknown[:5]}); "
                "the GDC tables do not join on case_submitter_id."
            )
        per_case = per_case.loc[ids]
    time = np.where(per_case["dead"], per_case["death"], per_case["follow_up"])
    time = np.where(per_case["known"], time, np.nan)  # vital status not reported: no outcome
    out = pd.DataFrame({"time": time.astype(float), "event": per_case["dead"].to_numpy(bool)}, index=per_case.index)
    out.index.name = "case_submitter_id"
    unusable = out["time"].isna()
    if unusable.any() and on_missing == "raise":
        raise InputError(
            f"{path}: {int(unusable.sum())} case(s) have no usable outcome (dead without days_to_death or alive "
            f"without days_to_last_follow_up), e.g. {out.index[unusable][:5].tolist()}."
        )
    out = out[~unusable]
    if out.empty:
        raise InputError(f"{path}: no case has a usable survival outcome.")
    if not out["event"].any():
        raise InputError(f"{path}: every case is censored (vital_status never 'Dead'); survival needs events.")
    return out


def load_tcga_survival_cohort(
    root: str | Path, clinical: str | Path = AUTO, require_outcome: bool = True, **cohort_kwargs: Any
) -> TCGACohort:
    """A TCGA cohort for survival: the cases of the GDC clinical table (no label table needed), joined with the other
    tables by :func:`~monai_dianet.apps.tcga.load_tcga_cohort` (a case of the sample sheet or the patch folder
    that is not in the clinical table is an error), with the overall-survival outcome of
    :func:`read_gdc_survival` as ``cohort.outcome``.

    Args:
        root: cohort folder (GDC files).
        clinical: the clinical table (``"auto"``: ``clinical.tsv`` or a unique GDC-style match in ``root``).
        require_outcome: True: keep the cases with a usable outcome (the others are dropped and counted in the log),
            labelled by their event indicator (class 1 = event, for stratified splits); False (prediction on new
            patients): keep every case, with NaN time where the outcome is unknown or the table has no outcome.
        cohort_kwargs: passed to :func:`~monai_dianet.apps.tcga.load_tcga_cohort` (``patches=None`` leaves the
            images out, ``clinical_columns``, ``sample_sheet``...).

    Returns:
        the cohort, with ``outcome`` (``time``, ``event``) indexed like its cases.

    Raises:
        MissingInputError: no cohort folder or no clinical table.
        InputError: (one line) cases that do not join across the tables, and the errors of :func:`read_gdc_survival`
            (censored-only outcomes, survival columns missing for every case, negative or non-numeric times).
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingInputError(f"TCGA cohort folder not found: {root}")
    clinical_path = _find(root, clinical, "clinical")
    if clinical_path is None:
        raise MissingInputError(f"{root}: no GDC clinical table (clinical.tsv); survival outcomes come from it.")
    cohort = load_tcga_cohort(root, clinical=clinical_path, labels=None, **cohort_kwargs)
    try:
        outcome = read_gdc_survival(clinical_path, case_ids=cohort.case_ids, on_missing="drop")
    except InputError as err:
        if require_outcome:
            raise
        logger.warning("no survival outcome in %s (%s): predictions only.", clinical_path, err)
        outcome = pd.DataFrame({"time": np.nan, "event": False}, index=pd.Index([], name="case_submitter_id"))
    if not require_outcome:
        return dataclasses.replace(cohort, outcome=outcome.reindex(cohort.case_ids))
    dropped = len(cohort.case_ids) - len(outcome)
    if dropped:
        logger.info("%d of %d cases of %s have no usable survival outcome and are left out.", dropped,
                    len(cohort.case_ids), clinical_path)
    subset = cohort.subset(outcome.index, labels=outcome["event"].astype(int))
    return dataclasses.replace(subset, outcome=outcome)
