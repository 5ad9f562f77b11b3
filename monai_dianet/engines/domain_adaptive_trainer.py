# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Domain-adaptive training (DIANet paper, eq 22-26): labelled source + unlabelled target batches each iteration.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from monai.engines.utils import IterationEvents
from monai.utils.enums import CommonKeys as Keys
from torch import nn
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from monai_dianet.engines.dianet_trainer import DIANetTrainer, main_output, unwrap_network

__all__ = ["DomainAdaptiveTrainer", "split_output", "domain_features", "target_information_loss"]


def _split_value(value: Any, sizes: Sequence[int]) -> list[Any]:
    total = sum(sizes)
    if isinstance(value, torch.Tensor):
        if value.ndim > 0 and value.shape[0] == total:
            return list(torch.split(value, list(sizes), dim=0))
        return [value] * len(sizes)
    if isinstance(value, Mapping):
        per_key = {k: _split_value(v, sizes) for k, v in value.items()}
        return [type(value)({k: v[i] for k, v in per_key.items()}) for i in range(len(sizes))]  # type: ignore
    if isinstance(value, (list, tuple)):
        per_item = [_split_value(v, sizes) for v in value]
        return [type(value)(item[i] for item in per_item) for i in range(len(sizes))]
    return [value] * len(sizes)


def split_output(output: Any, sizes: Sequence[int]) -> list[Any]:
    """Split a network output computed on concatenated batches back into one output per batch.

    Every tensor whose first dimension equals ``sum(sizes)`` is split along it, inside dataclasses (such as
    ``DIANetOutput``), dicts, lists and tuples; anything else is shared by all parts.

    Args:
        output: a tensor, a dataclass instance, or nested dicts/lists/tuples of tensors.
        sizes: the batch sizes that were concatenated, in order.

    Returns:
        ``len(sizes)`` outputs of the same structure.

    Example::

        out = net(torch.cat([x_source, x_target]), return_all=True)
        out_source, out_target = split_output(out, [len(x_source), len(x_target)])
    """
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        fields = {f.name: _split_value(getattr(output, f.name), sizes) for f in dataclasses.fields(output) if f.init}
        return [dataclasses.replace(output, **{k: v[i] for k, v in fields.items()}) for i in range(len(sizes))]
    return _split_value(output, sizes)


def domain_features(output: Any, name: str) -> torch.Tensor:
    """The features of ``output`` that the domain loss aligns: attribute ``name`` of a ``DIANetOutput``
    (``"pooled_latent"``, ``"latent"``, ``"mu"``, ``"fused"``, ``"main"`` ...), or the output itself when it is
    a tensor and ``name`` is ``"main"``.

    Raises:
        KeyError: when the output has no tensor under ``name``.
    """
    if isinstance(output, torch.Tensor):
        if name == "main":
            return output
        raise KeyError(f"domain feature {name!r} requested but the network returned a plain tensor.")
    value = getattr(output, name, None)
    if not isinstance(value, torch.Tensor):
        available = [f.name for f in dataclasses.fields(output)] if dataclasses.is_dataclass(output) else []
        raise KeyError(f"the network output has no tensor {name!r} for the domain loss; fields: {available}.")
    return value


def target_information_loss(logits: torch.Tensor, diversity: bool = True) -> torch.Tensor:
    r"""Information-maximisation loss on unlabelled target predictions (Krause et al. 2010; SHOT, Liang et al. 2020).

    With ``p_i = softmax(logits_i)`` over the class dim 1 (every pixel/voxel of a segmentation output counts as a
    sample ``i``) and ``\bar p`` their mean:

    .. math:: L_{IM} = \frac{1}{N} \sum_i H(p_i) - H(\bar p), \qquad H(p) = -\sum_c p_c \log p_c

    The first term makes each target prediction confident (entropy minimisation); the second, kept when
    ``diversity`` is True, keeps the predicted class proportions of the batch spread out, so that entropy
    minimisation cannot collapse every target case onto one class (it assumes the target classes are not
    extremely imbalanced). Hand-written here: MONAI has no such loss.

    Args:
        logits: ``(B, C[, *spatial])`` class logits of target cases.
        diversity: subtract the entropy of the mean prediction.

    Returns:
        a scalar tensor (lower is better; ``-log C <= L_IM <= log C``).

    Raises:
        ValueError: when ``logits`` has fewer than 2 dims or fewer than 2 classes.

    Example::

        loss = target_information_loss(net(x_target))
    """
    if logits.ndim < 2 or logits.shape[1] < 2:
        raise ValueError(f"expected class logits (B, C>=2[, *spatial]), got shape {tuple(logits.shape)}.")
    log_p = torch.log_softmax(logits.float(), dim=1)
    prob = log_p.exp()
    cond = -(prob * log_p).sum(1).mean()
    if not diversity:
        return cond
    mean_p = prob.transpose(0, 1).flatten(1).mean(1)
    marginal = -(mean_p * torch.log(mean_p.clamp_min(1e-8))).sum()
    return cond - marginal


