# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Inferers: uncertainty inference (MC dropout, deep ensembles, test-time augmentation), uncertainty-aware routing
(ACWI), OncoNet's MC-dropout report inputs, and mixed precision for any of them (:class:`AutocastInferer`)."""

from .uncertainty_inferer import UncertaintyInferer, network_head
from .mc_dropout import MCDropoutInferer, dropout_modules, enable_mc_dropout, repeat_batch, seeded_mc_dropout
from .ensemble import EnsembleInferer, load_checkpoint_state
from .tta import TTAInferer, default_tta_transform
from .autocast import AutocastInferer
from .onconet import OncoNetInferer
from .router import (
    ACWIRouter,
    case_correct,
    fit_router_thresholds,
    risk_coverage_curve,
    router_outcome,
    routing_disabled,
    select_case_score,
)
