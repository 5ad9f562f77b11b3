# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Datalist builder for BraTS brain-tumour MRI in the BraTS 2021 and BraTS 2023 (glioma) layouts.

The BraTS challenges ship one folder per case with four co-registered MRI sequences and (for training
data) a tumour label map, but the two recent editions name files and labels differently:

=========  ===========================================  =====================================  ==========
layout     case folder / file names                     sequences (channel order)              labels
=========  ===========================================  =====================================  ==========
``2021``   ``BraTS2021_NNNNN/BraTS2021_NNNNN_<seq>``     ``t1, t1ce, t2, flair`` (+ ``seg``)    0, 1, 2, 4
``2023``   ``BraTS-GLI-NNNNN-NNN/BraTS-GLI-NNNNN-NNN-<seq>``  ``t1n, t1c, t2w, t2f`` (+ ``seg``)  0, 1, 2, 3
=========  ===========================================  =====================================  ==========

In both, label 1 is the necrotic tumour core, 2 the peritumoral oedema and the last value (4 in 2021, 3 in
2023) the enhancing tumour. The channel order is the same physical order for both layouts: native T1,
contrast-enhanced T1, T2, T2-FLAIR, so a network trained on one layout reads the other.

The functions here find cases in either layout (or read a decathlon-style datalist JSON), record the layout of
each case in the ``"layout"`` key so that transforms can pick the right label convention, split cases into
training, validation and test with :func:`monai_dianet.data.split_datalist` (stratified by layout), and, for
bundles, make a small synthetic dataset when none is given.

Example::

    from monai_dianet.apps.brats import brats_datalists, build_brats_datalist

    cases = build_brats_datalist("/data/BraTS2021_Training_Data")
    # cases[0] == {"image": [.../BraTS2021_00000_t1.nii.gz, ..._t1ce, ..._t2, ..._flair],
    #              "label": .../BraTS2021_00000_seg.nii.gz, "case_id": "BraTS2021_00000", "layout": "2021"}
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monai_dianet.data import prepare_embedded_data, split_datalist
from monai_dianet.utils.errors import InputError, MissingInputError
from monai_dianet.utils.io import read_json

__all__ = [
    "BraTSLayout",
    "BRATS_LAYOUTS",
    "BRATS_REGIONS",
    "brats_layout",
    "brats_case_files",
    "find_brats_cases",
    "load_brats_datalist_json",
    "build_brats_datalist",
    "generate_brats_layouts",
    "prepare_brats_dataset",
    "brats_datalists",
]

#: names of the three overlapping tumour regions, in the channel order used throughout the project
BRATS_REGIONS: tuple[str, str, str] = ("TC", "WT", "ET")

_NIFTI_SUFFIXES = (".nii.gz", ".nii")


@dataclass(frozen=True)
class BraTSLayout:
    """File naming and label convention of one BraTS edition.

    Attributes:
        name: layout name, ``"2021"`` or ``"2023"``.
        case_pattern: regular expression that a case folder name matches.
        separator: character between the case id and the sequence name in file names.
        sequences: the four sequence suffixes in channel order (T1, T1 contrast, T2, FLAIR).
        label_suffix: suffix of the label map file.
        labels: label values allowed in the label map, background included.
        enhancing_label: the value that marks enhancing tumour.
    """

    name: str
    case_pattern: str
    separator: str
    sequences: tuple[str, str, str, str]
    label_suffix: str
    labels: tuple[int, ...]
    enhancing_label: int

    def filename(self, case_id: str, suffix: str) -> str:
        """Name of the ``.nii.gz`` file of ``case_id`` for a sequence or label ``suffix``."""
        return f"{case_id}{self.separator}{suffix}.nii.gz"


