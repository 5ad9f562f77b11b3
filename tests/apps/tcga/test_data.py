# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the TCGA cohort loader, split and multimodal dataset on a generated GDC-format cohort."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from monai_dianet.apps.tcga.gdc import CaseMismatchError
from monai_dianet.data.synthetic.tcga import generate_tcga
from monai_dianet.data import split_datalist
from monai_dianet.utils import MODALITIES
from monai_dianet.apps.tcga.data import (
    TCGAMultimodalDataset,
    build_tcga_data,
    build_tcga_datalist,
    load_tcga_cohort,
    load_tcga_preprocessing,
    tcga_collate,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tcga_ds")
    generate_tcga(out, num=20, seed=1, num_genes=100, patches_per_case=2, patch_size=32, missing_rate=0.25,
                  normal_sample_rate=0.2, progress=False)
    return out


@pytest.fixture(scope="module")
def data(root):
    return build_tcga_data(root, num_genes=32, val_fraction=0.25, seed=0, spatial_size=(32, 32))


def _signal(root) -> dict:
    return json.loads((root / "signal.json").read_text())["cases"]


def test_cohort_aligned_with_planted_presence(root):
    cohort = load_tcga_cohort(root)
    signal = _signal(root)
    assert cohort.case_ids == list(signal)
    assert cohort.labels.to_dict() == {c: s["label"] for c, s in signal.items()}
    mask = cohort.modality_mask()
    for case, s in signal.items():
        assert mask.loc[case].tolist() == [s["has_image"], s["has_rna"], s["has_clinical"]]
    assert set(cohort.expression.index) == {c for c, s in signal.items() if s["has_rna"]}
    assert cohort.expression.shape[1] == 100 and cohort.clinical.index.tolist() == cohort.case_ids
    datalist = build_tcga_datalist(root)
    assert [d["case_id"] for d in datalist] == cohort.case_ids
    for d in datalist:
        assert (d["genes"] is None) != signal[d["case_id"]]["has_rna"]
        assert (d["clinical"] is None) != signal[d["case_id"]]["has_clinical"]
        assert bool(d["image"]) == signal[d["case_id"]]["has_image"]


def test_items(data, root):
    signal = _signal(root)
    num_clinical = data.num_clinical
    edges = data.edge_index.shape[1]
    assert data.num_genes == 32 and data.num_classes == 2 and len(data.gene_names) == 32
    assert edges > 0 and int(data.edge_index.max()) < 32
    for split in ("training", "validation"):
        ds = data.datasets[split]
        assert len(ds) == len(data.splits[split])
        for i in range(len(ds)):
            item = ds[i]
            assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
            assert item["genes"].shape == (32,) and item["genes"].dtype == torch.float32
            assert item["clinical"].shape == (num_clinical,) and item["clinical_cat"].shape == (0,)
            assert item["graph"].shape == (2, edges) and item["graph_weight"].shape == (edges,)
            assert item["label"].dtype == torch.long and item["label"].ndim == 0
            s = signal[item["case_id"]]
            assert item["modality_mask"].dtype == torch.bool
            assert item["modality_mask"].tolist() == [s["has_image"], s["has_rna"], s["has_clinical"]]
            assert int(item["label"]) == s["label"]
            for present, key in zip(item["modality_mask"].tolist(), MODALITIES):
                assert present == bool(item[key].abs().sum() > 0)


def test_collate_pyg_batch(data):
    loader = DataLoader(data.datasets["validation"], batch_size=3, collate_fn=tcga_collate)
    batch = next(iter(loader))
    graph = batch["graph"]
    assert batch["genes"].shape == (3, 32) and batch["image"].shape == (3, 3, 32, 32)
    assert batch["modality_mask"].shape == (3, 3) and len(batch["case_id"]) == 3
    assert graph.num_graphs == 3 and graph.x.shape == (96, 1)
    torch.testing.assert_close(graph.x[:, 0], batch["genes"].reshape(-1))
    e = data.edge_index.shape[1]
    assert torch.equal(graph.edge_index[:, e:2 * e], data.edge_index + 32)
    assert torch.equal(graph.batch, torch.arange(3).repeat_interleave(32))


def test_cohort_split_is_stratified_by_label(root):
    datalist = build_tcga_datalist(root)
    splits = split_datalist(datalist, val_fraction=0.25, test_fraction=0.25, seed=3, label_key="label")
    assert sum(len(v) for v in splits.values()) == len(datalist)
    for split in ("validation", "test"):
        labels = [d["label"] for d in splits[split]]
        assert len(labels) == 5 and abs(labels.count(0) - labels.count(1)) == 1  # 10 cases per class


def test_preprocessing_fitted_on_train_only(data):
    train_ids = [d["case_id"] for d in data.splits["training"]]
    train_rna = [c for c in train_ids if c in data.cohort.expression.index]
    assert data.gene_scaler.num_fit_cases == len(train_rna)
    expected = np.log1p(data.cohort.expression.loc[train_rna, data.genes]).mean().to_numpy()
    np.testing.assert_allclose(data.gene_scaler.mean, expected)
    train_age = data.cohort.clinical.loc[train_ids, "age_at_index"]
    position = data.clinical_encoder.numeric_columns.index("age_at_index")
    assert data.clinical_encoder.median[position] == pytest.approx(float(np.nanmedian(train_age)))


def test_build_is_deterministic_and_preprocessing_roundtrip(data, root, tmp_path):
    again = build_tcga_data(root, num_genes=32, val_fraction=0.25, seed=0, spatial_size=(32, 32))
    assert again.genes == data.genes and torch.equal(again.edge_index, data.edge_index)
    first, second = data.datasets["validation"][0], again.datasets["validation"][0]
    for key in ("image", "genes", "clinical", "modality_mask", "label"):
        assert torch.equal(first[key], second[key])
    data.save_preprocessing(tmp_path / "pre.json")
    state = load_tcga_preprocessing(tmp_path / "pre.json")
    assert state["gene_names"] == data.gene_names and torch.equal(state["edge_index"], data.edge_index)
    ds = TCGAMultimodalDataset(data.splits["validation"], state["gene_scaler"], state["clinical_encoder"],
                               state["edge_index"], state["edge_weight"], spatial_size=(32, 32))
    for key in ("genes", "clinical", "graph_weight"):
        assert torch.equal(ds[0][key], first[key])


def test_index_mode_and_explicit_genes(root):
    cohort = load_tcga_cohort(root)
    genes = list(cohort.expression.columns[:10])
    d = build_tcga_data(root, genes=genes, categorical_mode="index", val_fraction=0.25, spatial_size=(32, 32),
                        clinical_columns=["age_at_index", "gender", "ajcc_pathologic_stage"])
    item = d.datasets["training"][0]
    assert d.genes == genes and item["genes"].shape == (10,)
    assert item["clinical"].shape == (4,)  # age, stage and their missing indicators
    assert item["clinical_cat"].shape == (1,) and d.clinical_cardinalities == [3]


def test_case_mismatch_errors(root, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    labels = (bad / "labels.tsv").read_text().splitlines()
    dropped = labels[1].split("\t")[0]
    (bad / "labels.tsv").write_text("\n".join(labels[:1] + labels[2:]) + "\n")
    with pytest.raises(CaseMismatchError, match=dropped):
        load_tcga_cohort(bad)
    with pytest.warns(UserWarning):
        cohort = load_tcga_cohort(bad, on_mismatch="drop")
    assert dropped not in cohort.case_ids and len(cohort.case_ids) == 19
    (bad / "labels.tsv").write_text("\n".join(labels + ["TCGA-ZZ-0000\t1"]) + "\n")
    with pytest.raises(CaseMismatchError, match=r"in label table labels.tsv but not in clinical table.*TCGA-ZZ-0000"):
        load_tcga_cohort(bad)
    (bad / "labels.tsv").write_text("\n".join(labels + [labels[1]]) + "\n")
    with pytest.raises(ValueError, match="duplicated case id"):
        load_tcga_cohort(bad)
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        load_tcga_cohort(root, clinical="missing.tsv")
    with pytest.raises(ValueError, match="weight_kg"):
        load_tcga_cohort(root, clinical_columns=["age_at_index", "weight_kg"])


def test_unknown_genes_in_edge_list(root, tmp_path):
    bad = tmp_path / "edges"
    shutil.copytree(root, bad)
    with open(bad / "string_edges.tsv", "a") as f:
        f.write("TP53\tNOTAGENE1\t900\n")
    with pytest.raises(ValueError, match="NOTAGENE1"):
        build_tcga_data(bad, num_genes=16, spatial_size=(32, 32))
    with pytest.warns(UserWarning, match="NOTAGENE1"):
        d = build_tcga_data(bad, num_genes=16, spatial_size=(32, 32), unknown_genes="drop")
    assert d.edge_index.shape[0] == 2


def test_auto_discovery_of_gdc_style_names(root, tmp_path):
    real = tmp_path / "real"
    shutil.copytree(root, real)
    (real / "gdc_sample_sheet.tsv").rename(real / "gdc_sample_sheet.2024-05-17.tsv")
    (real / "clinical.cart.2024-05-17").mkdir()
    (real / "clinical.tsv").rename(real / "clinical.cart.2024-05-17" / "clinical.tsv")
    (real / "string_edges.tsv").unlink()
    shutil.rmtree(real / "patches")
    with pytest.warns(UserWarning, match="no (edges|patches)"):
        cohort = load_tcga_cohort(real)
    reference = load_tcga_cohort(root)
    assert cohort.expression.equals(reference.expression)
    assert cohort.clinical.equals(reference.clinical)
    assert cohort.edges is None and cohort.patches == {}
    assert not cohort.modality_mask()["image"].any()
    assert cohort.edge_index(list(cohort.expression.columns[:5]))[0].shape == (2, 0)
    with pytest.warns(UserWarning, match="NOTAGENE"):
        items = cohort.datalist(genes=[cohort.expression.columns[0], "NOTAGENE"])
    present = next(d for d in items if d["genes"] is not None)
    assert np.isnan(present["genes"]["NOTAGENE"])
