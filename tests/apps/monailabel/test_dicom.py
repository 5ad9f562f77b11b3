# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DICOM export and assembly of multi-sequence studies, DICOM SEG and parametric map geometry, local datastore files
(no server needed)."""

from __future__ import annotations

import numpy as np
import pytest

from monai_dianet.apps.monailabel import dicom as D


def test_sequence_names():
    assert D.match_sequence("FLAIR") == "FLAIR" and D.match_sequence("t2f") == "FLAIR"
    assert D.match_sequence(" T1_ce ") == "T1ce" and D.match_sequence("t1c") == "T1ce"
    assert D.match_sequence("T1") == "T1" and D.match_sequence("localizer") is None


def test_export_assemble_seg_and_map_round_trip(tmp_path, brats_case):
    import highdicom as hd
    import nibabel as nib
    import pydicom

    files = D.export_brats_case(brats_case["image"], tmp_path / "s", study=D.StudyInfo(patient_id="x"))
    assert list(files) == ["T1", "T1ce", "T2", "FLAIR"] and all(len(v) == 32 for v in files.values())
    first = pydicom.dcmread(files["T1ce"][0])
    assert first.Modality == "MR" and first.SeriesDescription == "T1ce"
    assert len({pydicom.dcmread(v[0]).StudyInstanceUID for v in files.values()}) == 1
    # series given in any order and under any key are assembled by their descriptions
    shuffled = {f"series{n}": list(reversed(paths)) for n, paths in enumerate(reversed(list(files.values())))}
    image, affine, refs = D.assemble_study(shuffled)
    ref = nib.load(brats_case["image"][0])
    np.testing.assert_array_equal(image, np.stack([nib.load(p).get_fdata() for p in brats_case["image"]]))
    np.testing.assert_allclose(affine, ref.affine, atol=1e-5)
    labels = nib.load(brats_case["label"]).get_fdata()
    regions = np.stack([np.isin(labels, (1, 4)), labels > 0, labels == 4])
    seg = D.brats_segmentation(regions, refs["FLAIR"])
    seg.save_as(str(tmp_path / "seg.dcm"))
    back = hd.seg.segread(str(tmp_path / "seg.dcm")).get_pixels_by_source_instance(
        source_sop_instance_uids=[d.SOPInstanceUID for d in refs["FLAIR"]], segment_numbers=[1, 2, 3])
    np.testing.assert_array_equal(back.transpose(3, 2, 1, 0), regions)
    values = np.random.default_rng(0).random(labels.shape).astype(np.float32)
    pmap = D.uncertainty_parametric_map(values, refs["FLAIR"])
    assert pmap.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30" and pmap.pixel_array.dtype == np.float32
    with pytest.raises(ValueError, match="does not match the source series"):
        D.brats_segmentation(regions[:, :-1], refs["FLAIR"])
    with pytest.raises(ValueError, match="non-finite"):
        D.uncertainty_parametric_map(np.full(labels.shape, np.nan, np.float32), refs["FLAIR"])


def test_bad_series_are_one_line_errors(tmp_path, brats_case):
    files = D.export_brats_case(brats_case["image"], tmp_path / "s", study=D.StudyInfo(patient_id="x"))
    with pytest.raises(D.DICOMStudyError, match=r"study 's' is missing sequence\(s\) T1ce"):
        D.assemble_study({k: v for k, v in files.items() if k != "T1ce"}, study_name="s")
    with pytest.raises(D.DICOMStudyError, match="two series for sequence T2"):
        D.assemble_study({**files, "t2w": files["T2"]})
    with pytest.raises(D.DICOMStudyError, match="not evenly spaced"):
        D.assemble_study({**files, "FLAIR": files["FLAIR"][:10] + files["FLAIR"][11:]})
    bad = files["T2"][3]
    with open(bad, "r+b") as f:
        f.truncate(200)
    with pytest.raises(D.DICOMStudyError, match=r"IM_0004\.dcm: not a readable DICOM"):
        D.assemble_study(files)
    (tmp_path / "junk.dcm").write_bytes(b"not dicom at all")
    with pytest.raises(D.DICOMStudyError, match=r"junk\.dcm: not a readable DICOM file"):
        D.read_mr_series([tmp_path / "junk.dcm"])


def test_non_mr_series_is_refused(tmp_path, brats_case):
    import pydicom

    files = D.export_brats_case(brats_case["image"], tmp_path / "s", study=D.StudyInfo(patient_id="x"))
    datasets = [pydicom.dcmread(p) for p in files["T1"]]
    for ds in datasets:
        ds.Modality = "CT"
    with pytest.raises(D.DICOMStudyError, match=r"modality \['CT'\], expected MR"):
        D.read_mr_series(datasets, name="T1")


def test_local_datastore_files(tmp_path, brats_case):
    import nibabel as nib

    from monai_dianet.apps.monailabel.__main__ import main
    from monai_dianet.apps.monailabel.studies import labels_to_regions, write_study_files

    path = write_study_files(dict(brats_case, layout="2021"), tmp_path / "studies", labelled=True)
    img = nib.load(path)
    assert img.shape == (48, 48, 32, 4)
    label = nib.load(tmp_path / "studies" / "labels" / "final" / f"{brats_case['case_id']}.nii.gz").get_fdata()
    assert set(np.unique(label)) <= {0, 1, 2, 4} and labels_to_regions(label).shape == (3, 48, 48, 32)
    assert main(["studies", "--dataset_dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 1
