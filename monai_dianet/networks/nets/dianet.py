# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DIANet: Domain-Informed Adaptive Network (DIANet paper, Fig. 1-2, eq 6-21), 2D and 3D.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace

import torch
import torch.nn as nn

from monai.networks.layers.factories import Conv, Dropout

from monai.networks.nets.resnet import get_inplanes

from monai_dianet.networks.blocks.backbone import DIANetBackbone, resnet_params
from monai_dianet.networks.blocks.codebook import CodeBook
from monai_dianet.networks.blocks.dianet_heads import OutputProjection, ReconstructionDecoder, SegmentationDecoder
from monai_dianet.networks.blocks.diffuser import Diffuser
from monai_dianet.networks.blocks.feature_pyramid import FeaturePyramidFusion
from monai_dianet.networks.blocks.probabilistic_latent import ProbabilisticLatent
from monai_dianet.networks.blocks.stage_attention import StageAttention
from monai_dianet.utils import DIANET_TASKS, DropoutPlacement

__all__ = ["DIANet", "DIANetOutput", "DIANetFeatures"]

DEFAULT_RESNET_WIDTH = 0.5
DEFAULT_NORM_3D = ("group", {"num_groups": 8})


def _repeat(value, times: int):
    if isinstance(value, torch.Tensor):
        return torch.cat([value] * times, dim=0)
    if isinstance(value, list):
        return [_repeat(v, times) for v in value]
    if isinstance(value, dict):
        return {k: _repeat(v, times) for k, v in value.items()}
    return value


class _OutputDropout:
    """Forward hook replacing a module's output by ``dropout(output)`` (an object, so deep copies and pickles of
    the network carry hooks bound to their own dropout modules)."""

    def __init__(self, dropout: nn.Module) -> None:
        self.dropout = dropout

    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        return self.dropout(output)


@dataclass
class DIANetFeatures:
    """Deterministic results of :meth:`DIANet.encode` (everything except dropout and the final projections).

    Attributes:
        head_features: per-task features just before the head's dropout: ``segmentation`` ``(B, C_s, *spatial)``,
            ``classification`` ``(B, latent_channels)``, ``reconstruction`` ``(B, C_r, *spatial)``. With
            ``dropout_placement`` "decoder" or "all" the decoders hold dropout and run in ``decode`` instead:
            only ``classification`` is here.
        mu, logvar, latent, pooled_latent, prior_logits, codebook_assignment, stage_attention,
        fusion_attention, fused: as in :class:`DIANetOutput`.
        tasks: task names, the first is the main one.
        skips: the segmentation decoder's skip maps, finest first, when that decoder runs in ``decode``; else empty.
    """

    head_features: dict[str, torch.Tensor]
    mu: torch.Tensor
    logvar: torch.Tensor
    latent: torch.Tensor
    pooled_latent: torch.Tensor
    prior_logits: torch.Tensor | None
    codebook_assignment: torch.Tensor | None
    stage_attention: list[torch.Tensor]
    fusion_attention: list[torch.Tensor]
    fused: torch.Tensor
    tasks: tuple[str, ...] = ("segmentation",)
    skips: list[torch.Tensor] = field(default_factory=list)

    def repeat(self, times: int) -> DIANetFeatures:
        """Repeat every tensor ``times`` times along the batch dim (sample-major: ``[x_1..x_B, x_1..x_B, ...]``).

        ``DIANet.decode`` on the result gives ``times`` stochastic samples per case in one batch.
        """
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}.")
        return replace(self, **{f.name: _repeat(getattr(self, f.name), times) for f in fields(self)})


