# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Patients from a GDC-format cohort: profile -> parameters mapping, features, split, protocols, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from monai_dianet.apps.oncostrat import (
    load_oncostrat_cohort,
    most_intensive_action,
    parse_stage,
    split_cohort,
    standard_protocols,
)
from monai_dianet.data.synthetic.tcga import generate_tcga
from monai_dianet.rl.dynamics import DE_PILLIS_2006_PATIENT_9, DE_PILLIS_2006_PATIENT_10
from monai_dianet.rl.envs import make_chemo_immunotherapy_env
from monai_dianet.utils.errors import InputError, MissingInputError


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tcga")
    generate_tcga(root, num=24, seed=3, num_genes=90, patches_per_case=1, patch_size=16, progress=False)
    return root


def test_parse_stage():
    assert [parse_stage(s) for s in ("Stage IA", "Stage IIB", "Stage IIIA", "Stage IV", "stage iii")] == [1, 2, 3, 4, 3]
    assert parse_stage("Stage X") is None and parse_stage(float("nan")) is None and parse_stage("not reported") is None


def test_profiles_follow_the_documented_mapping(cohort_dir):
    cohort = load_oncostrat_cohort(cohort_dir, variation_cv=0.0)
    assert len(cohort.profiles) == 24 and cohort.feature_names[:2] == ["stage", "age"]
    table = cohort.table
    for profile in cohort.profiles:
        row = table.loc[profile.patient_id]
        assert profile.features.shape == (8,) and np.all(np.isfinite(profile.features))
        assert profile.initial_tumour == pytest.approx(10 ** (7 + 0.4 * (row["stage"] - 1)))
        w = 1 / (1 + math.exp(1.5 * row["cytotoxic_score"]))
        expected_m = DE_PILLIS_2006_PATIENT_9["m"] ** (1 - w) * DE_PILLIS_2006_PATIENT_10["m"] ** w
        assert profile.parameters["m"] == pytest.approx(expected_m)
        growth = DE_PILLIS_2006_PATIENT_9["a"] * math.exp(0.15 * row["proliferation_score"])
        assert profile.parameters["a"] == pytest.approx(growth)
        kill = DE_PILLIS_2006_PATIENT_9["K_T"] * (0.8 if row["prior_therapy"] else 1.0)
        assert profile.parameters["K_T"] == pytest.approx(kill)
    # cases without RNA-seq get neutral scores and a flag; a higher stage means a larger initial tumour
    assert (table.loc[table["rna_missing"] == 1, "proliferation_score"] == 0).all()
    assert table.groupby("stage")["initial_tumour"].mean().is_monotonic_increasing
    # the unexplained variation is seeded by the case id: same seed, same patients
    a = load_oncostrat_cohort(cohort_dir, seed=1).profiles[0].parameters
    b = load_oncostrat_cohort(cohort_dir, seed=1).profiles[0].parameters
    c = load_oncostrat_cohort(cohort_dir, seed=2).profiles[0].parameters
    assert a == b and a != c


def test_embeddings_are_appended_and_checked(cohort_dir):
    base = load_oncostrat_cohort(cohort_dir)
    emb = pd.DataFrame(np.random.default_rng(0).normal(size=(24, 5)), index=base.case_ids)
    cohort = load_oncostrat_cohort(cohort_dir, embeddings=emb)
    assert cohort.feature_names[-1] == "embedding_4" and cohort.profiles[0].features.shape == (13,)
    env = make_chemo_immunotherapy_env(patients=cohort.profiles, num_cycles=2)
    assert env.observation_layout["patient"] == (15, 28)
    with pytest.raises(InputError, match="no embedding") as err:
        load_oncostrat_cohort(cohort_dir, embeddings=emb.iloc[1:])
    assert "\n" not in str(err.value)
    bad = emb.copy()
    bad.iloc[3, 2] = np.nan
    with pytest.raises(InputError, match="non-finite") as err:
        load_oncostrat_cohort(cohort_dir, embeddings=bad)
    assert base.case_ids[3] in str(err.value)


def test_split_and_protocols(cohort_dir):
    cohort = load_oncostrat_cohort(cohort_dir)
    split = split_cohort(cohort, 0.25, 0.25, seed=0)
    assert split == split_cohort(cohort, 0.25, 0.25, seed=0)
    assert sorted(len(v) for v in split.values()) == [6, 6, 12]
    assert not set(split["test"]) & (set(split["training"]) | set(split["validation"]))
    env = make_chemo_immunotherapy_env(patients=cohort.profiles, num_cycles=3)
    top = most_intensive_action(env)
    assert env.actions[top].label == "chemo-immunotherapy x1"
    protocols = standard_protocols(env)
    assert protocols["4 cycles then observation"].actions == [top] * 4
    assert protocols["every 2nd cycle"]({}, {"cycle": 1}) == 0 and protocols["no treatment"]({}, {"cycle": 0}) == 0


def test_bad_cohorts(tmp_path, cohort_dir):
    with pytest.raises(MissingInputError):
        load_oncostrat_cohort(tmp_path / "nope")
    with pytest.raises(MissingInputError, match="clinical"):
        load_oncostrat_cohort(tmp_path)
    cohort = load_oncostrat_cohort(cohort_dir)
    with pytest.raises(InputError, match="empty"):
        split_cohort(type(cohort)(cohort.profiles[:2], cohort.feature_names, cohort.table.iloc[:2]), 0.2, 0.2)
    for fractions in ((0.5, 0.5), (0.0, 0.2), (0.2, 1.2)):
        with pytest.raises(InputError):
            split_cohort(cohort, *fractions)
