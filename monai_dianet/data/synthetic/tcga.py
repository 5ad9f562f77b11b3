# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Synthetic TCGA-like multimodal cohort written in the GDC download formats.

:func:`generate_tcga` writes a small cohort that the readers in :mod:`monai_dianet.apps.tcga.gdc` read exactly as
they read a real GDC download:

.. code-block:: text

    out_dir/
        gdc_sample_sheet.tsv          File ID, File Name, Data Category, Data Type, Project ID, Case ID,
                                      Sample ID, Sample Type (one row per RNA-seq file)
        rna_seq/<file_id>/<file_id>.rna_seq.augmented_star_gene_counts.tsv
                                      STAR "augmented gene counts" (GENCODE v36 header comment, N_* rows)
        clinical.tsv                  GDC clinical table, ``'--`` for missing values, one row per case and
                                      treatment (cases repeat, as GDC writes them)
        patches/<case_submitter_id>/<case_submitter_id>-01Z-00-DX1_<k>.png
                                      H&E-like histology patches (RGB)
        string_edges.tsv              gene_a, gene_b, combined_score (STRING-like, gene *symbols* as in the
                                      STAR ``gene_name`` column, scores in 0..1000, each pair listed once)
        labels.tsv                    case_submitter_id, label (integers 0..num_classes-1)
        signal.json                   the planted signal, per case (for tests and benchmarks; not a GDC file)

Planted signal (documented so that tests and benchmarks can rely on it): every case has three independent
standard-normal latent scores, one per modality, and ``risk = image_score + gene_score + clinical_score +
N(0, 0.3^2)``; the label is the quantile bin of ``risk`` over the cohort (``num_classes`` balanced bins). Each
modality therefore explains only about a third of the risk variance (one modality alone predicts the binary
label with roughly 70 % accuracy at best), while the three together predict it almost perfectly.

- image: the density, size and darkness (hyperchromasia) of the hematoxylin-stained nuclei in every patch of
  the case grow with ``image_score``; per-case stain colour jitter and tissue layout are label-independent.
- expression: a 20-gene proliferation module (MKI67, TOP2A, CCNB1, ...; densely connected in the edge list)
  has log-expression shifted by ``~0.9 * gene_score``; two label-independent modules (immune, stromal),
  also densely connected, vary as much, so top-variance gene selection keeps both kinds; XIST follows gender.
  Extra "Solid Tissue Normal" samples (about 10 % of cases) carry no tumour signal.
- clinical: ``age_at_index`` (about ``62 + 8 * clinical_score`` years) and ``ajcc_pathologic_stage`` (stage
  rises with ``clinical_score``); gender, race, ethnicity, diagnosis and treatments are label-independent, and
  the outcome columns (vital_status, days_to_death) follow ``clinical_score`` only.

Missing modalities (each with probability ``missing_rate``, never all three for one case): no RNA-seq file
(the case is absent from the sample sheet), no patches folder, or a clinical row whose every field but the
case ids and project is ``'--``.

Gene identifiers: a fixed list of well-known genes uses their GENCODE symbols and Ensembl ids (the version
suffixes are illustrative), including the CD99 ``_PAR_Y`` duplicate that real GENCODE v36 files contain; the
remaining genes get synthetic ids and GENCODE-style names (``LINC01234``, ``AC012345.1``, ``RPL21P28``,
``Y_RNA`` ...). The gene table depends on ``num_genes`` only, not on ``seed``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["generate_tcga", "TCGA_SIGNAL_GENES", "STAR_COLUMNS", "SAMPLE_SHEET_COLUMNS"]

STAR_COLUMNS = (
    "gene_id",
    "gene_name",
    "gene_type",
    "unstranded",
    "stranded_first",
    "stranded_second",
    "tpm_unstranded",
    "fpkm_unstranded",
    "fpkm_uq_unstranded",
)
SAMPLE_SHEET_COLUMNS = (
    "File ID",
    "File Name",
    "Data Category",
    "Data Type",
    "Project ID",
    "Case ID",
    "Sample ID",
    "Sample Type",
)
STAR_SUFFIX = ".rna_seq.augmented_star_gene_counts.tsv"

