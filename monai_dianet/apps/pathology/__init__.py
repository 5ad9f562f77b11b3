# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Whole-slide metastasis detection (CAMELYON16/17) on MONAI's pathology stack.

Slides through MONAI ``WSIReader(backend="openslide")`` (:mod:`.wsi`), ASAP XML annotations as masks
(:mod:`.annotations`), CAMELYON17 stages (:mod:`.staging`), tissue detection (:mod:`.tissue`), patch lists for
``PatchWSIDataset`` (:mod:`.data`), patch transforms (:mod:`.transforms`), heat-map stitching and per-slide
outputs (:mod:`.inference`, :mod:`.handlers`, :mod:`.lesions`, :mod:`.writers`) and slide-level evaluation
(:mod:`.metrics`).
"""

from monai_dianet.apps.pathology.annotations import (
    EXCLUSION_GROUPS,
    TUMOUR_GROUPS,
    SlideAnnotation,
    load_annotation,
    read_asap_annotation,
)
from monai_dianet.apps.pathology.data import (
    PATCH_META_KEYS,
    SlidePlan,
    camelyon_datalist,
    patch_dataset,
    plan_slide,
    plan_slides,
    sample_training_patches,
)
from monai_dianet.apps.pathology.engines import PatchHeadsInferer, PrepareHeadTargets, prepare_image_only
from monai_dianet.apps.pathology.handlers import SlideHeatmapHandler
from monai_dianet.apps.pathology.inference import HeatmapStitcher, SlideMaps, SlideOutputWriter
from monai_dianet.apps.pathology.lesions import Lesion, detect_lesions, nms_detections
from monai_dianet.apps.pathology.metrics import (
    AnnotationMaskReader,
    CamelyonFROC,
    evaluate_slides,
    plot_froc,
    slide_auc,
    true_category,
    write_evaluation,
    write_slide_table,
)
from monai_dianet.apps.pathology.routing import SlideRouter, fit_router_on_validation, fit_slide_router
from monai_dianet.apps.pathology.staging import (
    PN_STAGES,
    SLIDE_CATEGORIES,
    lesion_category,
    patient_of,
    pn_stage,
    read_stage_labels,
    slide_category,
    stage_kappa,
)
from monai_dianet.apps.pathology.tissue import tissue_level, tissue_mask
from monai_dianet.apps.pathology.transforms import (
    MacenkoNormalize,
    MacenkoNormalized,
    PatchAnnotationMaskd,
    PatchMetaToKeysd,
    RandHEDJitter,
    RandHEDJitterd,
    centre_label,
)
from monai_dianet.apps.pathology.workflow import TRAIN_COMMAND, load_router
from monai_dianet.apps.pathology.writers import (
    write_detections_csv,
    write_heatmap_tiff,
    write_lesions_xml,
    write_overlay_png,
)
from monai_dianet.apps.pathology.wsi import SlideInfo, read_level, read_slide_info, slide_reader
