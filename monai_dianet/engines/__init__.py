"""Training engines (MONAI / ignite workflows) of monai-dianet."""

from .dianet_trainer import DIANetTrainer, main_output, unwrap_network
from .domain_adaptive_trainer import DomainAdaptiveTrainer, domain_features, split_output
