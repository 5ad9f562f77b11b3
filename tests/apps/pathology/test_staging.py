# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""CAMELYON17 categories, pN-stage rules, stage_labels.csv, Feret diameter and weighted kappa."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from monai_dianet.apps.pathology import lesion_category, patient_of, pn_stage, read_stage_labels, slide_category
from monai_dianet.apps.pathology.staging import polygon_diameter, stage_kappa


def test_categories_at_the_boundaries():
    assert [lesion_category(d) for d in (0.05, 0.2, 0.2001, 2.0, 2.0001, 7.5)] == [
        "itc", "itc", "micro", "micro", "macro", "macro"
    ]
    assert slide_category([]) == "negative"
    assert slide_category([0.1, 2.5, 0.5]) == "macro"


@pytest.mark.parametrize(
    "nodes, stage",
    [
        (["negative"] * 5, "pN0"),
        (["negative", "itc", "itc", "negative", "negative"], "pN0(i+)"),
        (["micro", "itc", "negative", "negative", "micro"], "pN1mi"),
        (["macro", "negative", "negative", "negative", "negative"], "pN1"),
        (["macro", "micro", "micro", "itc", "itc"], "pN1"),  # 3 metastatic nodes; ITC nodes do not count
        (["macro", "micro", "micro", "micro", "negative"], "pN2"),
        (["macro"] * 9, "pN2"),
    ],
)
def test_pn_stage_rules(nodes, stage):
    assert pn_stage(nodes) == stage


def test_pn_stage_errors():
    with pytest.raises(ValueError, match="unknown slide categories"):
        pn_stage(["tumor"])
    with pytest.raises(ValueError, match="beyond pN2"):
        pn_stage(["macro"] * 10)


def test_stage_labels_file(tmp_path):
    path = tmp_path / "stage_labels.csv"
    path.write_text(
        "patient,stage\npatient_004.zip,pN1\npatient_004_node_0.tif,negative\npatient_004_node_4.tif,macro\n"
        "patient_010.zip,pN0(i+)\npatient_010_node_2.tif,itc\n"
    )
    slides, patients = read_stage_labels(path)
    assert slides == {"patient_004_node_0": "negative", "patient_004_node_4": "macro", "patient_010_node_2": "itc"}
    assert patients == {"patient_004": "pN1", "patient_010": "pN0(i+)"}
    assert patient_of("patient_004_node_4") == "patient_004" and patient_of("tumor_001.tif") == "tumor_001"
    path.write_text("patient,stage\npatient_004.zip,pN3\n")
    with pytest.raises(ValueError, match=r"stage_labels\.csv:2: unknown pN-stage 'pN3'"):
        read_stage_labels(path)
    path.write_text("slide,label\na.tif,negative\n")
    with pytest.raises(ValueError, match="'patient,stage' header"):
        read_stage_labels(path)


def test_polygon_diameter_is_the_largest_vertex_distance():
    rng = np.random.default_rng(0)
    for _ in range(5):
        points = rng.normal(size=(30, 2)) * [3.0, 1.0]
        brute = max(np.hypot(*(a - b)) for a, b in itertools.combinations(points, 2))
        assert polygon_diameter(points) == pytest.approx(brute)
    assert polygon_diameter(np.array([[0, 0], [1, 1], [2, 2]])) == pytest.approx(np.sqrt(8))  # collinear


def test_quadratic_kappa_against_the_definition():
    truth = dict(enumerate(["pN0", "pN1", "pN2", "pN1mi", "pN0", "pN0(i+)", "pN2", "pN1"]))
    pred = dict(enumerate(["pN0", "pN1mi", "pN2", "pN1mi", "pN1", "pN0", "pN1", "pN1"]))
    stages = ["pN0", "pN0(i+)", "pN1mi", "pN1", "pN2"]
    k = len(stages)
    observed = np.zeros((k, k))
    for i in truth:
        observed[stages.index(truth[i]), stages.index(pred[i])] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    weights = np.array([[(i - j) ** 2 for j in range(k)] for i in range(k)], float)
    reference = 1 - (weights * observed).sum() / (weights * expected).sum()
    assert stage_kappa(truth, pred) == pytest.approx(reference)
    assert stage_kappa({1: "pN0"}, {1: "pN0"}) is None
