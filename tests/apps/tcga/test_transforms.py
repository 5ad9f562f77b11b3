# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the TCGA preprocessing: fitted on training cases only, JSON round trip, patch loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from monai_dianet.apps.tcga.transforms import (
    EncodeClinical,
    EncodeClinicald,
    ScaleGeneExpression,
    LoadHistologyPatch,
    LoadHistologyPatchd,
    ScaleGeneExpressiond,
    ajcc_stage_to_number,
)
from monai_dianet.utils import InputError, MissingInputError


def _expression(seed: int = 0, n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spread = np.array([0.05, 2.0, 0.1, 1.5, 0.01, 1.0])  # log-scale spread per gene
    values = np.expm1(np.clip(3.0 + rng.normal(size=(n, 6)) * spread, 0, None))
    return pd.DataFrame(values, index=[f"TCGA-AA-{i:04d}" for i in range(n)], columns=[f"G{i}" for i in range(6)])


def test_gene_scaler_top_variance_and_standardisation():
    train = _expression()
    scaler = ScaleGeneExpression(num_genes=3).fit(train)
    assert scaler.selected_genes == ["G1", "G3", "G5"]  # highest log1p variance, input order kept
    out = scaler(train)
    assert out.shape == (12, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-4)
    single = scaler(train.iloc[2])
    np.testing.assert_allclose(single, out[2], atol=1e-6)
    np.testing.assert_array_equal(scaler(None), np.zeros(3, dtype=np.float32))
    fixed = ScaleGeneExpression(genes=["G4", "G0"], log1p=False).fit(train)
    assert fixed.selected_genes == ["G4", "G0"] and fixed(train).shape == (12, 2)


def test_gene_scaler_does_not_leak_validation_statistics():
    data = _expression(n=20)
    train, val = data.iloc[:14], data.iloc[14:].copy()
    a = ScaleGeneExpression(num_genes=3).fit(train)
    out_val = a(val)
    np.testing.assert_allclose(a.mean, np.log1p(train[a.selected_genes]).mean().to_numpy())
    # changing validation cases changes nothing fitted: refit on the same train, transform val again
    val_changed = val * 100.0
    b = ScaleGeneExpression(num_genes=3).fit(train)
    assert b.selected_genes == a.selected_genes
    np.testing.assert_array_equal(b.mean, a.mean)
    np.testing.assert_array_equal(b(val), out_val)
    # whereas fitting on train + val would have shifted the statistics
    leaky = ScaleGeneExpression(num_genes=3).fit(pd.concat([train, val_changed]))
    assert not np.allclose(leaky.mean, a.mean)
    # missing (NaN) training rows are ignored when fitting
    with_missing = pd.concat([train, pd.DataFrame(np.nan, index=["TCGA-AA-9999"], columns=train.columns)])
    c = ScaleGeneExpression(num_genes=3).fit(with_missing)
    assert c.num_fit_cases == 14
    np.testing.assert_allclose(c.mean, a.mean)


def test_gene_scaler_json_roundtrip_and_errors(tmp_path):
    train = _expression()
    scaler = ScaleGeneExpression(num_genes=4).fit(train)
    scaler.save(tmp_path / "genes.json")
    loaded = ScaleGeneExpression.load(tmp_path / "genes.json")
    np.testing.assert_array_equal(loaded(train), scaler(train))
    with pytest.raises(ValueError, match="GX"):
        ScaleGeneExpression(genes=["G0", "GX"]).fit(train)
    with pytest.raises(ValueError, match="num_genes"):
        ScaleGeneExpression(num_genes=10).fit(train)
    with pytest.raises(ValueError, match="missing from the input"):
        scaler(train.drop(columns=scaler.selected_genes[0]))
    with pytest.raises(RuntimeError, match="not fitted"):
        ScaleGeneExpression(num_genes=2)(train)
    with pytest.raises(ValueError, match="non-negative"):
        ScaleGeneExpression().fit(-train)


@pytest.mark.parametrize(
    "text, number",
    [("Stage 0", 0.0), ("Stage I", 1.0), ("Stage IA", 1.0), ("Stage IB", 1.25), ("Stage IIC", 2.5),
     ("Stage IIIA", 3.0), ("Stage IV", 4.0), ("stage ivb", 4.25), ("Stage X", np.nan), ("not reported", np.nan),
     (None, np.nan), (float("nan"), np.nan), (2, 2.0)],
)
def test_ajcc_stage_to_number(text, number):
    result = ajcc_stage_to_number(text)
    assert (np.isnan(result) and np.isnan(number)) or result == number


def _clinical() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age_at_index": [50.0, 60.0, np.nan, 80.0, 70.0],
            "ajcc_pathologic_stage": ["Stage I", "Stage IIIA", "Stage IV", np.nan, "Stage II"],
            "gender": ["female", "male", "female", np.nan, "female"],
        },
        index=[f"TCGA-AA-{i:04d}" for i in range(5)],
    )


