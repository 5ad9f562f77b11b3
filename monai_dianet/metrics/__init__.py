"""Metrics: predictive uncertainty and calibration."""

from .calibration import TemperatureScaling, expected_calibration_error, reliability_diagram_data
from .uncertainty import (
    case_uncertainty,
    expected_aleatoric,
    expected_entropy,
    mutual_information,
    predictive_entropy,
    sample_variance,
    uncertainty_maps,
)
