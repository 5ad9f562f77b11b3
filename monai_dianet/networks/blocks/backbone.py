# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Multi-stage encoders for DIANet: MONAI ResNets, the FlexibleUNet encoder registry, or a user module."""

from __future__ import annotations

import os
import inspect
from collections.abc import Sequence
from functools import partial

import torch
import torch.nn as nn

from monai.networks.layers.factories import Conv, Pool
from monai.networks.layers.utils import get_act_layer, get_norm_layer
from monai.networks.nets.flexible_unet import FLEXUNET_BACKBONE
from monai.networks.nets.resnet import (
    ResNet,
    ResNetBlock,
    ResNetBottleneck,
    ResNetFeatures,
    get_inplanes,
    resnet_params,
)

__all__ = ["ResNetStages", "DIANetBackbone", "RESNET_BACKBONES"]

RESNET_BACKBONES = tuple(resnet_params)
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


class ResNetStages(nn.Module):
    """MONAI ResNet encoder returning its five stage outputs, with a width multiplier and a norm honoured everywhere.

    Built from MONAI's residual blocks (:class:`~monai.networks.nets.resnet.ResNetBlock` /
    :class:`~monai.networks.nets.resnet.ResNetBottleneck`) and layer factories (``Conv``, ``Pool``,
    :func:`~monai.networks.layers.utils.get_norm_layer`), with the layer names, state-dict keys and ``forward`` of
    MONAI's :class:`~monai.networks.nets.ResNetFeatures`. It is not a subclass of MONAI's ``ResNet`` because in
    MONAI 1.6.1 ``ResNet._make_layer`` builds every residual block and shortcut with batch norm whatever ``norm``
    says (only the stem gets it), and its weight initialisation fails on normalisations without affine
    parameters (MONAI's default ``"instance"``). Here ``norm`` is used by the stem, every block and every
    projection shortcut.

    ``width`` scales every stage width like MONAI's ``widen_factor`` (``resnet10`` at ``width=0.5`` has 3.6 M
    parameters in 3D, against 14.4 M at full width). With ``width=1.0`` and ``norm="batch"`` the state dict is
    that of ``ResNetFeatures`` (MONAI / MedicalNet weights load). Never downloads weights (see
    :class:`DIANetBackbone` for local weights).

    Stage outputs: strides ``(2, 4, 8, 16, 32)``, channels ``width * (64, 64, 128, 256, 512)`` for basic
    blocks and ``width * (64, 256, 512, 1024, 2048)`` for bottlenecks.

    Args:
        model_name: one of ``resnet10`` ... ``resnet200``.
        spatial_dims: 2 or 3.
        in_channels: number of input channels.
        width: width multiplier of all stages.
        norm: normalisation of every layer (MONAI ``get_norm_layer`` name/args, e.g. ``"batch"``, ``"instance"``,
            ``("group", {"num_groups": 8})``).

    Raises:
        ValueError: unknown ``model_name`` or non-positive ``width``.

    Example::

        enc = ResNetStages("resnet10", spatial_dims=3, in_channels=1, width=0.5, norm=("group", {"num_groups": 8}))
        feats = enc(torch.zeros(1, 1, 32, 32, 32))  # 5 tensors, strides 2..32; batch size 1 trains at 32^3
    """

    forward = ResNetFeatures.forward

    def __init__(
        self,
        model_name: str,
        spatial_dims: int = 3,
        in_channels: int = 1,
        width: float = 1.0,
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        if model_name not in resnet_params:
            raise ValueError(f"unknown ResNet backbone '{model_name}', expected one of {', '.join(resnet_params)}.")
        if width <= 0:
            raise ValueError(f"backbone width must be positive, got {width}.")
        block_name, layers, shortcut_type, bias_downsample, _ = resnet_params[model_name]
        block = ResNetBlock if block_name == "basic" else ResNetBottleneck
        widths = [int(c * width) for c in get_inplanes()]
        conv = Conv[Conv.CONV, spatial_dims]
        self.no_max_pool = False
        self.conv1 = conv(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = get_norm_layer(name=norm, spatial_dims=spatial_dims, channels=widths[0])
        self.act = get_act_layer(name=("relu", {"inplace": True}))
        self.maxpool = Pool[Pool.MAX, spatial_dims](kernel_size=3, stride=2, padding=1)
        in_planes = widths[0]
        for i, (planes, num_blocks) in enumerate(zip(widths, layers)):
            stride = 1 if i == 0 else 2
            out_planes = planes * block.expansion
            downsample: nn.Module | partial | None = None
            if stride != 1 or in_planes != out_planes:
                if shortcut_type == "A":
                    # parameter-free zero-padded shortcut; MONAI's implementation does not use its instance
                    downsample = partial(
                        ResNet._downsample_basic_block,
                        None,
                        planes=out_planes,
                        stride=stride,
                        spatial_dims=spatial_dims,
                    )
                else:
                    downsample = nn.Sequential(
                        conv(in_planes, out_planes, kernel_size=1, stride=stride, bias=bias_downsample),
                        get_norm_layer(name=norm, spatial_dims=spatial_dims, channels=out_planes),
                    )
            blocks = [block(in_planes, planes, spatial_dims, stride, downsample, norm=norm)]
            blocks += [block(out_planes, planes, spatial_dims, norm=norm) for _ in range(1, num_blocks)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            in_planes = out_planes
        for m in self.modules():  # MONAI ResNet's initialisation, skipping norms without affine parameters
            if isinstance(m, conv):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, _NORM_TYPES) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        expansion = block.expansion
        self.out_channels = (widths[0],) + tuple(c * expansion for c in widths)
        self.strides = (2, 4, 8, 16, 32)
        self.stages = (
            nn.ModuleList([self.conv1, self.bn1]),
            self.layer1,
            self.layer2,
            self.layer3,
            self.layer4,
        )


def _efficientnet_stages(encoder: nn.Module) -> tuple[nn.Module, ...]:
    """Group an EfficientNet encoder's stem and MBConv stacks by the stage output they feed."""
    bounds = list(encoder.extract_stacks)
    stages: list[nn.Module] = []
    start = 0
    for k, end in enumerate(bounds):
        mods = [encoder._blocks[i] for i in range(start, end)]
        if k == 0:
            mods = [encoder._conv_stem, encoder._bn0] + mods
        stages.append(nn.ModuleList(mods))
        start = end
    return tuple(stages)


class DIANetBackbone(nn.Module):
    """Multi-stage feature encoder with stage freezing and local weight loading.

    ``backbone`` may be:

    * a MONAI ResNet name (``resnet10`` ... ``resnet200``): :class:`ResNetStages` (MONAI ``ResNetFeatures``
      layers, optional ``width`` multiplier), five stages at strides ``(2, 4, 8, 16, 32)``;
    * any other name in MONAI's FlexibleUNet encoder registry
      (``monai.networks.nets.flexible_unet.FLEXUNET_BACKBONE``, e.g. ``efficientnet-b0``, or a class a user
      registered there), built with ``pretrained=False`` and with ``norm`` when the encoder takes a ``norm``
      argument (MONAI's EfficientNet encoders do); stage ``i`` has stride ``2 ** (i + 1)`` as that registry
      requires;
    * an ``nn.Module`` following this protocol: ``forward(x)`` returns a list of stage feature maps,
      finest first; attribute ``out_channels`` (channels per stage) and ``strides`` (cumulative stride of
      each stage w.r.t. the input, each a multiple of the previous one); optional ``stages`` (one module
      per stage holding that stage's parameters) to allow freezing the first ``k`` stages.

    Weights are never downloaded. ``pretrained_path`` loads a local state dict (a plain state dict or a
    checkpoint with a ``state_dict``/``model`` entry; a ``module.`` prefix and classifier ``fc.*`` keys are
    dropped) into the encoder, strictly. The encoder must use the normalisation the weights were trained with:
    MONAI / MedicalNet ResNet weights need ``norm="batch"`` (their running statistics have no place in a group-
    or instance-normalised encoder, and the error says so).

    Args:
        spatial_dims: 2 or 3.
        in_channels: number of input channels.
        backbone: encoder name or module (see above).
        width: width multiplier, ResNet names only.
        pretrained_path: local weight file for the encoder, or None.
        freeze: ``"none"``, ``"all"`` or ``k`` (int) to freeze the first ``k`` stages. Frozen parameters get
            ``requires_grad=False`` and frozen stages keep their normalisation statistics (eval mode) while
            the network trains.
        norm: normalisation of every encoder layer (MONAI ``get_norm_layer`` name/args) for ResNet names and
            registry encoders that take ``norm``; ignored for a user module (which brings its own).

    Raises:
        ValueError: unknown name, protocol attribute missing, bad ``freeze``, a ``norm`` other than batch norm
            for a registry encoder without a ``norm`` argument, or a weight file that does not match the
            encoder.
        FileNotFoundError: ``pretrained_path`` does not exist.

    Example::

        bb = DIANetBackbone(3, 4, "resnet10", width=0.5, freeze=2)
        feats = bb(torch.zeros(1, 4, 64, 64, 64))  # strides bb.strides, channels bb.out_channels
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        backbone: str | nn.Module = "resnet10",
        width: float = 1.0,
        pretrained_path: str | os.PathLike | None = None,
        freeze: str | int = "none",
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        if width != 1.0 and not (isinstance(backbone, str) and backbone in resnet_params):
            raise ValueError(f"backbone width {width} is only supported for ResNet names, not {backbone!r}.")
        stages: Sequence[nn.Module] | None
        if isinstance(backbone, str):
            if backbone in resnet_params:
                encoder: nn.Module = ResNetStages(backbone, spatial_dims, in_channels, width=width, norm=norm)
                out_channels, strides, stages = encoder.out_channels, encoder.strides, encoder.stages
            elif backbone in FLEXUNET_BACKBONE.register_dict:
                entry = FLEXUNET_BACKBONE.register_dict[backbone]
                params = dict(entry["parameter"])
                params.update({"spatial_dims": spatial_dims, "in_channels": in_channels, "pretrained": False})
                if "norm" in inspect.signature(entry["type"]).parameters:
                    params["norm"] = norm
                elif norm != "batch":
                    raise ValueError(
                        f"backbone '{backbone}' from the FlexibleUNet registry takes no 'norm' argument, so only "
                        f"norm='batch' is possible, got {norm!r}."
                    )
                encoder = entry["type"](**params)
                out_channels = tuple(entry["feature_channel"])
                strides = tuple(2 ** (i + 1) for i in range(entry["feature_number"]))
                stages = _efficientnet_stages(encoder) if hasattr(encoder, "extract_stacks") else None
            else:
                known = list(resnet_params) + sorted(set(FLEXUNET_BACKBONE.register_dict) - set(resnet_params))
                raise ValueError(f"unknown backbone '{backbone}', expected a module or one of {', '.join(known)}.")
            self.name = backbone
        elif isinstance(backbone, nn.Module):
            for attr in ("out_channels", "strides"):
                if not hasattr(backbone, attr):
                    raise ValueError(
                        f"a backbone module must define '{attr}' (one entry per returned stage); "
                        f"{type(backbone).__name__} does not."
                    )
            encoder, out_channels, strides = backbone, tuple(backbone.out_channels), tuple(backbone.strides)
            stages = tuple(backbone.stages) if hasattr(backbone, "stages") else None
            self.name = type(backbone).__name__
        else:
            raise ValueError(f"backbone must be a name or an nn.Module, got {type(backbone).__name__}.")
        if len(out_channels) != len(strides) or len(strides) == 0:
            raise ValueError(
                f"backbone out_channels {out_channels} and strides {strides} must be non-empty, of the same length."
            )
        for a, b in zip(strides[:-1], strides[1:]):
            if b % a != 0:
                raise ValueError(f"backbone strides must each divide the next, got {strides}.")
        self.encoder = encoder
        self.out_channels: tuple[int, ...] = tuple(int(c) for c in out_channels)
        self.strides: tuple[int, ...] = tuple(int(s) for s in strides)
        self.stages = stages
        if pretrained_path is not None:
            self.load_pretrained(pretrained_path)
        self.frozen_stages: int = 0
        self.freeze(freeze)

    @property
    def size_divisor(self) -> int:
        """Total stride: input spatial sizes must be multiples of it."""
        return self.strides[-1]

    def load_pretrained(self, path: str | os.PathLike) -> None:
        """Load encoder weights from a local file (strict).

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: missing, unexpected or wrongly shaped keys (listed in the message).
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f"backbone weights file not found: {path} (weights are never downloaded).")
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
        if not isinstance(state, dict):
            raise ValueError(f"{path} does not hold a state dict (got {type(state).__name__}).")
        state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        own = self.encoder.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
        if missing or unexpected or shape:
            details = []
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shape)):
                if keys:
                    shown = ", ".join(
                        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" if label == "shape mismatch" else k
                        for k in keys[:5]
                    )
                    details.append(f"{label} ({len(keys)}): {shown}{' ...' if len(keys) > 5 else ''}")
            stats = ("running_mean", "running_var", "num_batches_tracked")
            hint = "width and in_channels"
            if any(k.endswith(stats) for k in unexpected) and not any(k.endswith(stats) for k in own):
                hint += "; the weights hold batch-norm statistics: build the backbone with norm='batch'"
            raise ValueError(
                f"weights in {path} do not match backbone '{self.name}' (check the backbone name, {hint}): "
                + "; ".join(details)
            )
        self.encoder.load_state_dict(state, strict=True)

    def freeze(self, freeze: str | int) -> None:
        """Freeze ``"none"``, ``"all"`` stages or the first ``k`` stages (``requires_grad=False``).

        Raises:
            ValueError: unknown option, ``k`` out of range, or ``k`` given for a backbone without ``stages``.
        """
        num = len(self.strides)
        if isinstance(freeze, str):
            if freeze not in ("none", "all"):
                raise ValueError(f"freeze must be 'none', 'all' or a number of stages, got '{freeze}'.")
            k = 0 if freeze == "none" else num
        elif isinstance(freeze, int) and not isinstance(freeze, bool):
            if not 0 <= freeze <= num:
                raise ValueError(f"freeze={freeze} stages is out of range for a backbone with {num} stages.")
            if 0 < freeze < num and self.stages is None:
                raise ValueError(
                    f"backbone '{self.name}' does not expose 'stages', so only freeze='none'/'all' are possible."
                )
            k = freeze
        else:
            raise ValueError(f"freeze must be 'none', 'all' or an int, got {freeze!r}.")
        for p in self.encoder.parameters():
            p.requires_grad_(True)
        for module in self._frozen_modules(k):
            for p in module.parameters():
                p.requires_grad_(False)
        self.frozen_stages = k
        self.train(self.training)

    def _frozen_modules(self, k: int) -> list[nn.Module]:
        if k == 0:
            return []
        if k == len(self.strides):
            return [self.encoder]
        return list(self.stages[:k])  # type: ignore[index]

    def train(self, mode: bool = True) -> DIANetBackbone:
        """Set train/eval mode; frozen stages always stay in eval mode (fixed normalisation statistics)."""
        super().train(mode)
        for module in self._frozen_modules(getattr(self, "frozen_stages", 0)):
            module.eval()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the stage features ``[(B, out_channels[i], *spatial / strides[i])]``, finest first.

        Raises:
            ValueError: the encoder returned a different number of stages than declared.
        """
        feats = list(self.encoder(x))
        if len(feats) != len(self.strides):
            raise ValueError(f"backbone '{self.name}' returned {len(feats)} stages, declared {len(self.strides)}.")
        return feats
