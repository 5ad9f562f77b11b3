# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Checks a bundle config runs on what it reads before it reads it: a missing file stops the run with the command
that writes it, never with a default (an untrained network, an unfitted router) in its place."""

from __future__ import annotations

import os

from monai_dianet.utils.errors import MissingInputError

__all__ = ["require_file"]


def require_file(path: str | os.PathLike, what: str = "file", command: str = "") -> str:
    """``path`` as a string when the file exists.

    Args:
        path: the file a config is about to read (a checkpoint, a fitted router, a preprocessing file).
        what: what it is, for the message (``"checkpoint"``).
        command: the command that writes it, for the message.

    Returns:
        ``os.fspath(path)``.

    Raises:
        MissingInputError: the file does not exist; the message names it and ``command``.

    Example (in a config)::

        "load_path": "$monai_dianet.bundle.require_file(@ckpt_path, 'checkpoint', 'python -m monai.bundle run ...')"
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        hint = f"; create it with: {command}" if command else ""
        raise MissingInputError(f"{what} {path} does not exist{hint}")
    return path
