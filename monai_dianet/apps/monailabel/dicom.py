# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DICOM in and out for multi-sequence brain MRI: MR series export, study assembly, DICOM SEG and parametric maps.

- :func:`write_mr_series` / :func:`export_brats_case`: a NIfTI volume (or a BraTS case of four sequences) as classic
  MR Image Storage series of one study, one series per sequence, each named by its sequence (``SeriesDescription``).
  Written with pydicom: highdicom has no constructor for classic single-frame MR images.
- :func:`read_mr_series` / :func:`assemble_study`: the inverse, series read back with pydicom and stacked into one
  channel-first case in the sequence order a model expects, with one-line errors (:class:`DICOMStudyError`) for a
  missing sequence, a non-MR series, a corrupt file or series whose geometry disagree. Hand-written (not MONAI's
  ``PydicomReader``) because the DICOM SEG must reference exactly the source instances in the order their frames
  were assembled.
- :func:`brats_segmentation` / :func:`uncertainty_parametric_map`: results as DICOM objects with highdicom (never
  dcmqi): TC/WT/ET as three overlapping binary segments with SNOMED-CT coded category and types, and the
  voxel-wise uncertainty as a float DICOM Parametric Map (the choice over Secondary Capture: it keeps the real
  values and the geometry, so a viewer or a later analysis reads the uncertainty itself, not a rendered picture).

Voxel convention everywhere: volume index ``[i, j, k]`` is pixel ``(row j, column i)`` of the ``k``-th slice in
slice-position order; NIfTI affines are RAS, DICOM coordinates LPS.

Works with pydicom 2.4 + highdicom 0.22 (the MONAI Label environment) and pydicom 3 + current highdicom.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BRATS_SEQUENCES",
    "BRATS_REGIONS",
    "DICOMStudyError",
    "StudyInfo",
    "match_sequence",
    "write_mr_series",
    "export_brats_case",
    "read_mr_series",
    "assemble_study",
    "brats_segmentation",
    "uncertainty_parametric_map",
    "nifti_affine_to_dicom",
]

BRATS_SEQUENCES: dict[str, tuple[str, ...]] = {
    "T1": ("t1", "t1n", "t1w", "t1 native", "t1-native", "t1 pre", "t1-pre"),
    "T1ce": ("t1ce", "t1c", "t1gd", "t1 gd", "t1+c", "t1 post", "t1-post", "t1 contrast", "t1w+c"),
    "T2": ("t2", "t2w"),
    "FLAIR": ("flair", "t2f", "t2 flair", "t2-flair", "t2w flair"),
}
"""Channel order of the BraTS models (T1, T1ce, T2, FLAIR) and the series descriptions accepted for each
(case-insensitive; BraTS 2021 and 2023 file suffixes included)."""

BRATS_REGIONS: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("TC", "tumour core", ("372087000", "SCT", "Neoplasm, Primary")),
    ("WT", "whole tumour", ("108369006", "SCT", "Neoplasm")),
    ("ET", "enhancing tumour", ("86049000", "SCT", "Malignant neoplasm, primary")),
)
"""Segments of the BraTS DICOM SEG in channel order: short name, label, SNOMED-CT segmented property type. The
category of all three is SNOMED-CT 49755003 "Morphologically Altered Structure". SNOMED has no concept for the
BraTS evaluation regions themselves, so the types are the closest morphologic concepts and the segment labels
name the region."""

_CATEGORY = ("49755003", "SCT", "Morphologically Altered Structure")
_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


class DICOMStudyError(ValueError):
    """A DICOM study or series cannot be used as model input (the message names the series/file and the fix)."""


@dataclass
class StudyInfo:
    """Patient and study attributes shared by the series of one exported study (UIDs generated when empty)."""

    patient_id: str = "ANON"
    patient_name: str = "Anonymous^"
    study_instance_uid: str = ""
    study_id: str = "1"
    study_description: str = "Brain MRI"
    accession_number: str = ""
    study_date: str = field(default_factory=lambda: datetime.date.today().strftime("%Y%m%d"))
    frame_of_reference_uid: str = ""

    def __post_init__(self) -> None:
        from pydicom.uid import generate_uid

        self.study_instance_uid = self.study_instance_uid or generate_uid()
        self.frame_of_reference_uid = self.frame_of_reference_uid or generate_uid()


