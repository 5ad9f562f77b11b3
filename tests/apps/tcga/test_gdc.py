# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the GDC readers on handcrafted files in the real GDC formats."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from monai_dianet.apps.tcga.gdc import (
    CaseMismatchError,
    align_case_ids,
    list_histology_patches,
    read_gdc_clinical,
    read_gdc_gene_info,
    read_gdc_sample_sheet,
    read_gdc_star_counts,
    read_label_table,
    read_star_gene_counts,
    read_string_edge_table,
    read_string_edges,
    strip_gene_version,
)

HEADER = (
    "# gene-model: GENCODE v36\n"
    "gene_id\tgene_name\tgene_type\tunstranded\tstranded_first\tstranded_second\ttpm_unstranded\t"
    "fpkm_unstranded\tfpkm_uq_unstranded\n"
    "N_unmapped\t\t\t2410164\t2410164\t2410164\t\t\t\n"
    "N_multimapping\t\t\t4404135\t4404135\t4404135\t\t\t\n"
    "N_noFeature\t\t\t2289710\t28618628\t28640632\t\t\t\n"
    "N_ambiguous\t\t\t3233519\t567563\t566744\t\t\t\n"
)
GENES = [
    ("ENSG00000000003.15", "TSPAN6", "protein_coding"),
    ("ENSG00000000005.6", "TNMD", "protein_coding"),
    ("ENSG00000002586.20", "CD99", "protein_coding"),
    ("ENSG00000002586.20_PAR_Y", "CD99", "protein_coding"),
    ("ENSG00000141510.17", "TP53", "protein_coding"),
    ("ENSG00000251562.8", "MALAT1", "lncRNA"),
]
FILES = {  # file id -> (case, sample, sample type, unstranded counts, tpm)
    "2d5e3b5f-0b7e-4a9c-9e61-1f0c35d6ab01": ("TCGA-05-4244", "TCGA-05-4244-01A", "Primary Tumor",
                                             [3092, 4, 2000, 0, 1500, 90000],
                                             [40.5302, 0.1578, 30.0, 0.0, 20.0, 900.0]),
    "7a1c6c1e-3f7d-4e2b-8a57-3a9d2a0c4b02": ("TCGA-05-4249", "TCGA-05-4249-01A", "Primary Tumor",
                                             [100, 0, 50, 0, 10, 1000], [2.0, 0.0, 1.0, 0.0, 0.5, 50.0]),
    "c3f1e0aa-8b5b-4d4e-9a3e-6b2f5e1d7c03": ("TCGA-05-4244", "TCGA-05-4244-11A", "Solid Tissue Normal",
                                             [10, 10, 10, 0, 10, 10], [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]),
}


def _star_text(counts, tpm) -> str:
    rows = [
        f"{gid}\t{name}\t{gtype}\t{c}\t{c // 2}\t{c - c // 2}\t{t:.4f}\t{t / 3:.4f}\t{t / 2:.4f}"
        for (gid, name, gtype), c, t in zip(GENES, counts, tpm)
    ]
    return HEADER + "\n".join(rows) + "\n"


@pytest.fixture
def download(tmp_path):
    """A GDC download: <root>/<File ID>/<File Name>, plus a sample sheet listing also a slide."""
    root = tmp_path / "gdc"
    lines = ["File ID\tFile Name\tData Category\tData Type\tProject ID\tCase ID\tSample ID\tSample Type"]
    for file_id, (case, sample, stype, counts, tpm) in FILES.items():
        name = f"{file_id}.rna_seq.augmented_star_gene_counts.tsv"
        (root / file_id).mkdir(parents=True)
        (root / file_id / name).write_text(_star_text(counts, tpm))
        lines.append(f"{file_id}\t{name}\tTranscriptome Profiling\tGene Expression Quantification\tTCGA-LUAD\t"
                     f"{case}, {case}\t{sample}, {sample}\t{stype}")
    lines.append("9f9f9f9f-0000-4000-8000-000000000004\tTCGA-05-4249-01Z-00-DX1.svs\tBiospecimen\tSlide Image\t"
                 "TCGA-LUAD\tTCGA-05-4249\tTCGA-05-4249-01Z\tPrimary Tumor")
    sheet = tmp_path / "gdc_sample_sheet.2024-01-01.tsv"
    sheet.write_text("\n".join(lines) + "\n")
    return sheet, root