# (symbol, Ensembl id with version, gene type, module); module: signal | immune | stromal | housekeeping | "".
_KNOWN_GENES: tuple[tuple[str, str, str, str], ...] = (
    # the first rows of a real GENCODE v36 STAR file
    ("TSPAN6", "ENSG00000000003.15", "protein_coding", ""),
    ("TNMD", "ENSG00000000005.6", "protein_coding", ""),
    ("DPM1", "ENSG00000000419.13", "protein_coding", ""),
    ("SCYL3", "ENSG00000000457.14", "protein_coding", ""),
    ("C1orf112", "ENSG00000000460.17", "protein_coding", ""),
    ("FGR", "ENSG00000000938.13", "protein_coding", ""),
    ("CFH", "ENSG00000000971.16", "protein_coding", ""),
    ("FUCA2", "ENSG00000001036.14", "protein_coding", ""),
    ("GCLC", "ENSG00000001084.13", "protein_coding", ""),
    ("NFYA", "ENSG00000001167.15", "protein_coding", ""),
    ("CD99", "ENSG00000002586.20", "protein_coding", ""),
    ("CD99", "ENSG00000002586.20_PAR_Y", "protein_coding", "par_y"),
    # proliferation module: the planted expression signal
    ("MKI67", "ENSG00000148773.14", "protein_coding", "signal"),
    ("TOP2A", "ENSG00000131747.15", "protein_coding", "signal"),
    ("CCNB1", "ENSG00000134057.15", "protein_coding", "signal"),
    ("CDK1", "ENSG00000170312.16", "protein_coding", "signal"),
    ("BUB1", "ENSG00000169679.15", "protein_coding", "signal"),
    ("AURKA", "ENSG00000087586.18", "protein_coding", "signal"),
    ("PLK1", "ENSG00000166851.15", "protein_coding", "signal"),
    ("CCNA2", "ENSG00000145386.11", "protein_coding", "signal"),
    ("CDC20", "ENSG00000117399.14", "protein_coding", "signal"),
    ("MCM2", "ENSG00000073111.14", "protein_coding", "signal"),
    ("FOXM1", "ENSG00000111206.13", "protein_coding", "signal"),
    ("BIRC5", "ENSG00000089685.15", "protein_coding", "signal"),
    ("KIF11", "ENSG00000138160.6", "protein_coding", "signal"),
    ("E2F1", "ENSG00000101412.13", "protein_coding", "signal"),
    ("PCNA", "ENSG00000132646.11", "protein_coding", "signal"),
    ("TYMS", "ENSG00000176890.16", "protein_coding", "signal"),
    ("RRM2", "ENSG00000171848.15", "protein_coding", "signal"),
    ("CENPF", "ENSG00000117724.13", "protein_coding", "signal"),
    ("UBE2C", "ENSG00000175063.17", "protein_coding", "signal"),
    ("MYBL2", "ENSG00000101057.16", "protein_coding", "signal"),
    # immune infiltration module (label-independent)
    ("PTPRC", "ENSG00000081237.21", "protein_coding", "immune"),
    ("CD3E", "ENSG00000198851.10", "protein_coding", "immune"),
    ("CD4", "ENSG00000010610.10", "protein_coding", "immune"),
    ("CD8A", "ENSG00000153563.16", "protein_coding", "immune"),
    ("MS4A1", "ENSG00000156738.18", "protein_coding", "immune"),
    ("CD19", "ENSG00000177455.13", "protein_coding", "immune"),
    ("CD68", "ENSG00000129226.14", "protein_coding", "immune"),
    ("CD14", "ENSG00000170458.14", "protein_coding", "immune"),
    ("LYZ", "ENSG00000090382.7", "protein_coding", "immune"),
    ("GZMB", "ENSG00000100453.13", "protein_coding", "immune"),
    ("PRF1", "ENSG00000180644.7", "protein_coding", "immune"),
    ("CCL5", "ENSG00000271503.6", "protein_coding", "immune"),
    ("HLA-DRA", "ENSG00000204287.14", "protein_coding", "immune"),
    ("CD74", "ENSG00000019582.15", "protein_coding", "immune"),
    # stromal module (label-independent)
    ("COL1A1", "ENSG00000108821.14", "protein_coding", "stromal"),
    ("COL1A2", "ENSG00000164692.18", "protein_coding", "stromal"),
    ("COL3A1", "ENSG00000168542.16", "protein_coding", "stromal"),
    ("FN1", "ENSG00000115414.21", "protein_coding", "stromal"),
    ("ACTA2", "ENSG00000107796.14", "protein_coding", "stromal"),
    ("VIM", "ENSG00000026025.16", "protein_coding", "stromal"),
    ("SPARC", "ENSG00000113140.11", "protein_coding", "stromal"),
    ("DCN", "ENSG00000011465.17", "protein_coding", "stromal"),
    ("LUM", "ENSG00000139329.5", "protein_coding", "stromal"),
    ("PDGFRB", "ENSG00000113721.14", "protein_coding", "stromal"),
    ("FAP", "ENSG00000078098.14", "protein_coding", "stromal"),
    ("POSTN", "ENSG00000133110.15", "protein_coding", "stromal"),
    # lung markers and drivers
    ("TP53", "ENSG00000141510.17", "protein_coding", ""),
    ("EGFR", "ENSG00000146648.18", "protein_coding", ""),
    ("KRAS", "ENSG00000133703.12", "protein_coding", ""),
    ("STK11", "ENSG00000118046.16", "protein_coding", ""),
    ("KEAP1", "ENSG00000079999.14", "protein_coding", ""),
    ("ALK", "ENSG00000171094.18", "protein_coding", ""),
    ("MYC", "ENSG00000136997.21", "protein_coding", ""),
    ("PTEN", "ENSG00000171862.10", "protein_coding", ""),
    ("ERBB2", "ENSG00000141736.14", "protein_coding", ""),
    ("SFTPC", "ENSG00000168484.13", "protein_coding", ""),
    ("NKX2-1", "ENSG00000136352.18", "protein_coding", ""),
    ("NAPSA", "ENSG00000131400.8", "protein_coding", ""),
    # housekeeping and abundant transcripts
    ("GAPDH", "ENSG00000111640.15", "protein_coding", "housekeeping"),
    ("ACTB", "ENSG00000075624.17", "protein_coding", "housekeeping"),
    ("B2M", "ENSG00000166710.19", "protein_coding", "housekeeping"),
    ("RPLP0", "ENSG00000089157.16", "protein_coding", "housekeeping"),
    ("EEF1A1", "ENSG00000156508.18", "protein_coding", "housekeeping"),
    ("MALAT1", "ENSG00000251562.8", "lncRNA", "housekeeping"),
    ("NEAT1", "ENSG00000245532.9", "lncRNA", ""),
    ("XIST", "ENSG00000229807.13", "lncRNA", "xist"),
    ("MIR21", "ENSG00000284190.1", "miRNA", ""),
    ("SNORD3A", "ENSG00000263934.4", "snoRNA", ""),
    ("MT-CO1", "ENSG00000198804.2", "protein_coding", "housekeeping"),
    ("MT-ND1", "ENSG00000198888.2", "protein_coding", "housekeeping"),
    ("MT-RNR2", "ENSG00000210082.2", "Mt_rRNA", "housekeeping"),
)

