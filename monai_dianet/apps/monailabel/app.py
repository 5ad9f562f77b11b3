# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The MONAI Label app class for DIANet bundles (needs ``monailabel``; see scripts/setup_monailabel.sh).

A ready app folder (``apps/monailabel_dianet``) holds ``main.py`` importing :class:`DIANetApp` and ``models.json``
listing the bundles it serves; adding a bundle is an entry there, not code::

    {"dianet_brats": {"bundle": "../../bundles/dianet_brats_segmentation",
                      "infer": "monai_dianet.apps.monailabel.infer.DIANetInferTask",
                      "train": "monai_dianet.apps.monailabel.train.BraTSBundleTrainTask",
                      "sequences": ["T1", "T1ce", "T2", "FLAIR"], "anchor": "FLAIR"}}

Relative bundle paths are relative to the app folder. ``--conf`` options: ``models`` (comma-separated subset),
``<name>_bundle``, ``<name>_model``, ``<name>_router`` (paths), ``<name>_overrides`` (JSON of bundle config
overrides, e.g. ``{"roi_size": [64, 64, 32]}``), ``mc_samples`` (int), ``store_results``
("true"/"false": STOW-RS the SEG and uncertainty map when the datastore is DICOMweb, default true).

Served weights are local files only (``<bundle>/models/model.pt`` and ``router.json`` by default); nothing is
downloaded. With a DICOMweb datastore MONAI Label would first download dcmqi (and stop when offline): this app
builds its own datastore (:class:`MultiSequenceDICOMwebDatastore`) and writes DICOM SEG with highdicom instead.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from monai.utils import optional_import
from monailabel.config import settings
from monailabel.datastore.dicom import DICOMwebClientX
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.tasks.activelearning.epistemic import Epistemic
from monailabel.tasks.activelearning.random import Random

from monai_dianet.apps.monailabel.datastore import MultiSequenceDICOMwebDatastore
from monai_dianet.apps.monailabel.dicom import BRATS_SEQUENCES
from monai_dianet.apps.monailabel.errors import http_errors
from monai_dianet.apps.monailabel.pacs import make_client
from monai_dianet.apps.monailabel.scoring import MCDropoutEpistemicScoring

__all__ = ["DIANetApp", "load_models_config"]

logger = logging.getLogger(__name__)

UNCERTAINTY_TAG = "uncertainty"
"""Label tag under which the voxel-wise uncertainty map of the last inference is kept in the datastore."""


