# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""TCGA multimodal cohorts (histology patches, STAR gene expression, GDC clinical tables): GDC readers, the aligned
cohort and its MONAI dataset, the fitted preprocessing transforms, the per-patient report of the
``onconet_tcga_classification`` bundle, and its survival task (overall survival from the GDC clinical table)."""

from .data import (
    DEFAULT_CLINICAL_COLUMNS,
    TCGACohort,
    TCGAData,
    TCGAMultimodalDataset,
    build_tcga_data,
    build_tcga_datalist,
    load_tcga_cohort,
    load_tcga_preprocessing,
    tcga_collate,
)
from .gdc import (
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
    string_edges_to_index,
    strip_gene_version,
)
from .preprocessing import (
    PREPROCESSING_FILE,
    build_training_data,
    evaluation_dataset,
    load_preprocessing,
    prepare_tcga_cohort,
    require_checkpoint,
)
from .report import OncoNetReportSaver, clinical_variable, figure6
from .transforms import (
    EncodeClinical,
    EncodeClinicald,
    LoadHistologyPatch,
    LoadHistologyPatchd,
    ScaleGeneExpression,
    ScaleGeneExpressiond,
    ajcc_stage_to_number,
)
from .survival import SURVIVAL_COLUMNS, load_tcga_survival_cohort, read_gdc_survival
from .survival_task import (
    SURVIVAL_MODEL_FILE,
    SURVIVAL_SPLITS,
    OncoNetSurvivalTrainer,
    build_survival_data,
    load_survival_model,
    survival_dataset,
    survival_table,
)
