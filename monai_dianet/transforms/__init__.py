"""Transforms of monai-dianet (array transforms with dictionary twins)."""

from .spatial_prior import (
    ResampleSpatialPrior,
    ResampleSpatialPriord,
    build_spatial_prior,
    load_spatial_prior,
    resample_to,
    save_spatial_prior,
)
from .tcga import (
    ClinicalEncoder,
    EncodeClinicald,
    GeneExpressionScaler,
    LoadHistologyPatch,
    LoadHistologyPatchd,
    ScaleGeneExpressiond,
    ajcc_stage_to_number,
)
