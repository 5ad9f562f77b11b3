# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The MONAI Label app, served by a real ``monailabel start_server`` (own environment) in a private network
namespace: a local NIfTI datastore, then Orthanc's DICOMweb (DICOM in, DICOM SEG out), bad input, OHIF."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from tests.apps.monailabel.monailabel_harness import NAMESPACE_MISSING, start_bundle_server, start_orthanc

pytestmark = [pytest.mark.slow, pytest.mark.skipif(NAMESPACE_MISSING is not None, reason=str(NAMESPACE_MISSING))]


def _multipart(response) -> dict[str, bytes]:
    """Parts of MONAI Label's multipart infer answer (``output=all``) by form name (stdlib email parser)."""
    from email.parser import BytesParser

    head = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser().parsebytes(head + response.content)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.get_payload()}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


@pytest.fixture
def local_studies(tmp_path, brats_cases):
    """A MONAI Label local datastore: the 4 generated cases as 4D NIfTI, the first two labelled."""
    from monai_dianet.apps.monailabel.studies import write_study_files

    for n, case in enumerate(brats_cases):
        write_study_files(case, tmp_path / "studies", labelled=n < 2)
    return tmp_path / "studies"


def test_local_datastore_info_infer_scoring_train(netns, tmp_path, pacs_tools_ready, tiny_bundle, local_studies,
                                                  brats_cases):
    import shutil

    import nibabel as nib
    import requests

    bundle = tmp_path / "bundle"  # training writes the bundle's models/: keep the shared one intact
    shutil.copytree(tiny_bundle, bundle)
    before = (bundle / "models" / "model.pt").stat().st_mtime_ns
    proc, url, log = start_bundle_server(netns, pacs_tools_ready, str(local_studies), bundle, tmp_path / "ml")
    case_id = brats_cases[2]["case_id"]

    def scenario():
        info = requests.get(f"{url}/info/", timeout=30).json()
        infer = requests.post(f"{url}/infer/dianet_brats", params={"image": case_id, "output": "all"},
                              timeout=300)
        label_back = requests.get(f"{url}/datastore/label", params={"label": case_id, "tag": "uncertainty"},
                                  timeout=60)
        scoring = requests.post(f"{url}/scoring/epistemic", params={"run_sync": True}, timeout=600)
        datastore = requests.get(f"{url}/datastore/", params={"output": "all"}, timeout=60).json()
        nxt = requests.post(f"{url}/activelearning/epistemic", timeout=60).json()
        train = requests.post(f"{url}/train/dianet_brats", params={"run_sync": True}, timeout=900,
                              json={"max_epochs": 1, "val_split": 0.5, "pretrained": True, "device": "cpu"})
        return info, infer, label_back, scoring, datastore, nxt, train

    info, infer, unc, scoring, datastore, nxt, train = netns.call(scenario, timeout=1500)
    assert "dianet_brats" in info["models"] and "dianet_brats" in info["trainers"]
    assert "epistemic" in info["scoring"] and "epistemic" in info["strategies"]
    assert infer.status_code == 200, infer.text
    parts = _multipart(infer)
    params = json.loads(parts["params"])
    assert params["acwi"]["decision"] in ("accept", "refine", "review")
    assert params["uncertainty"]["tag"] == "uncertainty" and params["uncertainty"]["case_score"] > 0
    label = nib.Nifti1Image.from_bytes(gzip.decompress(parts["image"]))
    assert label.shape == (64, 64, 32) and set(np.unique(np.asanyarray(label.dataobj))) <= {0, 1, 2, 4}
    assert unc.status_code == 200
    unc_map = nib.Nifti1Image.from_bytes(gzip.decompress(unc.content)).get_fdata()
    assert unc_map.shape == (64, 64, 32) and np.isfinite(unc_map).all() and unc_map.max() > 0
    # epistemic scoring ranks the 3 unlabelled studies; the strategy serves the most uncertain one
    assert scoring.status_code == 200, scoring.text
    scores = {k: v["image"]["info"].get("epistemic_entropy") for k, v in datastore["objects"].items()}
    unlabelled = [c["case_id"] for c in brats_cases[2:]]
    assert all(scores[c] is not None and scores[c] > 0 for c in unlabelled), scores
    assert all(scores[c["case_id"]] is None for c in brats_cases[:2])  # labelled: not scored
    assert nxt["id"] == max(unlabelled, key=lambda c: scores[c])
    # the bundle's train.json ran on the two labelled studies (BraTS-layout copies) and saved a new model
    assert train.status_code == 200, train.text
    assert sorted(p.name for p in (bundle / "data" / "monailabel_cases").iterdir()) == sorted(
        c["case_id"] for c in brats_cases[:2])
    assert (bundle / "models" / "model.pt").stat().st_mtime_ns > before
    assert "Traceback" not in log.read_text()
    assert all(line.split()[3].startswith(("127.0.0.1:", "[::1]:")) for line in netns.listening().splitlines())


def _upload_folder(client, folder, modality=None, study_uid=None):
    import pydicom

    from monai_dianet.apps.monailabel.pacs import store_datasets

    datasets = []
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        if modality:
            ds.Modality = modality
        if study_uid:
            ds.StudyInstanceUID = study_uid
        datasets.append(ds)
    store_datasets(client, datasets)
    return datasets


