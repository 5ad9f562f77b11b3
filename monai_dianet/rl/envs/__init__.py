# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Gymnasium treatment environments on published tumour-response models (registered on import).

Registered ids: ``monai_dianet/ChemoImmuno-v0`` (de Pillis, Gu & Radunskaya 2006) and ``monai_dianet/Chemo-v0``
(de Pillis & Radunskaya 2003 / Ahn & Park 2011).
"""

import gymnasium as gym

from .factories import CHEMO_IMMUNO_REGIMENS, CHEMO_REGIMENS, make_chemo_immunotherapy_env, make_chemotherapy_env
from .patients import PatientDistribution, PatientProfile, resolve_patient
from .regimen import Regimen, TreatmentAction, build_action_table, select_regimens
from .reward import TreatmentReward
from .treatment_env import TreatmentEnv

ENV_IDS = ("monai_dianet/ChemoImmuno-v0", "monai_dianet/Chemo-v0")
"""The registered environment ids."""

for _id, _entry in zip(ENV_IDS, ("make_chemo_immunotherapy_env", "make_chemotherapy_env")):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=f"{__name__}:{_entry}")

__all__ = [
    "ENV_IDS",
    "CHEMO_IMMUNO_REGIMENS",
    "CHEMO_REGIMENS",
    "PatientDistribution",
    "PatientProfile",
    "Regimen",
    "TreatmentAction",
    "TreatmentEnv",
    "TreatmentReward",
    "build_action_table",
    "make_chemo_immunotherapy_env",
    "make_chemotherapy_env",
    "resolve_patient",
    "select_regimens",
]