def match_sequence(description: str, sequences: Mapping[str, Sequence[str]] = BRATS_SEQUENCES) -> str | None:
    """The sequence (key of ``sequences``) whose aliases contain ``description`` (ignoring case, spaces, "_", "-")."""

    def norm(text: str) -> str:
        return "".join(c for c in str(text).lower() if c not in " _-")

    text = norm(description)
    for name, aliases in sequences.items():
        if text == norm(name) or text in {norm(a) for a in aliases}:
            return name
    return None


def nifti_affine_to_dicom(affine: np.ndarray) -> tuple[list[float], list[float], list[float], np.ndarray]:
    """Split a RAS voxel-to-world affine into DICOM geometry.

    Returns:
        ``(image_orientation_patient, pixel_spacing, origin_lps, slice_step_lps)`` where pixel spacing is
        ``[row spacing (along j), column spacing (along i)]`` and slice ``k`` sits at ``origin + k * step``.
    """
    lps = _LPS @ np.asarray(affine, dtype=float)
    col_i, col_j, step = lps[:3, 0], lps[:3, 1], lps[:3, 2]
    di, dj = float(np.linalg.norm(col_i)), float(np.linalg.norm(col_j))
    if di == 0 or dj == 0 or float(np.linalg.norm(step)) == 0:
        raise ValueError(f"affine has a zero-length axis: {affine.tolist()}.")
    orientation = [float(v) for v in np.concatenate([col_i / di, col_j / dj])]
    return orientation, [dj, di], lps[:3, 3].copy(), step.copy()


def _save(ds, path: Path) -> None:
    """Write a dataset as a DICOM file (Part 10 header) under pydicom 2 and 3."""
    import pydicom

    try:
        pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    except TypeError:  # pydicom 2
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(str(path), write_like_original=False)