def _ohif_screenshot(url: str, patient_id: str, out_png) -> str:
    """Open MONAI Label's OHIF in headless Debian Chromium and wait until the study list shows ``patient_id``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader", "--window-size=1280,800"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(f"{url}/ohif/")
        WebDriverWait(driver, 90).until(lambda d: patient_id in d.find_element("tag name", "body").text)
        driver.save_screenshot(str(out_png))
        return driver.find_element("tag name", "body").text
    finally:
        driver.quit()


def test_dicomweb_end_to_end_seg_in_orthanc(netns, tmp_path, pacs_tools_ready, tiny_bundle, brats_cases):
    import highdicom as hd
    import nibabel as nib
    import requests
    from monai_dianet.apps.monailabel import dicom as D
    from monai_dianet.apps.monailabel.pacs import make_client, search_series
    from monai_dianet.apps.monailabel.studies import labels_to_regions, write_study_files

    case = brats_cases[3]
    dicom = tmp_path / "dicom"
    D.export_brats_case(case["image"], dicom / "A", study=D.StudyInfo(patient_id="caseA", patient_name="Case^A"))
    D.export_brats_case(case["image"], dicom / "B", study=D.StudyInfo(patient_id="caseB", patient_name="Case^B"))
    for name in ("FLAIR",):  # study B lacks its FLAIR series
        for f in (dicom / "B" / name).iterdir():
            f.unlink()
    D.export_brats_case(brats_cases[2]["image"], dicom / "C", study=D.StudyInfo(patient_id="caseC"))
    nifti = write_study_files(case, tmp_path / "nifti")

    orthanc, orthanc_url = start_orthanc(netns, tmp_path / "orthanc")
    proc, url, log = start_bundle_server(netns, pacs_tools_ready, f"{orthanc_url}/dicom-web", tiny_bundle,
                                         tmp_path / "ml")

    def scenario():
        client = make_client(f"{orthanc_url}/dicom-web")
        a = _upload_folder(client, dicom / "A")
        b = _upload_folder(client, dicom / "B")
        c = _upload_folder(client, dicom / "C" / "T1", modality="CT")
        flair_a = next(str(d.SeriesInstanceUID) for d in a if d.SeriesDescription == "FLAIR")
        b_anchor = sorted({str(d.SeriesInstanceUID) for d in b})[0]  # no FLAIR: named by its first series
        listed = requests.get(f"{url}/datastore/", params={"output": "stats"}, timeout=60).json()
        via_pacs = requests.post(f"{url}/infer/dianet_brats", params={"image": flair_a, "output": "json"},
                                 timeout=600)
        via_nifti = requests.post(f"{url}/infer/dianet_brats", params={"image": nifti, "output": "all"},
                                  timeout=600)
        cached = requests.get(f"{url}/datastore/", params={"output": "all"}, timeout=60).json()["objects"]
        seg_uid = via_pacs.json()["pacs"]["seg_series_uid"]
        seg = client.retrieve_series(str(a[0].StudyInstanceUID), seg_uid)
        missing = requests.post(f"{url}/infer/dianet_brats", params={"image": b_anchor, "output": "json"},
                                timeout=120)
        not_mr = requests.post(f"{url}/infer/dianet_brats", params={"image": str(c[0].SeriesInstanceUID),
                                                                    "output": "json"}, timeout=120)
        text = _ohif_screenshot(url, "caseA", tmp_path / "ohif_study_list.png")
        series_after = search_series(client)
        return flair_a, b_anchor, listed, cached, via_pacs, via_nifti, seg, missing, not_mr, text, series_after, a

    flair_a, b_anchor, listed, cached, via_pacs, via_nifti, seg, missing, not_mr, text, series_after, a = netns.call(
        scenario, timeout=1500)
    # MR studies listed once each (anchor = FLAIR series; study B by another series), the CT series not at all
    assert listed["total"] == 2, listed
    assert list(cached) == [flair_a] and cached[flair_a]["image"]["info"]["PatientID"] == "caseA", cached
    assert via_pacs.status_code == 200, via_pacs.text
    assert via_nifti.status_code == 200, via_nifti.text
    assert {s["Modality"] for s in series_after} >= {"MR", "SEG"}
    # the SEG read back with highdicom matches the NIfTI-path segmentation of the same case
    label = nib.Nifti1Image.from_bytes(gzip.decompress(_multipart(via_nifti)["image"]))
    nifti_regions = labels_to_regions(np.asanyarray(label.dataobj))
    seg = hd.seg.Segmentation.from_dataset(seg[0])
    flair = sorted((d for d in a if d.SeriesDescription == "FLAIR"), key=lambda d: float(d.ImagePositionPatient[2]))
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[d.SOPInstanceUID for d in flair],
                                               segment_numbers=[1, 2, 3])
    seg_regions = pixels.transpose(3, 2, 1, 0)
    assert nifti_regions.any(axis=(1, 2, 3)).all(), "the tiny model must segment every region"
    dice = [_dice(seg_regions[r], nifti_regions[r]) for r in range(3)]
    assert min(dice) >= 0.99, dice
    assert [d.SegmentedPropertyCategoryCodeSequence[0].CodeValue for d in seg.SegmentSequence] == ["49755003"] * 3
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == flair_a
    # bad input answers with one line, no server stack trace
    assert missing.status_code == 422 and "missing sequence(s) FLAIR" in missing.json()["detail"], missing.text
    assert not_mr.status_code == 422 and "modality CT" in not_mr.json()["detail"], not_mr.text
    assert "caseA" in text and (tmp_path / "ohif_study_list.png").stat().st_size > 10_000
    # Orthanc gone: the datastore answers 502 naming the PACS
    netns.stop(orthanc)
    gone = netns.call(lambda: requests.get(f"{url}/datastore/", params={"output": "stats"}, timeout=120))
    assert gone.status_code == 502 and "not reachable" in gone.json()["detail"], gone.text
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert all(line.split()[3].startswith(("127.0.0.1:", "[::1]:")) for line in netns.listening().splitlines())

