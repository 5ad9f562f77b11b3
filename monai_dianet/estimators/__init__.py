# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""scikit-learn-style estimators around OncoNet for tabular (genomic + clinical) cohorts."""

from .base import OncoNetEstimatorBase
from .classifier import OncoNetClassifier
from .ensemble import ENSEMBLE_MODES, OncoNetEnsemble, combine_member_outputs
from .survival import OncoNetSurvival
from .tabular import ModalityTableTransformer, as_frame
