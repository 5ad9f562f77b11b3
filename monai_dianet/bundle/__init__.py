# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Runtime helpers shared by the monai-dianet bundles: start-up checks, one-line errors, Model Zoo checks."""

from .startup import start_run
from .version import MONAIVersionWarning, check_monai_version

__all__ = ["MONAIVersionWarning", "check_monai_version", "start_run"]
