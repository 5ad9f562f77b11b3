# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Generic helpers of monai-dianet: enums and constants shared by every subpackage, one-line input errors and the
precision option (no imports from the rest of the package)."""

from .constants import DIANET_TASKS, MODALITIES
from .enums import Activation, DropoutPlacement, Modality, Precision, PriorMode, RouteDecision, UncertaintyScore
from .errors import InputError, MissingInputError, input_error_message, install_input_error_hook, run_cli
from .io import read_json
from .precision import (
    PrecisionPolicy,
    check_precision,
    cpu_has_native_bf16,
    cpu_has_native_fp16,
    map_tensors,
    resolve_precision,
    to_float32,
)

__all__ = [
    "Activation",
    "DIANET_TASKS",
    "DropoutPlacement",
    "InputError",
    "MODALITIES",
    "MissingInputError",
    "Modality",
    "Precision",
    "PrecisionPolicy",
    "PriorMode",
    "RouteDecision",
    "UncertaintyScore",
    "check_precision",
    "cpu_has_native_bf16",
    "cpu_has_native_fp16",
    "input_error_message",
    "install_input_error_hook",
    "map_tensors",
    "read_json",
    "resolve_precision",
    "run_cli",
    "to_float32",
]
