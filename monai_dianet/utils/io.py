# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Reading user-given files with errors that name the file and what was expected."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import InputError, MissingInputError

__all__ = ["read_json"]


def read_json(path: str | os.PathLike, what: str = "JSON file", expected: type | None = None) -> Any:
    """Read a JSON file given by a user; a missing or malformed file is an :class:`InputError` naming it.

    ``json.load`` alone says "Expecting ',' delimiter: line 3 column 5" without the file.

    Args:
        path: the file.
        what: what the file is, for the message (e.g. ``"BraTS datalist"``).
        expected: the type the top-level value must have (e.g. ``dict``); None accepts any.

    Returns:
        The parsed content.

    Raises:
        MissingInputError: the file does not exist.
        InputError: the file is not valid JSON (line and column given), not UTF-8 text, or its top-level value is
            not of type ``expected``.

    Example::

        content = read_json("dataset.json", "BraTS datalist", expected=dict)
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{what} {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except json.JSONDecodeError as e:
        raise InputError(f"{what} {path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from e
    except UnicodeDecodeError as e:
        raise InputError(f"{what} {path} is not UTF-8 text ({e.reason}); expected a JSON file") from e
    if expected is not None and not isinstance(content, expected):
        raise InputError(
            f"{what} {path} holds a JSON {type(content).__name__}; expected a JSON "
            f"{ {dict: 'object', list: 'array'}.get(expected, expected.__name__) }"
        )
    return content
