# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Metrics: predictive uncertainty, case-level uncertainty scores and calibration."""

from .case_scores import (
    CASE_SCORES,
    SegmentationCaseScore,
    boundary_band,
    predicted_foreground,
    segmentation_case_scores,
)
from .classification import macro_f1, stack_output, top_label_ece
from .calibration import TemperatureScaling, expected_calibration_error, reliability_diagram_data
from .uncertainty import (
    RunningUncertainty,
    case_uncertainty,
    expected_aleatoric,
    expected_entropy,
    mutual_information,
    predictive_entropy,
    sample_variance,
    uncertainty_maps,
)
from .survival import (
    check_survival_data,
    concordance_index,
    concordance_index_metric,
    stack_survival_output,
    survival_array,
    time_dependent_auc,
    time_dependent_auc_metric,
)
