"""Data utilities: datalist builders, datasets and synthetic data in the real on-disk formats."""

from .brats import (
    BRATS_LAYOUTS,
    BRATS_REGIONS,
    BraTSLayout,
    brats_case_files,
    brats_datalists,
    build_brats_datalist,
    find_brats_cases,
    load_brats_datalist_json,
    prepare_brats_dataset,
    split_brats_datalist,
)
from .domain_shift import DEFAULT_TARGET_SHIFT, generate_lesion_slice, make_domain_shift_task
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
from .tcga_dataset import (
    TCGACohort,
    TCGAData,
    TCGAMultimodalDataset,
    build_tcga_data,
    build_tcga_datalist,
    load_tcga_cohort,
    load_tcga_preprocessing,
    split_tcga_datalist,
    tcga_collate,
)
