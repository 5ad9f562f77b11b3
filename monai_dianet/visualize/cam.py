# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""CAM / Grad-CAM / Grad-CAM++ (DIANet paper, eq 29-30) on DIANet layers in 2D and 3D, through ``monai.visualize``.

The maps are computed by MONAI's :class:`~monai.visualize.CAM`, :class:`~monai.visualize.GradCAM` and
:class:`~monai.visualize.GradCAMpp`. This module adds what they need to work on DIANet and on segmentation nets:

- :class:`ClassScoreWrapper` turns any output into ``(B, num_classes)`` class scores (MONAI's CAMs index
  ``logits[:, class_idx]``): a ``DIANetOutput`` is reduced to the chosen head, and dense segmentation logits
  ``(B, C, *spatial)`` are summed (or averaged) over space, so Grad-CAM of class c explains the total evidence for c.
- :func:`default_target_layer` picks a sensible layer of DIANet (the diffuser output, i.e. the refined latent map h,
  or ``latent_head.g_mu``), or the last spatial convolution of another network.
- :func:`compute_cam` runs one method, upsamples to the input size and scales every map to [0, 1] (1 = most
  important; MONAI's ``default_normalizer`` maps the maximum to 0), and removes the hooks MONAI registers so repeated
  calls do not pile hooks onto the network.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn
from monai.visualize import CAM, GradCAM, GradCAMpp

__all__ = ["ClassScoreWrapper", "default_target_layer", "default_fc_layer", "compute_cam", "CAM_METHODS"]

CAM_METHODS = ("cam", "gradcam", "gradcampp")


class ClassScoreWrapper(nn.Module):
    """Expose a network as a ``(B, C)`` class-score model for CAM methods.

    Args:
        network: the model (kept as the submodule ``network``, so layer names get the prefix ``"network."``).
        task: head of a ``DIANetOutput`` to use (default: the main head); ignored for tensor outputs.
        reduction: "sum" or "mean" over the spatial dims of dense outputs.

    Example:
        >>> wrapped = ClassScoreWrapper(seg_dianet)
        >>> wrapped(x).shape  # (B, out_channels)
    """

    def __init__(self, network: nn.Module, task: str | None = None, reduction: str = "sum") -> None:
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}.")
        self.network = network
        self.task = task
        self.reduction = reduction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: Any = self.network(x, return_all=True) if hasattr(self.network, "decode") else self.network(x)
        if not isinstance(out, torch.Tensor):
            if not hasattr(out, "main"):
                raise ValueError(f"unsupported network output {type(out).__name__}: expected a tensor or DIANetOutput.")
            out = getattr(out, self.task) if self.task else out.main
            if out is None:
                raise KeyError(f"network output has no {self.task!r} head.")
        if out.ndim > 2:
            out = out.flatten(2).sum(2) if self.reduction == "sum" else out.flatten(2).mean(2)
        return out


def default_target_layer(network: nn.Module) -> str:
    """A sensible Grad-CAM layer name of ``network`` (without any wrapper prefix).

    DIANet: ``"diffuser"`` (the refined latent map h that every head reads) when the diffuser is on, else
    ``"latent_head.g_mu"`` (the latent mean on the fused map). Other networks: the last convolution with a kernel
    larger than 1 (else the last convolution).

    Raises:
        ValueError: when the network has no convolution at all.
    """
    names = dict(network.named_modules())
    if getattr(network, "diffuser", None) is not None and "diffuser" in names:
        return "diffuser"
    if "latent_head.g_mu" in names:
        return "latent_head.g_mu"
    convs = [(n, m) for n, m in names.items() if isinstance(m, nn.modules.conv._ConvNd)]
    if not convs:
        raise ValueError(f"{type(network).__name__} has no convolution layer; pass target_layer explicitly.")
    wide = [n for n, m in convs if any(k > 1 for k in m.kernel_size)]
    return wide[-1] if wide else convs[-1][0]


def default_fc_layer(network: nn.Module) -> str:
    """The fully-connected layer applied after global pooling, for plain CAM (DIANet: the classification head).

    Raises:
        ValueError: when no such layer can be found (pass ``fc_layer`` explicitly).
    """
    names = dict(network.named_modules())
    if "heads.classification.proj" in names:
        return "heads.classification.proj"
    linears = [n for n, m in names.items() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(network).__name__} has no nn.Linear layer for CAM; pass fc_layer explicitly.")
    return linears[-1]


@contextmanager
def _remove_new_hooks(network: nn.Module) -> Iterator[None]:
    """Drop the forward/backward hooks registered on ``network``'s modules inside the context.

    MONAI's ``ModelWithHooks`` keeps no hook handles, so repeated CAM calls would otherwise pile up hooks.
    """
    before = {id(m): (set(m._forward_hooks), set(m._backward_hooks)) for m in network.modules()}
    try:
        yield
    finally:
        for m in network.modules():
            fwd, bwd = before.get(id(m), (set(), set()))
            for k in set(m._forward_hooks) - fwd:
                del m._forward_hooks[k]
            for k in set(m._backward_hooks) - bwd:
                del m._backward_hooks[k]


