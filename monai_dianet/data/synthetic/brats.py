# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Synthetic brain-tumour MRI written in the BraTS 2021 and BraTS 2023 (glioma) on-disk layouts.

The cases are hand-written numerical phantoms (no library makes BraTS-like data); they exist so that the
BraTS loaders, transforms and bundles of this package run end to end without the real (registration-only)
data, reading generated and real cases through the same code path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from monai_dianet.data.synthetic._fields import smooth_noise

__all__ = ["BRATS_LAYOUTS", "BRATS_TISSUE_INTENSITY", "generate_brats", "make_brats_case"]

BRATS_LAYOUTS: dict[str, dict] = {
    "2021": {
        "case": "BraTS2021_{index:05d}",
        "file": "{case}_{suffix}.nii.gz",
        "sequences": ("t1", "t1ce", "t2", "flair"),
        "enhancing": 4,
    },
    "2023": {
        "case": "BraTS-GLI-{index:05d}-000",
        "file": "{case}-{suffix}.nii.gz",
        "sequences": ("t1n", "t1c", "t2w", "t2f"),
        "enhancing": 3,
    },
}
"""Folder/file naming, sequence suffixes (in channel order) and enhancing-tumour label of each layout."""

BRATS_TISSUE_INTENSITY: dict[str, tuple[int, int, int, int]] = {
    # (T1, T1 post-contrast, T2, FLAIR) mean signal before the per-case gain, bias field and noise.
    "skull": (350, 420, 300, 280),
    "csf": (180, 200, 1300, 120),
    "grey_matter": (480, 520, 800, 560),
    "white_matter": (700, 740, 550, 430),
    "oedema": (380, 420, 1050, 900),
    "enhancing": (520, 1150, 850, 650),
    "necrosis": (250, 230, 1250, 500),
}
"""Tissue contrasts of the phantom per sequence, in the channel order T1, T1ce (T1c), T2 (T2w), FLAIR (T2f)."""

