# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The slide router a CAMELYON bundle config runs with (the split and checkpoint checks are
:func:`monai_dianet.data.select_split` and :func:`monai_dianet.bundle.require_file`)."""

from __future__ import annotations

from monai_dianet.apps.pathology.routing import SlideRouter
from monai_dianet.inferers.router import routing_disabled

__all__ = ["load_router", "TRAIN_COMMAND"]

TRAIN_COMMAND = "python -m monai.bundle run --config_file configs/train.json"
"""The command that writes the checkpoint and the router (from the bundle folder)."""


def load_router(router_file: str | None) -> SlideRouter | None:
    """The slide router of ``router_file``; None for ``"none"`` or ``""`` (outputs then say routing is off).

    Raises:
        MissingInputError: the file does not exist (the message says how to create it or turn routing off).
    """
    if routing_disabled(router_file):
        return None
    return SlideRouter.load(router_file, fit_command=TRAIN_COMMAND)
