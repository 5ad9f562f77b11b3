# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MONAI ``SupervisedTrainer`` for DIANet: the loss sees every head and regulariser, the handlers see the main head."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from monai.data import MetaTensor
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents, default_metric_cmp_fn, default_prepare_batch
from monai.engines.workflow import Workflow
from monai.inferers import Inferer
from monai.transforms import Transform
from monai.utils import IgniteInfo, min_version, optional_import
from monai.utils.enums import CommonKeys as Keys
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader

from monai_dianet.handlers.loss_parts import LOSS_PARTS_PREFIX
from monai_dianet.utils.precision import resolve_precision, to_float32

if TYPE_CHECKING:
    from ignite.engine import EventEnum
    from ignite.metrics import Metric
else:
    Metric, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Metric")
    EventEnum, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "EventEnum")

__all__ = ["DIANetTrainer", "main_output", "unwrap_network"]


def main_output(output: Any) -> torch.Tensor:
    """The main head tensor of a network output: ``output.main`` for a ``DIANetOutput``, else ``output`` itself.

    Raises:
        TypeError: when ``output`` is neither a tensor nor has a tensor ``main`` attribute.
    """
    if isinstance(output, torch.Tensor):
        return output
    main = getattr(output, "main", None)
    if not isinstance(main, torch.Tensor):
        raise TypeError(
            f"expected the network to return a tensor or a DIANetOutput with a `main` tensor, got {type(output)}."
        )
    return main


