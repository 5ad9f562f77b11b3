# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""An in-memory 2D lesion-segmentation task seen by two "scanners": the domain-shift demo of the DIANet paper, eq 22-24.

The source domain is the clean synthetic image; the target domain is the *same kind* of anatomy passed
through :class:`~monai_dianet.transforms.RandDomainShift` (gamma, contrast, bias field, intensity offset and
noise; the default :data:`DEFAULT_TARGET_SHIFT` is a fixed darker response plus noise), i.e. a scanner with
another intensity response. Source cases are labelled; target training cases
are given without labels (unsupervised domain adaptation); labelled target test cases measure how well a
model transfers.

Hand-written here: a small, CPU-fast generator (no files) so tests and benchmarks can train a DIANet-2D on
both domains in seconds.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from monai_dianet.transforms.domain_shift import RandDomainShift

__all__ = ["DEFAULT_TARGET_SHIFT", "generate_lesion_slice", "make_domain_shift_task"]

#: the default target "scanner": a fixed, darker intensity response (x 0.7) with the source's noise.
#: Chosen on validation cases only, never on the test cases, by stage 1 of benchmarks/bench_domain_adaptation.py
#: (benchmarks/RESULTS.md, domain adaptation): among fixed scanner responses (x 0.5 to x 1.3, noise 0.03 or 0.06)
#: it is the one that hurts the source-only model most (target-validation accuracy 0.85 against 0.99 on the
#: source, mean of 5 seeds) while that model still predicts both classes on the target (at least 20 % of the cases
#: each, on every seed). Stronger shifts make the source-only model call almost every target case one class; then
#: class-agnostic feature alignment has no signal for which target cluster is which, so the demo does not use them.
DEFAULT_TARGET_SHIFT: dict[str, float | tuple[float, float]] = {
    "scale": 0.7,
    "noise_std": 0.03,
}


def generate_lesion_slice(
    rng: np.random.Generator,
    size: int = 64,
    max_lesions: int = 3,
    noise_std: float = 0.03,
    min_lesions: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """One source-domain image and its lesion mask.

    The image is a textured elliptical organ (intensity ~0.4) on a dim background (~0.1) with
    ``min_lesions`` to ``max_lesions`` bright elliptical lesions (~0.75-0.9) inside the organ, plus noise.

    Args:
        rng: numpy random generator (the only source of randomness).
        size: image side length in pixels (>= 16).
        max_lesions: maximum number of lesions (>= ``min_lesions``).
        noise_std: standard deviation of the acquisition noise.
        min_lesions: minimum number of lesions (>= 0; 0 allows lesion-free images).

    Returns:
        ``image`` ``(1, size, size)`` float32 and ``label`` ``(1, size, size)`` float32 in {0, 1}.

    Raises:
        ValueError: when ``size < 16`` or not ``0 <= min_lesions <= max_lesions``.
    """
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}.")
    if not 0 <= min_lesions <= max_lesions:
        raise ValueError(f"need 0 <= min_lesions <= max_lesions, got {min_lesions} and {max_lesions}.")
    yy, xx = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    organ_ax = rng.uniform(0.65, 0.85, 2)
    organ_c = rng.uniform(-0.08, 0.08, 2)
    organ = ((yy - organ_c[0]) / organ_ax[0]) ** 2 + ((xx - organ_c[1]) / organ_ax[1]) ** 2 <= 1.0
    texture = gaussian_filter(rng.standard_normal((size, size)), sigma=size / 16)
    texture /= np.abs(texture).max() + 1e-8
    image = np.where(organ, 0.4 + 0.08 * texture, 0.1 + 0.03 * texture)
    label = np.zeros((size, size), dtype=bool)
    for _ in range(int(rng.integers(min_lesions, max_lesions + 1))):
        radius = rng.uniform(0.12, 0.25, 2)
        angle = rng.uniform(0, np.pi)
        r = rng.uniform(0, 0.45)
        phi = rng.uniform(0, 2 * np.pi)
        cy, cx = organ_c[0] + r * np.sin(phi), organ_c[1] + r * np.cos(phi)
        dy, dx = yy - cy, xx - cx
        u = dy * np.cos(angle) + dx * np.sin(angle)
        v = -dy * np.sin(angle) + dx * np.cos(angle)
        lesion = (u / radius[0]) ** 2 + (v / radius[1]) ** 2 <= 1.0
        image = np.where(lesion, rng.uniform(0.75, 0.9) + 0.05 * texture, image)
        label |= lesion
    image = image + noise_std * rng.standard_normal((size, size))
    return image[None].astype(np.float32), label[None].astype(np.float32)


