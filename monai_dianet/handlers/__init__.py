"""Ignite/MONAI event handlers of monai-dianet."""

from .loss_parts import LOSS_PARTS_PREFIX, LossPartsHandler, from_loss_parts, loss_part_key
