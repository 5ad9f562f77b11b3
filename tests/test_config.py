# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
import io

import pytest

import monai_dianet
from monai_dianet.config import OPTIONAL_PACKAGES, get_optional_config_values, print_config


def test_version_string():
    parts = monai_dianet.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_optional_values_cover_every_package():
    values = get_optional_config_values()
    assert len(values) == len(OPTIONAL_PACKAGES)
    # installed by the `all` extra, so a version must be found
    assert values["torch-geometric (gene-interaction graph encoder (OncoNet))"] != "NOT INSTALLED"


@pytest.mark.parametrize("details", [False, True])
def test_print_config(details):
    buf = io.StringIO()
    print_config(file=buf, monai_details=details)
    text = buf.getvalue()
    assert f"monai-dianet version: {monai_dianet.__version__}" in text
    assert "Pytorch version" in text and "openslide-python" in text
    assert ("MONAI configuration" in text) == details
