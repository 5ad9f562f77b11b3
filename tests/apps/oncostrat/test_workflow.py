# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The patients a trained treatment policy is run on: the saved split, a new cohort, or given patients; never
training patients counted as held out."""

from __future__ import annotations

import pytest

from monai_dianet.apps.oncostrat import (
    DEFAULT_ENV_SETTINGS,
    EVALUATION_SPLITS,
    load_oncostrat_cohort,
    load_policy_config,
    seen_patients,
    split_cohort,
    split_environment,
)
from monai_dianet.data.synthetic.tcga import generate_tcga
from monai_dianet.utils.errors import InputError, MissingInputError


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """A 12-patient training cohort with its saved split (as ``policy_config.json`` holds it) and a new cohort."""
    root = tmp_path_factory.mktemp("oncostrat_split")
    generate_tcga(root / "train", num=12, seed=3, num_genes=90, patches_per_case=1, patch_size=16, progress=False)
    generate_tcga(root / "new", num=4, seed=11, num_genes=90, patches_per_case=1, patch_size=16, progress=False)
    cohort = load_oncostrat_cohort(root / "train")
    config = {"data_root": str(root / "train"), "split": split_cohort(cohort, 0.25, 0.25, seed=0), "split_seed": 0,
              "feature_names": cohort.feature_names, "env": {**DEFAULT_ENV_SETTINGS, "num_cycles": 2}}
    return root, config


def _run(config, dataset_dir, split, **kwargs):
    return split_environment(config, dataset_dir, split, daily_samples=False, **kwargs)[2]


def test_evaluation_uses_the_saved_test_split(cohorts):
    root, config = cohorts
    test = config["split"]["test"]
    assert _run(config, "", "test", allowed=EVALUATION_SPLITS) == test
    # the training cohort given as --dataset_dir: still its test split, never every patient
    assert _run(config, str(root / "train"), "test", allowed=EVALUATION_SPLITS) == test
    new = _run(config, str(root / "new"), "cohort", allowed=EVALUATION_SPLITS)
    assert len(new) == 4 and not seen_patients(config, new)
    with pytest.raises(InputError, match=r"--eval_split 'all' is not a split this evaluation may use"):
        _run(config, str(root / "train"), "all", allowed=EVALUATION_SPLITS, option="--eval_split")
    with pytest.raises(InputError, match=r"--eval_split 'training' is not a split"):
        _run(config, "", "training", allowed=EVALUATION_SPLITS, option="--eval_split")
    with pytest.raises(InputError, match=r"--eval_split cohort: 9 patients of .* were used for training or validation"):
        _run(config, str(root / "train"), "cohort", allowed=EVALUATION_SPLITS, option="--eval_split")
    with pytest.raises(InputError, match=r"3 test patients of the training cohort are not in .*--split cohort"):
        _run(config, str(root / "new"), "test")
    empty = {**config, "split": {**config["split"], "test": []}}
    with pytest.raises(InputError, match=r"the test split is empty .*--test_fraction and rerun: python -m monai"):
        _run(empty, "", "test", allowed=EVALUATION_SPLITS)


def test_inference_on_given_patients_counts_the_seen_ones(cohorts, caplog):
    root, config = cohorts
    with caplog.at_level("WARNING", logger="monai_dianet.apps.oncostrat.workflow"):
        ids = _run(config, str(root / "train"), "all")
    assert "9 of the 12 patients of" in caplog.text and "not held-out figures" in caplog.text
    assert len(ids) == 12 and len(seen_patients(config, ids)) == 9  # not held-out figures: the output says so
    with pytest.raises(MissingInputError, match=r"checkpoint .*model\.pt does not exist; create it with: python"):
        load_policy_config(root)
    (root / "model.pt").touch()
    with pytest.raises(MissingInputError, match=r"policy config .*policy_config\.json does not exist"):
        load_policy_config(root)
