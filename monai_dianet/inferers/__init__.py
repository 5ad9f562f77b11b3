# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Inferers: uncertainty inference (MC dropout, deep ensembles, test-time augmentation) and uncertainty-aware
routing (ACWI)."""

from .uncertainty_inferer import UncertaintyInferer, network_head
from .mc_dropout import MCDropoutInferer, dropout_modules, enable_mc_dropout, repeat_batch, seeded_mc_dropout
from .ensemble import EnsembleInferer, load_checkpoint_state
from .tta import TTAInferer, default_tta_transform
from .router import DECISIONS, SCORES, ACWIRouter, risk_coverage_curve
