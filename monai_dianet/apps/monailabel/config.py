# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Reading a served bundle's config (no ``monailabel`` import: the tests build bundles with it too)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from monai.bundle import ConfigParser

__all__ = ["load_bundle_config"]


def load_bundle_config(bundle: str, config: str = "inference.json", overrides: Mapping[str, Any] | None = None):
    """The bundle's parsed config (``ConfigParser``) with ``bundle_root`` set to the bundle folder.

    Raises:
        FileNotFoundError: no such bundle config.
    """
    path = os.path.join(bundle, "configs", config)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"bundle config {path} does not exist; --conf must point at a bundle folder.")
    parser = ConfigParser()
    parser.read_config(path)
    parser["bundle_root"] = os.path.abspath(bundle)
    for key, value in (overrides or {}).items():
        parser[key] = value
    return parser
