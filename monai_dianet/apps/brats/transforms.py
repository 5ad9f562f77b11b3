# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""BraTS transforms: case validation and the label conventions of BraTS 2021 and 2023.

BraTS label maps use 1 = necrotic tumour core, 2 = peritumoral oedema and 4 (BraTS 2018-2021) or 3 (BraTS 2023)
= enhancing tumour. Networks are trained on the three overlapping regions TC (tumour core = 1 + ET),
WT (whole tumour = 1 + 2 + ET) and ET, one sigmoid channel each. MONAI's
:class:`monai.transforms.ConvertToMultiChannelBasedOnBratsClasses` converts the 2021 convention (its default
enhancing label is 4: on 2023 labels its ET channel silently comes out empty); the 2023 convention is converted by
:class:`ConvertToMultiChannelBasedOnBrats2023Classes` here, and :class:`BraTSLabelsToRegionsd` picks the right one
per case from the ``"layout"`` key written by :mod:`monai_dianet.apps.brats.data`, after checking that the label map
holds only that convention's values. :class:`BraTSRegionsToLabels` goes back from TC/WT/ET to a label map in the
input's convention for writing.

Example::

    from monai.transforms import Compose, LoadImaged
    from monai_dianet.apps.brats import ValidateBraTSCased, BraTSLabelsToRegionsd

    load = Compose([
        ValidateBraTSCased(keys=["image", "label"]),
        LoadImaged(keys=["image", "label"], ensure_channel_first=True),
        BraTSLabelsToRegionsd(keys="label"),
    ])
    data = load(entry)  # entry from monai_dianet.apps.brats.build_brats_datalist
    data["image"].shape, data["label"].shape  # (4, H, W, D), (3, H, W, D)
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses, MapTransform, Transform
from monai.utils import TransformBackends

from monai_dianet.apps.brats.data import BRATS_LAYOUTS, brats_layout

__all__ = [
    "ValidateBraTSCase",
    "ValidateBraTSCased",
    "ConvertToMultiChannelBasedOnBrats2023Classes",
    "ConvertToMultiChannelBasedOnBrats2023Classesd",
    "BraTSLabelsToRegions",
    "BraTSLabelsToRegionsd",
    "BraTSRegionsToLabels",
    "BraTSRegionsToLabelsd",
]


def filename_of(value, fallback: str = "<in memory>") -> str:
    """File name behind a loaded image (MetaTensor meta) or a path."""
    if isinstance(value, (str, os.PathLike)):
        return str(value)
    meta = getattr(value, "meta", None)
    if meta is not None and meta.get("filename_or_obj"):
        return str(meta["filename_or_obj"])
    return fallback


class ValidateBraTSCase(Transform):
    """Check the files of one BraTS case before loading: every file exists and all share one spatial shape.

    Only the NIfTI headers are read (nibabel), so the check is cheap and runs before
    :class:`monai.transforms.LoadImage` stacks the sequences (whose own error on a shape mismatch names no file).

    Args:
        case_id: name used in error messages (overridden per call).

    Raises (on call):
        FileNotFoundError: a file is missing; the message names the case and the file.
        ValueError: a file's spatial shape differs from the first sequence's; the message names the case, the
            file, its shape and the expected shape.
    """

    def __init__(self, case_id: str = "<unknown case>") -> None:
        self.case_id = case_id

    @staticmethod
    def _shape(path: str) -> tuple[int, ...]:
        import nibabel as nib

        shape = tuple(int(s) for s in nib.load(path).shape)
        while len(shape) > 3 and shape[-1] == 1:
            shape = shape[:-1]
        return shape

    def __call__(self, files: Sequence[str | os.PathLike], case_id: str | None = None) -> list[str]:
        """Validate ``files`` (sequences first, optionally the label map last); returns them as strings."""
        case = self.case_id if case_id is None else case_id
        files = [str(f) for f in files]
        ref_shape, ref_file = None, None
        for path in files:
            if not Path(path).is_file():
                raise FileNotFoundError(f"BraTS case {case!r}: file {path} does not exist.")
            shape = self._shape(path)
            if len(shape) != 3:
                raise ValueError(f"BraTS case {case!r}: file {path} has shape {shape}, expected a 3D volume.")
            if ref_shape is None:
                ref_shape, ref_file = shape, path
            elif shape != ref_shape:
                raise ValueError(
                    f"BraTS case {case!r}: file {path} has shape {shape}, expected {ref_shape} "
                    f"(the shape of {Path(ref_file).name}); all sequences and the label map must share one grid."
                )
        return files


