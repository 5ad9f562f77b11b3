# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MONAI Label DICOMweb datastore for multi-sequence studies (needs ``monailabel``; see scripts/setup_monailabel.sh).

MONAI Label's ``DICOMWebDatastore`` treats every series as one image. A BraTS-style model needs the four MR
sequences of a study as one 4-channel case, so this datastore lists one image per study, identified by its
*anchor* series (FLAIR by default, the series a viewer shows; any other series of the study when the anchor is
missing, so that inference on an incomplete study answers with a clear error instead of the study vanishing).
:meth:`get_image_uri` fetches the study's sequence series (WADO-RS), assembles them by sequence
(:func:`~monai_dianet.apps.monailabel.dicom.assemble_study`) and caches a 4D NIfTI (channels last, as in the
Medical Segmentation Decathlon), so the infer and train tasks read DICOMweb and local studies alike.
Results go back with STOW-RS as a highdicom DICOM SEG (and the uncertainty as a parametric map); final labels
saved from a viewer are written the same way with MANUAL segments, never with dcmqi.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monailabel.datastore.dicom import DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.datastore import DefaultLabelTag

from monai_dianet.apps.monailabel import dicom as D
from monai_dianet.apps.monailabel.errors import http_errors
from monai_dianet.apps.monailabel.pacs import download_series, group_studies, search_series, store_datasets
from monai_dianet.apps.monailabel.studies import labels_to_regions, save_case_nifti

__all__ = ["MultiSequenceDICOMwebDatastore"]

logger = logging.getLogger(__name__)


