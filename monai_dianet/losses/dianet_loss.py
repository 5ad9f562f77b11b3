# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Combined DIANet training objective: task losses plus the weighted latent and prior regularisers (DIANet paper).

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from monai.losses import DiceCELoss
from monai.networks.utils import one_hot
from monai.utils import LossReduction
from torch import nn
from torch.nn.modules.loss import _Loss

from monai_dianet.losses.anatomical_prior import AnatomicalPriorLoss
from monai_dianet.losses.gaussian_kl import GaussianKLLoss
from monai_dianet.losses.heteroscedastic import HeteroscedasticLoss
from monai_dianet.losses.latent_adversarial import LatentAdversarialLoss
from monai_dianet.losses.spatial_prior_kl import SpatialPriorKLLoss
from monai_dianet.networks.utils import as_prior_tensor, resize_to
from monai_dianet.utils import DIANET_TASKS

__all__ = ["DIANetLoss", "DIANET_REGULARISERS"]

DIANET_REGULARISERS = ("kl", "prior_kl", "anatomical_l2", "anatomical_l1", "latent_adv", "aleatoric")


class DIANetLoss(_Loss):
    r"""Task losses of every DIANet head plus the weighted regularisers of the domain-informed latent.

    .. math::

        \mathcal{L} = \sum_{t \in \text{heads}} w_t \mathcal{L}_t
            + w_{kl}\,\mathrm{KL}(\mathcal{N}(\mu, \Sigma) \| \mathcal{N}(0, I))
            + w_{prior\_kl}\,\mathrm{KL}(P_{\text{prior}} \| p_{seg})
            + w_{anatomical\_l2} \|P(h) - P_{\text{target}}\|_2^2
            + w_{anatomical\_l1} \|P(h) - P_{\text{prior}}\|_1
            + w_{latent\_adv}\,\mathcal{L}_G
            + w_{aleatoric} \sum_{t} \mathcal{L}^{het}_t

    - Task losses (defaults): segmentation ``DiceCELoss`` (``sigmoid=True``, or ``softmax=True,
      to_onehot_y=True``), classification ``CrossEntropyLoss``, reconstruction ``MSELoss`` (or ``L1Loss``)
      against the input image.
    - ``kl``: :class:`GaussianKLLoss` on ``output.mu`` / ``output.logvar``.
    - ``prior_kl``: :class:`SpatialPriorKLLoss` between the prior map and the segmentation prediction
      (``prior_kl_input="segmentation"``) or ``output.prior_logits``; segmentation only.
    - ``anatomical_l2`` (eq 11): :class:`AnatomicalPriorLoss` between ``P(h) = act(output.prior_logits)`` and
      ``P_target``, the case's own segmentation target averaged onto the latent grid.
    - ``anatomical_l1`` (eq 14): the same between ``P(h)`` and the prior map ``P_prior``.
    - ``latent_adv`` (eq 15): the generator term of :class:`LatentAdversarialLoss` on ``output.latent``; the
      discriminator (``self.latent_adversarial.discriminator``) must be trained separately with
      ``self.latent_adversarial.discriminator_loss(output.latent)``.
    - ``aleatoric``: for every head with a heteroscedastic log-variance in ``output.aleatoric_logvar`` (a
      ``DIANet(heteroscedastic=True)``), the :class:`HeteroscedasticLoss` of that head (Gaussian NLL for
      reconstruction, Monte-Carlo attenuated likelihood of noisy logits for segmentation/classification); this
      is what trains the log-variance heads. Inactive when ``aleatoric_logvar`` is empty.

    Targets: a tensor is the main head's target (``output.main``); a dict maps head names to targets
    (``{"segmentation": y, "reconstruction": x, "classification": c}``); ``"image"`` stands in for
    ``"reconstruction"``, and ``"prior"`` gives a per-call prior map. The ``image`` argument of
    :meth:`forward` also gives the reconstruction target. Heads whose weight is 0 are skipped.

    After each call ``last_parts`` maps every computed part (unweighted) and ``"total"`` to floats.
    The result is a scalar tensor, so the loss works as a MONAI ``SupervisedTrainer`` ``loss_function`` with a
    network that returns ``DIANetOutput`` (``return_all=True``).

    Args:
        task_losses: ``{task: loss module}`` overriding the defaults, called as ``loss(prediction, target)``.
        weights: ``{name: weight}`` for task names and ``"kl"``, ``"prior_kl"``, ``"anatomical_l2"``,
            ``"anatomical_l1"``, ``"latent_adv"``, ``"aleatoric"``. Defaults: tasks 1, ``kl`` 1e-3,
            ``prior_kl`` 0.1 when a prior map is given (else 0), ``aleatoric`` 1 (used only when the output has
            log-variances), the others 0.
        prior_map: ``(C, *spatial)`` statistical prior (tensor, ``MetaTensor`` or file from
            :func:`~monai_dianet.transforms.save_spatial_prior`).
        segmentation_activation: ``"sigmoid"`` (overlapping channels, e.g. BraTS TC/WT/ET) or ``"softmax"``.
        reconstruction_loss: ``"mse"`` or ``"l1"``.
        prior_kl_input: ``"segmentation"`` or ``"prior_logits"``.
        latent_channels: latent size, to build the latent discriminator for ``latent_adv``.
        latent_adversarial: a ready :class:`LatentAdversarialLoss` (instead of ``latent_channels``).
        reduction: ``"mean"`` or ``"sum"``, used by the regularisers (the total is always a scalar).

    Raises:
        KeyError: for unknown weight / task-loss names, or a missing target of a weighted head.
        ValueError: for bad options, negative weights, ``latent_adv > 0`` without a discriminator, a prior term
            without a prior map, or an output that lacks what a weighted term needs.

    Example::

        loss = DIANetLoss(weights={"segmentation": 1.0, "kl": 1e-3, "prior_kl": 0.1}, prior_map="prior.pt")
        total = loss(net(x, return_all=True), y)
        print(loss.last_parts)   # {"segmentation": ..., "kl": ..., "prior_kl": ..., "total": ...}
    """

    def __init__(
        self,
        task_losses: Mapping[str, nn.Module] | None = None,
        weights: Mapping[str, float] | None = None,
        prior_map: torch.Tensor | str | os.PathLike | None = None,
        segmentation_activation: str = "sigmoid",
        reconstruction_loss: str = "mse",
        prior_kl_input: str = "segmentation",
        latent_channels: int | None = None,
        latent_adversarial: LatentAdversarialLoss | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if self.reduction == LossReduction.NONE.value:
            raise ValueError("DIANetLoss returns a scalar total: reduction must be 'mean' or 'sum', not 'none'.")
        if segmentation_activation not in ("sigmoid", "softmax"):
            raise ValueError(
                f"segmentation_activation must be 'sigmoid' or 'softmax', got {segmentation_activation!r}."
            )
        if reconstruction_loss not in ("mse", "l1"):
            raise ValueError(f"reconstruction_loss must be 'mse' or 'l1', got {reconstruction_loss!r}.")
        if prior_kl_input not in ("segmentation", "prior_logits"):
            raise ValueError(f"prior_kl_input must be 'segmentation' or 'prior_logits', got {prior_kl_input!r}.")
        task_losses = dict(task_losses or {})
        unknown = sorted(set(task_losses) - set(DIANET_TASKS))
        if unknown:
            raise KeyError(f"DIANetLoss task_losses has unknown task(s) {unknown}; valid: {list(DIANET_TASKS)}.")
        self.segmentation_activation = segmentation_activation
        self.prior_kl_input = prior_kl_input
        defaults: dict[str, nn.Module] = {
            "segmentation": DiceCELoss(sigmoid=True)
            if segmentation_activation == "sigmoid"
            else DiceCELoss(softmax=True, to_onehot_y=True),
            "classification": nn.CrossEntropyLoss(),
            "reconstruction": nn.MSELoss() if reconstruction_loss == "mse" else nn.L1Loss(),
        }
        self.custom_tasks = frozenset(task_losses)
        self.task_losses = nn.ModuleDict({t: task_losses.get(t, defaults[t]) for t in DIANET_TASKS})

        prior = None
        if prior_map is not None:
            prior, prior_mode = as_prior_tensor(prior_map)
            if prior_mode is not None and prior_mode != segmentation_activation:
                raise ValueError(
                    f"the prior map was built in {prior_mode!r} mode but segmentation_activation is "
                    f"{segmentation_activation!r}."
                )
        self.prior_map: torch.Tensor | None
        self.register_buffer("prior_map", prior, persistent=False)

        self.weights = {t: 1.0 for t in DIANET_TASKS}
        self.weights.update(
            {"kl": 1e-3, "prior_kl": 0.1 if prior is not None else 0.0, "anatomical_l2": 0.0, "anatomical_l1": 0.0}
        )
        self.weights.update({"latent_adv": 0.0, "aleatoric": 1.0})
        for name, value in (weights or {}).items():
            if name not in self.weights:
                raise KeyError(f"DIANetLoss weight {name!r} is unknown; valid: {sorted(self.weights)}.")
            if value < 0:
                raise ValueError(f"DIANetLoss weight {name!r} must be >= 0, got {value}.")
            self.weights[name] = float(value)

        self.kl = GaussianKLLoss(reduction=self.reduction)
        self.prior_kl = SpatialPriorKLLoss(
            mode=segmentation_activation, resample="prediction", reduction=self.reduction
        )
        act = segmentation_activation
        self.anatomical_l2 = AnatomicalPriorLoss(norm="l2", activation=act, reduction=self.reduction)
        self.anatomical_l1 = AnatomicalPriorLoss(norm="l1", activation=act, reduction=self.reduction)
        self.aleatoric = nn.ModuleDict(
            {
                "segmentation": HeteroscedasticLoss(mode=segmentation_activation, reduction=self.reduction),
                "classification": HeteroscedasticLoss(mode="softmax", reduction=self.reduction),
                "reconstruction": HeteroscedasticLoss(mode="gaussian", reduction=self.reduction),
            }
        )
        if latent_adversarial is None and latent_channels is not None:
            latent_adversarial = LatentAdversarialLoss(latent_channels=latent_channels, reduction=self.reduction)
        if self.weights["latent_adv"] > 0 and latent_adversarial is None:
            raise ValueError("DIANetLoss weight 'latent_adv' > 0 needs `latent_channels` or `latent_adversarial`.")
        self.latent_adversarial = latent_adversarial
        self.last_parts: dict[str, float] = {}

    # ------------------------------------------------------------------ targets
    @staticmethod
    def _main_task(output: Any, active: list[str]) -> str:
        tasks = getattr(output, "tasks", None)
        if tasks:
            return tasks[0]
        main = getattr(output, "main", None)
        for task in active:
            if getattr(output, task) is main:
                return task
        return active[0]

    def _targets(self, output: Any, target: torch.Tensor | Mapping[str, Any], image: torch.Tensor | None) -> dict:
        active = [t for t in DIANET_TASKS if getattr(output, t, None) is not None]
        if not active:
            raise ValueError("DIANetLoss: the output has no segmentation, classification or reconstruction head.")
        if isinstance(target, Mapping):
            targets = dict(target)
            unknown = sorted(set(targets) - set(DIANET_TASKS) - {"image", "prior"})
            if unknown:
                raise KeyError(
                    f"DIANetLoss target dict has unknown key(s) {unknown}; valid: {[*DIANET_TASKS, 'image', 'prior']}."
                )
            if "reconstruction" not in targets and "image" in targets:
                targets["reconstruction"] = targets["image"]
        else:
            targets = {self._main_task(output, active): target}
        if image is not None:
            targets.setdefault("reconstruction", image)
        return targets

    def _task_target(self, task: str, target: Any) -> Any:
        if task == "classification" and task not in self.custom_tasks and isinstance(target, torch.Tensor):
            if target.ndim == 2 and target.shape[1] == 1:
                target = target[:, 0]
            if not target.is_floating_point():
                target = target.long()
        return target

    def _coarse_target(self, seg_target: torch.Tensor, prior_logits: torch.Tensor) -> torch.Tensor:
        """``P_target``: the segmentation target as class probabilities on the latent grid."""
        seg_target = seg_target.float()
        channels = prior_logits.shape[1]
        if self.segmentation_activation == "softmax" and seg_target.shape[1] == 1 and channels > 1:
            seg_target = one_hot(seg_target, num_classes=channels, dim=1)
        if seg_target.shape[1] != channels:
            raise ValueError(
                f"segmentation target with {seg_target.shape[1]} channels cannot serve as P_target for prior_logits "
                f"with {channels} channels."
            )
        return resize_to(seg_target, prior_logits.shape[2:], mode="area")

    # ------------------------------------------------------------------ forward
    def forward(
        self, output: Any, target: torch.Tensor | Mapping[str, Any], image: torch.Tensor | None = None
    ) -> torch.Tensor:
        """
        Args:
            output: a ``DIANetOutput`` (the network called with ``return_all=True``).
            target: the main head's target tensor or a dict of targets per head (see the class docstring).
            image: the input image, target of the reconstruction head.

        Returns:
            the weighted total, a scalar tensor.
        """
        if isinstance(output, torch.Tensor):
            raise ValueError(
                "DIANetLoss needs the full DIANetOutput; call the network with return_all=True "
                "(or use a plain task loss on the main tensor)."
            )
        targets = self._targets(output, target, image)
        prior = targets.get("prior", self.prior_map)
        parts: dict[str, torch.Tensor] = {}
        for task in DIANET_TASKS:
            prediction = getattr(output, task, None)
            if prediction is None or self.weights[task] == 0:
                continue
            if task not in targets:
                raise KeyError(
                    f"DIANetLoss: no target for the {task!r} head; pass a dict target with a {task!r} key"
                    + (" (or the input image as `image`)." if task == "reconstruction" else ".")
                )
            parts[task] = self.task_losses[task](prediction, self._task_target(task, targets[task]))

        logvars = getattr(output, "aleatoric_logvar", None) or {}
        if self.weights["aleatoric"] > 0 and any(task in parts for task in logvars):
            parts["aleatoric"] = torch.stack(
                [
                    self.aleatoric[task](getattr(output, task), logvar, targets[task]).mean()
                    for task, logvar in logvars.items()
                    if task in parts
                ]
            ).sum()
        if self.weights["kl"] > 0:
            parts["kl"] = self.kl(output.mu, output.logvar)
        if self.weights["prior_kl"] > 0:
            if prior is None:
                raise ValueError("DIANetLoss weight 'prior_kl' > 0 needs a prior map (prior_map or target['prior']).")
            prediction = getattr(output, self.prior_kl_input, None)
            if prediction is None:
                raise ValueError(f"DIANetLoss 'prior_kl' needs output.{self.prior_kl_input}, which is None.")
            parts["prior_kl"] = self.prior_kl(prediction, prior)
        if self.weights["anatomical_l2"] > 0 or self.weights["anatomical_l1"] > 0:
            prior_logits = getattr(output, "prior_logits", None)
            if prior_logits is None:
                raise ValueError("DIANetLoss anatomical terms need output.prior_logits (a segmentation DIANet).")
            if self.weights["anatomical_l2"] > 0:
                if "segmentation" not in targets:
                    raise KeyError("DIANetLoss 'anatomical_l2' needs the segmentation target (P_target).")
                p_target = self._coarse_target(targets["segmentation"], prior_logits)
                parts["anatomical_l2"] = self.anatomical_l2(prior_logits, p_target)
            if self.weights["anatomical_l1"] > 0:
                if prior is None:
                    raise ValueError("DIANetLoss weight 'anatomical_l1' > 0 needs a prior map (P_prior).")
                parts["anatomical_l1"] = self.anatomical_l1(prior_logits, prior)
        if self.weights["latent_adv"] > 0:
            assert self.latent_adversarial is not None
            parts["latent_adv"] = self.latent_adversarial.generator_loss(output.latent)

        if not parts:
            raise ValueError("DIANetLoss: every weight of the heads present in the output is 0; nothing to optimise.")
        total = torch.stack([self.weights[name] * value.mean() for name, value in parts.items()]).sum()
        self.last_parts = {name: float(value.detach().mean()) for name, value in parts.items()}
        self.last_parts["total"] = float(total.detach())
        return total
