# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Monte Carlo dropout inference with per-pixel/voxel uncertainty maps (DIANet paper, eq 31-35).

Hand-written (MONAI has no MC-dropout inferer). The T stochastic passes reuse the deterministic part of the network:
when the network has ``encode``/``decode`` (the DIANet contract: dropout lives only in ``decode``; a network whose
``deterministic_encode`` is False, DIANet with ``dropout_placement="all"``, gets full passes), ``encode`` runs
once per input (per flip for TTA) and the T dropout samples are decoded batched: with ``decode_samples`` (DIANet:
channel-dropout masks folded into the 1x1 projection weights, no repeated features), else by ``decode`` on the
encoded features repeated along the batch dimension ``sample_batch_size`` samples at a time (:func:`repeat_batch`:
for a batch of one an expanded view, no copy). Other networks get T full passes (also batched) with only
their dropout modules switched on - never ``model.train()``, which would also switch batch norm to batch statistics.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn
from monai.inferers import Inferer

from monai_dianet.inferers.uncertainty_inferer import UncertaintyInferer
from monai_dianet.utils import DropoutPlacement, map_tensors

__all__ = [
    "MCDropoutInferer",
    "seeded_mc_dropout",
    "enable_mc_dropout",
    "repeat_batch",
    "dropout_modules",
    "CPU_CHUNK_BYTES",
]

_CHANNEL_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
# CPU chunk budget for the automatic sample_batch_size: tensors above ~16-32 MiB are mmapped fresh by glibc on every
# allocation, and the page faults then cost more than the arithmetic (measured: 10x slower element-wise ops).
CPU_CHUNK_BYTES = 16 * 2**20
_ALPHA_DROPOUT = (nn.AlphaDropout, nn.FeatureAlphaDropout)


