# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoStrat treatment policy (ATLP, section 3.4.3 of the OncoNet/OncoStrat paper): patients from TCGA-format
cohorts, standard protocols, training and evaluation workflow, clinician-readable reports."""

from .cohort import CYTOTOXIC_GENES, PROLIFERATION_GENES, OncoStratCohort, load_oncostrat_cohort, parse_stage
from .protocols import most_intensive_action, standard_protocols
from .report import TreatmentReportHandler
from .workflow import (
    DEFAULT_ENV_SETTINGS,
    EVALUATION_SPLITS,
    INFERENCE_SPLITS,
    SPLITS,
    TRAIN_COMMAND,
    cohort_environment,
    load_policy_config,
    network_arguments,
    patient_items,
    prepare_cohort_root,
    seen_patients,
    split_cohort,
    split_environment,
    train_treatment_policy,
)

__all__ = [
    "CYTOTOXIC_GENES",
    "PROLIFERATION_GENES",
    "OncoStratCohort",
    "load_oncostrat_cohort",
    "parse_stage",
    "most_intensive_action",
    "standard_protocols",
    "TreatmentReportHandler",
    "DEFAULT_ENV_SETTINGS",
    "EVALUATION_SPLITS",
    "INFERENCE_SPLITS",
    "SPLITS",
    "TRAIN_COMMAND",
    "cohort_environment",
    "load_policy_config",
    "network_arguments",
    "patient_items",
    "prepare_cohort_root",
    "seen_patients",
    "split_cohort",
    "split_environment",
    "train_treatment_policy",
]
