# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MONAI's image loading, with an unreadable or missing file reported as bad input that names the file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from monai.transforms import LoadImage, LoadImaged

from monai_dianet.utils.errors import InputError, MissingInputError

__all__ = ["CheckedLoadImage", "CheckedLoadImaged", "CheckedLoadImageD", "CheckedLoadImageDict"]


class CheckedLoadImage(LoadImage):
    """:class:`monai.transforms.LoadImage` whose missing or unreadable file raises an :class:`InputError` naming it.

    MONAI passes the reader's own error through: ``EOFError: Compressed file ended before the end-of-stream
    marker was reached`` for a truncated ``.nii.gz``, without the file, and for a list of files (the four BraTS
    sequences) without saying which one. Here the files are read as usual; only when reading fails are they read
    one by one to find the culprit, so a good file costs nothing extra.

    Takes the arguments of :class:`monai.transforms.LoadImage`.

    Raises:
        MissingInputError: a file does not exist.
        InputError: a file cannot be read (truncated, not an image, wrong format); the reader's message follows.

    Example::

        image = CheckedLoadImage(image_only=True)(["t1.nii.gz", "t1c.nii.gz", "t2.nii.gz", "flair.nii.gz"])
    """

    def __call__(self, filename: Sequence[str | os.PathLike] | str | os.PathLike, reader: Any = None) -> Any:
        try:
            return super().__call__(filename, reader)
        except Exception as e:
            files = [filename] if isinstance(filename, (str, os.PathLike)) else list(filename)
            culprit, error = files[0], e
            if len(files) > 1:
                for name in files:
                    try:
                        super().__call__(name, reader)
                    except Exception as single:
                        culprit, error = name, single
                        break
            if not os.path.exists(culprit):
                raise MissingInputError(f"image file {culprit} does not exist") from e
            reason = " ".join(str(error).split()) or type(error).__name__
            raise InputError(
                f"image file {culprit} cannot be read ({type(error).__name__}: {reason}); expected a complete "
                f"image in a format MONAI reads (e.g. NIfTI .nii/.nii.gz)"
            ) from e


class CheckedLoadImaged(LoadImaged):
    """Dictionary twin of :class:`CheckedLoadImage`: :class:`monai.transforms.LoadImaged` with errors naming the file.

    Takes the arguments of :class:`monai.transforms.LoadImaged`.

    Example::

        load = CheckedLoadImaged(keys=["image", "label"], image_only=True, ensure_channel_first=True)
    """

    def __init__(self, keys: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(keys, *args, **kwargs)
        # the LoadImage that MONAI built from these arguments, given the checked __call__ (CheckedLoadImage has no
        # state of its own, so this avoids re-implementing LoadImaged's argument routing)
        self._loader.__class__ = CheckedLoadImage


CheckedLoadImageD = CheckedLoadImageDict = CheckedLoadImaged
