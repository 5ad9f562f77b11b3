# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Small checks the CAMELYON bundle configs run on user input: the split to evaluate, the router, the checkpoint."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from monai_dianet.apps.pathology.routing import SlideRouter
from monai_dianet.utils.errors import InputError, MissingInputError

__all__ = ["split_entries", "load_router", "require_checkpoint", "TRAIN_COMMAND"]

TRAIN_COMMAND = "python -m monai.bundle run --config_file configs/train.json"
"""The command that writes the checkpoint and the router (from the bundle folder)."""


def split_entries(splits: Mapping[str, Sequence[dict]], name: str) -> list[dict]:
    """The entries of split ``name`` (``training``, ``validation``, ``test``, or ``all`` for every slide).

    Raises:
        InputError: an unknown split name, or an empty split (never falls back to other slides).
    """
    if name == "all":
        return [entry for split in splits.values() for entry in split]
    if name not in splits:
        raise InputError(f"--eval_split {name!r} is not a split; expected one of {sorted(splits) + ['all']}.")
    if not splits[name]:
        raise InputError(
            f"the {name} split is empty ({', '.join(f'{k}: {len(v)}' for k, v in splits.items())} slides); give "
            "more slides or a larger --test_fraction / --val_fraction."
        )
    return list(splits[name])


def load_router(router_file: str | None) -> SlideRouter | None:
    """The slide router of ``router_file``; None for ``"none"`` or ``""`` (outputs then say routing is off).

    Raises:
        MissingInputError: the file does not exist (the message says how to create it or turn routing off).
    """
    if router_file is None or str(router_file).strip().lower() in ("", "none"):
        return None
    return SlideRouter.load(router_file, fit_command=TRAIN_COMMAND)


def require_checkpoint(path: str | os.PathLike) -> str:
    """``path`` when the model file exists.

    Raises:
        MissingInputError: it does not (naming the command that writes it).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingInputError(f"checkpoint {path} does not exist; train first: {TRAIN_COMMAND}")
    return path
