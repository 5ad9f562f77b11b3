# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Transforms of monai-dianet (array transforms with dictionary twins)."""

from .io import CheckedLoadImage, CheckedLoadImaged, CheckedLoadImageD, CheckedLoadImageDict
from .domain_shift import RandDomainShift, RandDomainShiftd, RandDomainShiftD, RandDomainShiftDict
from .routing import RoutingRecordd, prediction_summary, routing_record, routing_status
from .spatial_prior import ResampleSpatialPrior, ResampleSpatialPriord, build_spatial_prior, finalize_prior
