# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""One-line HTTP errors for bad input inside the MONAI Label server (instead of a 500 with a stack trace)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from monai_dianet.apps.monailabel.dicom import DICOMStudyError
from monai_dianet.apps.monailabel.pacs import PACSError

__all__ = ["http_errors"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def http_errors() -> Iterator[None]:
    """Turn :class:`DICOMStudyError` (422), :class:`PACSError` (502) and missing files (404) raised inside the block
    into ``fastapi.HTTPException`` whose ``detail`` is the one-line message; the server logs that line only."""
    from fastapi import HTTPException

    try:
        yield
    except DICOMStudyError as e:
        logger.error(str(e))
        raise HTTPException(status_code=422, detail=str(e)) from None
    except PACSError as e:
        logger.error(str(e))
        raise HTTPException(status_code=502, detail=str(e)) from None
    except FileNotFoundError as e:
        logger.error(str(e))
        raise HTTPException(status_code=404, detail=str(e)) from None