class ValidateBraTSCased(MapTransform):
    """Dictionary twin of :class:`ValidateBraTSCase`: checks the paths under ``keys`` together.

    Args:
        keys: keys holding a path or a list of paths (``"image"``, ``"label"``); checked as one group.
        case_key: key of the case id used in messages (default ``"case_id"``; the first file's folder name when
            absent).
        allow_missing_keys: don't raise when a key is absent (e.g. no ``"label"`` at inference).
    """

    def __init__(
        self, keys: KeysCollection = ("image", "label"), case_key: str = "case_id", allow_missing_keys: bool = True
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.case_key = case_key
        self.validator = ValidateBraTSCase()

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        files: list[str] = []
        for key in self.key_iterator(d):
            value = d[key]
            files.extend([value] if isinstance(value, (str, os.PathLike)) else list(value))
        if files:
            case = d.get(self.case_key) or Path(str(files[0])).parent.name
            self.validator(files, case_id=str(case))
        return d


class ConvertToMultiChannelBasedOnBrats2023Classes(Transform):
    """Convert a BraTS 2023 label map (0, 1, 2, 3 with 3 = enhancing tumour) to the TC/WT/ET channels.

    The 2021-convention equivalent is MONAI's :class:`~monai.transforms.ConvertToMultiChannelBasedOnBratsClasses`
    (enhancing tumour = 4); this is its hand-written counterpart for the 2023 convention:
    TC = 1 | 3, WT = 1 | 2 | 3, ET = 3.

    Input ``(1, H, W[, D])`` or ``(H, W[, D])``; output ``(3, H, W[, D])`` boolean, same array type.

    Example::

        >>> ConvertToMultiChannelBasedOnBrats2023Classes()(torch.tensor([[[0, 1, 2, 3]]])).int().tolist()
        [[[0, 1, 0, 1]], [[0, 1, 1, 1]], [[0, 0, 0, 1]]]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]
    enhancing_label = BRATS_LAYOUTS["2023"].enhancing_label

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        if img.ndim == 4 and img.shape[0] == 1:
            img = img.squeeze(0)
        et = img == self.enhancing_label
        tc = (img == 1) | et
        wt = tc | (img == 2)
        return torch.stack([tc, wt, et], dim=0) if isinstance(img, torch.Tensor) else np.stack([tc, wt, et], axis=0)


class ConvertToMultiChannelBasedOnBrats2023Classesd(MapTransform):
    """Dictionary twin of :class:`ConvertToMultiChannelBasedOnBrats2023Classes`."""

    backend = ConvertToMultiChannelBasedOnBrats2023Classes.backend

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = ConvertToMultiChannelBasedOnBrats2023Classes()

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


class BraTSLabelsToRegions(Transform):
    """Validate a BraTS label map against its convention and convert it to TC/WT/ET channels.

    ``layout="2021"`` uses MONAI's :class:`~monai.transforms.ConvertToMultiChannelBasedOnBratsClasses`,
    ``layout="2023"`` uses :class:`ConvertToMultiChannelBasedOnBrats2023Classes`.

    Args:
        layout: default label convention, ``"2021"`` (0/1/2/4) or ``"2023"`` (0/1/2/3).

    Raises (on call):
        ValueError: the label map holds values outside the convention (the message lists the values found and
            the allowed ones), or the layout is unknown.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, layout: str = "2021") -> None:
        brats_layout(layout)
        self.layout = str(layout)
        self.converters = {
            "2021": ConvertToMultiChannelBasedOnBratsClasses(),
            "2023": ConvertToMultiChannelBasedOnBrats2023Classes(),
        }

    def __call__(self, img: NdarrayOrTensor, layout: str | None = None, name: str | None = None) -> NdarrayOrTensor:
        """Args:
        img: label map ``(1, H, W[, D])`` or ``(H, W[, D])``.
        layout: convention of this label map (default: the constructor's).
        name: what to call the label map in error messages (e.g. ``"case X, file Y"``).
        """
        lay = brats_layout(self.layout if layout is None else layout)
        values = [int(v) if float(v).is_integer() else v for v in torch.unique(torch.as_tensor(img)).tolist()]
        unknown = sorted(set(values) - set(lay.labels))
        if unknown:
            found = sorted(values)
            raise ValueError(
                f"{name or 'BraTS label map'}: unknown label values {unknown} for the BraTS {lay.name} convention; "
                f"values found {found}, allowed {list(lay.labels)}."
            )
        return self.converters[lay.name](img)


