# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Explanations and figures: attention saliency (eq 27-28), CAM/Grad-CAM(++) on DIANet, PNG plots."""

from .cam import CAM_METHODS, ClassScoreWrapper, compute_cam, default_fc_layer, default_target_layer
from .plots import (
    infer_spatial_dims,
    save_fig5_panels,
    save_figure,
    save_learning_curves,
    save_reliability_diagram,
    save_risk_coverage_curve,
    save_router_risk_coverage,
    save_uncertainty_overlay,
    select_slice,
    to_display_2d,
)
from .kaplan_meier import risk_groups, save_kaplan_meier_risk_groups
from .saliency import AttentionSaliency, fusion_attention_saliency