@dataclass
class DIANetOutput:
    """Everything a DIANet forward pass produces.

    Attributes:
        segmentation: ``(B, out_channels, *spatial)`` logits, or None.
        classification: ``(B, num_classes)`` logits, or None.
        reconstruction: ``(B, in_channels, *spatial)``, or None.
        aleatoric_logvar: heteroscedastic log-variance per task, same shape as that task's output; ``{}`` when off.
        mu: ``(B, latent_channels, *latent_spatial)`` mean ``g_mu(z_fused)`` (eq 13).
        logvar: ``(B, latent_channels, *latent_spatial)`` diagonal log-variance ``g_Sigma(z_fused)``.
        latent: ``(B, latent_channels, *latent_spatial)`` h after sampling, codebook and diffuser.
        pooled_latent: ``(B, latent_channels)`` global average of ``latent``.
        prior_logits: ``(B, out_channels, *latent_spatial)`` coarse class logits P(h) (segmentation only).
        codebook_assignment: ``(B, K, *latent_spatial)`` soft assignments, or None without codebook.
        stage_attention: spatial attention of each encoder stage, ``(B, 1, *stage_spatial)``.
        fusion_attention: per-scale spatial attention of the pyramid fusion (eq 9).
        fused: ``(B, fusion_channels, *fused_spatial)`` fused map z_fused (eq 7-8).
        tasks: task names; the first is the main one.
    """

    segmentation: torch.Tensor | None
    classification: torch.Tensor | None
    reconstruction: torch.Tensor | None
    aleatoric_logvar: dict[str, torch.Tensor]
    mu: torch.Tensor
    logvar: torch.Tensor
    latent: torch.Tensor
    pooled_latent: torch.Tensor
    prior_logits: torch.Tensor | None
    codebook_assignment: torch.Tensor | None
    stage_attention: list[torch.Tensor] = field(default_factory=list)
    fusion_attention: list[torch.Tensor] = field(default_factory=list)
    fused: torch.Tensor | None = None
    tasks: tuple[str, ...] = ("segmentation",)

    @property
    def main(self) -> torch.Tensor:
        """The output of the first task."""
        return getattr(self, self.tasks[0])