class MultiSequenceDICOMwebDatastore(DICOMWebDatastore):
    """DICOMweb datastore whose images are multi-sequence studies (one image id = the study's anchor series).

    Args:
        client: a ``dicomweb_client.DICOMwebClient`` (see :func:`~monai_dianet.apps.monailabel.pacs.make_client`).
        search_filter: QIDO-RS series filter, e.g. ``{"Modality": "MR"}`` (MONAI Label's
            ``MONAI_LABEL_DICOMWEB_SEARCH_FILTER``).
        cache_path: local cache folder (default ``~/.cache/monailabel/dicom/<hash of the URL>``).
        sequences: ``{sequence: series description aliases}`` in channel order.
        anchor: the sequence whose series id names the study.

    Raises (from its methods, inside the MONAI Label server): ``fastapi.HTTPException`` with a one-line detail for
    an unreachable PACS (502) and for a study that cannot be assembled (422).
    """

    def __init__(
        self,
        client: Any,
        search_filter: Mapping[str, Any],
        cache_path: str | None = None,
        sequences: Mapping[str, Sequence[str]] = D.BRATS_SEQUENCES,
        anchor: str = "FLAIR",
    ) -> None:
        super().__init__(client, dict(search_filter), cache_path=cache_path, fetch_by_frame=False,
                         convert_to_nifti=True)
        if anchor not in sequences:
            raise ValueError(f"anchor {anchor!r} is not one of the sequences {list(sequences)}.")
        self.sequences = dict(sequences)
        self.anchor = anchor
        # downloaded series live beside the datastore folder, which MONAI Label watches for new images
        self.series_dir = Path(f"{self._datastore_path}-series")

    # listing ---------------------------------------------------------------------------------------------------

    def _studies(self, search_filter: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        with http_errors():
            return group_studies(search_series(self._client, search_filter or self._search_filter), self.sequences)

    def _anchor_of(self, study: Mapping[str, Any]) -> str:
        return study["sequences"].get(self.anchor) or sorted(study["series"])[0]

    def list_images(self) -> list[str]:
        return sorted(self._anchor_of(study) for study in self._studies().values())

    def _labelled_anchors(self) -> list[str]:
        """Anchors of studies that hold a reviewed (non-AUTOMATIC) SEG: model predictions are not labels."""
        images = set(self.list_images())
        out = []
        with http_errors():
            for seg in search_series(self._client, {"Modality": "SEG"}):
                meta = self._client.retrieve_series_metadata(seg["StudyInstanceUID"], seg["SeriesInstanceUID"])
                ds = _first_dataset(meta)
                types = {str(s.get("SegmentAlgorithmType", "")) for s in ds.get("SegmentSequence", [])} if ds else set()
                refs = ds.get("ReferencedSeriesSequence") if ds else None
                if types and types != {"AUTOMATIC"} and refs and str(refs[0].SeriesInstanceUID) in images:
                    out.append(str(refs[0].SeriesInstanceUID))
        return sorted(set(out))

    def get_labeled_images(self, label_tag: str | None = None, labels: Sequence[str] | None = None) -> list[str]:
        return self._labelled_anchors()

    def get_unlabeled_images(self, label_tag: str | None = None, labels: Sequence[str] | None = None) -> list[str]:
        return sorted(set(self.list_images()) - set(self._labelled_anchors()))

    # images ----------------------------------------------------------------------------------------------------

    def study_series(self, image_id: str) -> tuple[str, dict[str, Any]]:
        """``(study uid, grouped study)`` of the series ``image_id``; 422 when it is not an MR series."""
        found = self._studies({"SeriesInstanceUID": image_id})
        if not found:
            with http_errors():
                raise D.DICOMStudyError(f"series {image_id} is not on the PACS {self._client.base_url}.")
        study_uid = next(iter(found))
        with http_errors():
            modality = search_series(self._client, {"SeriesInstanceUID": image_id})[0]["Modality"]
            if modality != "MR":
                raise D.DICOMStudyError(f"series {image_id} has modality {modality}, expected an MR series.")
        return study_uid, self._studies({"StudyInstanceUID": study_uid, "Modality": "MR"})[study_uid]

    def source_datasets(self, image_id: str) -> dict[str, list]:
        """The study's sequence series as pydicom datasets in slice order (``{sequence: datasets}``)."""
        study_uid, study = self.study_series(image_id)
        with http_errors():
            series = {
                seq: download_series(self._client, study_uid, uid, self.series_dir / uid)
                for seq, uid in study["sequences"].items()
            }
            for seq, duplicates in study.get("duplicates", {}).items():
                raise D.DICOMStudyError(
                    f"study {study_uid} has several {seq} series ({[study['sequences'][seq], *duplicates]}); keep one."
                )
            _, _, refs = D.assemble_study(series, self.sequences, study_name=study_uid)
        return refs

    def get_image_uri(self, image_id: str) -> str:
        path = Path(self._datastore.image_path()) / f"{image_id}.nii.gz"
        if path.is_file():
            return str(path)
        study_uid, study = self.study_series(image_id)
        with http_errors():
            series = {uid: download_series(self._client, study_uid, uid, self.series_dir / uid)
                      for uid in study["series"] if uid in study["sequences"].values()}
            if len(series) < len(self.sequences):
                missing = [s for s in self.sequences if s not in study["sequences"]]
                raise D.DICOMStudyError(
                    f"study {study_uid} is missing sequence(s) {', '.join(missing)}: its MR series are described as "
                    f"{sorted(study['series'].values())}; expected one series for each of {', '.join(self.sequences)}."
                )
            named = {study["series"][uid]: files for uid, files in series.items()}
            image, affine, _ = D.assemble_study(named, self.sequences, study_name=study_uid)
        tmp = self.series_dir / f"{image_id}.nii.gz"
        save_case_nifti(image, affine, tmp)
        LocalDatastore.add_image(self, image_id, str(tmp), {
            "StudyInstanceUID": study_uid, "PatientID": study.get("patient_id", ""), "Modality": "MR",
            "SeriesInstanceUID": image_id, "sequences": study["sequences"],
        })
        tmp.unlink()
        return str(path)

    # results ---------------------------------------------------------------------------------------------------

    def store_results(
        self, image_id: str, labels: np.ndarray, uncertainty: np.ndarray | None = None, manual: bool = False,
        algorithm_name: str = "DIANet",
    ) -> dict[str, str]:
        """STOW-RS a DICOM SEG (TC/WT/ET) and, when given, the uncertainty parametric map of one study.

        Args:
            image_id: the study's anchor series (the SEG references it).
            labels: BraTS label map ``(X, Y, Z)`` on the grid of :meth:`get_image_uri`'s NIfTI.
            uncertainty: voxel-wise uncertainty on the same grid.
            manual: a reviewed label (MANUAL segments) instead of a model result.
            algorithm_name: algorithm of automatic segments.

        Returns:
            ``{"seg_series_uid": ..., "uncertainty_series_uid": ...}``.
        """
        refs = self.source_datasets(image_id)
        anchor = next(seq for seq, datasets in refs.items() if str(datasets[0].SeriesInstanceUID) == image_id) \
            if any(str(d[0].SeriesInstanceUID) == image_id for d in refs.values()) else self.anchor
        source = refs[anchor]
        seg = D.brats_segmentation(labels_to_regions(labels), source, algorithm_name=algorithm_name, manual=manual,
                                   series_description=f"{algorithm_name} TC/WT/ET" + (" (reviewed)" if manual else ""))
        out = [seg]
        if uncertainty is not None:
            out.append(D.uncertainty_parametric_map(uncertainty, source, algorithm_name=algorithm_name))
        with http_errors():
            store_datasets(self._client, out)
        result = {"seg_series_uid": str(seg.SeriesInstanceUID)}
        if uncertainty is not None:
            result["uncertainty_series_uid"] = str(out[1].SeriesInstanceUID)
        return result

    def save_label(
        self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any], label_id: str = ""
    ) -> str:
        """Save a label locally; a ``final`` label also goes to the PACS as a MANUAL DICOM SEG (highdicom)."""
        if label_tag == DefaultLabelTag.FINAL and not label_filename.endswith(".bin"):
            import nibabel as nib

            label_info = dict(label_info)
            label_info.update(self.store_results(image_id, np.asanyarray(nib.load(label_filename).dataobj),
                                                 manual=True))
        return LocalDatastore.save_label(self, image_id, label_filename, label_tag, label_info)

    def datalist(self, full_path: bool = True) -> list[dict[str, Any]]:
        """Labelled studies: the final labels saved through this server (kept in the local cache)."""
        return LocalDatastore.datalist(self, full_path)


def _first_dataset(meta: Sequence[Mapping[str, Any]]):
    from pydicom.dataset import Dataset

    return Dataset.from_json(meta[0]) if meta else None