def test_read_single_star_file(download):
    sheet, root = download
    file_id = next(iter(FILES))
    table = read_star_gene_counts(root / file_id / f"{file_id}.rna_seq.augmented_star_gene_counts.tsv")
    assert list(table.index) == [g[0] for g in GENES]  # N_* rows and the comment line are gone
    assert table.loc["ENSG00000000003.15", "unstranded"] == 3092
    assert table.loc["ENSG00000000003.15", "tpm_unstranded"] == pytest.approx(40.5302)
    assert table.loc["ENSG00000141510.17", "gene_name"] == "TP53"


def test_read_gzipped_star_file(tmp_path):
    path = tmp_path / "x.rna_seq.augmented_star_gene_counts.tsv.gz"
    with gzip.open(path, "wt") as f:
        f.write(_star_text([1, 2, 3, 0, 5, 6], [1.0, 2.0, 3.0, 0.0, 5.0, 6.0]))
    table = read_star_gene_counts(path, gene_id_version=False)
    assert table.loc["ENSG00000002586_PAR_Y", "unstranded"] == 0
    assert table.loc["ENSG00000141510", "unstranded"] == 5


@pytest.mark.parametrize(
    "gene_id, expected",
    [("ENSG00000000003.15", "ENSG00000000003"), ("ENSG00000002586.20_PAR_Y", "ENSG00000002586_PAR_Y"),
     ("ENSG00000000003", "ENSG00000000003"), ("TP53", "TP53")],
)
def test_strip_gene_version(gene_id, expected):
    assert strip_gene_version(gene_id) == expected


def test_star_counts_by_case(download):
    sheet, root = download
    tpm = read_gdc_star_counts(sheet, root)
    assert list(tpm.index) == ["TCGA-05-4244", "TCGA-05-4249"]
    assert tpm.index.name == "case_submitter_id"
    assert list(tpm.columns) == ["ENSG00000000003", "ENSG00000000005", "ENSG00000002586", "ENSG00000002586_PAR_Y",
                                 "ENSG00000141510", "ENSG00000251562"]
    # "first" keeps the primary tumour, not the solid tissue normal
    assert tpm.loc["TCGA-05-4244", "ENSG00000000003"] == pytest.approx(40.5302)
    counts = read_gdc_star_counts(sheet, root, column="unstranded", gene_id_version=True, aggregate="mean")
    assert "ENSG00000141510.17" in counts.columns
    assert counts.loc["TCGA-05-4244", "ENSG00000000003.15"] == pytest.approx((3092 + 10) / 2)
    normals = read_gdc_star_counts(sheet, root, column="unstranded", sample_types={"Solid Tissue Normal"})
    assert list(normals.index) == ["TCGA-05-4244"] and normals.iloc[0, 0] == 10
    with pytest.raises(ValueError, match="TCGA-05-4244"):
        read_gdc_star_counts(sheet, root, aggregate="raise")
    info = read_gdc_gene_info(sheet, root)
    assert info.loc["ENSG00000141510", "gene_name"] == "TP53"
    assert info.loc["ENSG00000251562", "gene_type"] == "lncRNA"


