# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""A generated BraTS case through a real Orthanc (DICOMweb): export, STOW-RS, QIDO-RS grouping by sequence,
WADO-RS retrieve, study assembly, DICOM SEG and parametric map stored back and read with highdicom; PACS errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.apps.monailabel.monailabel_harness import NAMESPACE_MISSING, NetNamespace

pytestmark = pytest.mark.skipif(NAMESPACE_MISSING is not None, reason=str(NAMESPACE_MISSING))


def _upload(client, files):
    import pydicom

    from monai_dianet.apps.monailabel.pacs import store_datasets

    store_datasets(client, [pydicom.dcmread(f) for paths in files.values() for f in paths])


def test_brats_study_round_trip_through_orthanc(orthanc, brats_case, tmp_path):
    import highdicom as hd
    import nibabel as nib

    from monai_dianet.apps.monailabel import dicom as D
    from monai_dianet.apps.monailabel.pacs import (
        download_series,
        group_studies,
        make_client,
        search_series,
        store_datasets,
    )

    ns, url = orthanc
    files = D.export_brats_case(brats_case["image"], tmp_path / "dicom", study=D.StudyInfo(patient_id="case0"))

    def scenario():
        client = make_client(f"{url}/dicom-web")
        _upload(client, files)
        studies = group_studies(search_series(client, {"Modality": "MR"}))
        assert len(studies) == 1
        (study_uid, study), = studies.items()
        assert sorted(study["sequences"]) == sorted(D.BRATS_SEQUENCES)
        series = {
            seq: download_series(client, study_uid, uid, tmp_path / "cache" / uid)
            for seq, uid in study["sequences"].items()
        }
        image, affine, refs = D.assemble_study(series, study_name=study_uid)
        labels = nib.load(brats_case["label"]).get_fdata()
        regions = np.stack([np.isin(labels, (1, 4)), labels > 0, labels == 4])
        entropy = np.random.default_rng(0).random(labels.shape).astype(np.float32)
        seg = D.brats_segmentation(regions, refs["FLAIR"])
        pmap = D.uncertainty_parametric_map(entropy, refs["FLAIR"])
        store_datasets(client, [seg, pmap])
        stored = {s["SeriesDescription"]: s for s in search_series(client)}
        seg_back = client.retrieve_series(study_uid, stored[seg.SeriesDescription]["SeriesInstanceUID"])
        pm_back = client.retrieve_series(study_uid, stored[pmap.SeriesDescription]["SeriesInstanceUID"])
        return image, affine, refs, regions, entropy, stored, seg_back, pm_back

    image, affine, refs, regions, entropy, stored, seg_back, pm_back = ns.call(scenario)
    assert len(stored) == 6 and stored["DIANet TC/WT/ET"]["Modality"] == "SEG"
    original = np.stack([nib.load(p).get_fdata() for p in brats_case["image"]])
    np.testing.assert_array_equal(image, original)
    np.testing.assert_allclose(affine, nib.load(brats_case["image"][0]).affine, atol=1e-5)
    seg = hd.seg.Segmentation.from_dataset(seg_back[0])
    uids = [d.SOPInstanceUID for d in refs["FLAIR"]]
    back = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1, 2, 3])
    np.testing.assert_array_equal(back.transpose(3, 2, 1, 0), regions)
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["tumour core (TC)", "whole tumour (WT)",
                                                              "enhancing tumour (ET)"]
    assert all(d.SegmentedPropertyCategoryCodeSequence[0].CodingSchemeDesignator == "SCT"
               and d.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT" for d in seg.SegmentSequence)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == refs["FLAIR"][0].SeriesInstanceUID
    pmap = hd.pm.ParametricMap.from_dataset(pm_back[0]) if hasattr(hd.pm.ParametricMap, "from_dataset") else pm_back[0]
    assert pmap.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
    groups = pmap.PerFrameFunctionalGroupsSequence
    frames = {f.PlanePositionSequence[0].ImagePositionPatient[2]: i for i, f in enumerate(groups)}
    values = np.stack([pmap.pixel_array[frames[d.ImagePositionPatient[2]]] for d in refs["FLAIR"]])
    np.testing.assert_allclose(values.transpose(2, 1, 0), entropy, rtol=1e-6)


def test_pacs_errors_are_one_line(tmp_path):
    from monai_dianet.apps.monailabel.pacs import PACSError, make_client, search_series

    ns = NetNamespace()  # nothing listens in a fresh namespace: connection refused
    try:
        with pytest.raises(PACSError, match=r"PACS at http://127.0.0.1:8042/dicom-web is not reachable"):
            ns.call(search_series, make_client("http://127.0.0.1:8042/dicom-web"), {"Modality": "MR"})
    finally:
        ns.close()
