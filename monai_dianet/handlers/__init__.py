# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Ignite/MONAI event handlers of monai-dianet."""

from .loss_parts import LOSS_PARTS_PREFIX, LossPartsHandler, from_loss_parts, loss_part_key
from .metrics_report import MetricsReportHandler
from .routing import (
    RouterFitHandler,
    RouterLoader,
    RouterReportHandler,
    load_router_file,
    save_router_file,
)
from .survival_report import SurvivalReportSaver
