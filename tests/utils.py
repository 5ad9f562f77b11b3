# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Helpers shared by the tests (import them as ``from tests.utils import ...``; never copy them into a test)."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from torch import nn

#: label values of the two BraTS conventions
BRATS_LABELS = {"2021": [0, 1, 2, 4], "2023": [0, 1, 2, 3]}


@dataclasses.dataclass
class TinyOutput:
    """A ``DIANetOutput``-like result: a segmentation head and the features the engines read."""

    segmentation: torch.Tensor
    pooled_latent: torch.Tensor
    fused: torch.Tensor | None = None
    mu: torch.Tensor | None = None

    @property
    def main(self) -> torch.Tensor:
        return self.segmentation


class TinyNet(nn.Module):
    """A two-layer 2D stand-in for DIANet (1 input channel, 2 classes) for fast tests of engine logic; counts its
    forward calls in ``calls``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 2, 1)
        self.calls = 0

    def forward(self, x: torch.Tensor, return_all: bool = False):
        self.calls += 1
        f = torch.relu(self.conv(x))
        out = TinyOutput(self.head(f), f.mean((2, 3)), f, 2.0 * f)
        return out if return_all else out.main


def random_segmentation_batches(n: int, batch: int, size: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``n`` batches of random 2D images ``(batch, 1, size, size)`` with the label ``image > 0.5``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        image = torch.rand(batch, 1, size, size, generator=g)
        out.append({"image": image, "label": (image > 0.5).float()})
    return out


def exception_chain(exc: BaseException | None) -> str:
    """Messages of an exception and its causes (MONAI's Compose and ConfigParser re-raise errors as new ones)."""
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__
    return " <- ".join(parts)


def random_brats_labels(layout: str, shape=(6, 5, 4), seed: int = 0) -> torch.Tensor:
    """A ``(1, *shape)`` uint8 label map with random values of the BraTS ``layout`` convention."""
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.choice(BRATS_LABELS[layout], size=(1, *shape)), dtype=torch.uint8)


def write_brats_case(folder: Path, case_id: str, layout: str, shape=(8, 8, 6), labels=None, affine=None) -> dict:
    """A minimal BraTS case on disk (random intensities), returning its datalist entry."""
    seqs = ("t1", "t1ce", "t2", "flair") if layout == "2021" else ("t1n", "t1c", "t2w", "t2f")
    sep = "_" if layout == "2021" else "-"
    affine = np.diag([-2.0, -2.0, 2.0, 1.0]) if affine is None else affine
    case = folder / case_id
    case.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = []
    for s in seqs:
        path = case / f"{case_id}{sep}{s}.nii.gz"
        nib.save(nib.Nifti1Image(rng.random(shape, dtype=np.float32), affine), str(path))
        images.append(str(path))
    labels = random_brats_labels(layout, shape)[0].numpy() if labels is None else labels
    label = case / f"{case_id}{sep}seg.nii.gz"
    nib.save(nib.Nifti1Image(labels.astype(np.uint8), affine), str(label))
    return {"image": images, "label": str(label), "case_id": case_id, "layout": layout}


@contextmanager
def global_backend_kept():
    """Assert that the code inside leaves matplotlib's global backend alone (a notebook's inline backend, a user's
    GUI backend): the block runs under the ``svg`` backend, which must still be set afterwards; the previous backend
    is restored either way."""
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        yield
        assert matplotlib.get_backend() == "svg", f"the global matplotlib backend was switched to {matplotlib.get_backend()}"
    finally:
        matplotlib.use(before)