def _to_unit_range(maps: torch.Tensor) -> torch.Tensor:
    if not bool(torch.isfinite(maps).all()):
        raise ValueError(
            f"the class activation map has {int((~torch.isfinite(maps)).sum())} non-finite values (NaN/inf): check the "
            "input and the network's output for NaN/inf."
        )
    flat = maps.flatten(1)
    lo = flat.amin(1).view(-1, *([1] * (maps.ndim - 1)))
    hi = flat.amax(1).view(-1, *([1] * (maps.ndim - 1)))
    return (maps - lo) / (hi - lo).clamp_min(1e-12)


def _identity(maps: torch.Tensor) -> torch.Tensor:
    return maps


def _unusable_layer(layer: str, output: Any, x: torch.Tensor, method: str, error: Exception, fallback: str) -> str:
    """One-line reason why ``layer`` cannot be the CAM target (from what its forward hook saw)."""
    hint = f"pick a module whose output is a (B, C, *spatial) feature map, e.g. the default {fallback!r}."
    if output is None:
        return f"target_layer {layer!r} is never called as a module in the forward pass (a container?); {hint}"
    if not isinstance(output, torch.Tensor) or output.ndim != x.ndim:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        return f"target_layer {layer!r} outputs {shape}, not a (B, C, *spatial) map like the input {tuple(x.shape)}; {hint}"
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"target_layer {layer!r} cannot be used for {method} ({type(error).__name__}: {reason}); {hint}"


def compute_cam(
    network: nn.Module,
    x: torch.Tensor,
    method: str = "gradcam",
    target_layer: str | None = None,
    class_idx: int | None = None,
    task: str | None = None,
    reduction: str = "sum",
    fc_layer: str | None = None,
) -> torch.Tensor:
    """Class activation map of ``network`` for input ``x`` with MONAI's CAM / GradCAM / GradCAMpp.

    Args:
        network: DIANet or any classification/segmentation network (its train/eval mode is restored; MONAI runs
            the forward pass in eval mode).
        x: ``(B, C_in, *spatial)``, 2D or 3D.
        method: "cam", "gradcam" or "gradcampp".
        target_layer: layer name in ``network`` (default :func:`default_target_layer`).
        class_idx: class (channel) to explain; default the highest-scoring class.
        task: DIANet head to explain (default the main head).
        reduction: how dense outputs become class scores ("sum" or "mean" over space).
        fc_layer: for ``method="cam"``: the fully-connected layer after global pooling
            (default :func:`default_fc_layer`); the target layer must be the map that is pooled into it.

    Returns:
        ``(B, 1, *spatial)`` maps in [0, 1] (per case), finite, at the input resolution.

    Raises:
        ValueError: unknown method or layer, a layer that is not a usable CAM target (never called, or its output is
            not a ``(B, C, *spatial)`` map), NaN/inf in the input or in the computed map.

    Example:
        >>> cam = compute_cam(dianet.eval(), image, method="gradcampp")  # (1, 1, H, W, D)
    """
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {CAM_METHODS}, got {method!r}.")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"compute_cam: the input has {int((~torch.isfinite(x)).sum())} NaN/inf values.")
    layer = target_layer or default_target_layer(network)
    modules = dict(network.named_modules())
    if layer not in modules:
        raise ValueError(f"target_layer {layer!r} is not a module of {type(network).__name__}.")
    seen: dict[str, Any] = {}
    wrapped = ClassScoreWrapper(network, task=task, reduction=reduction)
    wrapped.train(network.training)  # MONAI restores the wrapper's mode afterwards: keep the network's own
    maps = []
    with _remove_new_hooks(network), torch.enable_grad():

        def record(module: nn.Module, args: Any, output: Any) -> None:  # must return None: a value replaces the output
            seen.setdefault("output", output)

        modules[layer].register_forward_hook(record)
        if method == "cam":
            fc = fc_layer or default_fc_layer(network)
            explainer: Any = CAM(
                wrapped, target_layers=f"network.{layer}", fc_layers=f"network.{fc}", postprocessing=_identity
            )
        else:
            cls = GradCAM if method == "gradcam" else GradCAMpp
            explainer = cls(wrapped, target_layers=f"network.{layer}", postprocessing=_identity)
        # one case at a time: MONAI's class score ``logits[:, argmax]`` mixes cases when B > 1 and class_idx is None
        for i in range(x.shape[0]):
            inp = x[i : i + 1].detach().clone().requires_grad_(True)  # backward hooks fire under a frozen backbone
            seen.clear()
            try:
                cam = explainer(inp, class_idx=class_idx).detach()
            except (RuntimeError, ValueError, KeyError, IndexError, TypeError) as e:
                raise ValueError(
                    _unusable_layer(layer, seen.get("output"), x, method, e, default_target_layer(network))
                ) from e
            maps.append(_to_unit_range(cam))
    network.zero_grad(set_to_none=True)
    return torch.cat(maps, 0)
