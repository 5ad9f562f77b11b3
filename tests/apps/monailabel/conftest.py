# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Fixtures of the MONAI Label / PACS tests (see monailabel_harness.py for the namespace and server helpers)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.apps.monailabel.monailabel_harness import NAMESPACE_MISSING, ROOT, NetNamespace, start_orthanc


@pytest.fixture(scope="session")
def pacs_tools_ready() -> Path:
    """Run scripts/setup_monailabel.sh (idempotent: venv + Debian packages); returns the MONAI Label python."""
    if NAMESPACE_MISSING:
        pytest.skip(NAMESPACE_MISSING)
    out = subprocess.run(["bash", str(ROOT / "scripts" / "setup_monailabel.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(f"scripts/setup_monailabel.sh failed:\n{out.stderr[-4000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def netns():
    with NetNamespace() as ns:
        yield ns


@pytest.fixture
def orthanc(netns, tmp_path, pacs_tools_ready):
    """A fresh Orthanc (own config and storage folder) in the test's namespace: ``(netns, base_url)``."""
    proc, url = start_orthanc(netns, tmp_path / "orthanc")
    yield netns, url
    netns.stop(proc)


@pytest.fixture(scope="session")
def brats_case(tmp_path_factory) -> dict:
    """One generated BraTS 2021 case (48 x 48 x 32): ``{"image": [4 NIfTI paths], "label": path, "case_id"}``."""
    from monai_dianet.data.synthetic import generate_brats

    return generate_brats(tmp_path_factory.mktemp("brats"), num=1, seed=3, shape=(48, 48, 32))[0]


@pytest.fixture(scope="session")
def brats_cases(tmp_path_factory) -> list[dict]:
    """Four generated BraTS 2021 cases, 64 x 64 x 32 (a multiple of DIANet's stride 32)."""
    from monai_dianet.data.synthetic import generate_brats

    return generate_brats(tmp_path_factory.mktemp("brats4"), num=4, seed=5, shape=(64, 64, 32))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, brats_cases) -> Path:
    """The BraTS bundle with quickly trained weights and a fitted router (see make_tiny_brats_bundle)."""
    from tests.apps.monailabel.monailabel_harness import make_tiny_brats_bundle

    return make_tiny_brats_bundle(tmp_path_factory.mktemp("bundle") / "dianet_brats", brats_cases[0], brats_cases[1:3])