def unwrap_network(network: torch.nn.Module) -> torch.nn.Module:
    """The module inside ``DistributedDataParallel`` / ``DataParallel`` (or ``torch.compile``) wrappers."""
    while True:
        if isinstance(network, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            network = network.module
        elif hasattr(network, "_orig_mod"):  # torch.compile's OptimizedModule
            network = network._orig_mod
        else:
            return network


def _accepts_image(loss_function: Callable) -> bool:
    """Whether ``loss_function`` takes an ``image`` keyword (``DIANetLoss``: the reconstruction target)."""
    target = loss_function.forward if isinstance(loss_function, torch.nn.Module) else loss_function
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    return "image" in params


def _loss_float(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean().item())
    return float(value)


class DIANetTrainer(SupervisedTrainer):
    """Supervised trainer for :class:`~monai_dianet.networks.nets.DIANet` (and any net returning a ``DIANetOutput``).

    Each iteration calls the network through the inferer with ``forward_kwargs`` (default
    ``{"return_all": True}``), so the loss receives the full ``DIANetOutput`` (every head, the latent
    distribution, the prior logits ...; e.g. :class:`~monai_dianet.losses.DIANetLoss`). The main head tensor
    (``output.main``) is stored as ``engine.state.output[CommonKeys.PRED]``, so MONAI post transforms,
    metrics and handlers work unchanged. Each loss part is stored as a flat scalar ``"loss/<part>"`` in
    ``engine.state.output`` (the loss's ``last_parts`` when it has them, else ``{"total": loss}``); log them
    with ``StatsHandler(output_transform=monai_dianet.handlers.from_loss_parts)``, the TensorBoard
    counterpart, or :class:`~monai_dianet.handlers.LossPartsHandler` for epoch means.

    All constructor arguments are plain objects, so the trainer is built from bundle configs like MONAI's
    ``SupervisedTrainer`` (``"_target_": "monai_dianet.engines.DIANetTrainer"``). A network wrapped in
    ``DistributedDataParallel`` works unchanged (one forward and one backward per iteration); wrap it with
    ``find_unused_parameters=True`` when some outputs feed no loss term (e.g. DIANet's ``prior_logits`` without
    a prior weight).

    Precision: ``amp`` takes MONAI's boolean or a precision option (``"auto"``, ``"fp32"``, ``"bf16"``, ``"fp16"``,
    resolved for ``device`` by :func:`~monai_dianet.utils.resolve_precision`), on CPU as on CUDA. The forward
    pass runs under ``torch.autocast`` in that dtype and its output is cast to float32 before the loss, so losses
    and metrics are computed in float32; fp16 adds a gradient scaler (``engine.scaler``), bf16 needs none.

    Args:
        device, max_epochs, train_data_loader, network, optimizer, epoch_length, non_blocking, prepare_batch,
        iteration_update, postprocessing, key_train_metric, additional_metrics, metric_cmp_fn, train_handlers,
        event_names, event_to_attr, decollate, optim_set_to_none, to_kwargs, compile, compile_kwargs,
        accumulation_steps: as in :class:`monai.engines.SupervisedTrainer`.
        amp: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``; ``True`` means ``"auto"``, ``False`` (default)
            ``"fp32"``.
        amp_kwargs: further ``torch.autocast`` arguments (e.g. ``cache_enabled``); the dtype comes from ``amp``.
        loss_function: ``loss(output, target)``; with ``loss_input="output"`` it receives the full network
            output (a ``DIANetOutput``), with ``"main"`` the main head tensor (for plain MONAI losses).
        inferer: calls the network during training; it must pass keyword arguments to the network and return
            its output unchanged (default ``SimpleInferer``). Sliding-window inference belongs in evaluators.
        forward_kwargs: keyword arguments for every training forward pass; default ``{"return_all": True}``,
            ``{}`` for a network without that option.
        loss_input: ``"output"`` or ``"main"`` (see ``loss_function``).

    Raises:
        ValueError: for an unknown ``loss_input``.
        InputError: for an unknown ``amp``.

    Example::

        net = DIANet(spatial_dims=2, in_channels=1, out_channels=2, backbone="resnet10")
        trainer = DIANetTrainer(
            device="cpu", max_epochs=2, train_data_loader=loader, network=net,
            optimizer=torch.optim.Adam(net.parameters(), 1e-3),
            loss_function=DIANetLoss(weights={"segmentation": 1.0, "kl": 1e-3}),
            train_handlers=[StatsHandler(output_transform=from_loss_parts)],
        )
        trainer.run()
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        network: torch.nn.Module,
        optimizer: Optimizer,
        loss_function: Callable,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        prepare_batch: Callable = default_prepare_batch,
        iteration_update: Callable | None = None,
        inferer: Inferer | None = None,
        postprocessing: Transform | None = None,
        key_train_metric: dict[str, Metric] | None = None,
        additional_metrics: dict[str, Metric] | None = None,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        train_handlers: Sequence | None = None,
        amp: bool | str = False,
        event_names: list[str | EventEnum | type[EventEnum]] | None = None,
        event_to_attr: dict | None = None,
        decollate: bool = True,
        optim_set_to_none: bool = False,
        to_kwargs: dict | None = None,
        amp_kwargs: dict | None = None,
        compile: bool = False,
        compile_kwargs: dict | None = None,
        accumulation_steps: int = 1,
        forward_kwargs: Mapping[str, Any] | None = None,
        loss_input: str = "output",
    ) -> None:
        if loss_input not in ("output", "main"):
            raise ValueError(f"loss_input must be 'output' or 'main', got {loss_input!r}.")
        precision = resolve_precision(amp, device)
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            loss_function=loss_function,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            iteration_update=iteration_update,
            inferer=inferer,
            postprocessing=postprocessing,
            key_train_metric=key_train_metric,
            additional_metrics=additional_metrics,
            metric_cmp_fn=metric_cmp_fn,
            train_handlers=train_handlers,
            amp=precision.enabled,
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            optim_set_to_none=optim_set_to_none,
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
            compile=compile,
            compile_kwargs=compile_kwargs,
            accumulation_steps=accumulation_steps,
        )
        self.precision = precision
        self.scaler = precision.grad_scaler()
        self.amp_kwargs = {**self.amp_kwargs, "dtype": precision.dtype} if precision.enabled else self.amp_kwargs
        self.forward_kwargs = {"return_all": True} if forward_kwargs is None else dict(forward_kwargs)
        self.loss_input = loss_input
        self._loss_takes_image = loss_input == "output" and _accepts_image(loss_function)

    def run(self) -> None:
        """Run the training. Unlike ``monai.engines.Trainer.run`` (a CUDA ``GradScaler`` whenever ``amp``), the
        gradient scaler follows the precision: one for fp16 on any device, none for bf16 and fp32."""
        self.scaler = self.precision.grad_scaler()
        Workflow.run(self)

    # ------------------------------------------------------------------ pieces subclasses reuse or override
    def _prepare(self, engine: DIANetTrainer, batchdata: Any) -> tuple[torch.Tensor, Any, tuple, dict]:
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        if len(batch) == 2:
            inputs, targets = batch
            args: tuple = ()
            kwargs: dict = {}
        else:
            inputs, targets, args, kwargs = batch
        if engine.compile and isinstance(inputs, MetaTensor):
            inputs = inputs.as_tensor()
        return inputs, targets, tuple(args), dict(kwargs)

    def _forward(self, engine: DIANetTrainer, inputs: torch.Tensor, args: tuple, kwargs: dict) -> Any:
        """Full network output for ``inputs`` (a ``DIANetOutput`` with the default ``forward_kwargs``), computed
        under the engine's autocast and returned in float32."""
        with self._autocast(engine):
            output = engine.inferer(inputs, engine.network, *args, **{**engine.forward_kwargs, **kwargs})
        return to_float32(output)

    def _task_loss(
        self, engine: DIANetTrainer, output: Any, targets: Any, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The task loss and its parts (``"total"`` included)."""
        if engine.loss_input == "main":
            loss = engine.loss_function(main_output(output), targets).mean()
            return loss, {"total": _loss_float(loss)}
        if engine._loss_takes_image:
            loss = engine.loss_function(output, targets, image=inputs).mean()
        else:
            loss = engine.loss_function(output, targets).mean()
        parts = getattr(engine.loss_function, "last_parts", None)
        parts = {str(k): _loss_float(v) for k, v in parts.items()} if isinstance(parts, Mapping) else {}
        parts["total"] = _loss_float(loss)
        return loss, parts

    def _compute_loss(
        self, engine: DIANetTrainer, inputs: torch.Tensor, targets: Any, args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Forward pass and loss of one iteration; stores PRED and fires FORWARD_COMPLETED."""
        output = self._forward(engine, inputs, args, kwargs)
        engine.state.output[Keys.PRED] = main_output(output)
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        return self._task_loss(engine, output, targets, inputs)

    def _optimizers(self, engine: DIANetTrainer) -> list[Optimizer]:
        return [engine.optimizer]

    def _accumulation_flags(self, engine: DIANetTrainer) -> tuple[bool, bool]:
        """(zero the gradients before this iteration, step the optimisers after it), as SupervisedTrainer."""
        acc = engine.accumulation_steps
        if acc <= 1:
            return True, True
        epoch_length = engine.state.epoch_length
        if epoch_length is not None:
            local_iter = (engine.state.iteration - 1) % epoch_length
            return local_iter % acc == 0, (local_iter + 1) % acc == 0 or (local_iter + 1) == epoch_length
        local_iter = engine.state.iteration - 1
        return local_iter % acc == 0, (local_iter + 1) % acc == 0

    def _autocast(self, engine: DIANetTrainer) -> contextlib.AbstractContextManager:
        if not engine.amp:
            return contextlib.nullcontext()
        return torch.autocast(engine.precision.device_type, **engine.amp_kwargs)

    def _train_mode(self, engine: DIANetTrainer) -> None:
        engine.network.train()

    # ------------------------------------------------------------------ one iteration
    def _iteration(self, engine: DIANetTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        """One training iteration.

        Returns (as ``engine.state.output``): ``IMAGE``, ``LABEL``, ``PRED`` (main head), ``LOSS`` (the total
        loss, unscaled by gradient accumulation) and one ``"loss/<part>"`` float per loss part.

        Raises:
            ValueError: When ``batchdata`` is None.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        inputs, targets, args, kwargs = self._prepare(engine, batchdata)
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}
        should_zero_grad, should_step = self._accumulation_flags(engine)
        optimizers = self._optimizers(engine)

        self._train_mode(engine)
        if should_zero_grad:
            for opt in optimizers:
                opt.zero_grad(set_to_none=engine.optim_set_to_none)

        loss, parts = self._compute_loss(engine, inputs, targets, args, kwargs)
        engine.state.output[Keys.LOSS] = loss
        for name, value in parts.items():
            engine.state.output[f"{LOSS_PARTS_PREFIX}{name}"] = value
        engine.fire_event(IterationEvents.LOSS_COMPLETED)

        acc = engine.accumulation_steps
        scaled = loss / acc if acc > 1 else loss
        scaler = engine.scaler
        if scaler is not None:
            scaler.scale(scaled).backward()
        else:
            scaled.backward()
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        if should_step:
            for opt in optimizers:
                if scaler is not None:
                    scaler.step(opt)
                else:
                    opt.step()
            if scaler is not None:
                scaler.update()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
