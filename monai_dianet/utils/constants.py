# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Constants used by more than one subpackage, defined once here."""

from __future__ import annotations

from .enums import Modality

__all__ = ["DIANET_TASKS", "MODALITIES"]

#: DIANet task heads, in the order of :class:`~monai_dianet.networks.nets.DIANetOutput`.
DIANET_TASKS: tuple[str, str, str] = ("segmentation", "classification", "reconstruction")

#: OncoNet modalities in the order of ``modality_mask`` (image, genes, clinical), as plain strings.
MODALITIES: tuple[str, str, str] = tuple(m.value for m in Modality)  # type: ignore[assignment]