def make_domain_shift_task(
    num_source: int = 64,
    num_target: int = 64,
    num_test: int = 32,
    size: int = 64,
    seed: int = 0,
    target_shift: Mapping[str, float | tuple[float, float]] | None = None,
    max_lesions: int = 3,
    task: str = "segmentation",
    num_val: int = 0,
) -> dict[str, list[dict[str, torch.Tensor]]]:
    """Generate the source/target splits of the domain-shift demo (all in memory, deterministic in ``seed``).

    ``task="segmentation"``: every image has 1 to ``max_lesions`` lesions and ``"label"`` is the
    ``(1, size, size)`` lesion mask. ``task="classification"``: cases alternate between lesion-free and
    1 to ``max_lesions`` lesions, ``"label"`` is the class (0 = no lesion, 1 = lesion) as a 0-d long tensor
    and ``"mask"`` keeps the lesion mask.

    Args:
        num_source: labelled source training cases.
        num_target: unlabelled target training cases.
        num_test: labelled test cases per domain.
        size: image side length (DIANet needs a multiple of its ``size_divisor``).
        seed: random seed; every split uses independent cases.
        target_shift: keyword arguments of :class:`~monai_dianet.transforms.RandDomainShift` defining the
            target scanner; default :data:`DEFAULT_TARGET_SHIFT`.
        max_lesions: maximum lesions per image.
        task: ``"segmentation"`` or ``"classification"``.
        num_val: labelled validation cases per domain (``"source_val"``, ``"target_val"``; 0: none), for every
            choice made about the demo (e.g. the target shift), so that the test cases stay untouched. They are
            drawn after the other splits, which are therefore the same with or without them.

    Returns:
        ``{"source_train": [{"image", "label"}], "target_train": [{"image"}], "source_test": [{"image",
        "label"}], "target_test": [{"image", "label"}]}``, plus ``"source_val"`` and ``"target_val"`` (labelled)
        when ``num_val > 0``; images are ``(1, size, size)`` float tensors.

    Raises:
        ValueError: for a non-positive split size, an unknown shift parameter or an unknown task.

    Example::

        task = make_domain_shift_task(num_source=32, num_target=32, num_test=16, size=64, seed=0)
        source_loader = DataLoader(task["source_train"], batch_size=8, shuffle=True)
    """
    for name, n in (("num_source", num_source), ("num_target", num_target), ("num_test", num_test)):
        if n < 1:
            raise ValueError(f"{name} must be >= 1, got {n}.")
    if num_val < 0:
        raise ValueError(f"num_val must be >= 0, got {num_val}.")
    if task not in ("segmentation", "classification"):
        raise ValueError(f"task must be 'segmentation' or 'classification', got {task!r}.")
    shift_kwargs = dict(DEFAULT_TARGET_SHIFT if target_shift is None else target_shift)
    allowed = {"prob", "gamma", "contrast", "scale", "offset", "bias_field", "bias_field_degree", "noise_std"}
    unknown = sorted(set(shift_kwargs) - allowed)
    if unknown:
        raise ValueError(f"unknown target_shift parameter(s) {unknown}; expected a subset of {sorted(allowed)}.")
    shift = RandDomainShift(**shift_kwargs).set_random_state(seed + 1)
    rng = np.random.default_rng(seed)

    def cases(n: int, shifted: bool, labelled: bool) -> list[dict[str, torch.Tensor]]:
        out = []
        for i in range(n):
            has_lesion = task == "segmentation" or i % 2 == 1
            image, mask = generate_lesion_slice(
                rng, size=size, max_lesions=max_lesions if has_lesion else 0, min_lesions=int(has_lesion)
            )
            img = torch.as_tensor(image)
            if shifted:
                img = torch.as_tensor(np.asarray(shift(image)), dtype=torch.float32)
            item = {"image": img.float().contiguous()}
            if labelled and task == "segmentation":
                item["label"] = torch.as_tensor(mask)
            elif labelled:
                item["label"] = torch.tensor(int(has_lesion), dtype=torch.long)
                item["mask"] = torch.as_tensor(mask)
            out.append(item)
        return out

    splits = {
        "source_train": cases(num_source, shifted=False, labelled=True),
        "target_train": cases(num_target, shifted=True, labelled=False),
        "source_test": cases(num_test, shifted=False, labelled=True),
        "target_test": cases(num_test, shifted=True, labelled=True),
    }
    if num_val:
        splits["source_val"] = cases(num_val, shifted=False, labelled=True)
        splits["target_val"] = cases(num_val, shifted=True, labelled=True)
    return splits
