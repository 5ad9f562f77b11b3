# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Synthetic BraTS generator: files read back the way users read BraTS (nibabel, MONAI LoadImaged)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.data import load_decathlon_datalist
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged
from scipy import ndimage

from monai_dianet.data.synthetic import generate_brats, make_brats_case
from monai_dianet.data.synthetic.brats import BRATS_LAYOUTS, brats_affine

SHAPE = (48, 48, 32)
LAYOUT_CASES = {
    "2021": ("BraTS2021_00001", "BraTS2021_00001_{}.nii.gz", ("t1", "t1ce", "t2", "flair"), {0, 1, 2, 4}),
    "2023": ("BraTS-GLI-00001-000", "BraTS-GLI-00001-000-{}.nii.gz", ("t1n", "t1c", "t2w", "t2f"), {0, 1, 2, 3}),
}


@pytest.fixture(scope="module", params=["2021", "2023"])
def dataset(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"brats{request.param}")
    entries = generate_brats(out, num=2, seed=0, shape=SHAPE, layout=request.param)
    return request.param, out, entries


def _load(entry: dict) -> dict:
    loader = Compose([LoadImaged(keys=["image", "label"]), EnsureChannelFirstd(keys=["image", "label"])])
    return loader({"image": entry["image"], "label": entry["label"]})


def test_layout_and_datalist(dataset):
    layout, out, entries = dataset
    case, pattern, sequences, _ = LAYOUT_CASES[layout]
    assert [e["case_id"] for e in entries] == [case.replace("00001", "00000"), case]
    files = [out / case / pattern.format(s) for s in (*sequences, "seg")]
    assert all(f.is_file() for f in files)
    assert entries[1]["image"] == [str(f) for f in files[:4]] and entries[1]["label"] == str(files[4])
    # decathlon datalist: relative paths that MONAI resolves against the json's folder
    raw = json.loads((out / "dataset.json").read_text())
    assert raw["numTraining"] == 2 and raw["modality"] == {str(i): s for i, s in enumerate(sequences)}
    assert not Path(raw["training"][0]["label"]).is_absolute()
    datalist = load_decathlon_datalist(str(out / "dataset.json"), data_list_key="training")
    assert [d["image"] for d in datalist] == [e["image"] for e in entries]
    assert [d["label"] for d in datalist] == [e["label"] for e in entries]


def test_monai_loads_four_channel_image(dataset):
    layout, _, entries = dataset
    labels = LAYOUT_CASES[layout][3]
    for entry in entries:
        data = _load(entry)
        assert tuple(data["image"].shape) == (4, *SHAPE)
        assert tuple(data["label"].shape) == (1, *SHAPE)
        assert set(np.unique(data["label"].numpy()).tolist()) == labels
        np.testing.assert_allclose(data["image"].meta["pixdim"][1:4], 1.0)


def test_nifti_header(dataset):
    _, _, entries = dataset
    image = nib.load(entries[0]["image"][0])
    label = nib.load(entries[0]["label"])
    assert image.get_data_dtype() == np.int16 and label.get_data_dtype() == np.uint8
    np.testing.assert_allclose(image.affine, brats_affine(SHAPE))
    np.testing.assert_allclose(image.affine[:3, :3], np.diag([-1.0, -1.0, 1.0]))
    assert int(image.header["qform_code"]) == 1 and int(image.header["sform_code"]) == 1
    assert image.header.get_zooms() == (1.0, 1.0, 1.0)


def test_files_hold_the_in_memory_case(dataset):
    layout, _, entries = dataset
    image, label = make_brats_case(SHAPE, seed=(0, 1), enhancing_label=BRATS_LAYOUTS[layout]["enhancing"])
    for channel, path in enumerate(entries[1]["image"]):
        np.testing.assert_array_equal(np.asanyarray(nib.load(path).dataobj), image[channel])
    np.testing.assert_array_equal(np.asanyarray(nib.load(entries[1]["label"]).dataobj), label)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_background_zero_and_nested_regions(seed):
    image, label = make_brats_case(SHAPE, seed=(seed, 0))
    head = image[0] > 0
    for channel in range(1, 4):  # skull-stripped look: the same head support in every sequence
        np.testing.assert_array_equal(image[channel] > 0, head)
    assert 0.1 < head.mean() < 0.6
    assert head[label > 0].all()
    necrosis, core, whole = label == 1, (label == 1) | (label == 4), label > 0
    assert necrosis.any() and (label == 4).any() and (label == 2).any()
    assert not (ndimage.binary_dilation(necrosis) & ~core).any()  # core 1 strictly inside the enhancing ring
    assert not (ndimage.binary_dilation(core) & ~whole).any()  # tumour core strictly inside the oedema


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sequence_contrasts(seed):
    image, label = make_brats_case((64, 64, 48), seed=(seed, 0))
    t1, t1ce, t2, flair = (image[c].astype(np.float64) for c in range(4))
    brain = (image[0] > 0) & (label == 0)
    enhancing, oedema, necrosis = label == 4, label == 2, label == 1
    assert t1ce[enhancing].mean() > 1.4 * t1ce[brain].mean()  # enhancing ring bright after contrast
    assert t1ce[enhancing].mean() > 1.6 * t1[enhancing].mean()
    assert t1ce[necrosis].mean() < 0.6 * t1ce[enhancing].mean()  # necrosis dark on T1ce
    assert flair[oedema].mean() > 1.4 * flair[brain].mean()  # oedema bright on FLAIR
    assert t2[oedema].mean() > 1.2 * t2[brain].mean()


def test_cases_vary_and_seeds_reproduce():
    cases = [make_brats_case(SHAPE, seed=(0, i))[1] for i in range(4)]
    centroids = np.array([ndimage.center_of_mass(c > 0) for c in cases])
    volumes = np.array([(c > 0).sum() for c in cases])
    assert np.ptp(centroids, axis=0).max() > 3 and np.ptp(volumes) > 0.1 * volumes.mean()
    again_image, again_label = make_brats_case(SHAPE, seed=(0, 2))
    np.testing.assert_array_equal(again_label, cases[2])
    other = make_brats_case(SHAPE, seed=(1, 2))[0]
    assert not np.array_equal(again_image, other)


def test_generate_is_deterministic(tmp_path):
    first = generate_brats(tmp_path / "a", num=1, seed=5, shape=(32, 32, 32))
    second = generate_brats(tmp_path / "b", num=1, seed=5, shape=(32, 32, 32))
    for a, b in zip(first[0]["image"] + [first[0]["label"]], second[0]["image"] + [second[0]["label"]]):
        np.testing.assert_array_equal(np.asanyarray(nib.load(a).dataobj), np.asanyarray(nib.load(b).dataobj))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shape": (10, 48, 32)}, "between 16 and 512"),
        ({"shape": (48, 48)}, "three integers"),
        ({"shape": (48.5, 48, 32)}, "three integers"),
        ({"layout": "2020"}, "layout must be one of"),
        ({"num": 0}, "positive number of cases"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_brats(tmp_path, **kwargs)
    assert not (tmp_path / "dataset.json").exists()


@pytest.mark.slow
def test_full_brats_size():
    image, label = make_brats_case((240, 240, 155), seed=(0, 0))
    assert image.shape == (4, 240, 240, 155) and image.dtype == np.int16
    assert set(np.unique(label).tolist()) == {0, 1, 2, 4}