def test_newer_sample_sheet_without_sample_type(download):
    """Newer GDC sheets have Tissue Type / Tumor Descriptor instead of Sample Type."""
    sheet_path, root = download
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str).iloc[[2, 0, 1, 3]].drop(columns=["Sample Type"])
    sheet["Tissue Type"] = ["Normal", "Tumor", "Tumor", "Tumor"]
    sheet["Tumor Descriptor"] = ["Not Applicable", "Primary", "Primary", "Primary"]
    sheet["Sample ID"] = ["A", "B", "C", "D"]  # the tie-break alone would pick the normal (file c3f1...)
    tpm = read_gdc_star_counts(sheet, root)
    assert tpm.loc["TCGA-05-4244", "ENSG00000000003"] == pytest.approx(40.5302)
    sheet[["Tissue Type", "Tumor Descriptor"]] = ["Tumor", "Primary"]  # now only the tie-break decides
    assert read_gdc_star_counts(sheet, root).loc["TCGA-05-4244", "ENSG00000000003"] == pytest.approx(1.0)


def test_star_counts_errors(download, tmp_path):
    sheet, root = download
    with pytest.raises(ValueError, match="column"):
        read_gdc_star_counts(sheet, root, column="tpm")
    file_id = next(iter(FILES))
    (root / file_id / f"{file_id}.rna_seq.augmented_star_gene_counts.tsv").unlink()
    with pytest.raises(FileNotFoundError, match=file_id):
        read_gdc_star_counts(sheet, root)
    with pytest.raises(FileNotFoundError):
        read_gdc_star_counts(tmp_path / "nope.tsv", root)
    bad = pd.read_csv(sheet, sep="\t", dtype=str).drop(columns=["Case ID"])
    with pytest.raises(ValueError, match="Case ID"):
        read_gdc_sample_sheet(bad)
    dup = pd.read_csv(sheet, sep="\t", dtype=str)
    dup = pd.concat([dup, dup.iloc[:1]])
    with pytest.raises(ValueError, match="duplicated File ID"):
        read_gdc_sample_sheet(dup)
    two_cases = pd.read_csv(sheet, sep="\t", dtype=str)
    two_cases.loc[0, "Case ID"] = "TCGA-05-4244, TCGA-05-4249"
    with pytest.raises(ValueError, match="2 cases"):
        read_gdc_sample_sheet(two_cases)


def test_star_counts_different_gene_sets(download):
    sheet, root = download
    file_id = list(FILES)[1]
    path = root / file_id / f"{file_id}.rna_seq.augmented_star_gene_counts.tsv"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")  # one gene fewer
    with pytest.raises(ValueError, match="gene ids differ"):
        read_gdc_star_counts(sheet, root)


CLINICAL = (
    "case_id\tcase_submitter_id\tproject_id\tage_at_index\tdays_to_death\tgender\tvital_status\t"
    "ajcc_pathologic_stage\ttreatment_or_therapy\ttreatment_type\n"
    "0004d251-3f70-4395-b175-c94c2f5b1b81\tTCGA-05-4244\tTCGA-LUAD\t70\t'--\tmale\tAlive\tStage IV\tno\t"
    "Pharmaceutical Therapy, NOS\n"
    "0004d251-3f70-4395-b175-c94c2f5b1b81\tTCGA-05-4244\tTCGA-LUAD\t70\t'--\tmale\tAlive\tStage IV\tyes\t"
    "Radiation Therapy, NOS\n"
    "000d566c-96c7-4f1c-b36e-fa2b88e6f7a4\tTCGA-05-4249\tTCGA-LUAD\t67\t1158\tfemale\tDead\tStage IB\t'--\t'--\n"
    "0011a67b-1ba9-4a32-a6b8-7850759a38cf\tTCGA-05-4250\tTCGA-LUAD\t'--\t'--\t'--\t'--\t'--\t'--\t'--\n"
)


