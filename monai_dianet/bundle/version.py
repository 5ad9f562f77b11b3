# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Check at bundle start that the installed MONAI matches the ``monai_version`` the bundle was made with."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

import monai

__all__ = ["MONAIVersionWarning", "check_monai_version"]

_MAJOR_MINOR = re.compile(r"^\s*v?(\d+)\.(\d+)")


class MONAIVersionWarning(UserWarning):
    """The installed MONAI differs from a bundle's ``monai_version`` in major.minor (or cannot be compared)."""


def _major_minor(version: str) -> tuple[int, int] | None:
    match = _MAJOR_MINOR.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_monai_version(
    metadata: Mapping[str, Any] | str | None, installed: str | None = None, stacklevel: int = 2
) -> bool:
    """Warn when the installed MONAI's major.minor differs from the bundle's ``monai_version``.

    Model Zoo users ask for this check at run time: a bundle made with MONAI 1.6 may silently change behaviour
    under 1.5 or 1.7. MONAI's own check (``monai.bundle.scripts._check_monai_version``, private) runs only when a
    bundle is downloaded, warns only for an older MONAI, and compares version strings as text ("1.10" < "1.6").
    Patch releases are not compared: they do not change bundle behaviour.

    Args:
        metadata: the bundle's ``metadata.json`` content (in a bundle config: ``@_meta_``), or its
            ``monai_version`` string. None or a missing key warns that the version cannot be checked.
        installed: the installed MONAI version; default ``monai.__version__``.
        stacklevel: ``warnings.warn`` stack level (2: the caller's line).

    Returns:
        True when major.minor agree, False otherwise (a :class:`MONAIVersionWarning` was issued).

    Example::

        check_monai_version({"monai_version": "1.6.1"})  # True with MONAI 1.6.x, a warning with 1.5 or 1.7
    """
    expected = metadata.get("monai_version") if isinstance(metadata, Mapping) else metadata
    installed = monai.__version__ if installed is None else installed
    if not expected:
        warnings.warn(
            "the bundle's metadata names no monai_version: cannot check it against the installed MONAI "
            f"{installed}", MONAIVersionWarning, stacklevel=stacklevel,
        )
        return False
    want, have = _major_minor(str(expected)), _major_minor(str(installed))
    if want is None or have is None:
        warnings.warn(
            f"cannot compare the bundle's monai_version {expected!r} with the installed MONAI {installed!r}",
            MONAIVersionWarning, stacklevel=stacklevel,
        )
        return False
    if want != have:
        warnings.warn(
            f"this bundle was made with MONAI {expected} (metadata.json monai_version) but MONAI {installed} is "
            f"installed: results may differ; install monai~={want[0]}.{want[1]}.0 to match",
            MONAIVersionWarning, stacklevel=stacklevel,
        )
        return False
    return True