BRATS_LAYOUTS: dict[str, BraTSLayout] = {
    "2021": BraTSLayout(
        name="2021",
        case_pattern=r"BraTS2021_\d+",
        separator="_",
        sequences=("t1", "t1ce", "t2", "flair"),
        label_suffix="seg",
        labels=(0, 1, 2, 4),
        enhancing_label=4,
    ),
    "2023": BraTSLayout(
        name="2023",
        case_pattern=r"BraTS-[A-Z]+-\d+-\d+",
        separator="-",
        sequences=("t1n", "t1c", "t2w", "t2f"),
        label_suffix="seg",
        labels=(0, 1, 2, 3),
        enhancing_label=3,
    ),
}


def brats_layout(layout: str | BraTSLayout) -> BraTSLayout:
    """The :class:`BraTSLayout` of a name (``"2021"``, ``"2023"``; an int is accepted) or the layout itself.

    Raises:
        ValueError: for an unknown layout name.
    """
    if isinstance(layout, BraTSLayout):
        return layout
    if str(layout) not in BRATS_LAYOUTS:
        raise ValueError(f"unknown BraTS layout {layout!r}, expected one of {sorted(BRATS_LAYOUTS)}.")
    return BRATS_LAYOUTS[str(layout)]


def _existing(case_dir: Path, case_id: str, layout: BraTSLayout, suffix: str) -> Path | None:
    """The file of ``suffix`` in ``case_dir`` (``.nii.gz`` preferred, ``.nii`` accepted) or None."""
    for ext in _NIFTI_SUFFIXES:
        path = case_dir / f"{case_id}{layout.separator}{suffix}{ext}"
        if path.is_file():
            return path
    return None


def _detect_layout(case_dir: Path) -> BraTSLayout | None:
    """Layout of a case folder: by its name, or else by the sequence files it holds; None if neither."""
    name = case_dir.name
    for layout in BRATS_LAYOUTS.values():
        if re.fullmatch(layout.case_pattern, name):
            return layout
    for layout in BRATS_LAYOUTS.values():
        if any(_existing(case_dir, name, layout, s) is not None for s in layout.sequences):
            return layout
    return None


def brats_case_files(
    case_dir: str | os.PathLike, layout: str | BraTSLayout | None = None, require_label: bool = True
) -> dict:
    """Datalist entry of one BraTS case folder.

    Args:
        case_dir: the case folder; its name is the case id.
        layout: ``"2021"``, ``"2023"`` or None to detect it from the folder name or the files.
        require_label: whether the label map must be present (training, evaluation). When False a missing
            label map is left out of the entry (inference on new cases).

    Returns:
        ``{"image": [4 paths in channel order], "label": path (if present), "case_id": str, "layout": str}``.

    Raises:
        InputError: when the layout cannot be detected.
        MissingInputError: when a sequence (or the required label map) is missing; the message names the case
            and the expected file.
    """
    case_dir = Path(case_dir)
    case_id = case_dir.name
    lay = brats_layout(layout) if layout is not None else _detect_layout(case_dir)
    if lay is None:
        raise InputError(
            f"case folder {case_dir} matches no BraTS layout: expected a folder named like "
            f"BraTS2021_NNNNN or BraTS-GLI-NNNNN-NNN holding the four sequence files."
        )
    images = []
    for seq in lay.sequences:
        path = _existing(case_dir, case_id, lay, seq)
        if path is None:
            raise MissingInputError(
                f"BraTS case {case_id!r} ({lay.name} layout) is missing sequence {seq!r}: "
                f"expected file {case_dir / lay.filename(case_id, seq)}."
            )
        images.append(str(path.resolve()))
    entry: dict = {"image": images}
    label = _existing(case_dir, case_id, lay, lay.label_suffix)
    if label is not None:
        entry["label"] = str(label.resolve())
    elif require_label:
        raise MissingInputError(
            f"BraTS case {case_id!r} ({lay.name} layout) has no label map: "
            f"expected file {case_dir / lay.filename(case_id, lay.label_suffix)}."
        )
    entry["case_id"] = case_id
    entry["layout"] = lay.name
    return entry