class BraTSLabelsToRegionsd(MapTransform):
    """Dictionary twin of :class:`BraTSLabelsToRegions` taking each case's convention from its layout key.

    Args:
        keys: label keys to convert (``"label"``).
        layout_key: key holding the case's layout (``"2021"`` or ``"2023"``), as written by
            :func:`monai_dianet.apps.brats.build_brats_datalist`; when absent, ``default_layout`` is used.
        case_key: key of the case id, used in error messages.
        default_layout: layout for data without ``layout_key``.
        allow_missing_keys: don't raise when a key is absent.

    Raises (on call):
        ValueError: unknown label values; the message names the case, the file, the values found and the allowed
            ones.
    """

    backend = BraTSLabelsToRegions.backend

    def __init__(
        self,
        keys: KeysCollection = "label",
        layout_key: str = "layout",
        case_key: str = "case_id",
        default_layout: str = "2021",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.layout_key = layout_key
        self.case_key = case_key
        self.converter = BraTSLabelsToRegions(default_layout)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        layout = d.get(self.layout_key, self.converter.layout)
        for key in self.key_iterator(d):
            name = f"BraTS case {d.get(self.case_key, '<unknown case>')!r}, file {filename_of(d[key])}"
            d[key] = self.converter(d[key], layout=str(layout), name=name)
        return d


class BraTSRegionsToLabels(Transform):
    """Turn TC/WT/ET channels back into one BraTS label map in a given convention, for writing.

    Nested assignment, outermost first: WT -> 2 (oedema), TC -> 1 (necrotic core), ET -> enhancing label (4 in
    the 2021 convention, 3 in 2023). Voxels outside WT are 0. The result holds only the convention's values, also
    when the channels are inconsistent (e.g. ET outside WT still becomes enhancing tumour).

    Args:
        layout: ``"2021"`` or ``"2023"``.
        threshold: channels are foreground where ``> threshold`` (probabilities or {0, 1} masks).

    Input ``(3, H, W[, D])``; output ``(1, H, W[, D])`` uint8 (same array type).

    Example::

        >>> regions = torch.tensor([[[0, 1, 0, 1]], [[0, 1, 1, 1]], [[0, 0, 0, 1]]])
        >>> BraTSRegionsToLabels("2023")(regions).tolist()
        [[[0, 1, 2, 3]]]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, layout: str = "2021", threshold: float = 0.5) -> None:
        brats_layout(layout)
        self.layout = str(layout)
        self.threshold = threshold

    def __call__(self, img: NdarrayOrTensor, layout: str | None = None) -> NdarrayOrTensor:
        lay = brats_layout(self.layout if layout is None else layout)
        if img.shape[0] != 3:
            raise ValueError(f"expected TC/WT/ET channels first, shape (3, ...), got {tuple(img.shape)}.")
        is_torch = isinstance(img, torch.Tensor)
        x = img if is_torch else torch.as_tensor(np.asarray(img))
        tc, wt, et = (x[i] > self.threshold for i in range(3))
        out = torch.zeros(x.shape[1:], dtype=torch.uint8, device=x.device)
        out[wt] = 2
        out[tc] = 1
        out[et] = lay.enhancing_label
        out = out.unsqueeze(0)
        if is_torch:
            return out if not hasattr(img, "meta") else type(img)(out, meta=dict(img.meta))
        return out.cpu().numpy()


class BraTSRegionsToLabelsd(MapTransform):
    """Dictionary twin of :class:`BraTSRegionsToLabels`; the convention comes from ``layout_key`` per case.

    Args:
        keys: keys of TC/WT/ET predictions.
        layout_key: key holding the case's layout; ``default_layout`` when absent.
        default_layout: ``"2021"`` or ``"2023"``.
        threshold: see :class:`BraTSRegionsToLabels`.
        allow_missing_keys: don't raise when a key is absent.
    """

    backend = BraTSRegionsToLabels.backend

    def __init__(
        self,
        keys: KeysCollection,
        layout_key: str = "layout",
        default_layout: str = "2021",
        threshold: float = 0.5,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.layout_key = layout_key
        self.converter = BraTSRegionsToLabels(default_layout, threshold)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        layout = str(d.get(self.layout_key, self.converter.layout))
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key], layout=layout)
        return d
