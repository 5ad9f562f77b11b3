# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The one train/validation/test split of the package: deterministic, by case, stratified where labels allow."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.model_selection import train_test_split

from monai_dianet.utils.errors import InputError

__all__ = ["SPLITS", "EVALUATION_SPLITS", "select_cases", "select_split", "split_datalist"]

#: the split names, in the order training, validation, test
SPLITS: tuple[str, str, str] = ("training", "validation", "test")

#: what an evaluation of a trained model may read (:func:`select_cases`): a held-out split of the training cohort,
#: or every case of a new cohort
EVALUATION_SPLITS: tuple[str, str, str] = ("validation", "test", "cohort")


def _count(fraction: float, n: int) -> int:
    """Cases for a split of ``fraction``: ``round(fraction * n)``, at least one when the fraction is positive."""
    return 0 if fraction == 0 else max(1, round(fraction * n))


def _can_stratify(labels: Sequence[Any] | None, n_held: int, n_rest: int) -> bool | None:
    """scikit-learn's conditions for a stratified cut (every class has two members and each side can hold one case
    of every class); None when there is nothing to stratify (no labels, or a single class)."""
    if labels is None or len(set(labels)) < 2:
        return None
    counts = Counter(labels)
    return min(counts.values()) >= 2 and n_held >= len(counts) and n_rest >= len(counts)


def _cut(n: int, labels: list | None, n_held: int, seed: int, stratify: bool) -> tuple[list[int], list[int]]:
    """Hold ``n_held`` of ``n`` cases out: (rest, held) as lists of positions in ``range(n)``."""
    if n_held == 0:
        return list(range(n)), []
    rest, held = train_test_split(
        list(range(n)), test_size=n_held, random_state=seed, shuffle=True, stratify=labels if stratify else None
    )
    return rest, held


def split_datalist(
    datalist: Sequence[Mapping[str, Any]],
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    label_key: str | None = None,
    id_key: str = "case_id",
) -> dict[str, list[dict]]:
    """Split a datalist by case into training, validation and test, the same way for every domain.

    Cases are first ordered by ``id_key``, so the split depends only on the case ids, the labels and ``seed``, never
    on the order of ``datalist``, the machine or the Python hash seed. The test cases are held out first, then the
    validation cases from the rest, each with scikit-learn's :func:`~sklearn.model_selection.train_test_split`
    (``random_state=seed``), stratified by ``label_key`` when the labels allow it (two cases per class and room for
    one case of every class on both sides of the cut; otherwise the cut is a plain shuffle and a warning says so;
    a single class needs no stratification). A split of a positive fraction gets ``round(fraction * n)`` cases, at
    least one; the validation split shrinks when it would leave no training case.

    Args:
        datalist: entries (dicts) with an ``id_key`` (and ``label_key``) entry.
        val_fraction: fraction of the cases for validation (checkpoint selection, thresholds, calibration).
        test_fraction: fraction of the cases for the test split (touched only by the final evaluation).
        seed: changes the split.
        label_key: entry key to stratify by (a class label, or e.g. the data set layout); None: no stratification.
        id_key: entry key of the case id.

    Returns:
        ``{"training": [...], "validation": [...], "test": [...]}``: copies of the entries, each split in the order
        of ``datalist``.

    Raises:
        InputError: fractions outside [0, 1) or summing to 1 or more, an entry without ``id_key`` or ``label_key``,
            duplicated case ids, or a test split that leaves no training case.

    Example::

        splits = split_datalist(cases, val_fraction=0.2, test_fraction=0.2, seed=0, label_key="label")
        train, val, test = (splits[k] for k in SPLITS)
    """
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise InputError(
            f"need val_fraction and test_fraction in [0, 1) with a sum below 1, got {val_fraction} and {test_fraction}."
        )
    for i, entry in enumerate(datalist):
        for key in (id_key, label_key):
            if key is not None and key not in entry:
                raise InputError(f"datalist entry {i} has no {key!r} key (keys: {sorted(entry)}).")
    ids = [str(entry[id_key]) for entry in datalist]
    if len(set(ids)) != len(ids):
        raise InputError(f"duplicated case ids in the datalist: {sorted({i for i in ids if ids.count(i) > 1})[:10]}.")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    labels = None if label_key is None else [str(datalist[i][label_key]) for i in order]
    n = len(order)
    n_test = _count(test_fraction, n)
    if n_test >= n:
        raise InputError(f"a test split of {n_test} of {n} cases leaves no training case; use more cases.")
    n_val = min(_count(val_fraction, n), n - n_test - 1)

    stratify = _can_stratify(labels, n_test, n - n_test) if n_test else None
    rest, test = _cut(n, labels, n_test, seed, bool(stratify))
    rest_labels = None if labels is None else [labels[i] for i in rest]
    stratify_val = _can_stratify(rest_labels, n_val, len(rest) - n_val) if n_val else None
    train, val = _cut(len(rest), rest_labels, n_val, seed, bool(stratify_val))
    if stratify is False or stratify_val is False:
        warnings.warn(
            f"split_datalist: the {label_key!r} labels of {n} cases do not allow a stratified split "
            f"(too few cases per class); the cases are split by a seeded shuffle instead.",
            stacklevel=2,
        )
    members = {
        "test": {order[i] for i in test},
        "validation": {order[rest[i]] for i in val},
        "training": {order[rest[i]] for i in train},
    }
    return {name: [dict(e) for i, e in enumerate(datalist) if i in members[name]] for name in SPLITS}


