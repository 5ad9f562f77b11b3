# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Runtime helpers shared by the monai-dianet bundles: config loading, start-up checks, one-line errors, Model Zoo
checks."""

from .checks import require_file
from .config import load_bundle_config
from .startup import start_run
from .version import MONAIVersionWarning, check_monai_version
from .zoo import check_torchscript_export, check_workflow_properties, verify_bundle_metadata, verify_bundle_net

__all__ = [
    "MONAIVersionWarning",
    "check_monai_version",
    "check_torchscript_export",
    "check_workflow_properties",
    "load_bundle_config",
    "require_file",
    "start_run",
    "verify_bundle_metadata",
    "verify_bundle_net",
]