def test_read_clinical(tmp_path):
    path = tmp_path / "clinical.tsv"
    path.write_text(CLINICAL)
    clinical = read_gdc_clinical(path)
    assert list(clinical.index) == ["TCGA-05-4244", "TCGA-05-4249", "TCGA-05-4250"]
    assert clinical.index.name == "case_submitter_id"
    assert clinical["age_at_index"].dtype == np.float64 and clinical["days_to_death"].dtype == np.float64
    assert clinical.loc["TCGA-05-4244", "age_at_index"] == 70
    assert np.isnan(clinical.loc["TCGA-05-4244", "days_to_death"])
    assert clinical.loc["TCGA-05-4249", "days_to_death"] == 1158
    assert clinical.loc["TCGA-05-4244", "treatment_type"] == "Pharmaceutical Therapy, NOS; Radiation Therapy, NOS"
    assert clinical.loc["TCGA-05-4244", "gender"] == "male"
    assert clinical.loc["TCGA-05-4250"].drop(["case_id", "project_id"]).isna().all()
    first = read_gdc_clinical(path, multi_value="first")
    assert first.loc["TCGA-05-4244", "treatment_or_therapy"] == "no"
    with pytest.raises(ValueError, match="TCGA-05-4244"):
        read_gdc_clinical(path, multi_value="raise")


def test_read_clinical_dotted_columns_and_errors(tmp_path):
    path = tmp_path / "clinical.tsv"
    path.write_text(
        "project.project_id\tcases.case_id\tcases.submitter_id\tdemographic.age_at_index\tdemographic.submitter_id\t"
        "diagnoses.submitter_id\tdiagnoses.ajcc_pathologic_stage\n"
        "TCGA-LUAD\tu1\tTCGA-05-4244\t70\tTCGA-05-4244_demographic\tTCGA-05-4244_diagnosis\tStage IV\n"
    )
    clinical = read_gdc_clinical(path)
    assert clinical.loc["TCGA-05-4244", "age_at_index"] == 70
    assert clinical.loc["TCGA-05-4244", "ajcc_pathologic_stage"] == "Stage IV"
    assert {"project_id", "case_id", "submitter_id", "diagnoses.submitter_id"} <= set(clinical.columns)
    bad = tmp_path / "bad.tsv"
    bad.write_text("case_id\tage_at_index\nu1\t70\n")
    with pytest.raises(ValueError, match="case_submitter_id"):
        read_gdc_clinical(bad)
    with pytest.raises(FileNotFoundError):
        read_gdc_clinical(tmp_path / "missing.tsv")


