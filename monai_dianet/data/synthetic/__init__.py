# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Synthetic data written in the real on-disk formats of BraTS (NIfTI), CAMELYON (pyramidal TIFF + ASAP XML)
and TCGA (GDC files), so that loaders, bundles and tests read generated and real data through the same code.

Also a command line: ``python -m monai_dianet.data.synthetic {brats,camelyon,tcga} --out DIR --num N --seed S``.
"""

from __future__ import annotations

from typing import Any

from monai_dianet.data.synthetic.brats import generate_brats, make_brats_case
from monai_dianet.data.synthetic.camelyon import generate_camelyon, read_asap_polygons, write_asap_polygons

__all__ = [
    "generate_brats",
    "generate_camelyon",
    "generate_tcga",
    "make_brats_case",
    "read_asap_polygons",
    "write_asap_polygons",
]


def __getattr__(name: str) -> Any:
    """Import the TCGA generator on first use (it lives in its own module, ``tcga.py``)."""
    if name == "generate_tcga":
        from monai_dianet.data.synthetic.tcga import generate_tcga

        return generate_tcga
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
