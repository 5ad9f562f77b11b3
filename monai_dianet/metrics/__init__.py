# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Metrics: predictive uncertainty and calibration."""

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
from .survival import check_survival_data, concordance_index, survival_array, time_dependent_auc
