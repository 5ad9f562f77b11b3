"""Transforms of monai-dianet (array transforms with dictionary twins)."""

from .brats import (
    BraTSLabelsToRegions,
    BraTSLabelsToRegionsd,
    BraTSRegionsToLabels,
    BraTSRegionsToLabelsd,
    ConvertToMultiChannelBasedOnBrats2023Classes,
    ConvertToMultiChannelBasedOnBrats2023Classesd,
    PrepareBatchWithPrior,
    RouteCased,
    SaveBraTSPredictiond,
    ValidateBraTSCase,
    ValidateBraTSCased,
    brats_region_volumes_ml,
    brats_spatial_prior,
)
from .domain_shift import RandDomainShift, RandDomainShiftd, RandDomainShiftD, RandDomainShiftDict
from .spatial_prior import (
    ResampleSpatialPrior,
    ResampleSpatialPriord,
    build_spatial_prior,
    load_spatial_prior,
    resample_to,
    save_spatial_prior,
)
from .tcga import (
    ClinicalTableEncoder,
    EncodeClinicald,
    GeneExpressionScaler,
    LoadHistologyPatch,
    LoadHistologyPatchd,
    ScaleGeneExpressiond,
    ajcc_stage_to_number,
)
