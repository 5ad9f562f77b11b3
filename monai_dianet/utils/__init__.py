# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Generic helpers of monai-dianet."""

from .errors import InputError, MissingInputError, input_error_message, install_input_error_hook, run_cli

__all__ = ["InputError", "MissingInputError", "input_error_message", "install_input_error_hook", "run_cli"]
