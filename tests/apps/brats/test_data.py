# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the BraTS datalist builder (monai_dianet.apps.brats)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_dianet.apps.brats import (
    BRATS_LAYOUTS,
    brats_case_files,
    brats_datalists,
    build_brats_datalist,
    find_brats_cases,
    load_brats_datalist_json,
    prepare_brats_dataset,
)
from monai_dianet.data.synthetic import generate_brats
from monai_dianet.utils import InputError, MissingInputError

SHAPE = (16, 16, 16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two generated cases per layout under one root (module-scoped: generated once)."""
    root = tmp_path_factory.mktemp("brats")
    generate_brats(root / "b21", num=2, seed=0, shape=SHAPE, layout="2021")
    generate_brats(root / "b23", num=2, seed=1, shape=SHAPE, layout="2023")
    return root


def _copy_case(dataset: Path, layout: str, dest: Path) -> Path:
    sub = "b21" if layout == "2021" else "b23"
    src = sorted(p for p in (dataset / sub).iterdir() if p.is_dir())[0]
    shutil.copytree(src, dest / src.name)
    return dest / src.name


def test_finds_both_layouts_in_channel_order(dataset):
    entries = find_brats_cases(dataset)
    assert [e["case_id"] for e in entries] == sorted(e["case_id"] for e in entries)
    assert sorted(e["layout"] for e in entries) == ["2021", "2021", "2023", "2023"]
    for e in entries:
        lay = BRATS_LAYOUTS[e["layout"]]
        assert len(e["image"]) == 4
        for path, seq in zip(e["image"], lay.sequences):
            assert Path(path).is_absolute() and Path(path).is_file()
            assert Path(path).name == f"{e['case_id']}{lay.separator}{seq}.nii.gz"
        assert Path(e["label"]).name == f"{e['case_id']}{lay.separator}seg.nii.gz"


@pytest.mark.parametrize("layout", ["2021", "2023"])
def test_layout_filter(dataset, layout):
    entries = find_brats_cases(dataset, layout=layout)
    assert len(entries) == 2 and {e["layout"] for e in entries} == {layout}


@pytest.mark.parametrize("layout", ["2021", "2023"])
def test_missing_sequence_names_case_and_file(dataset, tmp_path, layout):
    case = _copy_case(dataset, layout, tmp_path)
    missing = case / BRATS_LAYOUTS[layout].filename(case.name, BRATS_LAYOUTS[layout].sequences[3])
    missing.unlink()
    with pytest.raises(FileNotFoundError) as err:
        find_brats_cases(tmp_path)
    assert case.name in str(err.value) and str(missing) in str(err.value)


def test_missing_label_required_or_not(dataset, tmp_path):
    case = _copy_case(dataset, "2021", tmp_path)
    (case / f"{case.name}_seg.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match=f"{case.name}_seg.nii.gz"):
        find_brats_cases(tmp_path)
    entry = find_brats_cases(tmp_path, require_label=False)[0]
    assert "label" not in entry and entry["layout"] == "2021"


def test_case_detected_by_files_when_folder_renamed(dataset, tmp_path):
    """A folder whose name matches no pattern but holds <name>-t1n.nii.gz etc. is still a (2023) case."""
    case = _copy_case(dataset, "2023", tmp_path)
    renamed = tmp_path / "patientA"
    renamed.mkdir()
    for f in case.iterdir():
        shutil.copy(f, renamed / f.name.replace(case.name, "patientA"))
    shutil.rmtree(case)
    entry = brats_case_files(renamed)
    assert entry["case_id"] == "patientA" and entry["layout"] == "2023"


def test_no_case_and_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="no BraTS case"):
        find_brats_cases(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_brats_cases(tmp_path / "nope")
    with pytest.raises(ValueError, match="matches no BraTS layout"):
        brats_case_files(tmp_path)


def test_duplicate_case_ids(dataset, tmp_path):
    _copy_case(dataset, "2021", tmp_path / "a")
    _copy_case(dataset, "2021", tmp_path / "b")
    with pytest.raises(ValueError, match="more than once"):
        find_brats_cases(tmp_path)


def test_decathlon_json_from_generator(dataset):
    entries = load_brats_datalist_json(dataset / "b23" / "dataset.json")
    assert len(entries) == 2
    for e in entries:
        assert e["layout"] == "2023" and e["case_id"].startswith("BraTS-GLI-")
        assert all(Path(p).is_file() for p in e["image"] + [e["label"]])
    assert build_brats_datalist(dataset / "b23", dataset / "b23" / "dataset.json") == entries


def test_decathlon_json_custom_names(dataset, tmp_path):
    """Names that reveal no layout need a 'layout' key (or layout=); missing files name the case."""
    src = find_brats_cases(dataset, layout="2023")[0]
    for i, p in enumerate(src["image"]):
        shutil.copy(p, tmp_path / f"img{i}.nii.gz")
    shutil.copy(src["label"], tmp_path / "lab.nii.gz")
    item = {"image": [f"img{i}.nii.gz" for i in range(4)], "label": "lab.nii.gz"}
    (tmp_path / "dl.json").write_text(json.dumps({"training": [item]}))
    with pytest.raises(ValueError, match="layout"):
        load_brats_datalist_json(tmp_path / "dl.json")
    entry = load_brats_datalist_json(tmp_path / "dl.json", layout="2023")[0]
    assert entry["layout"] == "2023" and entry["case_id"] == tmp_path.name
    item["layout"], item["case_id"] = "2021", "caseX"
    item["image"][2] = "gone.nii.gz"
    (tmp_path / "dl.json").write_text(json.dumps({"training": [item]}))
    with pytest.raises(FileNotFoundError, match="caseX.*gone.nii.gz"):
        load_brats_datalist_json(tmp_path / "dl.json")
    with pytest.raises(InputError, match="has no key 'validation'"):
        load_brats_datalist_json(tmp_path / "dl.json", data_list_key="validation")


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"training": [{"image": ["a", "b"]', r"dl.json is not valid JSON \(line 1, column 35"),
        ('["not", "an", "object"]', "dl.json holds a JSON list; expected a JSON object"),
        ('{"training": {"image": []}}', r"dl.json\['training'\] is a dict; expected a list"),
        ('{"training": [["a.nii.gz"]]}', "entry 0 of .*dl.json\\['training'\\] has no 'image' key"),
        ('{"training": [{"image": "a.nii.gz"}]}', "must list 4 sequence files"),
    ],
)
def test_malformed_datalist_json(tmp_path, text, message):
    (tmp_path / "dl.json").write_text(text)
    with pytest.raises(InputError, match=message):
        load_brats_datalist_json(tmp_path / "dl.json")
    with pytest.raises(MissingInputError, match="BraTS datalist JSON .*none.json does not exist"):
        load_brats_datalist_json(tmp_path / "none.json")


def test_datalists_split_stratified_by_layout(dataset):
    lists = brats_datalists(dataset, val_fraction=0.5, seed=1)  # 2 cases per layout: one of each held out
    assert sorted(e["layout"] for e in lists["validation"]) == ["2021", "2023"] and lists["test"] == []
    assert brats_datalists(dataset, val_fraction=0.5, seed=1) == lists
    with pytest.warns(UserWarning, match="stratified"):  # 1 test case cannot hold both layouts
        three = brats_datalists(dataset, val_fraction=0.25, test_fraction=0.25, seed=1)
    ids = [{e["case_id"] for e in three[k]} for k in ("training", "validation", "test")]
    assert [len(i) for i in ids] == [2, 1, 1] and len(set().union(*ids)) == 4  # no case in two splits
    assert set(three) == {"training", "validation", "test"}


def test_datalists_uses_json_validation_list(dataset, tmp_path):
    train_items = json.loads((dataset / "b21" / "dataset.json").read_text())["training"]
    content = {"training": train_items[:1], "validation": train_items[1:]}
    (dataset / "b21" / "split.json").write_text(json.dumps(content))
    lists = brats_datalists(dataset / "b21", dataset / "b21" / "split.json")
    assert [e["case_id"] for e in lists["training"]] == [train_items[0]["case_id"]]
    assert [e["case_id"] for e in lists["validation"]] == [train_items[1]["case_id"]]
    assert lists["test"] == []
    with_test = dict(content, training=train_items[:1], validation=train_items[1:], test=train_items[1:])
    (dataset / "b21" / "split.json").write_text(json.dumps(with_test))
    with pytest.raises(InputError, match="in more than one of its lists"):
        brats_datalists(dataset / "b21", dataset / "b21" / "split.json")
    scanned = brats_datalists(dataset, val_fraction=0.5, max_cases=1)
    assert len(scanned["training"]) == 1 and len(scanned["validation"]) == 1


def test_prepare_dataset_given_and_embedded(dataset, tmp_path, monkeypatch):
    assert prepare_brats_dataset(str(dataset)) == str(dataset)
    with pytest.raises(FileNotFoundError, match="dataset_dir"):
        prepare_brats_dataset(str(tmp_path / "missing"))
    out = prepare_brats_dataset("", tmp_path, num=1, shape=SHAPE)
    entries = find_brats_cases(out)
    assert Path(out).parent == tmp_path / "data" and sorted(e["layout"] for e in entries) == ["2021", "2023"]
    stamp = os.path.getmtime(entries[0]["image"][0])

    def fail(*args, **kwargs):
        raise AssertionError("the complete synthetic dataset must be reused, not regenerated")

    monkeypatch.setattr("monai_dianet.data.synthetic.generate_brats", fail)
    assert prepare_brats_dataset(None, tmp_path, num=1, shape=SHAPE) == out
    assert os.path.getmtime(entries[0]["image"][0]) == stamp
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]  # no temp folder left


def test_labels_follow_layout_convention(dataset):
    """The generated files carry the conventions the builder records (guards the layout table)."""
    for e in find_brats_cases(dataset):
        values = set(np.unique(np.asarray(nib.load(e["label"]).dataobj)).tolist())
        assert values <= set(BRATS_LAYOUTS[e["layout"]].labels)
        assert BRATS_LAYOUTS[e["layout"]].enhancing_label in values
