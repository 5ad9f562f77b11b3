# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Inferers: MC-dropout uncertainty inference and uncertainty-aware routing (ACWI)."""

from .mc_dropout import MCDropoutInferer, dropout_modules, enable_mc_dropout, repeat_batch, seeded_mc_dropout
from .router import DECISIONS, SCORES, ACWIRouter, risk_coverage_curve
