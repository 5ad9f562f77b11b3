# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Epistemic active-learning score for MONAI Label from one batched MC-dropout pass (needs ``monailabel``).

MONAI Label's own ``EpistemicScoring`` calls the infer task ``simulation_size`` times with dropout on (it sets
``network_def#dropout``, which DIANet accepts) and takes the entropy of the averaged outputs. Here the T samples
come from :class:`~monai_dianet.inferers.MCDropoutInferer` in one call (DIANet's encoder runs once, the dropout
samples are decoded batched), and the score is the case mean of the mutual information between prediction and
weights (the epistemic part of the predictive entropy). Scores are stored in the datastore's image info under
``epistemic_entropy``, the key MONAI Label's ``Epistemic`` strategy ranks by, so that strategy is reused as is.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import torch
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.tasks.infer.basic_infer import BasicInferTask

from monai_dianet.metrics.uncertainty import case_uncertainty

__all__ = ["MCDropoutEpistemicScoring"]

logger = logging.getLogger(__name__)


class MCDropoutEpistemicScoring(ScoringMethod):
    """Score every unlabelled image by its mean MC-dropout mutual information.

    Args:
        infer_task: a task with ``pre_transforms``, ``inferer`` (returning :class:`MCDropoutInferer`) and
            ``_get_network`` (e.g. :class:`~monai_dianet.apps.monailabel.infer.DIANetInferTask`).
        key: image-info key of the score (``epistemic_entropy`` is what ``Epistemic`` reads).
        score: map to reduce: "mutual_information" (epistemic) or "entropy" (total).

    Returns (on call): ``{"scores": {image id: score}, "skipped": {image id: reason}, "latency": s}``.
    """

    def __init__(self, infer_task: BasicInferTask, key: str = "epistemic_entropy",
                 score: str = "mutual_information") -> None:
        super().__init__(f"MC-dropout {score} (one batched pass) - {infer_task.description}")
        self.infer_task = infer_task
        self.key = key
        self.score = score

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        start = time.time()
        device = request.get("device", "cuda" if torch.cuda.is_available() else "cpu")
        model_file = self.infer_task.get_path()
        model_ts = int(os.stat(model_file).st_mtime) if model_file and os.path.exists(model_file) else 1
        scores, skipped = {}, {}
        for image_id in datastore.get_unlabeled_images():
            try:
                data = {"image": datastore.get_image_uri(image_id)}
                for t in self.infer_task.pre_transforms(data):
                    data = t(data)
                network = self.infer_task._get_network(device, data)
                inferer = self.infer_task.inferer(data)
                inferer.num_samples = int(request.get("mc_samples", inferer.num_samples))
                with torch.no_grad():
                    out = inferer(data["image"][None].to(torch.device(device)), network)
                value = float(case_uncertainty(out[self.score].float(), "mean")[0])
            except Exception as e:  # one bad study must not stop the ranking of the others
                reason = getattr(e, "detail", None) or str(e)
                logger.error(f"epistemic scoring skipped {image_id}: {reason}")
                skipped[image_id] = reason
                continue
            scores[image_id] = value
            datastore.update_image_info(image_id, {self.key: value, "epistemic_ts": model_ts})
        return {"scores": scores, "skipped": skipped, "latency": round(time.time() - start, 3)}
