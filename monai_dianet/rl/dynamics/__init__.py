# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Published tumour-response ODE models."""

from .base import InfusionSegment, TumourODEModel
from .chemo_immunotherapy import DE_PILLIS_2006_PATIENT_9, DE_PILLIS_2006_PATIENT_10, ChemoImmunotherapyModel
from .chemotherapy import DE_PILLIS_RADUNSKAYA_2003, ChemotherapyModel

__all__ = [
    "InfusionSegment",
    "TumourODEModel",
    "ChemoImmunotherapyModel",
    "ChemotherapyModel",
    "DE_PILLIS_2006_PATIENT_9",
    "DE_PILLIS_2006_PATIENT_10",
    "DE_PILLIS_RADUNSKAYA_2003",
]
