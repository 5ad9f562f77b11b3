# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""What every monai-dianet bundle runs first: one-line input errors and the MONAI version check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monai_dianet.bundle.version import check_monai_version
from monai_dianet.utils.errors import install_input_error_hook

__all__ = ["start_run"]


def start_run(metadata: Mapping[str, Any] | None = None, check_version: bool = True) -> None:
    """Start a bundle run: report bad input as one line without traceback, and check the MONAI version.

    Put it first in each config's ``initialize`` list (a later config given to ``monai.bundle run`` replaces
    the whole list, so every config that has one needs the line)::

        "imports": ["$import monai_dianet.bundle"],
        "initialize": ["$monai_dianet.bundle.start_run(@_meta_)", ...]

    ``@_meta_`` is the bundle's ``metadata.json`` as ``monai.bundle run`` reads it (``--meta_file``, default
    ``configs/metadata.json`` beside the first config).

    Args:
        metadata: the bundle metadata (``monai_version`` is read from it).
        check_version: warn (:class:`~monai_dianet.bundle.version.MONAIVersionWarning`) when the installed
            MONAI's major.minor differs from the metadata's ``monai_version``.

    Example::

        start_run({"monai_version": "1.6.1"})
    """
    install_input_error_hook()
    if check_version:
        check_monai_version(metadata, stacklevel=3)  # the warning points at the config line
