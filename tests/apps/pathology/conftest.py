# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Generated CAMELYON slides shared by the pathology tests (written once per session)."""

from __future__ import annotations

import pytest

pytest.importorskip("openslide")
pytest.importorskip("tifffile")

from monai_dianet.data.synthetic import generate_camelyon  # noqa: E402

SIZE = 2048
MPP = 1.0


@pytest.fixture(scope="session")
def camelyon_slides(tmp_path_factory):
    """Two tumour slides with exclusion regions and one normal slide, 2048^2 at 1 um/px (4 pyramid levels);
    each entry also carries its ``size`` and ``mpp``."""
    root = tmp_path_factory.mktemp("camelyon_slides")
    entries = generate_camelyon(root, num=3, seed=0, size=SIZE, mpp=MPP, tumor_fraction=0.6, exclusions=True)
    return [{**entry, "size": SIZE, "mpp": MPP} for entry in entries]
