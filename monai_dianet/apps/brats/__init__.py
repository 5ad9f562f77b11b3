# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""BraTS brain-tumour MRI (2021 and 2023 layouts): datalists, label conventions, the spatial prior of a training
list and the prediction writer used by the ``dianet_brats_segmentation`` bundle."""

from .data import (
    BRATS_LAYOUTS,
    BRATS_REGIONS,
    BraTSLayout,
    brats_case_files,
    brats_datalists,
    brats_layout,
    build_brats_datalist,
    find_brats_cases,
    generate_brats_layouts,
    load_brats_datalist_json,
    prepare_brats_dataset,
)
from .prior import brats_spatial_prior
from .transforms import (
    BraTSLabelsToRegions,
    BraTSLabelsToRegionsd,
    BraTSRegionsToLabels,
    BraTSRegionsToLabelsd,
    ConvertToMultiChannelBasedOnBrats2023Classes,
    ConvertToMultiChannelBasedOnBrats2023Classesd,
    ValidateBraTSCase,
    ValidateBraTSCased,
    filename_of,
)
from .writers import SaveBraTSPredictiond, brats_region_volumes_ml
