# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the synthetic TCGA cohort generator: GDC formats read with plain pandas/PIL, determinism, signal."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from monai_dianet.data.synthetic.tcga import SAMPLE_SHEET_COLUMNS, STAR_COLUMNS, generate_tcga


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("tcga")
    paths = generate_tcga(out, num=16, seed=3, num_genes=100, patches_per_case=2, patch_size=48,
                          missing_rate=0.2, normal_sample_rate=0.3, progress=False)
    return paths


def _signal(paths) -> dict:
    return json.loads(Path(paths["signal"]).read_text())


def test_star_files_parse_like_gdc(cohort):
    sheet = pd.read_csv(cohort["sample_sheet"], sep="\t")
    assert tuple(sheet.columns) == SAMPLE_SHEET_COLUMNS
    assert set(sheet["Data Type"]) == {"Gene Expression Quantification"}
    for file_id, file_name in zip(sheet["File ID"], sheet["File Name"]):
        assert file_name == f"{file_id}.rna_seq.augmented_star_gene_counts.tsv"
        path = Path(cohort["rna_dir"]) / file_id / file_name
        assert path.is_file()
    path = Path(cohort["rna_dir"]) / sheet["File ID"][0] / sheet["File Name"][0]
    assert path.read_text().splitlines()[0] == "# gene-model: GENCODE v36"
    table = pd.read_csv(path, sep="\t", comment="#")
    assert tuple(table.columns) == STAR_COLUMNS
    summary = table.iloc[:4]
    assert list(summary["gene_id"]) == ["N_unmapped", "N_multimapping", "N_noFeature", "N_ambiguous"]
    empty = ["gene_name", "gene_type", "tpm_unstranded", "fpkm_unstranded", "fpkm_uq_unstranded"]
    assert summary[empty].isna().all().all()
    assert (summary[["unstranded", "stranded_first", "stranded_second"]] >= 0).all().all()
    genes = table.iloc[4:]
    assert len(genes) == 100
    assert all(re.fullmatch(r"ENSG\d{11}\.\d+(_PAR_Y)?", g) for g in genes["gene_id"])
    assert genes["gene_id"].is_unique
    assert "ENSG00000000003.15" in set(genes["gene_id"]) and "TP53" in set(genes["gene_name"])
    assert {"protein_coding", "lncRNA"} <= set(genes["gene_type"])
    assert genes["tpm_unstranded"].sum() == pytest.approx(1e6, rel=1e-3)
    assert (genes["unstranded"] == genes["unstranded"].round()).all()


def test_clinical_and_labels_parse_like_gdc(cohort):
    clinical = pd.read_csv(cohort["clinical"], sep="\t", na_values="'--", keep_default_na=False)
    for column in ("case_id", "case_submitter_id", "project_id", "age_at_index", "gender", "race", "vital_status",
                   "days_to_death", "days_to_last_follow_up", "ajcc_pathologic_stage", "primary_diagnosis"):
        assert column in clinical.columns
    assert pd.api.types.is_numeric_dtype(clinical["age_at_index"])
    assert clinical["case_submitter_id"].duplicated().any()  # one row per treatment, as GDC writes it
    raw = Path(cohort["clinical"]).read_text()
    assert "\t'--\t" in raw
    signal = _signal(cohort)["cases"]
    no_clinical = [c for c, s in signal.items() if not s["has_clinical"]]
    for case in no_clinical:
        rows = clinical[clinical["case_submitter_id"] == case]
        assert len(rows) == 1
        assert rows.drop(columns=["case_id", "case_submitter_id", "project_id"]).isna().all().all()
    labels = pd.read_csv(cohort["labels"], sep="\t")
    assert list(labels.columns) == ["case_submitter_id", "label"]
    assert set(labels["case_submitter_id"]) == set(clinical["case_submitter_id"]) == set(signal)
    assert set(labels["label"]) == {0, 1}
    assert abs((labels["label"] == 1).sum() - len(labels) / 2) <= 1