def test_clinical_encoder_onehot():
    train = _clinical()
    enc = EncodeClinical(numeric=["age_at_index", "ajcc_pathologic_stage"], categorical=["gender"]).fit(train)
    assert enc.feature_names == ["age_at_index", "ajcc_pathologic_stage", "age_at_index__missing",
                                 "ajcc_pathologic_stage__missing", "gender=__unknown", "gender=female", "gender=male"]
    assert enc.median.tolist() == [65.0, 2.5]
    x, cat = enc(train)
    assert x.shape == (5, 7) and cat.shape == (5, 0)
    imputed_age = np.array([50, 60, 65, 80, 70.0])
    np.testing.assert_allclose(x[:, 0], (imputed_age - imputed_age.mean()) / imputed_age.std(), atol=1e-5)
    np.testing.assert_array_equal(x[:, 2], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(x[:, 4:], [[0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 0]])
    # unseen category and a missing column -> unknown bucket / imputed + flagged
    row, _ = enc(pd.Series({"gender": "other", "age_at_index": 65.0}))
    assert row.shape == (7,)
    np.testing.assert_array_equal(row[[3, 4, 5, 6]], [1, 1, 0, 0])
    zeros, _ = enc(None)
    np.testing.assert_array_equal(zeros, np.zeros(7, dtype=np.float32))


def test_clinical_encoder_index_mode_roundtrip_and_no_leak(tmp_path):
    train, val = _clinical(), _clinical().iloc[:2].copy()
    enc = EncodeClinical(numeric=["age_at_index"], categorical=["gender"], categorical_mode="index").fit(train)
    assert enc.cardinalities == [3]
    x, cat = enc(train)
    assert x.shape == (5, 2) and cat.tolist() == [[1], [2], [1], [0], [1]]
    val["age_at_index"] = [1000.0, 2000.0]
    val["gender"] = ["unknown sex", "unknown sex"]
    refit = EncodeClinical(numeric=["age_at_index"], categorical=["gender"], categorical_mode="index").fit(train)
    np.testing.assert_array_equal(refit.mean, enc.mean)  # validation values play no part in fitting
    _, val_cat = enc(val)
    assert val_cat.tolist() == [[0], [0]]
    enc.save(tmp_path / "clinical.json")
    loaded = EncodeClinical.load(tmp_path / "clinical.json")
    for a, b in zip(loaded(train), enc(train)):
        np.testing.assert_array_equal(a, b)
    for old_name in ("ClinicalEncoder", "ClinicalTableEncoder"):  # states saved before the renames still load
        legacy = {**enc.to_dict(), "type": old_name}
        np.testing.assert_array_equal(EncodeClinical.from_dict(legacy)(train)[0], enc(train)[0])
    with pytest.raises(ValueError, match="not an EncodeClinical state"):
        EncodeClinical.from_dict({**enc.to_dict(), "type": "ScaleGeneExpression"})
    with pytest.raises(ValueError, match="not in the table"):
        EncodeClinical(numeric=["weight"]).fit(train)
    with pytest.raises(ValueError, match="non-numeric"):
        EncodeClinical(numeric=["gender"]).fit(train)


def test_clinical_encoder_auto_columns():
    table = _clinical()
    table["case_id"] = [f"uuid-{i}" for i in range(5)]
    table["barcode"] = [f"b{i}" for i in range(5)]  # a distinct value per case: an identifier
    table["empty"] = np.nan
    enc = EncodeClinical().fit(table)
    assert enc.numeric_columns == ["age_at_index", "ajcc_pathologic_stage"]
    assert enc.categorical_columns == ["gender"]


def test_dict_twins():
    train = _expression()
    scaler = ScaleGeneExpression(num_genes=2).fit(train)
    enc = EncodeClinical(numeric=["age_at_index"], categorical=["gender"], categorical_mode="index")
    enc = enc.fit(_clinical())
    d = {"genes": train.iloc[0], "clinical": _clinical().iloc[1], "other": 1}
    d = EncodeClinicald("clinical", enc)(ScaleGeneExpressiond("genes", scaler)(d))
    assert d["genes"].shape == (2,) and d["genes"].dtype == torch.float32
    assert d["clinical"].shape == (2,) and d["clinical_cat"].tolist() == [2] and d["other"] == 1


def _png(path, array):
    Image.fromarray(array.astype(np.uint8), mode="RGB").save(path)
    return str(path)


def test_load_histology_patch(tmp_path):
    array = np.zeros((20, 30, 3), dtype=np.uint8)
    array[:10, :, 0] = 255  # top half red
    a = _png(tmp_path / "a.png", array)
    b = _png(tmp_path / "b.png", np.full((20, 30, 3), 128))
    image = LoadHistologyPatch(spatial_size=None)(a)
    assert image.shape == (3, 20, 30) and image.dtype == torch.float32  # (C, H, W), not width-first
    assert image[0, :10].min() == 1.0 and image[0, 10:].max() == 0.0
    resized = LoadHistologyPatch(spatial_size=(16, 16))([a, b])
    assert resized.shape == (3, 16, 16) and 0.0 <= resized.min() and resized.max() <= 1.0
    assert torch.equal(LoadHistologyPatch((8, 8))(None), torch.zeros(3, 8, 8))
    assert torch.equal(LoadHistologyPatch((8, 8))([]), torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="spatial_size"):
        LoadHistologyPatch(spatial_size=None)([])
    with pytest.raises(MissingInputError, match="missing.png"):
        LoadHistologyPatch()(str(tmp_path / "missing.png"))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(Path(a).read_bytes()[:40])  # a truncated PNG
    with pytest.raises(InputError, match=f"histology patch {corrupt} cannot be read"):
        LoadHistologyPatch()(str(corrupt))
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="text.png cannot be read"):
        LoadHistologyPatch()(str(tmp_path / "text.png"))
    loader = LoadHistologyPatchd("image", spatial_size=(20, 30), random_patch=True).set_random_state(0)
    first = [float(loader({"image": [a, b]})["image"].mean()) for _ in range(12)]
    picks = {round(v, 4) for v in first}
    assert len(picks) == 2  # both patches get used
    again = LoadHistologyPatchd("image", spatial_size=(20, 30), random_patch=True).set_random_state(0)
    assert first == [float(again({"image": [a, b]})["image"].mean()) for _ in range(12)]
