# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Errors for bad user input, reported as one line by command lines and bundles.

A user who gives a bundle or a command line a malformed file must read one line naming the file or key and
what was expected, never a traceback. Code that checks user input raises :class:`InputError` (or
:class:`MissingInputError` for a file or folder that does not exist); entry points report it:

- a command line ends with ``sys.exit(run_cli(main))``;
- a bundle calls :func:`install_input_error_hook` at start (``monai_dianet.bundle.start_run`` does it).

Any other exception keeps its traceback: it is a bug, not bad input.

Hand-written because neither MONAI nor Python does this: ``monai.bundle`` wraps a failing config expression in
``RuntimeError("Failed to evaluate ...")``, MONAI's ``Compose`` wraps a failing transform in
``RuntimeError("applying transform ...")``, a ``DataLoader`` worker re-raises an error with the worker's whole
traceback as its message, and MONAI's ``StatsHandler`` logs every exception of an engine with its traceback.
:func:`input_error_message` finds the input error through all of these.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = [
    "InputError",
    "MissingInputError",
    "input_error_message",
    "install_input_error_hook",
    "run_cli",
]

# "package.module.ClassName: message" as Python prints the last line of a traceback (a DataLoader worker's
# re-raised error carries that text as its message)
_TRACEBACK_LINE = re.compile(r"^((?:[A-Za-z_]\w*\.)+)([A-Za-z_]\w*): (.+)$", re.MULTILINE)


class InputError(ValueError):
    """Bad user input: a file, a datalist entry, a config key or an option that is not what was expected.

    The message is one line that names the file or key and says what was expected, e.g.
    ``"datalist /data/list.json is not valid JSON (line 3, column 5: Expecting ',' delimiter)"``.
    A subclass of ``ValueError``, so callers that catch ``ValueError`` keep working.

    Example::

        if split not in splits:
            raise InputError(f"--eval_split {split!r} is not a split; expected one of {sorted(splits)}")
    """

    def __str__(self) -> str:
        # one plain message (KeyError-style subclasses would otherwise print its repr)
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class MissingInputError(InputError, FileNotFoundError):
    """A file or folder that the user must give (or create with the command named in the message) is missing.

    Also a ``FileNotFoundError``. Example::

        raise MissingInputError(f"checkpoint {path} does not exist; train first: python -m monai.bundle run ...")
    """


def _is_input_error_class(module: str, name: str) -> bool:
    """Whether ``module.name`` (as printed in a traceback) is an :class:`InputError` subclass already imported."""
    owner = sys.modules.get(module)
    cls = getattr(owner, name, None) if owner is not None else None
    return isinstance(cls, type) and issubclass(cls, InputError)


def _message_in_traceback_text(text: str) -> str | None:
    """The message of the last input error printed in a traceback text (a DataLoader worker's re-raise)."""
    found = None
    for match in _TRACEBACK_LINE.finditer(text):
        if _is_input_error_class(match.group(1)[:-1], match.group(2)):
            found = match.group(3)
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())


def input_error_message(exc: BaseException | None) -> str | None:
    """The one-line message of the :class:`InputError` behind ``exc``, or None when there is none.

    Follows ``__cause__`` and ``__context__`` (MONAI's config and transform wrappers) and reads the traceback
    text that a ``DataLoader`` worker puts in the message of the error it re-raises.

    Args:
        exc: any exception (None gives None).

    Returns:
        The message on one line, or None when no input error caused ``exc``.

    Example::

        try:
            workflow.run()
        except Exception as e:
            print(input_error_message(e) or "a bug: see the traceback")
    """
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop(0)
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        try:
            text = str(error)
        except Exception:  # a broken __str__ must not hide the original error
            text = ""
        wrapped = _message_in_traceback_text(text)
        if wrapped is not None:
            return _one_line(wrapped)
        if isinstance(error, InputError):
            return _one_line(text)
        pending += [error.__cause__, error.__context__]
    return None


def run_cli(main: Callable[[], int | None]) -> int:
    """Run a command line's ``main``; an input error ends it with one ``error:`` line on stderr and status 1.

    Args:
        main: the command line's entry function; its return value is the exit status (None means 0).

    Returns:
        The exit status for ``sys.exit``.

    Raises:
        Any exception of ``main`` that no :class:`InputError` caused (a bug keeps its traceback).

    Example::

        if __name__ == "__main__":
            sys.exit(run_cli(main))
    """
    try:
        return int(main() or 0)
    except Exception as e:
        message = input_error_message(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1


_installed: dict[str, Any] = {}


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    message = input_error_message(exc) if isinstance(exc, Exception) else None
    if message is None:
        _installed["excepthook"](exc_type, exc, tb)
        return
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def _shorten_record(record: logging.LogRecord) -> logging.LogRecord:
    """Log records about an input error: one line, no traceback (MONAI's StatsHandler logs it with one)."""
    message = None
    if record.exc_info and record.exc_info[1] is not None:
        message = input_error_message(record.exc_info[1])
    elif record.levelno >= logging.ERROR:
        # e.g. ignite's "Engine run is terminating due to exception: {e}", logged while handling the error
        message = input_error_message(sys.exc_info()[1])
        if message is None:
            try:
                message = _message_in_traceback_text(record.getMessage())
            except Exception:  # a record with bad arguments: leave it to the logging module's own error path
                message = None
    if message is not None:
        record.msg, record.args = f"input error: {message}", ()
        record.exc_info, record.exc_text = None, None
    return record


def install_input_error_hook() -> None:
    """Report uncaught input errors as one line: ``error: <message>`` on stderr, exit status 1, no traceback.

    Sets ``sys.excepthook`` (other exceptions go to the previous hook and keep their traceback) and a log
    record factory that writes log records about an input error (e.g. from MONAI's ``StatsHandler``) as one line
    without the traceback. Idempotent. Bundles get it from ``monai_dianet.bundle.start_run``.

    Example::

        install_input_error_hook()
        raise InputError("datalist x.json has no 'training' list")  # prints: error: datalist x.json has no ...
    """
    if _installed:
        return
    _installed["excepthook"] = sys.excepthook
    sys.excepthook = _excepthook
    previous_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _shorten_record(previous_factory(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed["factory"] = factory