def dropout_modules(network: nn.Module) -> list[nn.Module]:
    """All dropout modules (``torch.nn`` ``_DropoutNd`` subclasses, which MONAI's ``Dropout`` factory returns)."""
    return [m for m in network.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


@contextmanager
def enable_mc_dropout(network: nn.Module) -> Iterator[nn.Module]:
    """Switch only the dropout modules of ``network`` to training behaviour; restore their modes on exit.

    Batch norm and every other module keep their current (normally eval) mode.

    Example:
        >>> net.eval()
        >>> with enable_mc_dropout(net):
        ...     y1, y2 = net(x), net(x)  # differ where dropout acts
    """
    mods = dropout_modules(network)
    states = [m.training for m in mods]
    try:
        for m in mods:
            m.train(True)
        yield network
    finally:
        for m, s in zip(mods, states):
            m.train(s)


@contextmanager
def seeded_mc_dropout(network: nn.Module, seeds: Sequence[int]) -> Iterator[nn.Module]:
    """Reproducible MC dropout: sample ``j`` of a sample-stacked batch draws its masks from its own seed.

    Inside the context every dropout module of ``network`` (``nn.Dropout`` element-wise, ``nn.Dropout1d/2d/3d``
    channel-wise) applies a mask drawn from ``torch.Generator(device).manual_seed(seeds[j])`` to the ``j``-th block
    of ``B = len(seeds) * b`` batch items (items ``j*b .. (j+1)*b-1``, i.e. the layout of ``x.repeat(n, ...)``), one
    generator per sample, masks drawn in module call order with shape ``(b, ...)``. So a batched pass over
    ``n`` stacked samples with ``seeds=[s_0, ..., s_{n-1}]`` equals ``n`` separate passes of batch ``b`` each run
    inside ``seeded_mc_dropout(network, [s_j])``. Generators are created on the device of the first dropout input.
    The dropout modules are put in eval mode (identity) while the context is active and their mode restored on exit.

    Args:
        network: the model.
        seeds: one integer seed per stacked sample.

    Raises:
        ValueError: for alpha dropout (not supported), or a dropout input whose batch is not a multiple of
            ``len(seeds)``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must contain at least one seed.")
    mods = dropout_modules(network)
    for m in mods:
        if isinstance(m, _ALPHA_DROPOUT):
            raise ValueError(f"seeded_mc_dropout does not support {type(m).__name__}.")
    gens: dict[torch.device, list[torch.Generator]] = {}

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        p = float(module.p)  # type: ignore[arg-type]
        if p <= 0.0:
            return x
        n = len(seeds)
        if x.shape[0] % n:
            raise ValueError(f"dropout input batch {x.shape[0]} is not a multiple of the number of seeds {n}.")
        if p >= 1.0:
            return torch.zeros_like(x)
        b = x.shape[0] // n
        if isinstance(module, _CHANNEL_DROPOUT):
            shape = (b, x.shape[1]) + (1,) * (x.ndim - 2)
        else:
            shape = (b,) + tuple(x.shape[1:])
        if x.device not in gens:
            gens[x.device] = [torch.Generator(device=x.device).manual_seed(s) for s in seeds]
        keep = torch.cat([torch.rand(shape, generator=g, device=x.device) >= p for g in gens[x.device]], 0)
        return x * keep.to(x.dtype) / (1.0 - p)

    states = [m.training for m in mods]
    handles = []
    try:
        for m in mods:
            m.train(False)
            handles.append(m.register_forward_hook(hook))
        yield network
    finally:
        for h in handles:
            h.remove()
        for m, s in zip(mods, states):
            m.train(s)


def repeat_batch(obj: Any, n: int) -> Any:
    """Repeat every tensor in ``obj`` ``n`` times along dim 0 (layout ``[sample0 batch, sample1 batch, ...]``).

    Handles tensors, dataclasses (e.g. ``DIANetFeatures``), dicts, lists and tuples recursively
    (:func:`~monai_dianet.utils.map_tensors`); other values (``None``, numbers, strings) are returned unchanged.
    0-dim tensors are left alone. A batch of one is expanded as a view (no memory copy), so the consumer must not
    modify it in place (PyTorch raises if it tries).
    """

    def repeat(t: torch.Tensor) -> torch.Tensor:
        if t.ndim == 0 or n == 1:
            return t
        if t.shape[0] == 1:  # a broadcast view: no copy (dropout writes its result to a new tensor)
            return t.expand(n, *t.shape[1:])
        return t.repeat(n, *([1] * (t.ndim - 1)))

    return map_tensors(obj, repeat)


class MCDropoutInferer(UncertaintyInferer):
    """MC-dropout (and optional flip-TTA) inferer returning the mean probability and uncertainty maps.

    For every input (and every flip variant) ``num_samples`` stochastic predictions ``p_t`` are drawn and reduced
    as :class:`~monai_dianet.inferers.UncertaintyInferer` describes: "mean", "entropy", "variance",
    "mutual_information" (epistemic) and, when the network returns a heteroscedastic log-variance for the selected
    head (``DIANetOutput.aleatoric_logvar``), "aleatoric".

    Efficient path: a network with ``encode(x)`` and ``decode(features)`` (DIANet) whose ``deterministic_encode`` is
    not False (DIANet with ``dropout_placement`` "head" or "decoder") is encoded once; ``n`` samples
    (``n <= sample_batch_size``) are decoded at once under ``network.mc_dropout()`` (or :func:`seeded_mc_dropout`
    when ``seed`` is set) by ``network.decode_samples(features, n)`` when the network has it (DIANet: sample-major
    output equal to ``decode`` of the repeated features), else by ``decode`` of the features repeated ``n`` times
    along the batch dim. Otherwise the input itself is repeated and the full network run with its dropout modules on
    (:func:`enable_mc_dropout`). Either way no ``model.train()``. Statistics are accumulated one sample at a time
    (:class:`~monai_dianet.metrics.RunningUncertainty`).

    Seeding: with ``seed=s``, the sample with global index ``k = v * num_samples + t`` (flip variant ``v`` with
    ``v = 0`` the unflipped input, sample ``t``) uses dropout masks from ``seeded_mc_dropout(network, [s + k])``.
    So the ``"mean"`` equals the average over ``k`` of ``activation(flip_v^-1(network(flip_v(x))))`` where each
    pass runs inside ``seeded_mc_dropout(network, [s + k])``.

    Composition with an inner ``inferer`` (e.g. ``SlidingWindowInferer``): see
    :class:`~monai_dianet.inferers.UncertaintyInferer`.

    Args:
        num_samples: T, dropout samples per flip variant (>= 1).
        activation: "softmax" (exclusive classes) or "sigmoid" (multi-label).
        inferer: optional inner inferer called as ``inferer(inputs, predictor)``; ``None`` calls the predictor
            on the whole input.
        sample_batch_size: how many samples are decoded in one batched call. Default ``None``: all ``num_samples``
            on GPU; on CPU as many as keep the largest repeated tensor (with folded ``decode_samples``: the head
            output of the samples, sized from a first one-sample call) within ``CPU_CHUNK_BYTES`` (16 MiB; larger
            allocations page-fault on every call and cost more than the arithmetic), at least 1; full passes one
            at a time.
        tta_flips: ``None`` or a sequence of spatial axes (0-based over the spatial dims, an int or a tuple of
            ints each) to flip as extra test-time-augmentation variants; the unflipped input is always included.
        seed: ``None`` (global RNG via ``network.mc_dropout()`` / dropout modules) or an int (reproducible).
        task: which head of a ``DIANetOutput`` to use ("segmentation", "classification", "reconstruction");
            default the main head (``output.main``) and, for the aleatoric map, ``network.tasks[0]``.

    Raises:
        ValueError: bad ``num_samples``/``sample_batch_size``/``activation``/flip axes.

    Example:
        >>> inferer = MCDropoutInferer(num_samples=10, inferer=SlidingWindowInferer(roi_size=(64, 64, 64)))
        >>> with torch.no_grad():
        ...     out = inferer(image, dianet.eval())
        >>> out["mean"].shape, out["entropy"].shape  # (1, 4, H, W, D), (1, 1, H, W, D)
    """

    def __init__(
        self,
        num_samples: int = 10,
        activation: str = "softmax",
        inferer: Inferer | Callable | None = None,
        sample_batch_size: int | None = None,
        tta_flips: Sequence[int | Sequence[int]] | None = None,
        seed: int | None = None,
        task: str | None = None,
    ) -> None:
        super().__init__(activation, inferer, task)
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        self.num_samples = int(num_samples)
        if sample_batch_size is not None and int(sample_batch_size) < 1:
            raise ValueError(f"sample_batch_size must be >= 1, got {sample_batch_size}.")
        self.sample_batch_size = None if sample_batch_size is None else int(sample_batch_size)
        variants: list[tuple[int, ...]] = [()]
        for axes in tta_flips or ():
            ax = (int(axes),) if isinstance(axes, int) else tuple(int(a) for a in axes)
            if not ax or min(ax) < 0:
                raise ValueError(f"tta_flips entries must be non-negative spatial axes, got {axes!r}.")
            variants.append(ax)
        self.flip_variants = variants
        self.seed = None if seed is None else int(seed)

    @property
    def total_samples(self) -> int:
        """Number of stochastic predictions per input: ``num_samples * (1 + len(tta_flips))``."""
        return self.num_samples * len(self.flip_variants)

    # internals -----------------------------------------------------------------------------------------------------

    def _dropout_context(self, network: Any, seeds: list[int] | None):
        if seeds is not None:
            return seeded_mc_dropout(network, seeds)
        if hasattr(network, "mc_dropout"):
            return network.mc_dropout()
        return enable_mc_dropout(network)

    def _chunk_size(self, stacked: Any, device: torch.device, per_sample_bytes: int | None = None) -> int:
        """Samples per batched call: ``sample_batch_size``, else all on GPU, else the CPU byte budget.

        On CPU the budget applies to the largest tensor of ``stacked`` (one repeated copy per sample), or to
        ``per_sample_bytes`` when given (the decode_samples path, where the head output is the largest tensor).
        Full passes (``stacked is None``) run one sample per call on CPU: their activations are many times the
        input, and batching them gains nothing there.
        """
        if self.sample_batch_size is not None:
            return self.sample_batch_size
        if device.type != "cpu":
            return self.num_samples
        if per_sample_bytes is not None:
            return int(min(self.num_samples, max(1, CPU_CHUNK_BYTES // max(per_sample_bytes, 1))))
        if stacked is None:
            return 1
        sizes = [0]
        map_tensors(stacked, lambda t: sizes.append(t.numel() * t.element_size()))
        return int(min(self.num_samples, max(1, CPU_CHUNK_BYTES // max(max(sizes), 1))))

    def predictions(
        self, x: torch.Tensor, network: Any, *args: Any, **kwargs: Any
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield the ``total_samples`` dropout predictions on ``x`` (flipped back), one sample at a time."""
        t_all = self.num_samples
        encode_path = (
            hasattr(network, "encode")
            and hasattr(network, "decode")
            and getattr(network, "deterministic_encode", True)
            and not args
            and not kwargs
        )
        stacked = encode_path and hasattr(network, "decode_samples")
        # folded samples: only the 1x1 projections run per sample (DIANet's "head" placement)
        fold = stacked and getattr(network, "dropout_placement", DropoutPlacement.HEAD) == DropoutPlacement.HEAD
        b = x.shape[0]
        for v, axes in enumerate(self.flip_variants):
            dims = [a + 2 for a in axes]
            if dims and max(dims) >= x.ndim:
                raise ValueError(f"flip axes {axes} out of range for input with {x.ndim - 2} spatial dims.")
            xv = torch.flip(x, dims) if dims else x
            feats = network.encode(xv) if encode_path else None
            # fold path: the largest per-sample tensor is the head output, sized from the first (1-sample) chunk
            chunk = None if fold else self._chunk_size(feats, x.device)
            start = 0
            while start < t_all:
                n = min(chunk or 1, t_all - start)
                seeds = None if self.seed is None else [self.seed + v * t_all + start + j for j in range(n)]
                with self._dropout_context(network, seeds):
                    if stacked:
                        logits, logvar = self.head(network.decode_samples(feats, n), network)
                    elif encode_path:
                        logits, logvar = self.head(network.decode(repeat_batch(feats, n)), network)
                    else:
                        logits, logvar = self.run(network, repeat_batch(xv, n), *args, **kwargs)
                if dims and logits.ndim == x.ndim:
                    logits = torch.flip(logits, dims)
                    logvar = torch.flip(logvar, dims) if logvar is not None else None
                if chunk is None:
                    per_sample = (logits.numel() + (logvar.numel() if logvar is not None else 0)) * 4 // n
                    chunk = self._chunk_size(None, x.device, per_sample)
                # one sample at a time: sample-sized temporaries stay small (see CPU_CHUNK_BYTES)
                for t in range(n):
                    yield logits[t * b : (t + 1) * b], None if logvar is None else logvar[t * b : (t + 1) * b]
                start += n