class DIANet(nn.Module):
    """Domain-Informed Adaptive Network: multi-scale encoder, pyramid fusion, probabilistic latent, task heads.

    Pipeline (one class for 2D and 3D through MONAI layer factories):

    1. backbone (:class:`~monai_dianet.networks.blocks.backbone.DIANetBackbone`): stage features
       ``z_i = f_i(z_{i-1})`` (eq 6);
    2. CBAM-style :class:`~monai_dianet.networks.blocks.stage_attention.StageAttention` after every stage;
    3. :class:`~monai_dianet.networks.blocks.feature_pyramid.FeaturePyramidFusion` of the last
       ``pyramid_levels`` stages (FPN + PANet, per-scale attention, weights ``alpha_i``, eq 7-9), fused at the
       finest pyramid level's stride (4 for ResNet/EfficientNet backbones);
    4. :class:`~monai_dianet.networks.blocks.probabilistic_latent.ProbabilisticLatent` ``g_mu``/``g_Sigma``
       (eq 10, 12, 13): sampled in training, ``h = mu`` in eval unless ``sample=True``;
    5. :class:`~monai_dianet.networks.blocks.codebook.CodeBook` soft quantisation (``codebook_size > 0``) and
       :class:`~monai_dianet.networks.blocks.diffuser.Diffuser` self-attention at the coarsest encoder scale;
    6. heads: segmentation (transposed-conv decoder with encoder skips, eq 19), classification (pooled h,
       linear, eq 17), reconstruction (upsample + conv, eq 20-21); ``prior_logits`` P(h) when segmenting.

    MC dropout (``dropout > 0``; :meth:`mc_dropout` keeps it active in ``eval()``), placed by
    ``dropout_placement``. :meth:`encode` holds the deterministic work and :meth:`decode` the stochastic part,
    ``forward(x) == decode(encode(x))``, so MC samples share one :meth:`encode` where the placement allows:

    - ``"head"``: channel dropout only before each head's final 1x1 projection. :meth:`decode_samples` folds the
      masks into the projection weights: T = 10 samples cost about 1.2-1.4x one pass (``bench_mc_dropout.py``).
      The spread reflects the last layer's dropout only.
    - ``"decoder"``: also before every level of the segmentation / reconstruction decoders (on ``h`` and each
      decoder level's output); the decoders run in :meth:`decode`, so the encoder, pyramid and latent run once
      and the decoders T times: the decoder is most of a 3D pass, so T = 10 costs about 8-10x one pass. The
      classification head has no decoder: there it equals ``"head"``.
    - ``"all"``: also after every backbone stage, inside the encoder chain (later stages see the dropped maps),
      so nothing is deterministic: :attr:`deterministic_encode` is False and MC inference runs T full passes
      (about T x one pass).

    The cost of each placement against one pass is measured by ``benchmarks/bench_mc_dropout.py`` (table in
    ``benchmarks/RESULTS.md``).

    Defaults and their evidence (``benchmarks/RESULTS.md``, "DIANet vs SegResNet and BasicUNet"): ``resnet10`` at
    half width, 4 pyramid levels (fusion at stride 4), 64 fusion / 32 latent channels, CodeBook 32, Diffuser,
    decoder 16, and in 3D group norm in every layer. The normalisation is chosen for batch size 1-2: on the
    real-anatomy validation task of ``python benchmarks/bench_dianet.py --sweep`` (grey/white matter of the
    ICBM152 2009a template, batch size 1, ROI equal to the total stride) batch norm and instance norm cannot
    train at all, group norm can (8 groups 0.486, 4 groups 0.507 validation Dice on one seed, within the +-0.01
    same-seed noise; 8 kept, as in SegResNet). The width, depth, pyramid, latent and ``DIANetLoss`` settings were
    compared on the same validation task, at a budget far below issue 16's (8 mm instead of 4 mm, 40 iterations
    instead of 150), and kept (validation Dice, variant minus defaults, per seed): ``pyramid_levels=3`` +0.16,
    -0.05, -0.11; ``backbone="resnet18"`` +0.11, -0.18; no CodeBook/Diffuser +0.08, -0.20;
    ``backbone_width=0.25`` +0.01 and KL weight 0 -0.01 on one seed. ``decoder_channels=32`` is ahead on 3 of 3
    seeds (+0.075, +0.005, +0.085; 17 % more training time) but not significantly (p ~ 0.16) and only at that
    small budget, so it is the open candidate for the check at the issue's budget (64^3, 150 iterations, 3
    seeds), recorded there with its command. With these defaults, on the same task's test draws (40 iterations,
    32^3, 3 seeds; ``--anatomy``) DIANet's Dice is SegResNet's +0.080 at equal iterations and +0.151 at equal
    wall-clock time (0.37x its time per iteration); on the kept-aside real brain (Colin27) it is level at equal
    iterations (+0.008) and ahead at equal time (+0.076).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (e.g. 4 MRI sequences, 3 stains).
        out_channels: segmentation channels (and default number of classes).
        tasks: non-empty subset of ``("segmentation", "classification", "reconstruction")``; the first is
            the main task returned by ``forward`` when ``return_all=False``.
        num_classes: classification classes (default ``out_channels``).
        backbone: a MONAI ResNet name (``resnet10`` ... ``resnet200``), another FlexibleUNet encoder registry
            name (e.g. ``efficientnet-b0``) or a module following the protocol of ``DIANetBackbone``.
        backbone_width: width multiplier of ResNet backbones. ``None``: 0.5 (light, CPU-friendly; ``resnet10``
            then has 3.6 M parameters in 3D), or 1.0 (MONAI ``ResNetFeatures`` widths) when
            ``pretrained_path`` is given. Must stay ``None`` for other backbones.
        pretrained_path: local backbone weights (never downloaded).
        freeze: ``"none"``, ``"all"`` or ``k`` (first ``k`` backbone stages frozen).
        stage_attention: use the CBAM-style stage attention.
        pyramid_levels: number of (coarsest) encoder stages fused by the pyramid (at most the number of stages).
        fusion_attention: use the per-scale spatial attention of the pyramid (eq 9).
        fusion_channels: width of the pyramid.
        latent_channels: latent dimensionality ``d``.
        codebook_size: number of CodeBook prototypes; 0 disables the codebook.
        codebook_temperature: softmax temperature of the CodeBook.
        diffuser: use the Diffuser.
        diffuser_heads: attention heads of the Diffuser (must divide ``latent_channels``).
        decoder_channels: full-resolution width of the segmentation decoder (doubles per 2x stride).
        reconstruction_channels: full-resolution width of the reconstruction decoder.
        dropout: MC-dropout rate (name fixed for MONAI Label's ``network_def#dropout``), at the places that
            ``dropout_placement`` names.
        dropout_placement: ``"head"`` (before each head's final projection), ``"decoder"`` (also in the
            decoders) or ``"all"`` (also after every backbone stage; needs a backbone exposing ``stages``); see
            above for what each costs at MC inference.
        heteroscedastic: add a per-output log-variance prediction to every head (aleatoric uncertainty).
        return_all: ``forward`` returns :class:`DIANetOutput` when True, else the main head's tensor
            (for MONAI inferers and bundle engines).
        norm: normalisation of the backbone (every stage and residual block), pyramid and decoders (MONAI
            ``get_norm_layer`` name/args: ``"batch"``, ``"instance"``, ``("group", {"num_groups": 8})``...).
            ``None``: group norm with 8 groups in 3D (batch statistics are noise at the batch sizes of 1-2 that
            3D segmentation trains at, as in SegResNet; any ROI that is a multiple of :attr:`size_divisor`
            trains at batch size 1; fewer groups, 4, 2 or 1, when a width is not divisible by 8 or the coarsest
            stage or ``fusion_channels`` would have fewer than 2 channels a group), batch norm in 2D (large
            batches of patches or slices), and batch norm whenever ``pretrained_path`` is given (the
            normalisation of MONAI / MedicalNet ResNet weights). Instance norm needs more than one voxel per
            channel at the coarsest stride (an ROI of at least ``2 * size_divisor`` along one axis); batch norm
            in training needs more than one value per channel over batch x voxels there.
        act: activation of the pyramid and decoders.

    Raises:
        ValueError: bad task list, sizes, options, or (in ``encode``) spatial sizes not divisible by
            :attr:`size_divisor`.

    Example::

        net = DIANet(3, in_channels=4, out_channels=3, tasks=("segmentation", "classification"), num_classes=2,
                     dropout=0.1)
        x = torch.randn(2, 4, 64, 64, 64)
        seg = net(x)                   # (2, 3, 64, 64, 64) segmentation logits (main task)
        out = net(x, return_all=True)  # DIANetOutput: out.classification (2, 2), out.mu, ...
        net.eval()
        feats = net.encode(x)          # run once
        with net.mc_dropout():
            samples = net.decode(feats.repeat(8)).segmentation
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        tasks: Sequence[str] = ("segmentation",),
        num_classes: int | None = None,
        backbone: str | nn.Module = "resnet10",
        backbone_width: float | None = None,
        pretrained_path: str | os.PathLike | None = None,
        freeze: str | int = "none",
        stage_attention: bool = True,
        pyramid_levels: int = 4,
        fusion_attention: bool = True,
        fusion_channels: int = 64,
        latent_channels: int = 32,
        codebook_size: int = 32,
        codebook_temperature: float = 1.0,
        diffuser: bool = True,
        diffuser_heads: int = 4,
        decoder_channels: int = 16,
        reconstruction_channels: int = 8,
        dropout: float = 0.0,
        dropout_placement: str = "head",
        heteroscedastic: bool = False,
        return_all: bool = False,
        norm: str | tuple | None = None,
        act: str | tuple = "relu",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
        if not tasks or len(set(tasks)) != len(tasks) or any(t not in DIANET_TASKS for t in tasks):
            raise ValueError(f"tasks must be a non-empty subset of {DIANET_TASKS} without repeats, got {tasks}.")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}.")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.tasks = tasks
        self.num_classes = out_channels if num_classes is None else num_classes
        self.return_all = return_all
        self.dropout = dropout
        if dropout_placement not in tuple(DropoutPlacement):
            raise ValueError(
                f"dropout_placement must be one of {[p.value for p in DropoutPlacement]}, got {dropout_placement!r}."
            )
        self.dropout_placement = DropoutPlacement(dropout_placement).value
        decoder_dropout = 0.0 if dropout_placement == DropoutPlacement.HEAD else dropout

        is_resnet = isinstance(backbone, str) and backbone in resnet_params
        if backbone_width is not None and not is_resnet:
            raise ValueError(f"backbone_width applies to ResNet backbones only, not {backbone!r}.")
        if backbone_width is None:
            backbone_width = (1.0 if pretrained_path is not None else DEFAULT_RESNET_WIDTH) if is_resnet else 1.0
        widths = {
            "backbone_width": [int(c * backbone_width) for c in get_inplanes()] if is_resnet else [],
            "fusion_channels": [fusion_channels],
            "decoder_channels": [decoder_channels] if "segmentation" in tasks else [],
            "reconstruction_channels": [reconstruction_channels] if "reconstruction" in tasks else [],
        }
        if norm is None:
            norm = "batch" if spatial_dims == 2 or pretrained_path is not None else self._default_group_norm(widths)
        self._check_group_norm(norm, widths)
        self.norm = norm
        self.backbone = DIANetBackbone(
            spatial_dims, in_channels, backbone, backbone_width, pretrained_path, freeze=freeze, norm=norm
        )
        strides, channels = self.backbone.strides, self.backbone.out_channels
        self.size_divisor: int = self.backbone.size_divisor
        self.stage_dropout = self._add_stage_dropout(dropout) if dropout_placement == DropoutPlacement.ALL else None

        self.stage_attention = (
            nn.ModuleList(StageAttention(spatial_dims, c) for c in channels) if stage_attention else None
        )
        if not 1 <= pyramid_levels:
            raise ValueError(f"pyramid_levels must be >= 1, got {pyramid_levels}.")
        levels = min(pyramid_levels, len(strides))
        self.pyramid_start = len(strides) - levels
        self.fusion = FeaturePyramidFusion(
            spatial_dims,
            channels[self.pyramid_start :],
            strides[self.pyramid_start :],
            fusion_channels,
            attention=fusion_attention,
            norm=norm,
            act=act,
        )
        self.latent_stride = strides[self.pyramid_start]
        self.latent_head = ProbabilisticLatent(spatial_dims, fusion_channels, latent_channels)
        self.codebook = (
            CodeBook(latent_channels, codebook_size, codebook_temperature) if codebook_size > 0 else None
        )
        self.diffuser = (
            Diffuser(spatial_dims, latent_channels, strides[-1] // self.latent_stride, diffuser_heads)
            if diffuser
            else None
        )

        self.decoders = nn.ModuleDict()
        self.heads = nn.ModuleDict()
        self.prior_head = None
        if "segmentation" in tasks:
            skips = [(c, s) for c, s in zip(channels, strides) if s < self.latent_stride]
            if not any(s == 1 for _, s in skips):
                skips.insert(0, (in_channels, 1))
            self.decoders["segmentation"] = SegmentationDecoder(
                spatial_dims,
                latent_channels,
                self.latent_stride,
                [c for c, _ in skips],
                [s for _, s in skips],
                decoder_channels,
                norm=norm,
                act=act,
                dropout=decoder_dropout,
            )
            self.heads["segmentation"] = OutputProjection(
                spatial_dims, decoder_channels, out_channels, dropout, heteroscedastic
            )
            self.prior_head = Conv[Conv.CONV, spatial_dims](latent_channels, out_channels, kernel_size=1)
        if "classification" in tasks:
            self.heads["classification"] = OutputProjection(
                None, latent_channels, self.num_classes, dropout, heteroscedastic
            )
        if "reconstruction" in tasks:
            self.decoders["reconstruction"] = ReconstructionDecoder(
                spatial_dims,
                latent_channels,
                self.latent_stride,
                reconstruction_channels,
                norm=norm,
                act=act,
                dropout=decoder_dropout,
            )
            self.heads["reconstruction"] = OutputProjection(
                spatial_dims, reconstruction_channels, in_channels, dropout, heteroscedastic
            )

    def _add_stage_dropout(self, rate: float) -> nn.ModuleList:
        """Channel dropout on every backbone stage's output, inside the encoder's chain (``"all"`` placement).

        A forward hook on each stage module (a ``ModuleList`` stage: its last module, e.g. the stem's norm, whose
        following ReLU commutes with the dropout's non-negative scaling) replaces the stage output by its dropped
        version, so the next stage and DIANet's attention, pyramid and skips all see it. Hooks leave the backbone's
        code, state dict and pretrained weights untouched.
        """
        stages = self.backbone.stages
        if stages is None:
            raise ValueError(
                f"dropout_placement='all' needs a backbone exposing its stages; '{self.backbone.name}' does not."
            )
        drops = nn.ModuleList(Dropout[Dropout.DROPOUT, self.spatial_dims](rate) for _ in stages)
        for stage, drop in zip(stages, drops):
            (stage[-1] if isinstance(stage, nn.ModuleList) else stage).register_forward_hook(_OutputDropout(drop))
        return drops

    @property
    def deterministic_encode(self) -> bool:
        """True when :meth:`encode` has no dropout, so MC samples may share one :meth:`encode` (``"head"`` and
        ``"decoder"`` placements); False for ``"all"``."""
        return self.stage_dropout is None

    def _decoder_deferred(self, task: str) -> bool:
        """Whether ``task``'s decoder holds dropout and so runs in :meth:`decode` rather than :meth:`encode`."""
        return task in self.decoders and self.dropout_placement != DropoutPlacement.HEAD

    def _head_input(self, task: str, latent: torch.Tensor, pooled: torch.Tensor, skips: list[torch.Tensor]):
        if task == "classification":
            return pooled
        if task == "segmentation":
            return self.decoders[task](latent, skips)
        return self.decoders[task](latent)

    @staticmethod
    def _default_group_norm(widths: dict[str, list[int]]) -> tuple:
        """Group norm with 8 groups, halved until every width divides and coarse maps keep 2 channels a group.

        At an ROI equal to the total stride the coarsest backbone stage and pyramid level are a single voxel,
        where a group needs at least two channels to have more than one value.
        """
        every = [c for v in widths.values() for c in v]
        coarse = widths["backbone_width"][-1:] + widths["fusion_channels"]
        groups = DEFAULT_NORM_3D[1]["num_groups"]
        while groups > 1 and (any(c % groups for c in every) or any(c < 2 * groups for c in coarse)):
            groups //= 2
        return ("group", {"num_groups": groups})

    @staticmethod
    def _check_group_norm(norm: str | tuple, widths: dict[str, list[int]]) -> None:
        """Name the setting whose width a group norm cannot divide (rather than torch's error deep inside)."""
        name, args = (norm, {}) if isinstance(norm, str) else (norm[0], norm[1] if len(norm) > 1 else {})
        groups = args.get("num_groups", 1) if str(name).lower() == "group" else 1
        bad = {k: v for k, v in widths.items() if any(c % groups for c in v)}
        if bad:
            raise ValueError(
                f"group norm with {groups} groups needs channel counts divisible by {groups}, got "
                + ", ".join(f"{k} {v}" for k, v in bad.items())
                + "; change them or pass another norm (e.g. norm=('group', {'num_groups': 1}))."
            )

    @property
    def scale_weights(self) -> torch.Tensor:
        """The pyramid's normalised scale weights ``alpha_i`` (eq 8), finest fused level first."""
        return self.fusion.scale_weights

    def _check_size(self, x: torch.Tensor) -> None:
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"expected input (B, C, {'H, W, D' if self.spatial_dims == 3 else 'H, W'}) with "
                f"{self.spatial_dims + 2} dims, got shape {tuple(x.shape)}."
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {x.shape[1]}.")
        bad = [s for s in x.shape[2:] if s % self.size_divisor != 0]
        if bad:
            raise ValueError(
                f"DIANet input spatial size {tuple(x.shape[2:])} must be a multiple of {self.size_divisor} "
                f"(size_divisor, the backbone's total stride) in every dimension."
            )

    def encode(self, x: torch.Tensor, sample: bool | None = None) -> DIANetFeatures:
        """Run everything up to (not including) the heads' dropout and final projections.

        Args:
            x: ``(B, in_channels, *spatial)``, each spatial size a multiple of :attr:`size_divisor`.
            sample: draw the latent by reparameterisation; ``None`` samples in training mode only.

        Raises:
            ValueError: wrong number of dims/channels or spatial size not divisible by ``size_divisor``.
        """
        self._check_size(x)
        feats = self.backbone(x)
        stage_maps: list[torch.Tensor] = []
        if self.stage_attention is not None:
            attended = []
            for att, f in zip(self.stage_attention, feats):
                y, a = att(f)
                attended.append(y)
                stage_maps.append(a)
            feats = attended
        fused, fusion_maps = self.fusion(feats[self.pyramid_start :])
        h, mu, logvar = self.latent_head(fused, sample=self.training if sample is None else sample)
        assignment = None
        if self.codebook is not None:
            h, assignment = self.codebook(h)
        if self.diffuser is not None:
            h = self.diffuser(h)
        pooled = h.flatten(2).mean(dim=2)
        skips: list[torch.Tensor] = []
        if "segmentation" in self.decoders:
            skips = [f for f, s in zip(feats, self.backbone.strides) if s < self.latent_stride]
            if min(self.backbone.strides) > 1:
                skips.insert(0, x)
        head_features = {
            t: self._head_input(t, h, pooled, skips) for t in self.tasks if not self._decoder_deferred(t)
        }
        return DIANetFeatures(
            head_features=head_features,
            mu=mu,
            logvar=logvar,
            latent=h,
            pooled_latent=pooled,
            prior_logits=self.prior_head(h) if self.prior_head is not None else None,
            codebook_assignment=assignment,
            stage_attention=stage_maps,
            fusion_attention=fusion_maps,
            fused=fused,
            tasks=self.tasks,
            skips=skips if self._decoder_deferred("segmentation") else [],
        )

    def decode(self, features: DIANetFeatures) -> DIANetOutput:
        """Apply each head's dropout and final projection to :meth:`encode`'s features (cheap; MC samples).

        ``features`` may have been repeated along the batch dim (:meth:`DIANetFeatures.repeat`).

        Raises:
            KeyError: a task's features are missing.
        """
        return self._decode(features, None)

    def decode_samples(self, features: DIANetFeatures, num_samples: int) -> DIANetOutput:
        """``num_samples`` dropout samples of :meth:`decode` at once, without repeating the head features.

        Equals ``decode(features.repeat(num_samples))`` (sample-major batch ``[sample 0 items, sample 1 items,
        ...]``, same masks from the same RNG stream, global or :func:`~monai_dianet.inferers.seeded_mc_dropout`;
        equal up to float rounding), but each head computes its samples with
        :meth:`OutputProjection.forward_samples` (channel-dropout masks folded into the 1x1 projection weights), so
        the full-resolution features are never copied ``num_samples`` times. Used by ``MCDropoutInferer``.
        With the ``"decoder"``/``"all"`` placements the decoders are stochastic and nothing can be folded: this is
        ``decode(features.repeat(num_samples))``.

        Args:
            features: :meth:`encode`'s result (batch ``B``).
            num_samples: samples per case (>= 1).

        Returns:
            :class:`DIANetOutput` with batch ``num_samples * B`` (the non-head fields repeated like
            :meth:`DIANetFeatures.repeat`).

        Raises:
            KeyError: a task's features are missing.
            ValueError: ``num_samples < 1``.
        """
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        if self.dropout_placement != DropoutPlacement.HEAD:
            return self._decode(features.repeat(int(num_samples)), None)
        return self._decode(features, int(num_samples))

    def _decode(self, features: DIANetFeatures, num_samples: int | None) -> DIANetOutput:
        """``decode`` (``num_samples=None``: each head's ``forward``) or ``decode_samples`` (``forward_samples``)."""
        outputs: dict[str, torch.Tensor | None] = {t: None for t in DIANET_TASKS}
        logvars: dict[str, torch.Tensor] = {}
        for task in self.tasks:
            if task in features.head_features:
                x = features.head_features[task]
            elif self._decoder_deferred(task):
                x = self._head_input(task, features.latent, features.pooled_latent, features.skips)
            else:
                raise KeyError(f"DIANetFeatures has no head features for task '{task}'.")
            head = self.heads[task]
            y, logvar = head(x) if num_samples is None else head.forward_samples(x, num_samples)
            outputs[task] = y
            if logvar is not None:
                logvars[task] = logvar
        if num_samples is not None and num_samples > 1:
            features = replace(features, head_features={}).repeat(num_samples)
        return DIANetOutput(
            segmentation=outputs["segmentation"],
            classification=outputs["classification"],
            reconstruction=outputs["reconstruction"],
            aleatoric_logvar=logvars,
            mu=features.mu,
            logvar=features.logvar,
            latent=features.latent,
            pooled_latent=features.pooled_latent,
            prior_logits=features.prior_logits,
            codebook_assignment=features.codebook_assignment,
            stage_attention=features.stage_attention,
            fusion_attention=features.fusion_attention,
            fused=features.fused,
            tasks=self.tasks,
        )

    def forward(
        self, x: torch.Tensor, return_all: bool | None = None, sample: bool | None = None
    ) -> torch.Tensor | DIANetOutput:
        """``decode(encode(x))``; the main head's tensor unless ``return_all`` (default: ``self.return_all``)."""
        out = self.decode(self.encode(x, sample=sample))
        return out if (self.return_all if return_all is None else return_all) else out.main

    @contextlib.contextmanager
    def mc_dropout(self, enabled: bool = True) -> Iterator[DIANet]:
        """Context manager keeping every dropout layer (at ``dropout_placement``) active even in ``eval()``.

        Only the dropout layers change mode (normalisation statistics stay frozen); their previous modes are
        restored on exit. With ``dropout=0`` the outputs stay deterministic.

        Example::

            net.eval()
            with net.mc_dropout():
                samples = [net(x) for _ in range(10)]
        """
        drops = [m for m in self.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
        previous = [d.training for d in drops]
        try:
            for d in drops:
                d.train(enabled or d.training)
            yield self
        finally:
            for d, mode in zip(drops, previous):
                d.train(mode)