def select_split(
    splits: Mapping[str, Sequence[Mapping[str, Any]]],
    name: str,
    allowed: Sequence[str] = ("validation", "test"),
    option: str = "--eval_split",
    unit: str = "cases",
    command: str = "",
) -> list[dict]:
    """The entries of split ``name`` for an evaluation, refusing an unknown or empty split.

    Never falls back to other cases: an evaluation asked for on the test split that has no test case stops with a
    message saying how to get one, instead of quietly scoring validation or training cases.

    Args:
        splits: the output of :func:`split_datalist` (or any ``{split name: entries}``).
        name: the split asked for.
        allowed: the split names this evaluation may use (by default not ``"training"``).
        option: the option that set ``name``, for the message.
        unit: what the entries are, for the message (``"cases"``, ``"slides"``, ``"patients"``).
        command: the command that makes the splits again (e.g. the training command), named in the message of an
            empty split.

    Returns:
        copies of the entries of ``splits[name]``.

    Raises:
        InputError: ``name`` is not one of ``allowed``, or the split is empty.

    Example::

        test_cases = select_split(split_datalist(cases, 0.2, 0.2), "test")
    """
    if name not in allowed:
        raise InputError(f"{option} {name!r} is not a split this evaluation may use; expected one of {list(allowed)}")
    entries = splits.get(name, [])
    if not entries:
        sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        fraction = "--test_fraction" if name == "test" else "--val_fraction"
        hint = f" and rerun: {command}" if command else ""
        raise InputError(
            f"the {name} split is empty ({sizes} {unit}); give more {unit} or a larger {fraction}{hint} "
            f"(the training {unit} are never used instead)"
        )
    return [dict(e) for e in entries]


def select_cases(
    saved: Mapping[str, Sequence[str]],
    available: Sequence[str],
    name: str,
    allowed: Sequence[str] = EVALUATION_SPLITS,
    option: str = "--eval_split",
    unit: str = "cases",
    command: str = "",
    source: str = "the cohort",
) -> list[str]:
    """The case ids a trained model is run on, from the split that its training saved.

    - a split name (``"validation"``, ``"test"``...): the ids of that saved split (:func:`select_split`: refused
      when empty); each must be in ``available``;
    - ``"cohort"``: every id of ``available`` (a new cohort), refused when any was a training or validation case;
    - ``"all"``: every id of ``available``, whichever split they were in (for inference on given cases; the caller
      says how many training or validation saw).

    Args:
        saved: ``{split name: case ids}`` saved at training (from :func:`split_datalist`).
        available: the case ids of the cohort at hand.
        name: one of ``allowed``.
        allowed: what this run may read (by default :data:`EVALUATION_SPLITS`).
        option: the option that set ``name``, for the messages.
        unit: what the cases are, for the messages (``"cases"``, ``"patients"``).
        command: the training command, named when the split is empty.
        source: where ``available`` comes from, for the messages (a folder).

    Returns:
        the case ids, in the saved order (a split) or in the order of ``available``.

    Raises:
        InputError: ``name`` not in ``allowed``, an empty split, split cases missing from ``available``, or a
            ``"cohort"`` sharing cases with training or validation.

    Example::

        ids = select_cases(prep["split_case_ids"], cohort.case_ids, "test")
    """
    if name not in allowed:
        raise InputError(f"{option} {name!r} is not a split this evaluation may use; expected one of {list(allowed)}")
    if name in SPLITS:
        splits = {split: [{"case_id": c} for c in saved.get(split, [])] for split in SPLITS}
        ids = [e["case_id"] for e in select_split(splits, name, allowed, option, unit, command)]
        present = set(available)
        absent = [c for c in ids if c not in present]
        if absent:
            raise InputError(f"{len(absent)} {name} {unit} of the training cohort are not in {source} ({absent[:5]}); "
                             f"to run on a new cohort use {option} cohort")
        return ids
    ids = list(available)
    seen = set(saved.get("training", [])) | set(saved.get("validation", []))
    shared = [c for c in ids if c in seen]
    if shared and name == "cohort":
        raise InputError(f"{option} cohort: {len(shared)} {unit} of {source} were used for training or validation "
                         f"({shared[:5]}); evaluate the training cohort with {option} test, or give a new cohort")
    return ids
