# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Generic helpers of monai-dianet: enums and constants shared by every subpackage, and one-line input errors
(no imports from the rest of the package)."""

from .constants import DIANET_TASKS, MODALITIES
from .enums import Activation, DropoutPlacement, Modality, PriorMode, RouteDecision, UncertaintyScore
from .errors import InputError, MissingInputError, input_error_message, install_input_error_hook, run_cli
from .io import read_json

__all__ = [
    "Activation",
    "DIANET_TASKS",
    "DropoutPlacement",
    "InputError",
    "MODALITIES",
    "MissingInputError",
    "Modality",
    "PriorMode",
    "RouteDecision",
    "UncertaintyScore",
    "input_error_message",
    "install_input_error_hook",
    "read_json",
    "run_cli",
]