def test_patches_edges_and_missing_modalities(cohort):
    signal = _signal(cohort)
    cases = signal["cases"]
    sheet = pd.read_csv(cohort["sample_sheet"], sep="\t")
    for case, info in cases.items():
        assert info["has_image"] or info["has_rna"] or info["has_clinical"]
        assert info["has_rna"] == (case in set(sheet["Case ID"]))
        folder = Path(cohort["patches"]) / case
        assert info["has_image"] == folder.is_dir()
        if info["has_image"]:
            files = sorted(folder.glob("*.png"))
            assert len(files) == 2
            with Image.open(files[0]) as im:
                assert im.mode == "RGB" and im.size == (48, 48)
    normals = sheet[sheet["Sample Type"] == "Solid Tissue Normal"]
    assert set(normals["Case ID"]) == {c for c, s in cases.items() if s["has_normal_sample"]}
    assert all(s.endswith("-11A") for s in normals["Sample ID"])
    edges = pd.read_csv(cohort["edges"], sep="\t")
    assert list(edges.columns) == ["gene_a", "gene_b", "combined_score"]
    path = Path(cohort["rna_dir"]) / sheet["File ID"][0] / sheet["File Name"][0]
    names = set(pd.read_csv(path, sep="\t", comment="#")["gene_name"].dropna())
    assert set(edges["gene_a"]) | set(edges["gene_b"]) <= names
    assert edges["combined_score"].between(0, 1000).all()
    module = set(signal["signal_genes"])
    inside = edges[edges["gene_a"].isin(module) & edges["gene_b"].isin(module)]
    assert len(inside) >= 0.4 * len(module) * (len(module) - 1) / 2  # the module is densely connected


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(tmp_path):
    kwargs = dict(num=6, num_genes=90, patches_per_case=1, patch_size=32, progress=False)
    a = generate_tcga(tmp_path / "a", seed=5, **kwargs)
    b = generate_tcga(tmp_path / "b", seed=5, **kwargs)
    c = generate_tcga(tmp_path / "c", seed=6, **kwargs)
    assert _digest(Path(a["root"])) == _digest(Path(b["root"]))
    assert _digest(Path(a["root"])) != _digest(Path(c["root"]))


def test_planted_signal(tmp_path):
    paths = generate_tcga(tmp_path, num=40, seed=0, num_genes=90, patches_per_case=1, patch_size=48,
                          missing_rate=0.0, normal_sample_rate=0.0, progress=False)
    signal = _signal(paths)
    cases = signal["cases"]
    sheet = pd.read_csv(paths["sample_sheet"], sep="\t")
    module_mean, gene_score = [], []
    for file_id, name, case in zip(sheet["File ID"], sheet["File Name"], sheet["Case ID"]):
        table = pd.read_csv(Path(paths["rna_dir"]) / file_id / name, sep="\t", comment="#")
        values = table.set_index("gene_name").loc[signal["signal_genes"], "tpm_unstranded"]
        module_mean.append(np.log1p(values).mean())
        gene_score.append(cases[case]["gene_score"])
    assert np.corrcoef(module_mean, gene_score)[0, 1] > 0.8
    nuclear, image_score = [], []
    for case, info in cases.items():
        png = next((Path(paths["patches"]) / case).glob("*.png"))
        nuclear.append((np.asarray(Image.open(png).convert("RGB"))[..., 0] < 170).mean())
        image_score.append(info["image_score"])
    assert np.corrcoef(nuclear, image_score)[0, 1] > 0.6
    clinical = pd.read_csv(paths["clinical"], sep="\t", na_values="'--", keep_default_na=False)
    age = clinical.groupby("case_submitter_id")["age_at_index"].first()
    assert np.corrcoef(age.loc[list(cases)], [c["clinical_score"] for c in cases.values()])[0, 1] > 0.8
    # the label follows the sum of the three scores, not any single one
    risk = np.array([c["image_score"] + c["gene_score"] + c["clinical_score"] for c in cases.values()])
    labels = np.array([c["label"] for c in cases.values()])
    fused = ((risk > np.median(risk)) == labels).mean()
    for key in ("image_score", "gene_score", "clinical_score"):
        single = np.array([c[key] for c in cases.values()])
        assert fused > ((single > np.median(single)) == labels).mean()


@pytest.mark.parametrize(
    "kwargs",
    [{"num": 0}, {"num": -3}, {"num": 3}, {"num_genes": 10}, {"missing_rate": 1.0}, {"patch_size": 8},
     {"num_classes": 1}, {"patches_per_case": 0}],
)
def test_bad_arguments(tmp_path, kwargs):
    args = dict(num=8, progress=False) | kwargs
    with pytest.raises(ValueError):
        generate_tcga(tmp_path, **args)
