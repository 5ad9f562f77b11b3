# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import logging
import sys

import pytest
from monai.data import DataLoader, Dataset
from monai.transforms import Compose, Lambdad

from monai_dianet.utils import InputError, MissingInputError, input_error_message, read_json, run_cli
from monai_dianet.utils.errors import _shorten_record


def _raise_input_error(item):
    raise InputError(f"image {item['image']} is not a NIfTI file; expected .nii or .nii.gz")


def test_input_error_types():
    missing = MissingInputError("checkpoint m.pt does not exist")
    assert isinstance(missing, InputError) and isinstance(missing, ValueError)
    assert isinstance(missing, FileNotFoundError)
    assert str(missing) == "checkpoint m.pt does not exist"


def test_message_through_monai_wrappers():
    def config_expression():
        try:
            raise InputError("datalist x.json has no 'training' list")
        except InputError as e:
            raise RuntimeError("Failed to evaluate ConfigExpression") from e

    with pytest.raises(RuntimeError) as info:
        config_expression()
    assert input_error_message(info.value) == "datalist x.json has no 'training' list"
    try:  # implicit chaining (__context__)
        try:
            raise MissingInputError("router file r.json\ndoes not exist")
        except InputError:
            raise KeyError("while handling")
    except KeyError as e:
        assert input_error_message(e) == "router file r.json does not exist"  # always one line
    assert input_error_message(RuntimeError("a bug")) is None
    assert input_error_message(None) is None


@pytest.mark.parametrize("num_workers", [0, 1])
def test_message_from_a_transform_in_a_dataloader(num_workers):
    """MONAI's Compose wraps the error; a worker process re-raises it with its traceback as the message."""
    data = Dataset([{"image": "case0.nii.gz"}], transform=Compose([Lambdad("image", lambda x: x), _raise_input_error]))
    with pytest.raises(Exception) as info:
        next(iter(DataLoader(data, num_workers=num_workers)))
    assert input_error_message(info.value) == "image case0.nii.gz is not a NIfTI file; expected .nii or .nii.gz"


def test_run_cli(capsys):
    assert run_cli(lambda: None) == 0
    assert run_cli(lambda: 3) == 3

    def bad_input():
        raise MissingInputError("--out folder /x is missing")

    assert run_cli(bad_input) == 1
    err = capsys.readouterr().err
    assert err == "error: --out folder /x is missing\n"

    def bug():
        raise ZeroDivisionError("a bug keeps its traceback")

    with pytest.raises(ZeroDivisionError):
        run_cli(bug)


def test_log_records_about_an_input_error_are_one_line():
    try:
        try:
            raise InputError("label map s.nii.gz has values [7]; expected 0, 1, 2, 4")
        except InputError as e:
            raise RuntimeError("applying transform") from e
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Exception: %s", ("applying",), sys.exc_info())
        ignite_style = logging.LogRecord("x", logging.ERROR, __file__, 1, "Engine run is terminating", (), None)
        info = logging.LogRecord("x", logging.INFO, __file__, 1, "an unrelated message", (), None)
        for r in (record, ignite_style, info):
            _shorten_record(r)
    for r in (record, ignite_style):
        assert r.getMessage() == "input error: label map s.nii.gz has values [7]; expected 0, 1, 2, 4"
        assert r.exc_info is None
    assert info.getMessage() == "an unrelated message"
    bug = logging.LogRecord("x", logging.ERROR, __file__, 1, "Exception: bug", (), (ValueError, ValueError(), None))
    assert _shorten_record(bug).exc_info is not None


def test_read_json(tmp_path):
    (tmp_path / "ok.json").write_text('{"training": []}')
    assert read_json(tmp_path / "ok.json", expected=dict) == {"training": []}
    (tmp_path / "latin1.json").write_bytes(b'{"name": "\xe9"}')
    with pytest.raises(InputError, match="datalist .*latin1.json is not UTF-8 text"):
        read_json(tmp_path / "latin1.json", "datalist")
    with pytest.raises(InputError, match=r"bad.json is not valid JSON \(line 2, column 2: Extra data"):
        (tmp_path / "bad.json").write_text('{"a": 1\n}x')
        read_json(tmp_path / "bad.json")
    with pytest.raises(MissingInputError, match="router file .*none.json does not exist"):
        read_json(tmp_path / "none.json", "router file")