def load_models_config(app_dir: str, conf: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``models.json`` of the app folder with ``--conf`` overrides applied and bundle paths made absolute.

    Raises:
        FileNotFoundError: no ``models.json``, or a bundle folder that does not exist.
        ValueError: ``--conf models`` names a model that is not configured.
    """
    path = os.path.join(app_dir, "models.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing: list the served bundles there (see monai_dianet.apps.monailabel).")
    with open(path) as f:
        models = json.load(f)
    wanted = [m.strip() for m in conf.get("models", "").split(",") if m.strip()] or list(models)
    unknown = [m for m in wanted if m not in models]
    if unknown:
        raise ValueError(f"--conf models names {unknown}, but {path} configures {sorted(models)}.")
    out = {}
    for name in wanted:
        entry = dict(models[name])
        bundle = conf.get(f"{name}_bundle", entry["bundle"])
        entry["bundle"] = os.path.normpath(bundle if os.path.isabs(bundle) else os.path.join(app_dir, bundle))
        if not os.path.isdir(entry["bundle"]):
            raise FileNotFoundError(f"bundle folder {entry['bundle']} of model {name!r} does not exist.")
        entry["model"] = conf.get(f"{name}_model", entry.get("model"))
        entry["router"] = conf.get(f"{name}_router", entry.get("router"))
        out[name] = entry
    return out


def _import(path: str):
    module, _, name = path.rpartition(".")
    obj, ok = optional_import(module, name=name)
    if not ok:
        raise ImportError(f"cannot import {path} (named in models.json).")
    return obj


class DIANetApp(MONAILabelApp):
    """MONAI Label app serving DIANet bundles: infer (label + uncertainty + ACWI route), train, epistemic scoring.

    Args:
        app_dir: the app folder (with ``models.json``).
        studies: a local folder (NIfTI datastore) or a DICOMweb URL.
        conf: ``--conf`` key/values (see the module docstring).
    """

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.models = load_models_config(app_dir, conf)
        first = next(iter(self.models.values()))
        self.sequences = {s: BRATS_SEQUENCES.get(s, (s.lower(),)) for s in first.get("sequences", BRATS_SEQUENCES)}
        self.anchor = first.get("anchor", next(iter(self.sequences)))
        super().__init__(app_dir=app_dir, studies=studies, conf=conf, name="monai-dianet",
                         description="DIANet segmentation with an uncertainty map and ACWI routing",
                         version="1.0")

    # datastore -------------------------------------------------------------------------------------------------

    def _init_dicomweb_datastore(self) -> Datastore:
        """MONAI Label's DICOMweb setup without the dcmqi download: SEG is written with highdicom."""
        session = None
        if settings.MONAI_LABEL_DICOMWEB_USERNAME and settings.MONAI_LABEL_DICOMWEB_PASSWORD:
            from dicomweb_client.session_utils import create_session_from_user_pass

            session = create_session_from_user_pass(settings.MONAI_LABEL_DICOMWEB_USERNAME,
                                                    settings.MONAI_LABEL_DICOMWEB_PASSWORD)
        client = make_client(self.studies, session=session, client_class=DICOMwebClientX,
                             qido_url_prefix=settings.MONAI_LABEL_QIDO_PREFIX,
                             wado_url_prefix=settings.MONAI_LABEL_WADO_PREFIX,
                             stow_url_prefix=settings.MONAI_LABEL_STOW_PREFIX)
        cache = (settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or "").strip() or None
        logger.info(f"DICOMweb datastore {self.studies}; series filter {settings.MONAI_LABEL_DICOMWEB_SEARCH_FILTER}")
        return MultiSequenceDICOMwebDatastore(client, settings.MONAI_LABEL_DICOMWEB_SEARCH_FILTER, cache_path=cache,
                                              sequences=self.sequences, anchor=self.anchor)

    # tasks -----------------------------------------------------------------------------------------------------

    def _overrides(self, name: str) -> dict[str, Any]:
        out = json.loads(self.conf[f"{name}_overrides"]) if self.conf.get(f"{name}_overrides") else {}
        if self.conf.get("mc_samples"):
            out["mc_samples"] = int(self.conf["mc_samples"])
        return out

    def init_infers(self) -> dict[str, Any]:
        infers = {}
        for name, entry in self.models.items():
            cls = _import(entry.get("infer", "monai_dianet.apps.monailabel.infer.DIANetInferTask"))
            infers[name] = cls(entry["bundle"], model_file=entry.get("model"), router_file=entry.get("router"),
                               overrides=self._overrides(name))
        return infers

    def init_trainers(self) -> dict[str, Any]:
        trainers = {}
        for name, entry in self.models.items():
            if entry.get("train"):
                task = _import(entry["train"])(entry["bundle"], self.conf, overrides=self._overrides(name))
                if task.is_valid():
                    trainers[name] = task
        return trainers

    def init_scoring_methods(self) -> dict[str, Any]:
        name = next(iter(self.models))
        return {"epistemic": MCDropoutEpistemicScoring(self._infers[name])}

    def init_strategies(self) -> dict[str, Any]:
        return {"epistemic": Epistemic(), "random": Random()}

    # inference -------------------------------------------------------------------------------------------------

    def infer(self, request: dict[str, Any], datastore: Datastore | None = None) -> dict[str, Any]:
        """MONAI Label inference plus: the uncertainty map kept as label tag ``uncertainty`` of the image, and,
        for a DICOMweb datastore, the SEG and the uncertainty parametric map stored on the PACS (STOW-RS); bad
        input answers with a one-line HTTP error."""
        import nibabel as nib
        import numpy as np

        datastore = datastore or self.datastore()
        with http_errors():
            result = super().infer(request, datastore)
            params = result.get("params") or {}
            unc = params.get("uncertainty", {})
            image_id = request.get("image")
            in_store = isinstance(image_id, str) and not os.path.exists(image_id)
            if in_store and unc.get("file") and os.path.isfile(unc["file"]):
                label_id = datastore.save_label(image_id, unc["file"], UNCERTAINTY_TAG,
                                                {"model": request.get("model"), "map": unc.get("map")})
                os.unlink(unc.pop("file"))
                unc.update({"tag": UNCERTAINTY_TAG, "label_id": label_id})
            store = self.conf.get("store_results", "true").lower() in ("1", "true", "yes")
            if in_store and store and isinstance(datastore, MultiSequenceDICOMwebDatastore) and result.get("file"):
                labels = np.asanyarray(nib.load(result["file"]).dataobj)
                unc_path = datastore.get_label_uri(image_id, UNCERTAINTY_TAG) if unc.get("tag") else None
                values = nib.load(unc_path).get_fdata(dtype=np.float32) if unc_path else None
                params["pacs"] = datastore.store_results(image_id, labels, values,
                                                         algorithm_name=str(request.get("model")))
        return result

