# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DICOMweb access to a PACS for multi-sequence studies (QIDO-RS search, WADO-RS retrieve, STOW-RS store).

Built on ``dicomweb-client``; what is added here is grouping series into studies by sequence and turning network
and HTTP failures into one-line :class:`PACSError` messages that name the server (MONAI Label would otherwise
answer with a stack trace).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from monai_dianet.apps.monailabel.dicom import BRATS_SEQUENCES, match_sequence

__all__ = ["PACSError", "pacs_errors", "make_client", "search_series", "group_studies", "download_series",
           "store_datasets"]

_TAGS = {
    "StudyInstanceUID": "0020000D",
    "SeriesInstanceUID": "0020000E",
    "Modality": "00080060",
    "SeriesDescription": "0008103E",
    "PatientID": "00100020",
    "StudyDate": "00080020",
}


class PACSError(RuntimeError):
    """The PACS cannot be reached or refused a request (one line naming the server and what failed)."""


@contextlib.contextmanager
def pacs_errors(url: str, action: str) -> Iterator[None]:
    """Turn ``requests`` failures inside the block into :class:`PACSError` naming ``url`` and ``action``."""
    import requests

    try:
        yield
    except requests.exceptions.ConnectionError as e:
        reason = str(e.__context__ or e).split("\n")[0][:200]
        raise PACSError(f"PACS at {url} is not reachable while trying to {action} ({reason}); check the DICOMweb URL "
                        "given to --studies and that the server is running.") from None
    except requests.exceptions.Timeout:
        raise PACSError(f"PACS at {url} did not answer in time while trying to {action}.") from None
    except requests.exceptions.HTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise PACSError(f"PACS at {url} refused to {action}: HTTP {status}.") from None


def make_client(url: str, session: Any = None, max_attempts: int = 3, client_class: Any = None, **kwargs: Any):
    """A ``dicomweb_client.DICOMwebClient`` for ``url`` (e.g. ``http://127.0.0.1:8042/dicom-web``).

    ``max_attempts`` bounds dicomweb-client's retries (its default, 5 attempts with 1-16 s exponential waits,
    makes an unreachable server answer after 30 s); waits here are 0.5 s, 1 s, ...
    """
    from dicomweb_client import DICOMwebClient

    client = (client_class or DICOMwebClient)(url=url.rstrip("/"), session=session, **kwargs)
    client.set_http_retry_params(max_attempts=max_attempts, wait_exponential_multiplier=250)
    return client


def _value(item: Mapping[str, Any], name: str) -> str:
    values = item.get(_TAGS[name], {}).get("Value") or [""]
    value = values[0]
    return str(value.get("Alphabetic", "")) if isinstance(value, dict) else str(value)


def search_series(client, search_filter: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
    """QIDO-RS series search; returns ``[{"StudyInstanceUID", "SeriesInstanceUID", "Modality",
    "SeriesDescription", "PatientID", "StudyDate"}]`` (plain strings).

    Raises:
        PACSError: the server is unreachable or refuses the query.
    """
    with pacs_errors(client.base_url, "search series"):
        found = client.search_for_series(
            search_filters=dict(search_filter or {}), fields=["SeriesDescription", "PatientID", "StudyDate"]
        )
    return [{name: _value(item, name) for name in _TAGS} for item in found]


def group_studies(
    series: Sequence[Mapping[str, str]], sequences: Mapping[str, Sequence[str]] = BRATS_SEQUENCES
) -> dict[str, dict[str, Any]]:
    """Group series by study and name each by the sequence its description matches.

    Returns:
        ``{study uid: {"series": {series uid: description}, "sequences": {sequence: series uid}, "patient_id",
        "study_date"}}``; a sequence matched by several series keeps the first and lists the others under
        ``"duplicates"``.
    """
    studies: dict[str, dict[str, Any]] = {}
    for s in series:
        study = studies.setdefault(s["StudyInstanceUID"], {
            "series": {}, "sequences": {}, "duplicates": {}, "patient_id": s.get("PatientID", ""),
            "study_date": s.get("StudyDate", ""),
        })
        study["series"][s["SeriesInstanceUID"]] = s.get("SeriesDescription", "")
        seq = match_sequence(s.get("SeriesDescription", ""), sequences)
        if seq is None:
            continue
        if seq in study["sequences"]:
            study["duplicates"].setdefault(seq, []).append(s["SeriesInstanceUID"])
        else:
            study["sequences"][seq] = s["SeriesInstanceUID"]
    return studies


def download_series(client, study_uid: str, series_uid: str, folder: str | os.PathLike) -> list[str]:
    """WADO-RS retrieve of one series into ``folder`` (one file per instance, reused when already complete).

    Raises:
        PACSError: the server is unreachable or refuses the request.
    """
    folder = Path(folder)
    done = folder / ".complete"
    if done.is_file():
        return sorted(str(p) for p in folder.glob("*.dcm"))
    folder.mkdir(parents=True, exist_ok=True)
    with pacs_errors(client.base_url, f"retrieve series {series_uid}"):
        instances = client.retrieve_series(study_uid, series_uid)
    paths = []
    for ds in instances:
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(str(path))
        paths.append(str(path))
    done.write_text("")
    return sorted(paths)


def store_datasets(client, datasets: Sequence[Any]) -> None:
    """STOW-RS of pydicom datasets (e.g. a highdicom SEG and parametric map).

    Raises:
        PACSError: the server is unreachable or rejects an instance.
    """
    with pacs_errors(client.base_url, "store " + ", ".join(str(getattr(d, "Modality", "?")) for d in datasets)):
        response = client.store_instances(datasets=list(datasets))
    failed = getattr(response, "FailedSOPSequence", None)
    if failed:
        raise PACSError(f"PACS at {client.base_url} rejected {len(failed)} of {len(datasets)} instance(s) on STOW-RS.")