class DomainAdaptiveTrainer(DIANetTrainer):
    """Domain-adaptive trainer: ``L = L_task + lambda3 * L_domain (+ sum_k w_k * penalty_k)`` (DIANet paper, eq 22).

    Each iteration draws a labelled source batch from ``train_data_loader`` and an unlabelled target batch
    from ``target_data_loader`` (cycled independently: a short target set is restarted, a long one is never
    exhausted). Both run through the network; ``L_task`` (e.g. ``DIANetLoss``, which carries the DIANet
    regularisers: KL, spatial prior, anatomical prior, latent adversarial) is computed on the source part,
    ``L_domain = domain_loss(f(x_s), f(x_t))`` on the ``domain_feature`` of both parts:

    - :class:`~monai_dianet.losses.MMDLoss` (eq 23, multi-kernel MMD or the linear mean difference), or
    - :class:`~monai_dianet.losses.DomainAdversarialLoss` (eq 24: domain discriminator behind a gradient
      reversal layer). Any domain loss with a ``step(progress)`` method (this one) gets the training progress
      ``p`` in [0, 1] before every iteration, which sets the reversal weight by its DANN schedule
      ``2 / (1 + exp(-10 p)) - 1``. Its discriminator's parameters are optimised either by
      ``discriminator_optimizer`` or by ``optimizer`` (put them in it); the single backward pass trains the
      discriminator to separate the domains and, through the reversed gradient, the network to confuse it.

    ``penalties`` adds parameter regularisers called on the (unwrapped) network, e.g.
    ``{"l2sp": L2SPLoss(net)}`` (eq 25) or ``{"ewc": EWCLoss.from_dataloader(...)}`` (eq 26), each weighted by
    ``penalty_weights`` (default 1).

    With ``joint_forward=True`` (default) the source and target batches are concatenated and run in one forward
    pass (one pass also suits ``DistributedDataParallel``); batch-norm statistics are then shared by both
    domains. The output is split back with :func:`split_output`. Batches of different spatial shape, or extra
    network arguments from ``prepare_batch``, fall back to two passes.

    ``engine.state.output`` holds ``IMAGE``/``LABEL``/``PRED`` of the source batch (``PRED`` = main head), ``LOSS``
    (the total) and the parts ``"loss/task"``, ``"loss/domain"``, ``"loss/domain_weight"`` (lambda3 used),
    ``"loss/grl_coeff"`` and ``"loss/domain_accuracy"`` (adversarial loss), ``"loss/<penalty>"``, the task
    loss's own parts (``"loss/kl"`` ...) and ``"loss/total"``; log them with
    ``StatsHandler(output_transform=monai_dianet.handlers.from_loss_parts)``. Precision (``amp``, fp32 by default)
    as in :class:`~monai_dianet.engines.DIANetTrainer`: only the network's forward passes run under autocast, the
    domain loss (its discriminator included) and the penalties in float32.

    Args:
        device, max_epochs, train_data_loader, network, optimizer, loss_function: see
            :class:`~monai_dianet.engines.DIANetTrainer` / :class:`monai.engines.SupervisedTrainer`.
        target_data_loader: unlabelled target-domain batches (dicts with ``"image"``, or tensors).
        domain_loss: ``(source_features, target_features) -> scalar``; ``None`` trains without a domain term
            (the target batches then only enter the shared batch-norm statistics: an ablation baseline).
        domain_weight: lambda3 of eq 22.
        domain_weight_schedule: optional callable ``p -> factor`` multiplying ``domain_weight`` (e.g.
            ``DANNSchedule()`` to ramp the domain term up), ``p`` the training progress in [0, 1].
        domain_feature: which output tensor is aligned: ``"pooled_latent"`` (default, ``(B, latent_channels)``,
            the classification head's input), ``"mu"`` (the deterministic latent mean, free of the sampling
            noise), ``"latent"``, ``"fused"`` (feature maps: the domain losses pool or flatten them) or
            ``"main"``.
        discriminator_optimizer: optimiser of the domain loss's parameters when they are not in ``optimizer``.
        penalties: ``{name: callable(network) -> scalar}`` parameter penalties (L2-SP, EWC).
        penalty_weights: ``{name: weight}``; missing names weigh 1.
        joint_forward: run source and target in one concatenated forward pass when possible.
        target_prepare_batch: ``prepare_batch`` for target batches (default: the trainer's); only its first
            returned element (the image) is used.
        target_entropy_weight: weight ``lambda_IM`` of an optional extra term on the unlabelled target
            predictions (main head), :func:`target_information_loss`:
            ``L = L_task + lambda3 * L_domain + lambda_IM * L_IM``, ``lambda_IM`` following
            ``domain_weight_schedule`` too; 0 (default) leaves eq 22 unchanged. Logged as ``"loss/target_entropy"``.
            Measured on the domain-shift demo it did not fix class-agnostic alignment once the source-only model
            had collapsed (benchmarks/RESULTS.md); offered as an option, not a default.
        target_diversity: keep the class-diversity part of :func:`target_information_loss` (else plain entropy
            minimisation, which can collapse every target case onto one class).
        kwargs: the other arguments of :class:`~monai_dianet.engines.DIANetTrainer` (``prepare_batch``,
            ``inferer``, ``train_handlers``, ``amp``, ``forward_kwargs``, ``loss_input``...).

    Raises:
        ValueError: when ``domain_weight`` or ``target_entropy_weight`` is negative, a penalty weight names no
            penalty, or a target batch is empty.

    Example::

        trainer = DomainAdaptiveTrainer(
            device="cpu", max_epochs=5, train_data_loader=source_loader, target_data_loader=target_loader,
            network=net, optimizer=torch.optim.Adam(net.parameters(), 1e-3), loss_function=DIANetLoss(),
            domain_loss=MMDLoss(), domain_weight=1.0, domain_feature="pooled_latent",
            train_handlers=[StatsHandler(output_transform=from_loss_parts)],
        )
        trainer.run()
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        target_data_loader: Iterable | DataLoader,
        network: torch.nn.Module,
        optimizer: Optimizer,
        loss_function: Callable,
        domain_loss: Callable | None = None,
        domain_weight: float = 1.0,
        domain_weight_schedule: Callable[[float], float] | None = None,
        domain_feature: str = "pooled_latent",
        discriminator_optimizer: Optimizer | None = None,
        penalties: Mapping[str, Callable] | None = None,
        penalty_weights: Mapping[str, float] | None = None,
        joint_forward: bool = True,
        target_prepare_batch: Callable | None = None,
        target_entropy_weight: float = 0.0,
        target_diversity: bool = True,
        **kwargs: Any,
    ) -> None:
        if domain_weight < 0:
            raise ValueError(f"domain_weight (lambda3) must be >= 0, got {domain_weight}.")
        if target_entropy_weight < 0:
            raise ValueError(f"target_entropy_weight must be >= 0, got {target_entropy_weight}.")
        penalties = dict(penalties or {})
        penalty_weights = dict(penalty_weights or {})
        unknown = sorted(set(penalty_weights) - set(penalties))
        if unknown:
            raise ValueError(f"penalty_weights names {unknown} which are not in penalties {sorted(penalties)}.")
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            loss_function=loss_function,
            **kwargs,
        )
        if isinstance(domain_loss, nn.Module):
            domain_loss = domain_loss.to(torch.device(device))
        self.target_data_loader = target_data_loader
        self.domain_loss = domain_loss
        self.domain_weight = float(domain_weight)
        self.domain_weight_schedule = domain_weight_schedule
        self.domain_feature = domain_feature
        self.discriminator_optimizer = discriminator_optimizer
        self.penalties = penalties
        self.penalty_weights = {name: float(penalty_weights.get(name, 1.0)) for name in penalties}
        self.joint_forward = joint_forward
        self.target_prepare_batch = target_prepare_batch
        self.target_entropy_weight = float(target_entropy_weight)
        self.target_diversity = bool(target_diversity)
        self._target_iter: Iterator | None = None
        self._target_epoch = 0

    # ------------------------------------------------------------------ target batches
    def _restart_target(self) -> None:
        sampler = getattr(self.target_data_loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(self._target_epoch)
        self._target_epoch += 1
        self._target_iter = iter(self.target_data_loader)

    def _next_target_batch(self) -> Any:
        if self._target_iter is None:
            self._restart_target()
        try:
            return next(self._target_iter)  # type: ignore[arg-type]
        except StopIteration:
            self._restart_target()
            try:
                return next(self._target_iter)  # type: ignore[arg-type]
            except StopIteration:
                raise ValueError("target_data_loader yielded no batch.") from None

    def _prepare_target(self, engine: DomainAdaptiveTrainer) -> torch.Tensor:
        batchdata = self._next_target_batch()
        prepare = engine.target_prepare_batch or engine.prepare_batch
        batch = prepare(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        image = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not isinstance(image, torch.Tensor) or image.ndim == 0 or image.shape[0] == 0:
            raise ValueError(f"expected a non-empty target image batch, got {type(image)}.")
        if engine.compile and hasattr(image, "as_tensor"):
            image = image.as_tensor()
        return image

    # ------------------------------------------------------------------ schedule
    def progress(self, engine: DomainAdaptiveTrainer | None = None) -> float:
        """Training progress ``p`` in [0, 1] at the current iteration: ``(iteration - 1) / total_iterations``."""
        engine = self if engine is None else engine
        total = (engine.state.max_epochs or 1) * (engine.state.epoch_length or 1)
        return min(1.0, max(0.0, (engine.state.iteration - 1) / max(total, 1)))

    def current_domain_weight(self, progress: float) -> float:
        """lambda3 at training progress ``progress`` (``domain_weight`` times the optional schedule)."""
        factor = 1.0 if self.domain_weight_schedule is None else float(self.domain_weight_schedule(progress))
        return self.domain_weight * factor

    # ------------------------------------------------------------------ overrides
    def _optimizers(self, engine: DomainAdaptiveTrainer) -> list[Optimizer]:
        opts = [engine.optimizer]
        if engine.discriminator_optimizer is not None:
            opts.append(engine.discriminator_optimizer)
        return opts

    def _train_mode(self, engine: DomainAdaptiveTrainer) -> None:
        engine.network.train()
        if isinstance(engine.domain_loss, nn.Module):
            engine.domain_loss.train()

    def _compute_loss(
        self, engine: DomainAdaptiveTrainer, inputs: torch.Tensor, targets: Any, args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, dict[str, float]]:
        target_inputs = self._prepare_target(engine)
        sizes = [inputs.shape[0], target_inputs.shape[0]]
        joint = engine.joint_forward and not args and inputs.shape[1:] == target_inputs.shape[1:]
        if joint:
            output = self._forward(engine, torch.cat([inputs, target_inputs.to(inputs)]), args, kwargs)
            out_source, out_target = split_output(output, sizes)
        else:
            out_source = self._forward(engine, inputs, args, kwargs)
            out_target = self._forward(engine, target_inputs, (), kwargs)
        engine.state.output[Keys.PRED] = main_output(out_source)
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)

        task_loss, task_parts = self._task_loss(engine, out_source, targets, inputs)
        parts = {k: v for k, v in task_parts.items() if k != "total"}
        parts["task"] = task_parts["total"]
        total = task_loss

        p = self.progress(engine)
        if engine.domain_loss is not None:
            step = getattr(engine.domain_loss, "step", None)
            if callable(step):
                parts["grl_coeff"] = float(step(p))
            weight = self.current_domain_weight(p)
            l_domain = engine.domain_loss(
                domain_features(out_source, engine.domain_feature), domain_features(out_target, engine.domain_feature)
            ).mean()
            total = total + weight * l_domain
            parts["domain"] = float(l_domain.detach())
            parts["domain_weight"] = weight
            accuracy = getattr(engine.domain_loss, "last_accuracy", None)
            if isinstance(accuracy, float):
                parts["domain_accuracy"] = accuracy

        if engine.target_entropy_weight > 0:
            l_im = target_information_loss(main_output(out_target), diversity=engine.target_diversity)
            factor = 1.0 if engine.domain_weight_schedule is None else float(engine.domain_weight_schedule(p))
            total = total + engine.target_entropy_weight * factor * l_im
            parts["target_entropy"] = float(l_im.detach())

        if engine.penalties:
            net = unwrap_network(engine.network)
            for name, penalty in engine.penalties.items():
                value = penalty(net).mean()
                total = total + engine.penalty_weights[name] * value
                parts[name] = float(value.detach())

        parts["total"] = float(total.detach())
        return total, parts