def find_brats_cases(
    root: str | os.PathLike, layout: str | None = None, require_label: bool = True
) -> list[dict]:
    """Find every BraTS case folder below ``root`` (any depth), in either layout.

    A folder is a case when its name matches a layout's case pattern (``BraTS2021_NNNNN``,
    ``BraTS-GLI-NNNNN-NNN``) or when it holds at least one file named ``<folder name><sep><sequence>.nii[.gz]``.
    Folders of both layouts may be mixed under one root; each entry records its own layout.

    Args:
        root: the dataset folder.
        layout: restrict to ``"2021"`` or ``"2023"`` cases; None finds both.
        require_label: see :func:`brats_case_files`.

    Returns:
        entries sorted by case id (see :func:`brats_case_files`).

    Raises:
        MissingInputError: when ``root`` does not exist or holds no BraTS case, or a case misses a file.
        InputError: when a case id is found twice.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingInputError(f"BraTS dataset folder {root} does not exist.")
    wanted = brats_layout(layout) if layout is not None else None
    entries = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        case_dir = Path(dirpath)
        lay = _detect_layout(case_dir)
        if lay is None or (wanted is not None and lay.name != wanted.name):
            continue
        entries.append(brats_case_files(case_dir, lay, require_label=require_label))
        dirnames[:] = []  # a case folder holds no further cases
    if not entries:
        raise MissingInputError(
            f"no BraTS case found under {root}: expected folders like BraTS2021_NNNNN/BraTS2021_NNNNN_t1.nii.gz "
            f"or BraTS-GLI-NNNNN-NNN/BraTS-GLI-NNNNN-NNN-t1n.nii.gz."
        )
    ids = [e["case_id"] for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"BraTS case ids found more than once under {root}: {duplicates}.")
    return sorted(entries, key=lambda e: e["case_id"])


def _layout_from_paths(paths: Sequence[str]) -> tuple[BraTSLayout, str] | None:
    """(layout, case id) from the sequence file names of an entry, or None when they match no layout."""
    for lay in BRATS_LAYOUTS.values():
        case_ids = []
        for path, seq in zip(paths, lay.sequences):
            name = Path(path).name
            for ext in _NIFTI_SUFFIXES:
                tail = f"{lay.separator}{seq}{ext}"
                if name.endswith(tail):
                    case_ids.append(name[: -len(tail)])
                    break
        if len(case_ids) == len(lay.sequences) == len(paths) and len(set(case_ids)) == 1:
            return lay, case_ids[0]
    return None


def load_brats_datalist_json(
    datalist_json: str | os.PathLike,
    data_list_key: str = "training",
    base_dir: str | os.PathLike | None = None,
    layout: str | None = None,
    require_label: bool = True,
) -> list[dict]:
    """Read a decathlon-style datalist (``{"training": [{"image": [4 paths], "label": path}, ...]}``).

    Relative paths of ``"image"`` and ``"label"`` are resolved against ``base_dir`` (default: the JSON file's
    folder), as in :func:`monai.data.load_decathlon_datalist` (which is not used because it would also turn other
    string values such as ``"case_id"`` into paths). Each entry gets ``"case_id"`` (kept if given, else taken from
    the file names or the parent folder) and ``"layout"`` (kept if given, else detected from the sequence file
    names, else ``layout``).

    Args:
        datalist_json: path of the JSON file.
        data_list_key: the list to read (``"training"``, ``"validation"``, ``"testing"``).
        base_dir: folder that relative paths are relative to.
        layout: layout of entries whose file names do not reveal it; required for such entries.
        require_label: whether every entry must have an existing label file.

    Returns:
        entries with absolute paths, in file order.

    Raises:
        MissingInputError: when the JSON or a listed file is missing (the message names the case and file).
        InputError: when the JSON is malformed, ``data_list_key`` is absent or not a list, an entry has no
            ``"image"`` or does not list four sequence files, or its layout cannot be told.
    """
    datalist_json = Path(datalist_json)
    content = read_json(datalist_json, "BraTS datalist JSON", expected=dict)
    if data_list_key not in content:
        raise InputError(f"datalist {datalist_json} has no key {data_list_key!r}; keys found: {sorted(content)}.")
    if not isinstance(content[data_list_key], list):
        raise InputError(
            f"datalist {datalist_json}[{data_list_key!r}] is a {type(content[data_list_key]).__name__}; "
            f"expected a list of entries like {{\"image\": [t1, t1c, t2, flair], \"label\": seg}}."
        )
    base = Path(base_dir) if base_dir else datalist_json.parent

    def resolve(path: str) -> str:
        return str(Path(path) if Path(path).is_absolute() else (base / path).resolve())

    entries = []
    for i, item in enumerate(content[data_list_key]):
        if not isinstance(item, dict) or "image" not in item:
            raise InputError(f"entry {i} of {datalist_json}[{data_list_key!r}] has no 'image' key.")
        images = item["image"]
        if not isinstance(images, list) or len(images) != 4 or not all(isinstance(p, str) for p in images):
            raise InputError(
                f"entry {i} of {datalist_json}[{data_list_key!r}] must list 4 sequence files as 'image', "
                f"got {images!r}."
            )
        images = [resolve(p) for p in images]
        detected = _layout_from_paths(images)
        case_id = item.get("case_id") or (detected[1] if detected else Path(images[0]).parent.name)
        lay_name = item.get("layout") or (detected[0].name if detected else layout)
        if lay_name is None:
            raise InputError(
                f"cannot tell the BraTS layout of case {case_id!r} in {datalist_json} from its file names; "
                f"add a 'layout' key (\"2021\" or \"2023\") to the entry or pass layout=."
            )
        lay = brats_layout(lay_name)
        for path, seq in zip(images, lay.sequences):
            if not Path(path).is_file():
                raise MissingInputError(f"BraTS case {case_id!r} is missing sequence {seq!r}: expected file {path}.")
        entry = {"image": images}
        label = resolve(item["label"]) if item.get("label") else None
        if label:
            if not Path(label).is_file():
                raise MissingInputError(f"BraTS case {case_id!r} has no label map: expected file {label}.")
            entry["label"] = str(label)
        elif require_label:
            raise MissingInputError(f"BraTS case {case_id!r} in {datalist_json} lists no 'label' file.")
        entry["case_id"] = str(case_id)
        entry["layout"] = lay.name
        entries.append(entry)
    return entries


def build_brats_datalist(
    dataset_dir: str | os.PathLike,
    datalist_json: str | os.PathLike | None = None,
    data_list_key: str = "training",
    layout: str | None = None,
    require_label: bool = True,
) -> list[dict]:
    """All cases of a BraTS dataset: from ``datalist_json`` when given, else by scanning ``dataset_dir``.

    Args:
        dataset_dir: the dataset folder (scanned, or the base of relative paths in ``datalist_json``).
        datalist_json: optional decathlon-style datalist; an empty string means none.
        data_list_key: list to read from ``datalist_json``.
        layout: restrict the scan to one layout, or the layout of JSON entries whose names do not tell it.
        require_label: whether each case needs its label map.

    Returns:
        datalist entries with ``"image"``, ``"label"`` (when present), ``"case_id"`` and ``"layout"``.
    """
    if datalist_json:
        return load_brats_datalist_json(
            datalist_json, data_list_key, base_dir=dataset_dir or None, layout=layout, require_label=require_label
        )
    return find_brats_cases(dataset_dir, layout=layout, require_label=require_label)


def generate_brats_layouts(
    out_dir: str | os.PathLike, num: int, shape: Sequence[int], layouts: Sequence[str], seed: int
) -> None:
    """Write ``num`` synthetic cases per layout, each layout in its own sub-folder ``brats<layout>`` of ``out_dir``
    (layout ``i`` generated with seed ``seed + i``), with :func:`monai_dianet.data.synthetic.generate_brats`."""
    from monai_dianet.data.synthetic import generate_brats

    for i, lay in enumerate(layouts):
        name = brats_layout(lay).name
        generate_brats(Path(out_dir) / f"brats{name}", num=num, seed=seed + i, shape=tuple(shape), layout=name)


def prepare_brats_dataset(
    dataset_dir: str | os.PathLike | None,
    bundle_root: str | os.PathLike | None = None,
    num: int = 4,
    shape: Sequence[int] = (64, 64, 48),
    layouts: Sequence[str] = ("2021", "2023"),
    seed: int = 0,
) -> str:
    """The dataset folder to use: ``dataset_dir`` when given, else a small synthetic BraTS dataset.

    This is the BraTS bundle's "embedded default": with no data given, :func:`generate_brats_layouts` writes
    ``num`` cases per layout into ``<bundle_root>/data/synthetic_brats_n<num>_<shape>_<layouts>_s<seed>`` (or a
    folder in the system temp dir when ``bundle_root`` is empty) once, through
    :func:`monai_dianet.data.prepare_embedded_data` (atomic, safe under ``torchrun``).

    Args:
        dataset_dir: the user's dataset folder; None or ``""`` selects the synthetic default.
        bundle_root: the bundle folder.
        num: cases per layout to generate.
        shape: spatial shape of generated volumes.
        layouts: layouts to generate, each in its own sub-folder.
        seed: generator seed (each layout gets ``seed + index``).

    Returns:
        the dataset folder as an absolute path string.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is given but does not exist.
    """
    base = Path(bundle_root) / "data" if bundle_root else Path(tempfile.gettempdir()) / "monai_dianet_data"
    tag = f"synthetic_brats_n{num}_{'x'.join(str(int(s)) for s in shape)}_{'-'.join(layouts)}_s{seed}"
    return prepare_embedded_data(
        dataset_dir, base / tag, generate_brats_layouts,
        num=int(num), shape=[int(s) for s in shape], layouts=[str(lay) for lay in layouts], seed=int(seed),
    )


def brats_datalists(
    dataset_dir: str | os.PathLike,
    datalist_json: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    layout: str | None = None,
    max_cases: int = 0,
    test_fraction: float = 0.0,
) -> dict[str, list[dict]]:
    """Training, validation and test lists in one call, for bundle configs.

    The three never share a case: training fits the network, validation makes every choice (checkpoint, router
    thresholds), test is only evaluated.

    Args:
        dataset_dir: the dataset folder (see :func:`build_brats_datalist`).
        datalist_json: optional decathlon-style datalist. Its ``"validation"`` and ``"test"`` lists (labelled),
            when present, are used as they are; what is missing is split off its ``"training"`` list.
        val_fraction: validation fraction of the split (when the JSON has no ``"validation"`` list).
        seed: split seed.
        layout: see :func:`build_brats_datalist`.
        max_cases: when positive, keep only the first ``max_cases`` of each list (quick runs).
        test_fraction: test fraction of the split (when the JSON has no ``"test"`` list).

    Returns:
        ``{"training": [...], "validation": [...], "test": [...]}``, split by
        :func:`monai_dianet.data.split_datalist` stratified by layout (2021 / 2023).

    Raises:
        InputError: a case id in more than one of the JSON's lists.
    """
    entries = build_brats_datalist(dataset_dir, datalist_json, "training", layout=layout)
    given = read_json(datalist_json, "BraTS datalist JSON", expected=dict) if datalist_json else {}
    splits = split_datalist(
        entries, 0.0 if "validation" in given else val_fraction, 0.0 if "test" in given else test_fraction, seed,
        label_key="layout",
    )
    for name in ("validation", "test"):
        if name in given:
            splits[name] = build_brats_datalist(dataset_dir, datalist_json, name, layout=layout)
    ids = [e["case_id"] for split in splits.values() for e in split]
    shared = sorted({i for i in ids if ids.count(i) > 1})
    if shared:
        raise InputError(f"datalist {datalist_json}: cases in more than one of its lists: {shared[:10]}")
    if max_cases > 0:
        splits = {k: v[:max_cases] for k, v in splits.items()}
    return splits
