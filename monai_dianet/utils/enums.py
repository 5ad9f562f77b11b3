# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""String enums of the package, in the style of :mod:`monai.utils.enums`: members compare equal to their
values, so configs and JSON files keep plain strings (``"softmax"``, ``"accept"``...)."""

from __future__ import annotations

from monai.utils import StrEnum

__all__ = ["Activation", "DropoutPlacement", "Modality", "Precision", "PriorMode", "RouteDecision", "UncertaintyScore"]


class Activation(StrEnum):
    """How logits become probabilities: mutually exclusive classes (softmax) or independent labels (sigmoid)."""

    SOFTMAX = "softmax"
    SIGMOID = "sigmoid"


class DropoutPlacement(StrEnum):
    """Where DIANet's MC dropout sits: before each head's final projection, also in the decoders, or also after
    every backbone stage (see :class:`~monai_dianet.networks.nets.DIANet` for what each costs)."""

    HEAD = "head"
    DECODER = "decoder"
    ALL = "all"


class PriorMode(StrEnum):
    """Kind of a spatial prior map: a categorical distribution per voxel (softmax) or overlapping binary
    channels, each a Bernoulli probability (sigmoid)."""

    SOFTMAX = "softmax"
    SIGMOID = "sigmoid"


class RouteDecision(StrEnum):
    """Decisions of the ACWI router: keep the fast prediction, refine it, or send the case to human review."""

    ACCEPT = "accept"
    REFINE = "refine"
    REVIEW = "review"


class UncertaintyScore(StrEnum):
    """Per-voxel (or per-case) uncertainty maps that a case-level routing score can be computed from."""

    ENTROPY = "entropy"
    MUTUAL_INFORMATION = "mutual_information"
    VARIANCE = "variance"


class Modality(StrEnum):
    """Input modalities of OncoNet, in the order of ``modality_mask``."""

    IMAGE = "image"
    GENES = "genes"
    CLINICAL = "clinical"


class Precision(StrEnum):
    """Arithmetic precision of a network's forward pass: chosen for the device (``auto``), full float32, or
    autocast to bfloat16 / float16 (see :func:`~monai_dianet.utils.resolve_precision`)."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
