# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the one train/validation/test split (monai_dianet.data.split_datalist, select_split)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from monai_dianet.data import SPLITS, select_cases, select_split, split_datalist
from monai_dianet.utils.errors import InputError


def _cases(n: int, classes: int = 2) -> list[dict]:
    return [{"case_id": f"case{i:03d}", "label": i % classes, "extra": i} for i in range(n)]


def _ids(splits: dict) -> dict[str, set]:
    return {k: {e["case_id"] for e in v} for k, v in splits.items()}


def test_disjoint_complete_sizes_and_keys():
    cases = _cases(40)
    splits = split_datalist(cases, val_fraction=0.2, test_fraction=0.25, seed=0, label_key="label")
    assert tuple(splits) == SPLITS
    ids = _ids(splits)
    assert [len(ids[k]) for k in SPLITS] == [22, 8, 10]
    assert not (ids["training"] & ids["validation"] or ids["training"] & ids["test"] or ids["validation"] & ids["test"])
    assert set().union(*ids.values()) == {c["case_id"] for c in cases}
    assert splits["training"][0] is not cases[0] and splits["training"][0] == next(
        c for c in cases if c["case_id"] == splits["training"][0]["case_id"]
    )  # copies of the entries


def test_deterministic_order_free_and_seeded():
    cases = _cases(30)
    a = split_datalist(cases, 0.2, 0.2, seed=1, label_key="label")
    shuffled = list(cases)
    random.Random(5).shuffle(shuffled)
    b = split_datalist(shuffled, 0.2, 0.2, seed=1, label_key="label")
    assert _ids(a) == _ids(b)
    assert [e["case_id"] for e in b["test"]] == [e["case_id"] for e in shuffled if e["case_id"] in _ids(a)["test"]]
    assert _ids(split_datalist(cases, 0.2, 0.2, seed=2, label_key="label")) != _ids(a)


def test_stratified_when_labels_allow():
    cases = _cases(40, classes=4)  # 10 cases per class
    splits = split_datalist(cases, val_fraction=0.2, test_fraction=0.2, seed=3, label_key="label")
    for name in SPLITS:
        counts = Counter(e["label"] for e in splits[name])
        assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == 4, (name, counts)


def test_plain_shuffle_with_warning_when_labels_do_not_allow():
    cases = _cases(6, classes=2)
    cases[0]["label"] = 9  # a class with a single case cannot be stratified
    with pytest.warns(UserWarning, match="stratified"):
        splits = split_datalist(cases, val_fraction=0.2, test_fraction=0.2, label_key="label")
    assert sum(len(v) for v in splits.values()) == 6


def test_small_and_zero_fractions():
    assert [len(v) for v in split_datalist(_cases(3), 0.1, 0.1).values()] == [1, 1, 1]
    assert [len(v) for v in split_datalist(_cases(5), 0.0, 0.0).values()] == [5, 0, 0]
    assert [len(v) for v in split_datalist(_cases(2), 0.5, 0.4).values()] == [1, 0, 1]  # one training case kept
    assert [len(v) for v in split_datalist(_cases(1), 0.2).values()] == [1, 0, 0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"val_fraction": 1.0}, "sum below 1"),
        ({"val_fraction": 0.6, "test_fraction": 0.4}, "sum below 1"),
        ({"test_fraction": -0.1}, "sum below 1"),
        ({"label_key": "grade"}, "has no 'grade' key"),
        ({"id_key": "patient"}, "has no 'patient' key"),
    ],
)
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        split_datalist(_cases(10), **kwargs)


def test_duplicates_and_no_training_case():
    with pytest.raises(ValueError, match="duplicated case ids.*case000"):
        split_datalist(_cases(4) + _cases(1))
    with pytest.raises(ValueError, match="leaves no training case"):
        split_datalist(_cases(1), 0.0, 0.5)


def test_single_class_needs_no_stratification(recwarn):
    cases = _cases(10, classes=1)
    splits = split_datalist(cases, 0.2, 0.2, label_key="label")
    assert [len(splits[k]) for k in SPLITS] == [6, 2, 2] and not recwarn.list


def test_select_split_refuses_training_all_unknown_and_empty():
    splits = {"training": [{"case_id": "a"}], "validation": [{"case_id": "b"}], "test": []}
    assert select_split(splits, "validation") == [{"case_id": "b"}]
    for name in ("all", "training", "tests"):  # an evaluation never reads training cases
        with pytest.raises(InputError, match=f"--eval_split '{name}' is not a split this evaluation may use"):
            select_split(splits, name)
    with pytest.raises(InputError, match=r"the test split is empty \(training 1, validation 1, test 0 slides\); .*"
                                         r"larger --test_fraction and rerun: train\.sh \(the training slides"):
        select_split(splits, "test", unit="slides", command="train.sh")


def test_select_cases_from_a_saved_split_or_a_new_cohort():
    saved = {"training": ["a", "b"], "validation": ["c"], "test": ["d"]}
    assert select_cases(saved, ["a", "b", "c", "d"], "test") == ["d"]
    assert select_cases(saved, ["x", "y"], "cohort") == ["x", "y"]
    assert select_cases(saved, ["a", "x"], "all", allowed=("test", "all")) == ["a", "x"]  # given cases: caller says
    with pytest.raises(InputError, match=r"--eval_split cohort: 1 cases of new/ were used for training or valid"):
        select_cases(saved, ["a", "x"], "cohort", source="new/")
    with pytest.raises(InputError, match=r"1 test cases of the training cohort are not in new/ .*--eval_split cohort"):
        select_cases(saved, ["x"], "test", source="new/")