TCGA_SIGNAL_GENES: tuple[str, ...] = tuple(g[0] for g in _KNOWN_GENES if g[3] == "signal")
"""Symbols of the planted proliferation module (the genes whose expression carries the label signal)."""

_FILLER_TYPES = (
    ("protein_coding", 0.45),
    ("lncRNA", 0.30),
    ("processed_pseudogene", 0.12),
    ("unprocessed_pseudogene", 0.04),
    ("misc_RNA", 0.03),
    ("snRNA", 0.03),
    ("miRNA", 0.02),
    ("snoRNA", 0.01),
)
_LOG_MEAN_BY_TYPE = {  # mean and sd of log expected counts
    "protein_coding": (5.0, 1.8),
    "lncRNA": (2.5, 1.8),
    "processed_pseudogene": (1.0, 1.5),
    "unprocessed_pseudogene": (1.0, 1.5),
    "misc_RNA": (0.0, 1.5),
    "snRNA": (0.0, 1.5),
    "miRNA": (-0.5, 1.5),
    "snoRNA": (0.5, 1.5),
    "Mt_rRNA": (12.0, 0.3),
}
_STAGES = ("Stage IA", "Stage IB", "Stage IIA", "Stage IIB", "Stage IIIA", "Stage IIIB", "Stage IV")
_STAGE_TNM = {  # stage -> (T, N, M)
    "Stage IA": ("T1a", "N0", "M0"),
    "Stage IB": ("T2a", "N0", "M0"),
    "Stage IIA": ("T2b", "N0", "M0"),
    "Stage IIB": ("T2a", "N1", "M0"),
    "Stage IIIA": ("T2", "N2", "M0"),
    "Stage IIIB": ("T4", "N2", "M0"),
    "Stage IV": ("T3", "N1", "M1"),
}
_DIAGNOSES = (  # (primary_diagnosis, morphology, probability)
    ("Adenocarcinoma, NOS", "8140/3", 0.55),
    ("Adenocarcinoma with mixed subtypes", "8255/3", 0.25),
    ("Papillary adenocarcinoma, NOS", "8260/3", 0.1),
    ("Bronchiolo-alveolar carcinoma, non-mucinous", "8252/3", 0.1),
)
_SITES = (("Upper lobe, lung", "C34.1"), ("Lower lobe, lung", "C34.3"), ("Middle lobe, lung", "C34.2"))
_TSS = ("05", "38", "44", "49", "50", "55", "64", "75", "78", "86", "91", "97", "J2", "MP", "NJ")
CLINICAL_COLUMNS = (
    "case_id",
    "case_submitter_id",
    "project_id",
    "age_at_index",
    "age_is_obfuscated",
    "cause_of_death",
    "cause_of_death_source",
    "country_of_residence_at_enrollment",
    "days_to_birth",
    "days_to_death",
    "ethnicity",
    "gender",
    "occupation_duration_years",
    "premature_at_birth",
    "race",
    "vital_status",
    "weeks_gestation_at_birth",
    "year_of_birth",
    "year_of_death",
    "age_at_diagnosis",
    "ajcc_clinical_m",
    "ajcc_clinical_n",
    "ajcc_clinical_stage",
    "ajcc_clinical_t",
    "ajcc_pathologic_m",
    "ajcc_pathologic_n",
    "ajcc_pathologic_stage",
    "ajcc_pathologic_t",
    "ajcc_staging_system_edition",
    "classification_of_tumor",
    "days_to_diagnosis",
    "days_to_last_follow_up",
    "icd_10_code",
    "last_known_disease_status",
    "morphology",
    "primary_diagnosis",
    "prior_malignancy",
    "prior_treatment",
    "site_of_resection_or_biopsy",
    "synchronous_malignancy",
    "tissue_or_organ_of_origin",
    "tumor_grade",
    "year_of_diagnosis",
    "treatment_or_therapy",
    "treatment_type",
)
_MISSING = "'--"


