"""Metrics: predictive uncertainty and calibration."""

from .uncertainty import (
    case_uncertainty,
    expected_aleatoric,
    expected_entropy,
    mutual_information,
    predictive_entropy,
    sample_variance,
    uncertainty_maps,
)
