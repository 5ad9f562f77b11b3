# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The ATLP agent (on sb3-contrib QR-DQN), its state encoder and risk measures."""

from .atlp import ATLP, ATLPAgent, ATLPPolicy, ATLPQuantileNetwork, QuantileQNetwork
from .encoder import MultimodalStateEncoder
from .risk import boltzmann_entropy, quantile_cvar

__all__ = ["ATLP", "ATLPAgent", "ATLPPolicy", "ATLPQuantileNetwork", "QuantileQNetwork", "MultimodalStateEncoder",
           "boltzmann_entropy", "quantile_cvar"]
