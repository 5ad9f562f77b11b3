# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Smooth random fields shared by the synthetic data generators (hand-written: numpy has no such helper)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _rbf_weights(length: int, nodes: int) -> np.ndarray:
    """Row-normalised Gaussian radial-basis weights, shape ``(length, nodes)``, from lattice nodes to samples."""
    positions = np.arange(length, dtype=np.float64)
    centres = np.linspace(0.0, length - 1.0, nodes)
    width = max((length - 1.0) / max(nodes - 1, 1), 1.0) * 0.75
    weights = np.exp(-0.5 * ((positions[:, None] - centres[None, :]) / width) ** 2)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: Sequence[int], nodes: Sequence[int]) -> np.ndarray:
    """Low-frequency random field: unit-variance values on a coarse lattice, interpolated separably.

    Independent standard-normal values on a lattice of ``nodes[d]`` points per axis are spread to ``shape``
    with row-normalised Gaussian radial-basis weights, one axis at a time (``np.matmul``), so the cost is
    a few passes over the output whatever its dimension. The result is standardised to zero mean and unit
    standard deviation; its correlation length is about ``shape[d] / nodes[d]`` samples along axis ``d``.

    Args:
        rng: numpy random generator (consumed deterministically).
        shape: output shape, any number of dimensions.
        nodes: lattice points per axis, each >= 2.

    Returns:
        float32 array of ``shape``.

    Raises:
        ValueError: when ``shape`` and ``nodes`` differ in length or a node count is below 2.

    Example::

        >>> field = smooth_noise(np.random.default_rng(0), (64, 64, 32), (6, 6, 4))
        >>> field.shape, round(float(field.std()), 3)
        ((64, 64, 32), 1.0)
    """
    if len(shape) != len(nodes) or min(nodes) < 2:
        raise ValueError(f"nodes must give >= 2 lattice points for each of the {len(shape)} axes, got {nodes}.")
    field = rng.standard_normal(tuple(nodes), dtype=np.float32)
    # interpolate the last axis first so that every matmul writes a C-contiguous result
    for axis in reversed(range(len(shape))):
        before, after = int(np.prod(field.shape[:axis])), int(np.prod(field.shape[axis + 1 :]))
        weights = _rbf_weights(int(shape[axis]), int(nodes[axis]))
        field = np.matmul(weights, field.reshape(before, int(nodes[axis]), after))
        field = field.reshape(*nodes[:axis], int(shape[axis]), *shape[axis + 1 :])
    field -= field.mean()
    field /= max(float(field.std()), 1e-8)
    return field
