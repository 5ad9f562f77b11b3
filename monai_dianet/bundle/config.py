# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""A bundle's configs parsed from Python, as ``python -m monai.bundle run`` parses them."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

from monai_dianet.utils.errors import InputError

__all__ = ["load_bundle_config"]


def load_bundle_config(
    bundle: str | os.PathLike,
    config: str | Sequence[str] = "inference.json",
    overrides: Mapping[str, Any] | None = None,
) -> ConfigParser:
    """The ``ConfigParser`` of a Model Zoo bundle folder: ``configs/<config>`` (several files merge in order, as
    ``--config_file "['a.json','b.json']"`` does), ``configs/metadata.json`` as ``_meta_`` when present, then the
    overrides (``bundle_root`` keeps the config's value, usually ``"."``, unless it is overridden).

    Args:
        bundle: the bundle folder (the one holding ``configs/``).
        config: a config file name or a sequence of them, relative to ``configs/``. Defaults to
            ``"inference.json"``.
        overrides: ``{id: value}`` set after reading, e.g. ``{"bundle_root": "/tmp/run", "device": "cpu"}``.

    Returns:
        the parser, nothing instantiated yet.

    Raises:
        InputError: a config file does not exist.

    Example::

        parser = load_bundle_config("bundles/dianet_brats_segmentation", ["train.json", "evaluate.json"],
                                    {"bundle_root": "/tmp/brats"})
        evaluator = parser.get_parsed_content("evaluator")
    """
    names = [config] if isinstance(config, str) else list(config)
    paths = [Path(bundle, "configs", name) for name in names]
    for path in paths:
        if not path.is_file():
            raise InputError(f"bundle config {path} does not exist: expected a bundle folder with configs/{path.name}")
    parser = ConfigParser()
    parser.read_config([str(p) for p in paths])
    meta = Path(bundle, "configs", "metadata.json")
    if meta.is_file():
        parser.read_meta(str(meta))
    for key, value in (overrides or {}).items():
        parser[key] = value
    return parser
