# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""One way for every bundle to get its data folder: the user's ``dataset_dir``, or an embedded data set generated
once in the real on-disk formats."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.distributed as dist

from monai_dianet.utils.errors import MissingInputError

__all__ = ["EMBEDDED_MARKER", "prepare_embedded_data"]

#: file written last into a generated folder: the generator settings as JSON; its presence marks a complete folder
EMBEDDED_MARKER = "generated.json"


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _complete(target: Path, settings: dict[str, Any]) -> bool:
    marker = target / EMBEDDED_MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == settings
    except ValueError:  # a marker from an interrupted foreign write: treat the folder as stale
        return False


def _generate(target: Path, generate: Callable[..., Any], settings: dict[str, Any]) -> None:
    """Write into a private folder beside ``target`` and rename it into place (a stale ``target`` is moved aside
    first), so a reader never sees half a data set."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    stale = None
    try:
        generate(tmp, **settings)
        (tmp / EMBEDDED_MARKER).write_text(json.dumps(settings))
        if target.exists() and not _complete(target, settings):
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale.", dir=target.parent))
            os.rename(target, stale / target.name)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _complete(target, settings):  # no other process finished the same data set first
                raise
    finally:
        for path in (tmp, stale):
            if path is not None and path.exists():
                shutil.rmtree(path, ignore_errors=True)


def prepare_embedded_data(
    dataset_dir: str | os.PathLike | None,
    target_dir: str | os.PathLike,
    generate: Callable[..., Any],
    **settings: Any,
) -> str:
    """The data folder a bundle reads: ``dataset_dir`` when given, else ``target_dir`` generated once.

    With no ``dataset_dir`` (None or ``""``), ``generate(folder, **settings)`` writes the embedded data set. It runs
    once per ``settings``: the folder ends with :data:`EMBEDDED_MARKER` holding ``settings``; a later call with the
    same settings reuses the folder, other settings replace it. Generation is atomic (a private folder renamed into
    place) and safe under ``torchrun``: with ``torch.distributed`` initialised, rank 0 generates while the other
    ranks wait on a barrier; without it (processes that start together before initialising), each process that
    finds no complete folder generates privately and the first rename wins.

    Args:
        dataset_dir: the user's data folder; None or ``""`` selects the embedded data set.
        target_dir: where the embedded data set lives.
        generate: ``generate(folder, **settings)`` writes the data set into ``folder`` (created, empty).
        settings: JSON-serialisable keyword arguments of ``generate``.

    Returns:
        the data folder, as an absolute path string.

    Raises:
        MissingInputError: ``dataset_dir`` is given but is not a folder (also a ``FileNotFoundError``).
        TypeError: ``settings`` are not JSON-serialisable.

    Example::

        root = prepare_embedded_data(None, "bundle/data/tcga", generate_tcga, num=16, seed=0)
    """
    if dataset_dir:
        root = Path(dataset_dir).expanduser().resolve()
        if not root.is_dir():
            raise MissingInputError(f"dataset_dir {root} is not a folder.")
        return str(root)
    target = Path(target_dir).expanduser().resolve()
    settings = json.loads(json.dumps(settings))  # the form read back from the marker (tuples become lists)
    if _distributed():
        if dist.get_rank() == 0 and not _complete(target, settings):
            _generate(target, generate, settings)
        dist.barrier()
        if not _complete(target, settings):
            raise RuntimeError(f"rank {dist.get_rank()}: rank 0 did not leave a complete data set in {target}.")
    elif not _complete(target, settings):
        _generate(target, generate, settings)
    return str(target)
