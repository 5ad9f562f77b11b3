"""Tests of the BraTS transforms (monai_dianet.transforms.brats)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, ConvertToMultiChannelBasedOnBratsClasses, LoadImaged

from monai_dianet.transforms.brats import (
    BraTSLabelsToRegions,
    BraTSLabelsToRegionsd,
    BraTSRegionsToLabels,
    BraTSRegionsToLabelsd,
    ConvertToMultiChannelBasedOnBrats2023Classes,
    ConvertToMultiChannelBasedOnBrats2023Classesd,
    PrepareBatchWithPrior,
    SaveBraTSPredictiond,
    ValidateBraTSCased,
    brats_region_volumes_ml,
    brats_spatial_prior,
)

ALLOWED = {"2021": [0, 1, 2, 4], "2023": [0, 1, 2, 3]}


def _chain(exc: BaseException) -> str:
    """Messages of an exception and its causes (MONAI's Compose re-raises transform errors as RuntimeError)."""
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__
    return " <- ".join(parts)


def _random_labels(layout: str, shape=(6, 5, 4), seed=0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.choice(ALLOWED[layout], size=(1, *shape)), dtype=torch.uint8)


def _write_case(folder: Path, case_id: str, layout: str, shape=(8, 8, 6), labels=None, affine=None) -> dict:
    """A minimal case on disk (random intensities), returning its datalist entry."""
    seqs = ("t1", "t1ce", "t2", "flair") if layout == "2021" else ("t1n", "t1c", "t2w", "t2f")
    sep = "_" if layout == "2021" else "-"
    affine = np.diag([-2.0, -2.0, 2.0, 1.0]) if affine is None else affine
    case = folder / case_id
    case.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = []
    for s in seqs:
        path = case / f"{case_id}{sep}{s}.nii.gz"
        nib.save(nib.Nifti1Image(rng.random(shape, dtype=np.float32), affine), str(path))
        images.append(str(path))
    labels = _random_labels(layout, shape)[0].numpy() if labels is None else labels
    label = case / f"{case_id}{sep}seg.nii.gz"
    nib.save(nib.Nifti1Image(labels.astype(np.uint8), affine), str(label))
    return {"image": images, "label": str(label), "case_id": case_id, "layout": layout}


@pytest.mark.parametrize("as_numpy", [False, True])
def test_2023_conversion_known_values(as_numpy):
    img = torch.tensor([[[[0, 1, 2, 3]]]])
    out = ConvertToMultiChannelBasedOnBrats2023Classes()(img.numpy() if as_numpy else img)
    assert isinstance(out, np.ndarray) == as_numpy
    assert np.asarray(out).astype(int).reshape(3, 4).tolist() == [[0, 1, 0, 1], [0, 1, 1, 1], [0, 0, 0, 1]]
    d = ConvertToMultiChannelBasedOnBrats2023Classesd(keys="label")({"label": img})
    assert d["label"].shape == (3, 1, 1, 4)


def test_2023_conversion_equals_monai_on_relabelled_2021():
    """2023 labels mapped 3 -> 4 give the same regions through MONAI's 2021 converter."""
    lab23 = _random_labels("2023", seed=3)
    lab21 = torch.where(lab23 == 3, torch.tensor(4, dtype=lab23.dtype), lab23)
    ours = ConvertToMultiChannelBasedOnBrats2023Classes()(lab23)
    monai_regions = ConvertToMultiChannelBasedOnBratsClasses()(lab21)
    assert torch.equal(ours, monai_regions)


@pytest.mark.parametrize("layout", ["2021", "2023"])
def test_labels_regions_round_trip(layout):
    labels = _random_labels(layout, seed=1)
    regions = BraTSLabelsToRegions(layout)(labels)
    assert regions.shape == (3, *labels.shape[1:])
    back = BraTSRegionsToLabels(layout)(regions.float())
    assert back.dtype == torch.uint8 and torch.equal(back, labels)
    back_np = BraTSRegionsToLabels(layout)(regions.float().numpy())
    assert isinstance(back_np, np.ndarray) and set(np.unique(back_np)) <= set(ALLOWED[layout])


@pytest.mark.parametrize("layout, bad", [("2021", 3), ("2023", 4), ("2021", 7)])
def test_unknown_label_values(layout, bad):
    labels = _random_labels(layout)
    labels[0, 0, 0, 0] = bad
    with pytest.raises(ValueError) as err:
        BraTSLabelsToRegions(layout)(labels, name="case X")
    msg = str(err.value)
    assert f"unknown label values [{bad}]" in msg and str(ALLOWED[layout]) in msg and msg.startswith("case X")


def test_dict_conversion_uses_each_case_layout(tmp_path):
    e21 = _write_case(tmp_path, "BraTS2021_00001", "2021")
    e23 = _write_case(tmp_path, "BraTS-GLI-00001-000", "2023")
    load = Compose([LoadImaged(keys=["image", "label"], ensure_channel_first=True), BraTSLabelsToRegionsd("label")])
    for entry in (e21, e23):
        out = load(entry)
        raw = torch.as_tensor(np.asarray(nib.load(entry["label"]).dataobj))
        et = 4 if entry["layout"] == "2021" else 3
        assert out["image"].shape == (4, 8, 8, 6) and out["label"].shape == (3, 8, 8, 6)
        assert torch.equal(out["label"][2].bool(), raw == et)
    # a 2023 case whose label map holds 4 (2021 convention) is rejected with case, file and values
    bad = _write_case(tmp_path, "BraTS-GLI-00002-000", "2023", labels=np.full((8, 8, 6), 4))
    with pytest.raises(RuntimeError) as err:
        load(bad)
    msg = _chain(err.value)
    assert "ValueError" in msg and "BraTS-GLI-00002-000" in msg and "BraTS-GLI-00002-000-seg.nii.gz" in msg and "[0, 1, 2, 3]" in msg


def test_validate_case_shapes_and_files(tmp_path):
    entry = _write_case(tmp_path, "BraTS2021_00003", "2021")
    assert ValidateBraTSCased()(entry) == entry
    flair = entry["image"][3]
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 5), np.float32), np.eye(4)), flair)
    with pytest.raises(ValueError) as err:
        ValidateBraTSCased()(entry)
    assert "BraTS2021_00003" in str(err.value) and flair in str(err.value) and "(8, 8, 6)" in str(err.value)
    Path(flair).unlink()
    with pytest.raises(FileNotFoundError, match=f"BraTS2021_00003.*{Path(flair).name}"):
        ValidateBraTSCased()(entry)
    no_label = {k: v for k, v in entry.items() if k != "label"}
    no_label["image"] = entry["image"][:3]
    assert ValidateBraTSCased()(no_label) == no_label  # the label may be absent (inference)


