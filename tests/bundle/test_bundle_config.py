# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""load_bundle_config parses a bundle folder as ``monai.bundle run`` would: configs merged in order, metadata as
``_meta_``, overrides last, one-line errors for missing files."""

from __future__ import annotations

import json

import pytest

from monai_dianet.bundle import load_bundle_config
from monai_dianet.utils import InputError


@pytest.fixture
def bundle(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "a.json").write_text(json.dumps({"bundle_root": ".", "x": 1, "y": "$@x + 1", "out": "$@bundle_root"}))
    (configs / "b.json").write_text(json.dumps({"x": 5}))
    (configs / "metadata.json").write_text(json.dumps({"version": "0.1.0"}))
    return tmp_path


def test_merge_meta_and_overrides(bundle):
    parser = load_bundle_config(bundle, ["a.json", "b.json"])
    assert parser.get_parsed_content("y") == 6  # b.json's x wins, as with --config_file "['a.json','b.json']"
    assert parser.get_parsed_content("_meta_#version") == "0.1.0"
    assert parser.get_parsed_content("out") == "."  # bundle_root keeps the config's value
    parser = load_bundle_config(bundle, "a.json", {"x": 10, "bundle_root": "/run"})
    assert parser.get_parsed_content("y") == 11 and parser.get_parsed_content("out") == "/run"


def test_missing_config_is_one_line(bundle):
    with pytest.raises(InputError, match=r"bundle config .*configs/nope\.json does not exist") as err:
        load_bundle_config(bundle, ["a.json", "nope.json"])
    assert "\n" not in str(err.value)
