# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The MONAI Label app, served by a real ``monailabel start_server`` (own environment) in a private network
namespace: a local NIfTI datastore, then Orthanc's DICOMweb (DICOM in, DICOM SEG out), bad input, OHIF."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from monailabel_harness import have_pacs_tools, start_monailabel, start_orthanc

pytestmark = [pytest.mark.slow, pytest.mark.skipif(have_pacs_tools() is not None, reason=str(have_pacs_tools()))]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


@pytest.fixture
def local_studies(tmp_path, brats_cases):
    """A MONAI Label local datastore: the 4 generated cases as 4D NIfTI, the first one labelled."""
    from monai_dianet.apps.monailabel.studies import write_study_files

    for n, case in enumerate(brats_cases):
        write_study_files(case, tmp_path / "studies", labelled=n == 0)
    return tmp_path / "studies"


def test_local_datastore_info_infer_scoring(netns, tmp_path, pacs_tools_ready, tiny_bundle, local_studies, brats_cases):
    import nibabel as nib
    import requests

    proc, url, log = start_monailabel(netns, pacs_tools_ready, str(local_studies), tiny_bundle, tmp_path / "ml")
    case_id = brats_cases[1]["case_id"]

    def scenario():
        info = requests.get(f"{url}/info/", timeout=30).json()
        infer = requests.post(f"{url}/infer/dianet_brats", params={"image": case_id, "output": "all"},
                              timeout=300)
        label_back = requests.get(f"{url}/datastore/label", params={"label": case_id, "tag": "uncertainty"},
                                  timeout=60)
        scoring = requests.post(f"{url}/scoring/epistemic", params={"run_sync": True}, timeout=600)
        datastore = requests.get(f"{url}/datastore/", params={"output": "all"}, timeout=60).json()
        nxt = requests.post(f"{url}/activelearning/epistemic", timeout=60).json()
        return info, infer, label_back, scoring, datastore, nxt

    info, infer, unc, scoring, datastore, nxt = netns.call(scenario, timeout=900)
    assert "dianet_brats" in info["models"] and "dianet_brats" in info["trainers"]
    assert "epistemic" in info["scoring"] and "epistemic" in info["strategies"]
    assert infer.status_code == 200, infer.text
    from requests_toolbelt.multipart import decoder

    parts = {p.headers[b"Content-Disposition"].decode().split('name="')[1].split('"')[0]: p
             for p in decoder.MultipartDecoder(infer.content, infer.headers["content-type"]).parts}
    params = json.loads(parts["params"].text)
    assert params["acwi"]["decision"] in ("accept", "refine", "review")
    assert params["uncertainty"]["tag"] == "uncertainty" and params["uncertainty"]["case_score"] > 0
    label = nib.Nifti1Image.from_bytes(parts["image"].content)
    assert label.shape == (64, 64, 32) and set(np.unique(np.asanyarray(label.dataobj))) <= {0, 1, 2, 4}
    assert unc.status_code == 200
    unc_map = nib.Nifti1Image.from_bytes(unc.content).get_fdata()
    assert unc_map.shape == (64, 64, 32) and np.isfinite(unc_map).all() and unc_map.max() > 0
    # epistemic scoring ranks the 3 unlabelled studies; the strategy serves the most uncertain one
    assert scoring.status_code == 200, scoring.text
    scores = {k: v["info"].get("epistemic_entropy") for k, v in datastore["objects"].items()}
    unlabelled = [c["case_id"] for c in brats_cases[1:]]
    assert all(scores[c] is not None and scores[c] > 0 for c in unlabelled), scores
    assert scores[brats_cases[0]["case_id"]] is None  # labelled: not scored
    assert nxt["id"] == max(unlabelled, key=lambda c: scores[c])
    assert "Traceback" not in log.read_text()
    assert all(line.split()[2].startswith(("127.0.0.1:", "[::1]:")) for line in netns.listening().splitlines())