def test_read_label_table(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("case_submitter_id,label\nTCGA-05-4244,1\nTCGA-05-4249,0\n")
    labels = read_label_table(path)
    assert labels.to_dict() == {"TCGA-05-4244": 1, "TCGA-05-4249": 0}
    text = tmp_path / "labels.tsv"
    text.write_text("case_submitter_id\tsubtype\nTCGA-05-4244\tLumA\nTCGA-05-4249\tBasal\n")
    assert read_label_table(text, label_column="subtype")["TCGA-05-4249"] == "Basal"
    text.write_text("case_submitter_id\tlabel\nTCGA-05-4244\t1\nTCGA-05-4244\t0\n")
    with pytest.raises(ValueError, match="duplicated case id.*TCGA-05-4244"):
        read_label_table(text)
    text.write_text("case_submitter_id\tlabel\nTCGA-05-4244\t1\nTCGA-05-4249\t'--\n")
    with pytest.raises(ValueError, match="no label.*TCGA-05-4249"):
        read_label_table(text)
    with pytest.raises(ValueError, match="missing column"):
        read_label_table(text, label_column="subtype")


def test_string_edges(tmp_path):
    path = tmp_path / "edges.tsv"
    path.write_text("gene_a\tgene_b\tcombined_score\nTP53\tTSPAN6\t900\nTSPAN6\tTP53\t400\nTP53\tMALAT1\t200\n"
                    "CD99\tTNMD\t700\nTP53\tTP53\t999\n")
    names = pd.Series({g[0].split(".")[0] + ("_PAR_Y" if "PAR_Y" in g[0] else ""): g[1] for g in GENES})
    genes = ["ENSG00000000003", "ENSG00000141510", "ENSG00000002586", "ENSG00000000005"]
    edge_index, weight = read_string_edges(path, genes, gene_names=names, universe=names.index)
    pairs = {tuple(p): w for p, w in zip(edge_index.T.tolist(), weight.tolist())}
    # undirected, deduplicated with the best score, no self loop, MALAT1 (not selected) left out
    assert pairs == pytest.approx({(0, 1): 0.9, (1, 0): 0.9, (2, 3): 0.7, (3, 2): 0.7})
    assert edge_index.dtype == torch.long and weight.dtype == torch.float32
    strong, _ = read_string_edges(path, genes, gene_names=names, universe=names.index, min_score=0.8)
    assert strong.shape == (2, 2)
    with pytest.raises(ValueError, match="MALAT1"):
        read_string_edges(path, genes, gene_names=names)  # universe = genes: MALAT1 is unknown
    with pytest.warns(UserWarning, match="MALAT1"):
        dropped, _ = read_string_edges(path, genes, gene_names=names, on_unknown="drop")
    assert dropped.shape == (2, 4)
    # versioned ids in the edge list resolve to unversioned expression columns
    ids = tmp_path / "ids.tsv"
    ids.write_text("gene_a\tgene_b\tcombined_score\nENSG00000141510.17\tENSG00000000003.15\t0.5\n")
    edge_index, weight = read_string_edges(ids, genes)
    assert edge_index.tolist() == [[0, 1], [1, 0]] and weight.tolist() == [0.5, 0.5]


def test_string_links_format(tmp_path):
    path = tmp_path / "9606.protein.links.v12.0.txt"
    path.write_text("protein1 protein2 combined_score\n9606.ENSP1 9606.ENSP2 800\n")
    table = read_string_edge_table(path)
    assert table.iloc[0].tolist() == ["9606.ENSP1", "9606.ENSP2", 0.8]
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tscore\nx\ty\t1\n")
    with pytest.raises(ValueError, match="expected columns"):
        read_string_edge_table(bad)
    assert len(read_string_edge_table(bad, columns=("a", "b", "score"))) == 1


def test_list_histology_patches(tmp_path):
    (tmp_path / "TCGA-05-4244").mkdir()
    for k in (1, 0):
        (tmp_path / "TCGA-05-4244" / f"p{k}.png").write_bytes(b"")
    (tmp_path / "TCGA-05-4250").mkdir()  # empty: no image modality
    (tmp_path / "TCGA-05-4249-01Z-00-DX1_3.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    patches = list_histology_patches(tmp_path)
    assert list(patches) == ["TCGA-05-4244", "TCGA-05-4249"]
    assert [Path(p).name for p in patches["TCGA-05-4244"]] == ["p0.png", "p1.png"]
    (tmp_path / "slide_7.png").write_bytes(b"")
    with pytest.raises(ValueError, match="slide_7.png"):
        list_histology_patches(tmp_path)
    with pytest.raises(FileNotFoundError):
        list_histology_patches(tmp_path / "missing")


def test_align_case_ids():
    labels = ("labels.tsv", ["A", "B", "C"])
    assert align_case_ids(labels, {"rna": ["A"], "clinical": ["A", "B", "C"]}, required=["clinical"]) == ["A", "B", "C"]
    with pytest.raises(CaseMismatchError, match=r"in rna but not in labels.tsv: \['Z'\]"):
        align_case_ids(labels, {"rna": ["A", "Z"]})
    with pytest.raises(CaseMismatchError, match=r"in labels.tsv but not in clinical: \['C'\]"):
        align_case_ids(labels, {"clinical": ["A", "B"]}, required=["clinical"])
    with pytest.warns(UserWarning):
        kept = align_case_ids(labels, {"rna": ["Z"], "clinical": ["A", "B"]}, required=["clinical"],
                              on_mismatch="drop")
    assert kept == ["A", "B"]
    with pytest.raises(ValueError, match="duplicated"):
        align_case_ids(("labels", ["A", "A"]), {})
