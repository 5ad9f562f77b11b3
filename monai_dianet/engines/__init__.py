# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Training engines (MONAI / ignite workflows) of monai-dianet."""

from .dianet_trainer import DIANetTrainer, main_output, unwrap_network
from .domain_adaptive_trainer import DomainAdaptiveTrainer, domain_features, split_output
from .prepare_batch import ONCONET_INPUT_KEYS, OncoNetPrepareBatch, PrepareBatchWithPrior, SurvivalPrepareBatch
