# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Losses of monai-dianet (MONAI ``_Loss`` subclasses)."""

from .anatomical_prior import AnatomicalPriorLoss
from .dianet_loss import DIANetLoss
from .domain_adversarial import DomainAdversarialLoss
from .ewc import EWCLoss
from .gaussian_kl import GaussianKLLoss
from .heteroscedastic import HeteroscedasticLoss
from .l2sp import L2SPLoss
from .latent_adversarial import LatentAdversarialLoss
from .mmd import MMDLoss
from .spatial_prior_kl import SpatialPriorKLLoss
from .attention_calibration import AttentionCalibrationLoss
from .consistency import ConsistencyLoss
from .contrastive import CrossModalContrastiveLoss
from .fusion_regularization import FusionRegularizationLoss
from .onconet_loss import OncoNetLoss
from .cox import CoxPHLoss
from .discrete_time_nll import (
    DiscreteTimeNLLLoss,
    discretize_survival_times,
    hazards_to_survival,
    survival_time_bins,
)