_MIN_SIDE, _MAX_SIDE = 16, 512


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate a volume shape: three integers in ``[16, 512]``; returns it as a tuple."""
    try:
        values = tuple(int(s) for s in shape)
        exact = all(float(s) == int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be three integers (X, Y, Z), got {shape!r}.") from None
    if len(values) != 3 or not exact or not all(_MIN_SIDE <= s <= _MAX_SIDE for s in values):
        raise ValueError(
            f"shape must be three integers (X, Y, Z), each between {_MIN_SIDE} and {_MAX_SIDE}, got {tuple(shape)}."
        )
    return values  # type: ignore[return-value]


def _check_layout(layout: str | int) -> str:
    """Validate a layout name ("2021" or "2023", int accepted); returns it as a string."""
    name = str(layout)
    if name not in BRATS_LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(BRATS_LAYOUTS)}, got {layout!r}.")
    return name


def brats_affine(shape: Sequence[int]) -> np.ndarray:
    """The voxel-to-world affine the generated files carry, like the real BraTS NIfTI headers.

    Real BraTS volumes (SRI24 space, 1 mm isotropic) store ``diag(-1, -1, 1)`` with a translation that puts
    voxel ``(0, Y - 1, 0)`` at the world origin's row/column offsets; the same convention is used here for
    any ``shape = (X, Y, Z)``.

    Example::

        >>> brats_affine((240, 240, 155))[:3, 3]
        array([  0., 239.,   0.])
    """
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    affine[1, 3] = shape[1] - 1.0
    return affine


def _soft(edge: float, field: np.ndarray, width: float) -> np.ndarray:
    """Partial-volume membership of ``field < edge`` with a linear ramp ``width`` wide (in field units)."""
    out = np.subtract(edge, field, dtype=np.float32)
    out *= 1.0 / width
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _strictly_inside(candidate: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """``candidate`` voxels whose face neighbours all lie in ``outer``; if none, the deepest interior voxels."""
    inner = candidate & ndimage.binary_erosion(outer)
    if not inner.any():
        depth = ndimage.distance_transform_cdt(outer, metric="taxicab")
        inner = (depth == depth.max()) & (depth >= 2)
    return inner


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random 3x3 rotation matrix (QR of a Gaussian matrix with sign correction)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def make_brats_case(
    shape: Sequence[int] = (96, 96, 64), seed: int | Sequence[int] = 0, enhancing_label: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Make one synthetic multi-sequence brain-tumour MRI case in memory.

    Planted signal (what a segmentation model can learn):

    - **Head**: an ellipsoid (about 76-90 % of the field of view, low-frequency shape noise) made of a thin
      skull shell, a cerebrospinal-fluid (CSF) rim, a grey-matter cortex whose thickness follows a gyral noise
      pattern, white matter inside, and two lateral ventricles (CSF ellipsoids, size varying per case).
      Everything outside the head is exactly 0 in every sequence (as in skull-stripped BraTS); inside it no
      voxel is 0.
    - **Tumour**: a randomly rotated ellipsoid placed anywhere within the inner 60 % of the brain, its size
      (about 18-38 % of the head radius), axis ratios and irregular outline (low-frequency noise on the
      radial distance) drawn per case. Three nested sub-regions: necrotic core (label 1) strictly inside the
      enhancing ring (label ``enhancing_label``), itself strictly inside the peritumoral oedema (label 2);
      each inner region is at least one voxel (face connectivity) away from the outer region's border.
    - **Contrasts** (:data:`BRATS_TISSUE_INTENSITY`, channel order T1, T1ce, T2, FLAIR): white matter
      brighter than grey matter on T1, CSF bright on T2 and dark on FLAIR, enhancing ring bright only on
      T1ce, necrosis dark on T1ce and bright on T2, oedema brightest on FLAIR and bright on T2. So the
      whole tumour is best seen on FLAIR/T2, the tumour core and enhancing tumour on T1ce, as in BraTS.
    - **Nuisance**: per-sequence global gain (x0.8-1.25), a smooth multiplicative bias field (about +-10 %),
      Rician noise (about 2 % of the white-matter signal) and a random head position/size.

    Args:
        shape: volume shape ``(X, Y, Z)`` in 1 mm voxels, each side in ``[16, 512]`` (BraTS: 240, 240, 155).
        seed: seed (or seed sequence) of the case; equal seeds give identical cases.
        enhancing_label: value of the enhancing tumour in the label map (4 for BraTS 2021, 3 for 2023).

    Returns:
        ``(image, label)``: int16 array ``(4, X, Y, Z)`` (T1, T1ce, T2, FLAIR) and uint8 array ``(X, Y, Z)``
        with values ``{0, 1, 2, enhancing_label}``.

    Raises:
        ValueError: when ``shape`` is not three integers in ``[16, 512]`` or ``enhancing_label`` is 0, 1 or 2.

    Example::

        >>> image, label = make_brats_case((48, 48, 32), seed=1)
        >>> image.shape, sorted(np.unique(label).tolist())
        ((4, 48, 48, 32), [0, 1, 2, 4])
    """
    shape = _check_shape(shape)
    if int(enhancing_label) in (0, 1, 2) or not 0 < int(enhancing_label) < 256:
        raise ValueError(f"enhancing_label must be a uint8 value other than 0, 1 and 2, got {enhancing_label}.")
    rng = np.random.default_rng(seed)
    size = np.asarray(shape, dtype=np.float64)

    # head geometry, in voxels (1 mm)
    centre = (size - 1.0) / 2.0 + rng.uniform(-0.015, 0.015, 3) * size
    radii = np.array([0.39, 0.43, 0.41]) * size * rng.uniform(0.92, 1.0, 3)
    mean_radius = float(radii.mean())
    x, y, z = (((np.arange(n, dtype=np.float32) - c) / r).astype(np.float32) for n, c, r in zip(shape, centre, radii))
    x, y, z = x[:, None, None], y[None, :, None], z[None, None, :]
    rho = np.sqrt(x * x + y * y + z * z)
    rho *= np.exp(0.03 * np.clip(smooth_noise(rng, shape, (5, 5, 4)), -3, 3))
    head = rho < 1.0
    pixel = 1.0 / mean_radius  # one voxel in normalised head units

    skull = max(1.5, 0.035 * mean_radius) * pixel
    csf_rim = max(1.0, 0.025 * mean_radius) * pixel
    cortex = max(1.5, 0.06 * mean_radius) * pixel
    gyri = np.clip(smooth_noise(rng, shape, tuple(max(4, n // 5) for n in shape)), -2, 2)
    m_csf = _soft(1.0 - skull, rho, pixel)
    m_gm = _soft(1.0 - skull - csf_rim, rho, pixel)
    wm_edge = (1.0 - skull - csf_rim - cortex) - cortex * 0.7 * gyri
    m_wm = np.clip((wm_edge - rho) / pixel + 0.5, 0.0, 1.0).astype(np.float32)
    del gyri, wm_edge
    brain = rho < 1.0 - skull

    # lateral ventricles: two mirrored ellipsoids
    v_axes = np.array([0.09, 0.3, 0.15]) * rng.uniform(0.7, 1.3, 3)
    v_centre = np.array([0.17, 0.04, 0.08]) * rng.uniform(0.85, 1.15, 3)
    side = [((x - s * v_centre[0]) / v_axes[0]) ** 2 for s in (-1.0, 1.0)]
    v_rho = np.minimum(side[0], side[1]) + ((y - v_centre[1]) / v_axes[1]) ** 2 + ((z - v_centre[2]) / v_axes[2]) ** 2
    v_rho = np.sqrt(v_rho)
    m_vent = _soft(1.0, v_rho, pixel / float(v_axes.min()))
    del side, v_rho

    # tumour: nested sub-regions from two perturbed radial distance fields, computed in its bounding box
    r_tumour = max(rng.uniform(0.18, 0.38), 6.0 * pixel)
    axes = (r_tumour * rng.uniform(0.75, 1.25, 3)).astype(np.float32)
    direction = rng.standard_normal(3)
    t_centre = direction / np.linalg.norm(direction) * rng.uniform(0.1, 0.6) * (1.0 - r_tumour)
    rotation = _random_rotation(rng).astype(np.float32)
    c_centre = t_centre + rotation.T @ (rng.uniform(-0.15, 0.15, 3) * axes)  # core off-centre in the oedema
    f_enh = rng.uniform(0.55, 0.8)
    f_nec = f_enh * rng.uniform(0.5, 0.75)
    reach = float(axes.max()) * (np.exp(0.3 * 2.5) + 0.3)
    lo = np.clip(np.floor(centre + (t_centre - reach) * radii).astype(int) - 1, 0, None)
    hi = np.minimum(np.ceil(centre + (t_centre + reach) * radii).astype(int) + 2, shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    box_shape = tuple(int(b - a) for a, b in zip(lo, hi))
    grid = (x[box[0]], y[:, box[1]], z[:, :, box[2]])

    def radial(origin: np.ndarray) -> np.ndarray:
        rel = [g - np.float32(o) for g, o in zip(grid, origin)]
        dist2 = np.zeros(box_shape, dtype=np.float32)
        for row in range(3):
            q = rotation[row, 0] * rel[0] + rotation[row, 1] * rel[1] + rotation[row, 2] * rel[2]
            dist2 += (q / axes[row]) ** 2
        return np.sqrt(dist2)

    d_oedema = radial(t_centre) * np.exp(0.3 * np.clip(smooth_noise(rng, box_shape, (6, 6, 6)), -2.5, 2.5))
    d_core = radial(c_centre) * np.exp(0.2 * np.clip(smooth_noise(rng, box_shape, (6, 6, 6)), -2.5, 2.5))
    whole = (np.minimum(d_oedema, d_core / (1.25 * f_enh)) < 1.0) & brain[box]
    core = _strictly_inside(d_core < f_enh, whole)
    necrosis = _strictly_inside(d_core < f_nec, core)
    del d_oedema, d_core
    label = np.zeros(shape, dtype=np.uint8)
    label_box = label[box]
    label_box[whole] = 2
    label_box[core] = enhancing_label
    label_box[necrosis] = 1
    tumour_memberships = [ndimage.gaussian_filter(m.astype(np.float32), 0.6) for m in (whole, core, necrosis)]
    del whole, core, necrosis

    names = ("oedema", "enhancing", "necrosis")
    image = np.empty((4,) + shape, dtype=np.int16)
    white = BRATS_TISSUE_INTENSITY["white_matter"]
    for channel in range(4):
        value = {k: np.float32(v[channel]) for k, v in BRATS_TISSUE_INTENSITY.items()}
        signal = np.full(shape, value["skull"], dtype=np.float32)
        for membership, tissue in ((m_csf, "csf"), (m_gm, "grey_matter"), (m_wm, "white_matter"), (m_vent, "csf")):
            signal += (value[tissue] - signal) * membership
        sub = signal[box]
        for membership, tissue in zip(tumour_memberships, names):
            sub += (value[tissue] - sub) * membership
        gain = rng.uniform(0.8, 1.25)
        signal *= np.exp(0.1 * np.clip(smooth_noise(rng, shape, (3, 3, 3)), -2.5, 2.5)) * np.float32(gain)
        sigma = np.float32(0.02 * white[channel] * gain)
        real = signal + sigma * rng.standard_normal(shape, dtype=np.float32)
        imag = sigma * rng.standard_normal(shape, dtype=np.float32)
        signal = np.sqrt(real * real + imag * imag)
        np.clip(signal, 1.0, np.iinfo(np.int16).max, out=signal)
        signal[~head] = 0.0
        image[channel] = np.rint(signal).astype(np.int16)
    return image, label


def _save_nifti(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """Write ``array`` with BraTS-like header fields (scanner qform/sform, mm units)."""
    import nibabel as nib

    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_data_dtype(array.dtype)
    nib.save(img, str(path))


def generate_brats(
    out_dir: str | os.PathLike,
    num: int = 4,
    seed: int = 0,
    shape: Sequence[int] = (96, 96, 64),
    layout: str | int = "2021",
    progress: bool = False,
) -> list[dict]:
    """Write synthetic brain-tumour MRI cases in the real BraTS on-disk layout, plus a decathlon datalist.

    Layouts (:data:`BRATS_LAYOUTS`):

    - ``"2021"``: ``BraTS2021_NNNNN/BraTS2021_NNNNN_{t1,t1ce,t2,flair,seg}.nii.gz``, labels ``{0, 1, 2, 4}``.
    - ``"2023"`` (glioma): ``BraTS-GLI-NNNNN-000/BraTS-GLI-NNNNN-000-{t1n,t1c,t2w,t2f,seg}.nii.gz``, labels
      ``{0, 1, 2, 3}`` (3 = enhancing tumour). Note that MONAI's ``ConvertToMultiChannelBasedOnBratsClasses``
      expects enhancing = 4, so map 2023 labels before using it.

    Images are int16 and labels uint8, 1 mm isotropic, with the BraTS affine of :func:`brats_affine`. The
    planted signal is described in :func:`make_brats_case`; case ``i`` depends only on ``(seed, i)`` and the
    shape, so a larger ``num`` extends a smaller one. ``out_dir/dataset.json`` is a MONAI decathlon-style
    datalist (paths relative to ``out_dir``, read it with ``monai.data.load_decathlon_datalist``) whose
    ``"training"`` entries are ``{"image": [4 paths, channel order as in "modality"], "label": path,
    "case_id": id}``.

    Args:
        out_dir: output folder (created if missing; existing cases with the same names are overwritten).
        num: number of cases (>= 1).
        seed: base random seed.
        shape: volume shape ``(X, Y, Z)``, each side in ``[16, 512]``; BraTS itself is ``(240, 240, 155)``.
        layout: ``"2021"`` or ``"2023"``.
        progress: show a tqdm progress bar over the cases.

    Returns:
        the datalist entries with absolute paths: ``[{"image": [t1, t1ce, t2, flair], "label": seg,
        "case_id": "BraTS2021_00000"}, ...]``.

    Raises:
        ValueError: for ``num < 1``, a bad ``shape`` or an unknown ``layout``.

    Example::

        >>> entries = generate_brats("/tmp/brats", num=2, shape=(48, 48, 32))
        >>> entries[0]["case_id"], len(entries[0]["image"])
        ('BraTS2021_00000', 4)
    """
    shape = _check_shape(shape)
    layout = _check_layout(layout)
    if int(num) < 1:
        raise ValueError(f"num must be a positive number of cases, got {num}.")
    spec = BRATS_LAYOUTS[layout]
    root = Path(out_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    affine = brats_affine(shape)

    entries, relative = [], []
    for index in tqdm(range(int(num)), desc=f"BraTS {layout} cases", disable=not progress):
        case = spec["case"].format(index=index)
        folder = root / case
        folder.mkdir(exist_ok=True)
        image, label = make_brats_case(shape, seed=(int(seed), index), enhancing_label=spec["enhancing"])
        files = {}
        for channel, suffix in enumerate(spec["sequences"]):
            files[suffix] = folder / spec["file"].format(case=case, suffix=suffix)
            _save_nifti(image[channel], affine, files[suffix])
        files["seg"] = folder / spec["file"].format(case=case, suffix="seg")
        _save_nifti(label, affine, files["seg"])
        images = [str(files[s]) for s in spec["sequences"]]
        entries.append({"image": images, "label": str(files["seg"]), "case_id": case})
        relative.append(
            {
                "image": [os.path.relpath(p, root) for p in images],
                "label": os.path.relpath(files["seg"], root),
                "case_id": case,
            }
        )

    enhancing = spec["enhancing"]
    datalist = {
        "name": f"BraTS{layout}-synthetic",
        "description": "Synthetic brain-tumour MRI phantoms in the BraTS on-disk layout (monai_dianet.data.synthetic).",
        "reference": "monai_dianet.data.synthetic.brats",
        "licence": "Apache-2.0",
        "tensorImageSize": "4D",
        "modality": {str(i): s for i, s in enumerate(spec["sequences"])},
        "labels": {
            "0": "background",
            "1": "necrotic tumour core (NCR)",
            "2": "peritumoral oedema (ED)",
            str(enhancing): "GD-enhancing tumour (ET)",
        },
        "shape": list(shape),
        "seed": int(seed),
        "numTraining": len(relative),
        "numTest": 0,
        "training": relative,
        "test": [],
    }
    with open(root / "dataset.json", "w") as f:
        json.dump(datalist, f, indent=2)
    return entries
