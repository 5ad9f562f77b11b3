# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Data utilities shared by every domain: the train/validation/test split, the embedded-data preparation of the
bundles, and generators of synthetic data in the real on-disk formats (:mod:`monai_dianet.data.synthetic`).
Domain datalists and datasets live under :mod:`monai_dianet.apps`."""

from .embedded import EMBEDDED_MARKER, prepare_embedded_data
from .split import EVALUATION_SPLITS, SPLITS, select_cases, select_split, split_datalist