def _gene_table(num_genes: int) -> list[dict]:
    """The cohort's gene annotation (depends on ``num_genes`` only), sorted by Ensembl id like GENCODE files."""
    rng = np.random.default_rng(20210413)
    genes = [dict(name=n, id=i, type=t, module=m) for n, i, t, m in _KNOWN_GENES]
    used_numbers = {int(i[4:15]) for _, i, _, _ in _KNOWN_GENES}
    used_names = {n for n, _, _, _ in _KNOWN_GENES}
    types, probs = zip(*_FILLER_TYPES)
    while len(genes) < num_genes:
        number = int(rng.integers(200_000, 290_000))
        gene_type = str(rng.choice(types, p=np.asarray(probs) / np.sum(probs)))
        k = int(rng.integers(1, 99_999))
        if gene_type == "protein_coding":
            prefix = ("ZNF", "SLC", "TMEM", "CCDC", "FAM", "ANKRD", "LRRC", "KLHL")[k % 8]
            name = f"{prefix}{k % 700 + 1}" + ("" if prefix != "FAM" else "A")
        elif gene_type == "lncRNA":
            name = f"LINC{k % 2700:05d}" if k % 3 == 0 else f"{('AC', 'AL', 'AP')[k % 3]}{k:06d}.{k % 3 + 1}"
        elif gene_type == "processed_pseudogene":
            name = f"{('RPL', 'RPS')[k % 2]}{k % 40 + 3}P{k % 60 + 1}"
        elif gene_type == "unprocessed_pseudogene":
            name = f"{('OR', 'TAS2R', 'KRT')[k % 3]}{k % 50 + 1}P"
        elif gene_type == "misc_RNA":
            name = "Y_RNA"  # GENCODE really has hundreds of genes with this name
        elif gene_type == "snRNA":
            name = f"RNU6-{k % 1300 + 2}P"
        elif gene_type == "miRNA":
            name = f"MIR{k % 6000 + 100}"
        else:
            name = f"SNORD{k % 110 + 1}"
        if number in used_numbers or (name in used_names and name != "Y_RNA"):
            continue
        used_numbers.add(number)
        used_names.add(name)
        version = int(rng.integers(1, 12))
        genes.append(dict(name=name, id=f"ENSG{number:011d}.{version}", type=gene_type, module=""))
    genes.sort(key=lambda g: (g["id"].split(".")[0], g["id"]))
    lengths = np.exp(rng.normal(7.5, 0.8, size=len(genes))).clip(100, 100_000)
    for g, length in zip(genes, lengths):
        g["length"] = float(np.round(length))
        if g["module"] in ("signal", "immune", "stromal"):
            mean, sd = 6.5, 0.7
        elif g["module"] == "housekeeping":
            mean, sd = 11.0, 0.6
        elif g["module"] == "xist":
            mean, sd = 8.0, 0.3
        else:
            mean, sd = _LOG_MEAN_BY_TYPE[g["type"]]
        g["log_mean"] = float(rng.normal(mean, sd))
        g["loading"] = float(rng.uniform(0.8, 1.2)) if g["module"] in ("signal", "immune", "stromal") else 0.0
    return genes


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _star_rows(genes: list[dict], log_shift: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Simulate one STAR augmented-gene-counts file body (without header) from per-gene log-mean shifts."""
    log_lambda = np.array([g["log_mean"] for g in genes]) + log_shift + rng.normal(0.0, 0.35, len(genes))
    lam = np.exp(log_lambda) * float(np.exp(rng.normal(0.0, 0.25)))
    counts = rng.poisson(lam).astype(np.int64)
    is_par = np.array([g["module"] == "par_y" for g in genes])
    counts[is_par] = 0
    first = rng.binomial(counts, 0.5)
    second = counts - first
    lengths = np.array([g["length"] for g in genes])
    rate = counts / (lengths / 1e3)
    total = max(int(counts.sum()), 1)
    tpm = rate / max(rate.sum(), 1e-12) * 1e6
    fpkm = counts * 1e9 / (lengths * total)
    coding = np.array([g["type"] == "protein_coding" for g in genes]) & ~is_par
    uq = max(float(np.percentile(counts[coding], 75)), 1.0)
    fpkm_uq = counts * 1e9 / (lengths * uq)
    summary = {
        "N_unmapped": [int(total * 0.04)] * 3,
        "N_multimapping": [int(total * 0.07)] * 3,
        "N_noFeature": [int(total * 0.05), int(total * 0.55), int(total * 0.56)],
        "N_ambiguous": [int(total * 0.06), int(total * 0.01), int(total * 0.01)],
    }
    lines = [f"{name}\t\t\t{a}\t{b}\t{c}\t\t\t" for name, (a, b, c) in summary.items()]
    for i, g in enumerate(genes):
        lines.append(
            f"{g['id']}\t{g['name']}\t{g['type']}\t{counts[i]}\t{first[i]}\t{second[i]}\t"
            f"{tpm[i]:.4f}\t{fpkm[i]:.4f}\t{fpkm_uq[i]:.4f}"
        )
    return lines


def _he_patch(size: int, image_score: float, stain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An H&E-like RGB patch (uint8, (size, size, 3)); nuclei density, size and darkness grow with the score."""
    # eosin-stained stroma with fibre-like low-frequency texture and a few pale lumina
    field = gaussian_filter(rng.normal(size=(size, size)), sigma=size / 16) * (size / 8)
    fibres = gaussian_filter(rng.normal(size=(size, size)), sigma=(1.0, size / 10)) * 4.0
    eosin = np.array([236.0, 170.0, 205.0]) + stain
    img = eosin[None, None, :] + (field + fibres)[..., None] * np.array([2.0, 10.0, 6.0])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for _ in range(int(rng.integers(0, 2))):
        cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size / 14, size / 6)
        lumen = np.clip(1.5 - np.hypot(yy - cy, xx - cx) / r, 0.0, 1.0)[..., None]
        img = img * (1 - lumen) + np.array([246.0, 240.0, 244.0]) * lumen
    # hematoxylin-stained nuclei
    score = float(np.clip(image_score, -3.0, 3.0))
    density = 0.006 * np.exp(0.45 * score)
    n_nuclei = int(rng.poisson(density * size * size))
    radius = 0.8 + (size / 30.0) * (1.0 + 0.15 * score)
    darkness = float(np.clip(0.62 + 0.12 * score, 0.3, 0.95))
    hema = np.array([70.0, 40.0, 120.0]) + 0.5 * stain
    for _ in range(n_nuclei):
        cy, cx = rng.uniform(0, size, 2)
        ry = radius * rng.uniform(0.7, 1.3)
        rx = ry * rng.uniform(0.6, 1.4)
        theta = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / rx
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / ry
        inside = np.clip((1.2 - np.hypot(u, v)) * 4.0, 0.0, 1.0)[..., None]
        alpha = inside * darkness * rng.uniform(0.85, 1.0)
        img = img * (1 - alpha) + (hema + rng.normal(0, 8, 3)) * alpha
    img = img + rng.normal(0, 3.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _stage_from_score(score: float, rng: np.random.Generator) -> str:
    position = 2.2 + 1.6 * score + rng.normal(0, 0.6)
    return _STAGES[int(np.clip(np.round(position), 0, len(_STAGES) - 1))]


def _check_num(num: int, num_classes: int = 2) -> None:
    """The case count the generator needs: two cases per class at least (a stratified split needs them).

    Raises:
        ValueError: ``num_classes < 2``, or ``num`` not an integer of at least ``2 * num_classes``.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    if int(num) != num or num < 2 * num_classes:
        raise ValueError(
            f"num must be an integer of at least {2 * num_classes} (two cases per class, {num_classes} classes), "
            f"got {num!r}."
        )


def generate_tcga(
    out_dir: str | Path,
    num: int = 40,
    seed: int = 0,
    num_genes: int = 256,
    patches_per_case: int = 2,
    patch_size: int = 64,
    missing_rate: float = 0.15,
    num_classes: int = 2,
    project_id: str = "TCGA-LUAD",
    normal_sample_rate: float = 0.1,
    progress: bool = True,
) -> dict[str, str]:
    """Write a synthetic multimodal TCGA cohort in the GDC download formats.

    The layout, the planted signal and the missing-modality rules are described in the module docstring.
    Output is deterministic for a given set of arguments (byte-identical files).

    Args:
        out_dir: folder to write into (created if needed).
        num: number of cases (patients); at least ``2 * num_classes``.
        seed: random seed.
        num_genes: genes per STAR file (at least the number of built-in named genes, 83).
        patches_per_case: histology PNG patches per case that has images.
        patch_size: side of the square RGB patches in pixels (at least 16).
        missing_rate: probability, per case and modality, that the modality is absent (0 <= rate < 1).
        num_classes: number of label classes (quantile bins of the latent risk).
        project_id: GDC project id written to the sample sheet and clinical table.
        normal_sample_rate: fraction of RNA-seq cases that also get a "Solid Tissue Normal" sample.
        progress: show a tqdm progress bar.

    Returns:
        dict of written paths: ``root``, ``sample_sheet``, ``rna_dir``, ``clinical``, ``labels``, ``edges``,
        ``patches`` (folder) and ``signal`` (JSON with the per-case latent scores and modality presence).

    Raises:
        ValueError: for non-positive or inconsistent sizes and rates.
        OSError: when ``out_dir`` cannot be created or written.

    Example::

        paths = generate_tcga("/tmp/tcga", num=24, seed=0)
        sheet = pd.read_csv(paths["sample_sheet"], sep="\\t")
    """
    _check_num(num, num_classes)
    if num_genes < len(_KNOWN_GENES):
        raise ValueError(f"num_genes must be at least {len(_KNOWN_GENES)} (the built-in named genes), got {num_genes}.")
    if patches_per_case < 1:
        raise ValueError(f"patches_per_case must be positive, got {patches_per_case}.")
    if patch_size < 16:
        raise ValueError(f"patch_size must be at least 16 pixels, got {patch_size}.")
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}.")
    if not 0.0 <= normal_sample_rate <= 1.0:
        raise ValueError(f"normal_sample_rate must be in [0, 1], got {normal_sample_rate}.")
    from PIL import Image
    from tqdm import tqdm

    num = int(num)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    rna_dir, patch_dir = root / "rna_seq", root / "patches"
    rna_dir.mkdir(exist_ok=True)
    patch_dir.mkdir(exist_ok=True)

    genes = _gene_table(num_genes)
    gene_modules = np.array([g["module"] for g in genes])
    loadings = np.array([g["loading"] for g in genes])
    rng = np.random.default_rng(seed)

    # cohort-level latent variables
    scores = rng.normal(size=(num, 3))  # image, gene, clinical
    risk = scores.sum(axis=1) + rng.normal(0.0, 0.3, num)
    edges_q = np.quantile(risk, np.linspace(0, 1, num_classes + 1)[1:-1])
    labels = np.searchsorted(edges_q, risk, side="right")
    missing = rng.random((num, 3)) < missing_rate
    for i in np.flatnonzero(missing.all(axis=1)):
        missing[i, rng.integers(0, 3)] = False
    normal_extra = rng.random(num) < normal_sample_rate
    immune, stromal = rng.normal(size=num), rng.normal(size=num)
    case_ids, used = [], set()
    while len(case_ids) < num:
        cid = f"TCGA-{_TSS[int(rng.integers(len(_TSS)))]}-{np.base_repr(int(rng.integers(36**3, 36**4)), 36)}"
        if cid not in used:
            used.add(cid)
            case_ids.append(cid)

    header = "# gene-model: GENCODE v36\n" + "\t".join(STAR_COLUMNS) + "\n"
    sheet_rows, clinical_rows, per_case = [], [], {}
    iterator = tqdm(range(num), desc="tcga cases", disable=not progress)
    for i in iterator:
        crng = np.random.default_rng([seed, i, 7])
        cid = case_ids[i]
        img_score, gene_score, clin_score = (float(s) for s in scores[i])
        gender = "female" if crng.random() < 0.52 else "male"
        has_img, has_rna, has_clin = (not missing[i, 0]), (not missing[i, 1]), (not missing[i, 2])

        if has_rna:
            samples = [("01A", "Primary Tumor")] + ([("11A", "Solid Tissue Normal")] if normal_extra[i] else [])
            for code, sample_type in samples:
                shift = np.zeros(len(genes))
                tumour = sample_type == "Primary Tumor"
                shift[gene_modules == "signal"] = loadings[gene_modules == "signal"] * (
                    0.9 * gene_score if tumour else -1.5
                )
                shift[gene_modules == "immune"] = loadings[gene_modules == "immune"] * immune[i]
                shift[gene_modules == "stromal"] = loadings[gene_modules == "stromal"] * stromal[i]
                shift[gene_modules == "xist"] = 0.0 if gender == "female" else -7.0
                body = _star_rows(genes, shift, crng)
                file_id = _uuid(crng)
                file_name = f"{file_id}{STAR_SUFFIX}"
                (rna_dir / file_id).mkdir(exist_ok=True)
                (rna_dir / file_id / file_name).write_text(header + "\n".join(body) + "\n")
                sheet_rows.append(
                    [
                        file_id,
                        file_name,
                        "Transcriptome Profiling",
                        "Gene Expression Quantification",
                        project_id,
                        cid,
                        f"{cid}-{code}",
                        sample_type,
                    ]
                )

        if has_img:
            stain = crng.normal(0.0, 5.0, 3)
            (patch_dir / cid).mkdir(exist_ok=True)
            for k in range(patches_per_case):
                arr = _he_patch(patch_size, img_score, stain, crng)
                Image.fromarray(arr, mode="RGB").save(patch_dir / cid / f"{cid}-01Z-00-DX1_{k}.png")

        case_uuid = _uuid(crng)
        row = dict.fromkeys(CLINICAL_COLUMNS, _MISSING)
        row.update(case_id=case_uuid, case_submitter_id=cid, project_id=project_id)
        if has_clin:
            age = int(np.clip(np.round(62 + 8 * clin_score + crng.normal(0, 3)), 33, 89))
            stage = _stage_from_score(clin_score, crng) if crng.random() > 0.05 else _MISSING
            t, n, m = _STAGE_TNM.get(stage, (_MISSING, _MISSING, _MISSING))
            diag_idx = int(crng.choice(len(_DIAGNOSES), p=[d[2] for d in _DIAGNOSES]))
            site, icd = _SITES[int(crng.integers(len(_SITES)))]
            year_dx = int(crng.integers(1996, 2013))
            days_to_birth = -int(age * 365.25 + crng.integers(0, 365))
            dead = crng.random() < 1.0 / (1.0 + np.exp(-(clin_score - 0.5)))
            survival = int(np.clip(crng.exponential(1500 * np.exp(-0.5 * clin_score)), 10, 7000))
            row.update(
                age_at_index=str(age),
                days_to_birth=str(days_to_birth),
                days_to_death=str(survival) if dead else _MISSING,
                ethnicity=str(crng.choice(["not hispanic or latino", "hispanic or latino", "not reported"],
                                          p=[0.8, 0.05, 0.15])),
                gender=gender,
                race=str(crng.choice(["white", "black or african american", "asian", "not reported"],
                                     p=[0.75, 0.1, 0.05, 0.1])),
                vital_status="Dead" if dead else "Alive",
                year_of_birth=str(year_dx - age),
                year_of_death=str(year_dx + survival // 365) if dead else _MISSING,
                age_at_diagnosis=str(-days_to_birth),
                ajcc_pathologic_m=m,
                ajcc_pathologic_n=n,
                ajcc_pathologic_stage=stage,
                ajcc_pathologic_t=t,
                ajcc_staging_system_edition="7th" if year_dx >= 2010 else "6th",
                classification_of_tumor="not reported",
                days_to_diagnosis="0",
                days_to_last_follow_up=_MISSING if dead else str(survival),
                icd_10_code=icd,
                last_known_disease_status="not reported",
                morphology=_DIAGNOSES[diag_idx][1],
                primary_diagnosis=_DIAGNOSES[diag_idx][0],
                prior_malignancy=str(crng.choice(["no", "yes"], p=[0.85, 0.15])),
                prior_treatment="No",
                site_of_resection_or_biopsy=site,
                synchronous_malignancy="No",
                tissue_or_organ_of_origin=site,
                tumor_grade="Not Reported",
                year_of_diagnosis=str(year_dx),
            )
            for treatment in ("Pharmaceutical Therapy, NOS", "Radiation Therapy, NOS"):
                trow = dict(row)
                trow["treatment_type"] = treatment
                trow["treatment_or_therapy"] = str(crng.choice(["yes", "no", "not reported"], p=[0.4, 0.5, 0.1]))
                clinical_rows.append(trow)
        else:
            clinical_rows.append(row)

        per_case[cid] = {
            "label": int(labels[i]),
            "image_score": img_score,
            "gene_score": gene_score,
            "clinical_score": clin_score,
            "risk": float(risk[i]),
            "has_image": bool(has_img),
            "has_rna": bool(has_rna),
            "has_clinical": bool(has_clin),
            "has_normal_sample": bool(has_rna and normal_extra[i]),
        }

    sheet_path = root / "gdc_sample_sheet.tsv"
    sheet_path.write_text(
        "\t".join(SAMPLE_SHEET_COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in sheet_rows)
    )
    clinical_path = root / "clinical.tsv"
    clinical_path.write_text(
        "\t".join(CLINICAL_COLUMNS)
        + "\n"
        + "".join("\t".join(r[c] for c in CLINICAL_COLUMNS) + "\n" for r in clinical_rows)
    )
    labels_path = root / "labels.tsv"
    labels_path.write_text(
        "case_submitter_id\tlabel\n" + "".join(f"{cid}\t{per_case[cid]['label']}\n" for cid in case_ids)
    )
    edges_path = root / "string_edges.tsv"
    edges_path.write_text("gene_a\tgene_b\tcombined_score\n" + "".join(_edge_lines(genes)))
    signal_path = root / "signal.json"
    signal = {
        "description": (
            "risk = image_score + gene_score + clinical_score + N(0, 0.3^2); label = quantile bin of risk. "
            "image_score -> nuclear density/size/darkness in the patches; gene_score -> log-expression of the "
            "proliferation module (signal_genes) along dense STRING-like edges; clinical_score -> age_at_index "
            "and ajcc_pathologic_stage. Immune and stromal gene modules and the other clinical columns are "
            "label-independent."
        ),
        "seed": seed,
        "num_classes": num_classes,
        "signal_genes": [g["name"] for g in genes if g["module"] == "signal"],
        "signal_gene_ids": [g["id"] for g in genes if g["module"] == "signal"],
        "noise_modules": {
            mod: [g["name"] for g in genes if g["module"] == mod] for mod in ("immune", "stromal")
        },
        "signal_clinical_columns": ["age_at_index", "ajcc_pathologic_stage"],
        "cases": per_case,
    }
    signal_path.write_text(json.dumps(signal, indent=1))
    return {
        "root": str(root),
        "sample_sheet": str(sheet_path),
        "rna_dir": str(rna_dir),
        "clinical": str(clinical_path),
        "labels": str(labels_path),
        "edges": str(edges_path),
        "patches": str(patch_dir),
        "signal": str(signal_path),
    }


def _edge_lines(genes: Sequence[dict]) -> list[str]:
    """STRING-like undirected edges between gene symbols: dense inside modules, sparse at random elsewhere."""
    rng = np.random.default_rng(len(genes) * 7919 + 11)
    names = sorted({g["name"] for g in genes if g["name"] != "Y_RNA"})
    by_module: dict[str, list[str]] = {}
    for g in genes:
        if g["module"] in ("signal", "immune", "stromal"):
            by_module.setdefault(g["module"], []).append(g["name"])
    pairs: dict[tuple[str, str], int] = {}
    for members in by_module.values():
        for a_i, a in enumerate(members):
            for b in members[a_i + 1 :]:
                if rng.random() < 0.6:
                    pairs[tuple(sorted((a, b)))] = int(rng.integers(700, 1000))
    for _ in range(2 * len(names)):
        a, b = rng.choice(len(names), 2, replace=False)
        key = tuple(sorted((names[a], names[b])))
        pairs.setdefault(key, int(rng.integers(150, 600)))
    return [f"{a}\t{b}\t{s}\n" for (a, b), s in sorted(pairs.items())]