def write_mr_series(
    volume: np.ndarray,
    affine: np.ndarray,
    out_dir: str | os.PathLike,
    description: str,
    study: StudyInfo,
    series_number: int = 1,
    series_instance_uid: str | None = None,
) -> list[str]:
    """Write a 3D volume as one classic MR Image Storage series (one file per slice).

    Args:
        volume: ``(X, Y, Z)`` integer volume (stored as int16; values outside int16 raise).
        affine: RAS voxel-to-world affine of ``volume`` (NIfTI convention).
        out_dir: folder for the files ``IM_0001.dcm``... (created).
        description: ``SeriesDescription``, e.g. the sequence name "FLAIR".
        study: patient/study attributes shared by the study's series.
        series_number: ``SeriesNumber``.
        series_instance_uid: generated when None.

    Returns:
        the written file paths in slice order.

    Raises:
        ValueError: not a 3D volume, or values that int16 cannot hold.

    Example:
        >>> study = StudyInfo(patient_id="case0")
        >>> files = write_mr_series(flair, affine, "dicom/case0/FLAIR", "FLAIR", study, series_number=4)
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3D (X, Y, Z), got shape {volume.shape}.")
    if volume.size and (volume.min() < -32768 or volume.max() > 32767 or not np.allclose(volume, np.rint(volume))):
        raise ValueError(
            f"series {description!r}: values must be int16 integers, got [{volume.min()}, {volume.max()}]."
        )
    orientation, spacing, origin, step = nifti_affine_to_dicom(affine)
    thickness = float(np.linalg.norm(step))
    series_uid = series_instance_uid or generate_uid()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now()
    paths = []
    for k in range(volume.shape[2]):
        pixels = np.ascontiguousarray(volume[:, :, k].T.astype(np.int16))
        sop_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = _MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = _MR_IMAGE_STORAGE, sop_uid
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.PatientID, ds.PatientName = study.patient_id, study.patient_name
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyInstanceUID, ds.StudyID = study.study_instance_uid, study.study_id
        ds.StudyDate, ds.StudyTime = study.study_date, "000000"
        ds.StudyDescription, ds.AccessionNumber = study.study_description, study.accession_number
        ds.ReferringPhysicianName = ""
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = series_uid, int(series_number), description
        ds.SeriesDate, ds.SeriesTime = study.study_date, now.strftime("%H%M%S")
        ds.ProtocolName = description
        ds.Modality, ds.BodyPartExamined = "MR", "BRAIN"
        ds.Manufacturer, ds.ManufacturerModelName = "monai-dianet", "synthetic export"
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "NONE", ""
        ds.MRAcquisitionType = "3D"
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = study.frame_of_reference_uid, ""
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [float(v) for v in origin + k * step]
        ds.ImageOrientationPatient = orientation
        ds.PixelSpacing = spacing
        ds.SliceThickness = thickness
        ds.SliceLocation = float(np.dot(origin + k * step, np.cross(orientation[:3], orientation[3:])))
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = pixels.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = pixels.tobytes()
        path = out / f"IM_{k + 1:04d}.dcm"
        _save(ds, path)
        paths.append(str(path))
    return paths


def export_brats_case(
    image_files: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    sequence_names: Sequence[str] = tuple(BRATS_SEQUENCES),
    study: StudyInfo | None = None,
) -> dict[str, list[str]]:
    """Export a BraTS case (four co-registered NIfTI sequences) as four DICOM MR series of one study.

    Args:
        image_files: the four sequence files in channel order (T1, T1ce, T2, FLAIR) or one 4D NIfTI whose last
            axis holds the four sequences (Medical Segmentation Decathlon layout).
        out_dir: the study folder; each series goes to ``out_dir/<sequence name>/``.
        sequence_names: ``SeriesDescription`` of each series, in channel order.
        study: patient/study attributes (default: patient id from the first file's name).

    Returns:
        ``{sequence name: [file paths]}``.

    Raises:
        ValueError: not four sequences, or sequences whose shapes or affines differ.

    Example:
        >>> export_brats_case(entry["image"], "dicom/BraTS2021_00000", study=StudyInfo(patient_id="BraTS2021_00000"))
    """
    import nibabel as nib

    files = [Path(p) for p in ([image_files] if isinstance(image_files, (str, os.PathLike)) else image_files)]
    volumes, affines = [], []
    for path in files:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
        parts = [data[..., c] for c in range(data.shape[-1])] if data.ndim == 4 else [data]
        volumes += parts
        affines += [img.affine] * len(parts)
    if len(volumes) != len(sequence_names):
        raise ValueError(
            f"expected {len(sequence_names)} sequences ({', '.join(sequence_names)}), got {len(volumes)} from "
            f"{[str(p) for p in files]}."
        )
    for vol, aff, path in zip(volumes[1:], affines[1:], files[1:] if len(files) > 1 else files * len(volumes)):
        if vol.shape != volumes[0].shape or not np.allclose(aff, affines[0], atol=1e-4):
            raise ValueError(f"sequence {path} does not share the shape/affine of {files[0]}.")
    study = study or StudyInfo(patient_id=files[0].name.split(".")[0][:64])
    out = Path(out_dir)
    return {
        name: write_mr_series(vol, affines[0], out / name, name, study, series_number=n + 1)
        for n, (name, vol) in enumerate(zip(sequence_names, volumes))
    }


def _dcmread(path: str | os.PathLike):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path))
        complete = "PixelData" in ds and "ImagePositionPatient" in ds
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as e:
        raise DICOMStudyError(f"{path}: not a readable DICOM file ({type(e).__name__}: {e}).") from None
    if not complete:
        raise DICOMStudyError(f"{path}: not a readable DICOM image (no pixel data or position; truncated file?).")
    return ds


def read_mr_series(
    files: Sequence[str | os.PathLike] | Sequence, name: str = ""
) -> tuple[np.ndarray, np.ndarray, list]:
    """Read one MR series (file paths or pydicom datasets) into a volume.

    Args:
        files: the series' instances, in any order.
        name: how to call the series in errors (default its ``SeriesDescription``).

    Returns:
        ``(volume (X, Y, Z) float32 with rescale applied, RAS affine, datasets in slice order)``.

    Raises:
        DICOMStudyError: an unreadable file, a non-MR modality, instances of several series, missing pixel
            data, or slices with different orientation/size or uneven spacing.
    """
    datasets = [f if hasattr(f, "SOPInstanceUID") else _dcmread(f) for f in files]
    if not datasets:
        raise DICOMStudyError(f"series {name!r} has no instances.")
    label = name or str(getattr(datasets[0], "SeriesDescription", "")) or str(datasets[0].SeriesInstanceUID)
    modalities = {str(getattr(d, "Modality", "")) for d in datasets}
    if modalities != {"MR"}:
        raise DICOMStudyError(f"series {label!r} has modality {sorted(modalities)}, expected MR.")
    if len({str(d.SeriesInstanceUID) for d in datasets}) != 1:
        raise DICOMStudyError(f"series {label!r}: instances belong to several series.")
    try:
        orientation = np.asarray(datasets[0].ImageOrientationPatient, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        datasets.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, dtype=float), normal)))
        positions = np.asarray([d.ImagePositionPatient for d in datasets], dtype=float)
        spacing = [float(v) for v in datasets[0].PixelSpacing]
        shape = (int(datasets[0].Rows), int(datasets[0].Columns))
    except (AttributeError, TypeError, ValueError, IndexError) as e:
        raise DICOMStudyError(f"series {label!r}: missing or bad geometry attributes ({e}).") from None
    for d in datasets:
        if not np.allclose(np.asarray(d.ImageOrientationPatient, dtype=float), orientation, atol=1e-4) or (
            int(d.Rows), int(d.Columns)) != shape:
            raise DICOMStudyError(f"series {label!r}: slices differ in orientation or size.")
    if len(datasets) > 1:
        steps = np.diff(positions, axis=0)
        if not np.allclose(steps, steps[0], atol=1e-3 * max(1.0, float(np.linalg.norm(steps[0])))):
            raise DICOMStudyError(f"series {label!r}: slices are not evenly spaced (missing instances?).")
        step = steps[0]
    else:
        step = normal * float(getattr(datasets[0], "SliceThickness", 1.0) or 1.0)
    volume = np.empty((shape[1], shape[0], len(datasets)), dtype=np.float32)
    for k, d in enumerate(datasets):
        try:
            pixels = d.pixel_array.astype(np.float32)
        except Exception as e:  # pydicom raises many types for absent/undecodable pixel data
            raise DICOMStudyError(f"series {label!r}, instance {d.SOPInstanceUID}: no readable pixel data ({e}).") \
                from None
        slope = float(getattr(d, "RescaleSlope", 1) or 1)
        volume[:, :, k] = pixels.T * slope + float(getattr(d, "RescaleIntercept", 0) or 0)
    lps = np.eye(4)
    lps[:3, 0] = orientation[:3] * spacing[1]
    lps[:3, 1] = orientation[3:] * spacing[0]
    lps[:3, 2] = step
    lps[:3, 3] = positions[0]
    return volume, _LPS @ lps, datasets


def assemble_study(
    series: Mapping[str, Sequence],
    sequences: Mapping[str, Sequence[str]] = BRATS_SEQUENCES,
    study_name: str = "",
) -> tuple[np.ndarray, np.ndarray, dict[str, list]]:
    """Stack a study's series into one channel-first case, one channel per sequence.

    Args:
        series: ``{series description or id: instances (paths or datasets)}`` of one study; the descriptions
            are matched to ``sequences`` by :func:`match_sequence` (non-matching series, e.g. localisers, are
            ignored; a series whose description matches no sequence is also looked up by the instances'
            ``SeriesDescription``).
        sequences: ``{sequence: aliases}`` in channel order (default BraTS: T1, T1ce, T2, FLAIR).
        study_name: how to call the study in errors.

    Returns:
        ``(image (C, X, Y, Z) float32, RAS affine, {sequence: datasets in slice order})``.

    Raises:
        DICOMStudyError: a missing or duplicated sequence, a non-MR or unreadable series, or series whose
            geometry differ.

    Example:
        >>> image, affine, refs = assemble_study({"T1": t1_files, "T1ce": t1ce_files, "T2": t2_files, "FLAIR": f})
        >>> image.shape  # (4, X, Y, Z)
    """
    found: dict[str, tuple[str, Sequence]] = {}
    for key, items in series.items():
        seq = match_sequence(key, sequences)
        if seq is None and items:
            first = items[0] if hasattr(items[0], "SOPInstanceUID") else _dcmread(items[0])
            seq = match_sequence(str(getattr(first, "SeriesDescription", "")), sequences)
        if seq is None:
            continue
        if seq in found:
            raise DICOMStudyError(
                f"study {study_name!r} has two series for sequence {seq}: {found[seq][0]!r} and {key!r}; keep one."
            )
        found[seq] = (key, items)
    missing = [s for s in sequences if s not in found]
    if missing:
        raise DICOMStudyError(
            f"study {study_name!r} is missing sequence(s) {', '.join(missing)}: found series {sorted(series)}; "
            f"expected one series described as each of {', '.join(sequences)}."
        )
    volumes, affine, refs = [], None, {}
    for seq in sequences:
        key, items = found[seq]
        vol, aff, datasets = read_mr_series(items, name=key)
        if volumes and (vol.shape != volumes[0].shape or not np.allclose(aff, affine, atol=1e-3)):
            raise DICOMStudyError(
                f"study {study_name!r}: series {key!r} ({seq}) is not on the grid of the {next(iter(sequences))} "
                f"series (shape {vol.shape} vs {volumes[0].shape}); register the sequences first."
            )
        volumes.append(vol)
        affine = aff if affine is None else affine
        refs[seq] = datasets
    return np.stack(volumes), affine, refs


def _code(triple: tuple[str, str, str]):
    from pydicom.sr.coding import Code

    return Code(*triple)


def _derived_series(series_number: int, description: str, algorithm_name: str, version: str) -> dict[str, Any]:
    """The new-series and equipment attributes shared by the SEG and the parametric map."""
    from pydicom.uid import generate_uid

    return {
        "series_instance_uid": generate_uid(),
        "series_number": int(series_number),
        "sop_instance_uid": generate_uid(),
        "instance_number": 1,
        "manufacturer": "monai-dianet",
        "manufacturer_model_name": algorithm_name,
        "software_versions": version,
        "device_serial_number": "0",
        "series_description": description,
    }


def _software_version() -> str:
    from monai_dianet import __version__

    return f"monai-dianet {__version__}"


def brats_segmentation(
    regions: np.ndarray,
    source_datasets: Sequence,
    algorithm_name: str = "DIANet",
    algorithm_version: str = "",
    series_description: str = "DIANet TC/WT/ET",
    series_number: int = 100,
    manual: bool = False,
):
    """BraTS regions as a DICOM SEG (highdicom): three overlapping binary segments TC, WT, ET.

    Args:
        regions: ``(3, X, Y, Z)`` binary masks (TC, WT, ET) on the grid of ``source_datasets``.
        source_datasets: the source series' instances in slice order (from :func:`read_mr_series` or
            :func:`assemble_study`), referenced by the SEG's frames.
        algorithm_name: ``SegmentAlgorithmName`` of automatic segments.
        algorithm_version: its version (default: the monai-dianet version).
        series_description: ``SeriesDescription`` of the SEG series.
        series_number: ``SeriesNumber``.
        manual: segments are MANUAL (a reviewed label) instead of AUTOMATIC.

    Returns:
        a ``highdicom.seg.Segmentation`` (save with ``.save_as(path)``).

    Raises:
        ValueError: ``regions`` does not match the source grid.
    """
    import highdicom as hd

    regions = np.asarray(regions)
    if regions.ndim != 4 or regions.shape[0] != len(BRATS_REGIONS):
        raise ValueError(f"regions must be (3, X, Y, Z) for {[r[0] for r in BRATS_REGIONS]}, got {regions.shape}.")
    first = source_datasets[0]
    expected = (int(first.Columns), int(first.Rows), len(source_datasets))
    if regions.shape[1:] != expected:
        raise ValueError(f"regions grid {regions.shape[1:]} does not match the source series {expected} (X, Y, Z).")
    version = algorithm_version or _software_version()
    algorithm = hd.AlgorithmIdentificationSequence(
        name=algorithm_name, version=version, family=_code(("123109", "DCM", "Artificial Intelligence"))
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n + 1,
            segment_label=f"{label} ({short})",
            segmented_property_category=_code(_CATEGORY),
            segmented_property_type=_code(code),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL if manual
            else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=None if manual else algorithm,
        )
        for n, (short, label, code) in enumerate(BRATS_REGIONS)
    ]
    pixel_array = np.ascontiguousarray((regions > 0).transpose(3, 2, 1, 0).astype(np.uint8))  # (Z, rows, cols, S)
    return hd.seg.Segmentation(
        source_images=list(source_datasets),
        pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        **_derived_series(series_number, series_description, algorithm_name, version),
        omit_empty_frames=False,
    )


def uncertainty_parametric_map(
    uncertainty: np.ndarray,
    source_datasets: Sequence,
    name: str = "predictive entropy",
    unit_max: float | None = None,
    series_description: str = "DIANet uncertainty (predictive entropy)",
    series_number: int = 101,
    algorithm_name: str = "DIANet",
):
    """A voxel-wise uncertainty map as a float32 DICOM Parametric Map (highdicom) on the source grid.

    Args:
        uncertainty: ``(X, Y, Z)`` finite values (nats for an entropy).
        source_datasets: the source series' instances in slice order.
        name: what the values are (real-world value mapping label and explanation).
        unit_max: upper end of the documented value range (default the map's maximum).
        series_description: ``SeriesDescription``.
        series_number: ``SeriesNumber``.
        algorithm_name: ``ManufacturerModelName``.

    Returns:
        a ``highdicom.pm.ParametricMap``.

    Raises:
        ValueError: a shape that does not match the source grid, or non-finite values.
    """
    import highdicom as hd

    values = np.asarray(uncertainty, dtype=np.float32)
    first = source_datasets[0]
    expected = (int(first.Columns), int(first.Rows), len(source_datasets))
    if values.shape != expected:
        raise ValueError(f"uncertainty grid {values.shape} does not match the source series {expected} (X, Y, Z).")
    if not np.isfinite(values).all():
        raise ValueError("uncertainty map has non-finite values.")
    top = float(values.max()) if unit_max is None else float(unit_max)
    top = top if top > 0 else 1.0
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=name[:16],
        lut_explanation=name[:64],
        unit=_code(("1", "UCUM", "no units")),
        value_range=(0.0, top),
        slope=1.0,
        intercept=0.0,
    )
    import inspect

    if "voi_lut_transformations" in inspect.signature(hd.pm.ParametricMap.__init__).parameters:
        window = {"voi_lut_transformations": [hd.VOILUTTransformation(window_center=top / 2.0, window_width=top)]}
    else:  # highdicom < 0.23 (the pydicom 2 environment of MONAI Label)
        window = {"window_center": top / 2.0, "window_width": top}
    return hd.pm.ParametricMap(
        source_images=list(source_datasets),
        pixel_array=np.ascontiguousarray(values.transpose(2, 1, 0)),
        **_derived_series(series_number, series_description, algorithm_name, _software_version()),
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        **window,
    )