def test_regions_to_labels_dict_and_meta():
    regions = MetaTensor(BraTSLabelsToRegions("2023")(_random_labels("2023")).float(), affine=torch.eye(4) * 2)
    out = BraTSRegionsToLabelsd(keys="pred")({"pred": regions, "layout": "2023"})["pred"]
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, regions.affine)
    with pytest.raises(ValueError, match=r"\(3, \.\.\.\)"):
        BraTSRegionsToLabels()(torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="unknown BraTS layout"):
        BraTSRegionsToLabels("2019")


def test_region_volumes_ml():
    regions = torch.zeros(3, 10, 10, 10)
    regions[1, :5] = 1.0  # WT: 500 voxels of 2 x 2 x 2 mm = 4 ml
    regions[0, :1] = 0.9  # TC: 100 voxels = 0.8 ml
    volumes = brats_region_volumes_ml(regions, np.diag([2.0, -2.0, 2.0, 1.0]))
    assert volumes == pytest.approx({"TC": 0.8, "WT": 4.0, "ET": 0.0})


@pytest.mark.parametrize("layout", ["2021", "2023"])
def test_save_prediction_files(tmp_path, layout):
    affine = np.array([[-1.0, 0, 0, 10], [0, -1.0, 0, 20], [0, 0, 1.5, -5], [0, 0, 0, 1]])
    regions = BraTSLabelsToRegions(layout)(_random_labels(layout, shape=(7, 6, 5))).float()
    pred = MetaTensor(regions, affine=torch.as_tensor(affine))
    data = {
        "pred": pred,
        "uncertainty": torch.rand(1, 7, 6, 5),
        "case_uncertainty": torch.tensor(0.25),
        "route": "review",
        "case_id": "case7",
        "layout": layout,
        "image": MetaTensor(torch.rand(4, 7, 6, 5), affine=torch.as_tensor(affine)),
    }
    out = SaveBraTSPredictiond(keys="pred", output_dir=tmp_path, save_png=True)(data)
    seg = nib.load(tmp_path / "case7_seg.nii.gz")
    assert seg.shape == (7, 6, 5) and np.allclose(seg.affine, affine)
    assert set(np.unique(np.asarray(seg.dataobj))) <= set(ALLOWED[layout])
    assert np.asarray(seg.dataobj).dtype == np.uint8
    unc = nib.load(tmp_path / "case7_uncertainty.nii.gz")
    assert unc.shape == (7, 6, 5) and np.allclose(unc.affine, affine)
    record = json.loads((tmp_path / "case7.json").read_text())
    assert record["case_uncertainty"] == pytest.approx(0.25) and record["route"] == "review"
    assert record["layout"] == layout and set(record["volumes_ml"]) == {"TC", "WT", "ET"}
    assert record["volumes_ml"]["WT"] == pytest.approx(float((regions[1] > 0.5).sum()) * 1.5 / 1000)
    assert (tmp_path / "case7_overlay.png").stat().st_size > 0
    assert len(out["pred_files"]) == 4


def test_prepare_batch_with_prior():
    batch = {"image": torch.rand(2, 4, 8, 8, 8), "label": torch.rand(2, 3, 8, 8, 8)}
    image, label = PrepareBatchWithPrior()(batch)
    assert torch.equal(label, batch["label"])
    batch["image_prior"] = torch.rand(2, 3, 8, 8, 8)
    image, target = PrepareBatchWithPrior()(batch, torch.device("cpu"))
    assert torch.equal(target["prior"], batch["image_prior"]) and torch.equal(target["segmentation"], batch["label"])


def test_spatial_prior_cached(tmp_path):
    entries = [_write_case(tmp_path / "data", f"BraTS2021_0000{i}", "2021") for i in range(2)]
    load = Compose([LoadImaged(keys=["image", "label"], ensure_channel_first=True), BraTSLabelsToRegionsd("label")])
    prior = brats_spatial_prior(entries, load, tmp_path / "ckpt", spatial_size=(4, 4, 3), smoothing_sigma=0.0)
    assert prior.shape == (3, 4, 4, 3) and prior.meta["mode"] == "sigmoid"
    assert float(prior.min()) > 0 and float(prior.max()) < 1
    files = list((tmp_path / "ckpt").glob("spatial_prior_*.pt"))
    assert len(files) == 1

    def fail(_):
        raise AssertionError("a cached prior must not reload the cases")

    again = brats_spatial_prior(entries, fail, tmp_path / "ckpt", spatial_size=(4, 4, 3), smoothing_sigma=0.0)
    assert torch.allclose(torch.as_tensor(again), torch.as_tensor(prior))
    with pytest.raises(ValueError, match="empty"):
        brats_spatial_prior([], load)
