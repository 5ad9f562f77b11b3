# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""One precision option for training, evaluation and inference: ``"auto" | "fp32" | "bf16" | "fp16"``.

MONAI's engines switch mixed precision on for CUDA only (``amp=True`` means ``torch.autocast("cuda")`` and a
``torch.cuda.amp.GradScaler``). Most inference runs on CPUs, where ``torch.autocast("cpu", dtype=torch.bfloat16)``
roughly halves the time of a 3D network on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX on x86, the BF16
extension on Arm) and makes it many times slower on CPUs without (measured on an AVX2-only CPU: 3D convolutions
fall back to a reference kernel, ``benchmarks/RESULTS.md``). :func:`resolve_precision` turns the option and a device
into a :class:`PrecisionPolicy`; the engines and :class:`~monai_dianet.inferers.AutocastInferer` run the network
inside :meth:`PrecisionPolicy.autocast` and hand its outputs on as float32 (:func:`to_float32`), so that
probabilities, uncertainty statistics, losses and metrics are computed in float32.

``"auto"`` picks the fastest safe choice and logs it: on CUDA bf16 where the GPU has it natively (no gradient
scaling needed), else fp16 with a gradient scaler in training; on a CPU bf16 where it is native, else fp32; fp32
on any other device.

Hand-written: neither MONAI nor PyTorch chooses a precision from the hardware; the capability checks are PyTorch's
(``torch.cpu._is_avx512_bf16_supported``, ``torch.cpu._is_amx_tile_supported``, ``torch.cuda.is_bf16_supported``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import platform
import warnings
from collections.abc import Callable
from typing import Any

import torch

from .enums import Precision
from .errors import InputError

__all__ = [
    "PrecisionPolicy",
    "check_precision",
    "cpu_has_native_bf16",
    "cpu_has_native_fp16",
    "map_tensors",
    "resolve_precision",
    "to_float32",
]

logger = logging.getLogger(__name__)

_DTYPES = {Precision.FP32: None, Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}


def _flag(name: str) -> bool:
    """A ``torch.cpu`` capability flag (private PyTorch API: False where this PyTorch lacks it)."""
    check = getattr(torch.cpu, name, None)
    try:
        return bool(check()) if callable(check) else False
    except RuntimeError:
        return False


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively: AVX512-BF16 or AMX on x86, the BF16 extension on Arm (as oneDNN
    reports it). Without it bf16 arithmetic is emulated and slower than fp32."""
    if _flag("_is_avx512_bf16_supported") or _flag("_is_amx_tile_supported"):
        return True
    if platform.machine().lower() in ("aarch64", "arm64"):
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def cpu_has_native_fp16() -> bool:
    """Whether this CPU computes fp16 natively (AMX-FP16 or AVX512-FP16 on x86)."""
    return _flag("_is_amx_fp16_supported") or _flag("_is_avx512_fp16_supported")


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """Apply ``fn`` to every tensor in ``obj``: tensors, dataclasses (e.g. ``DIANetOutput``), dicts, lists and
    tuples (named tuples keep their type), recursively; other values (``None``, numbers, strings) are returned
    unchanged. Containers are rebuilt (a dataclass is shallow-copied, a dict becomes a plain dict); the input is not
    modified.

    Example::

        map_tensors({"mean": probs, "ids": ["a"]}, lambda t: t.cpu())
    """
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        new = copy.copy(obj)
        for f in dataclasses.fields(obj):
            setattr(new, f.name, map_tensors(getattr(obj, f.name), fn))
        return new
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [map_tensors(v, fn) for v in obj]
    if isinstance(obj, tuple):
        items = [map_tensors(v, fn) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj


def to_float32(obj: Any) -> Any:
    """``obj`` with every bf16/fp16 tensor cast to float32 (see :func:`map_tensors`); float32, float64, integer
    and boolean tensors are returned as they are. Gradients flow through the cast.

    Example::

        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = network(x)
        probs = torch.sigmoid(to_float32(out))  # statistics in float32
    """
    return map_tensors(obj, lambda t: t.float() if t.dtype in (torch.bfloat16, torch.float16) else t)


@dataclasses.dataclass(frozen=True)
class PrecisionPolicy:
    """A resolved precision for one device type.

    Attributes:
        device_type: ``"cpu"``, ``"cuda"``, ... (as ``torch.autocast`` takes it).
        precision: the resolved :class:`~monai_dianet.utils.Precision` (never ``"auto"``).
        requested: what was asked for (``"auto"`` included).
        reason: why, in words (logged for ``"auto"``).
    """

    device_type: str
    precision: Precision
    requested: Precision
    reason: str = ""

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for fp32 (no autocast)."""
        return _DTYPES[self.precision]

    @property
    def enabled(self) -> bool:
        """Whether the network runs under autocast."""
        return self.dtype is not None

    @property
    def monai_amp(self) -> bool:
        """The boolean ``amp`` for MONAI's own trainers (``SupervisedTrainer``) whose inferer is an
        :class:`~monai_dianet.inferers.AutocastInferer`: True only for fp16 on CUDA, where MONAI's CUDA autocast
        and gradient scaler are what fp16 training needs; False otherwise (MONAI autocasts on CUDA only, and bf16
        needs no scaler), so that the inferer alone sets the precision. Evaluators take ``amp=False``."""
        return self.precision == Precision.FP16 and self.device_type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager:
        """``torch.autocast(device_type, dtype)``, or a null context for fp32."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16 training (small fp16 gradients would underflow to zero); None otherwise:
        bf16 has float32's exponent range and needs none."""
        if self.precision != Precision.FP16:
            return None
        return torch.amp.GradScaler(self.device_type)


def check_precision(amp: str | bool | None) -> Precision:
    """Validate a precision option: a :class:`~monai_dianet.utils.Precision`, ``True`` (``"auto"``) or
    ``False``/``None`` (``"fp32"``); strings are case-insensitive ("true"/"false" too, as bundle overrides).

    Raises:
        InputError: anything else.
    """
    if amp is None or amp is False:
        return Precision.FP32
    if amp is True:
        return Precision.AUTO
    value = str(amp).strip().lower()
    if value in ("true", "false"):  # a bundle override given as a string
        return Precision.AUTO if value == "true" else Precision.FP32
    if value not in tuple(Precision):
        raise InputError(
            f"amp must be one of {[p.value for p in Precision]} (or true = 'auto', false = 'fp32'), got {amp!r}"
        )
    return Precision(value)


def _native(device_type: str) -> tuple[dict[Precision, bool], Precision, str]:
    """Which reduced precisions ``device_type`` computes natively, and the ``"auto"`` choice with its reason."""
    if device_type == "cuda":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        if bf16:
            return {Precision.BF16: True, Precision.FP16: True}, Precision.BF16, "the GPU computes bf16 natively"
        why = "the GPU has no native bf16; fp16, with gradient scaling in training"
        return {Precision.BF16: False, Precision.FP16: True}, Precision.FP16, why
    if device_type == "cpu":
        native = {Precision.BF16: cpu_has_native_bf16(), Precision.FP16: cpu_has_native_fp16()}
        if native[Precision.BF16]:
            return native, Precision.BF16, "the CPU computes bf16 natively (AVX512-BF16, AMX or Arm BF16)"
        why = "the CPU has no native bf16 (no AVX512-BF16, AMX or Arm BF16): emulated bf16 is slower than fp32"
        return native, Precision.FP32, why
    why = f"no mixed-precision default for device type {device_type!r}"
    return {Precision.BF16: False, Precision.FP16: False}, Precision.FP32, why


def resolve_precision(
    amp: str | bool | None = Precision.AUTO, device: str | torch.device | None = None
) -> PrecisionPolicy:
    """Resolve a precision option for a device.

    Args:
        amp: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (a :class:`~monai_dianet.utils.Precision`); ``True``
            means ``"auto"`` and ``False``/``None`` ``"fp32"`` (MONAI's boolean ``amp``).
        device: where the network runs; default CUDA when available, else the CPU.

    Returns:
        the :class:`PrecisionPolicy`. ``"auto"`` logs its choice and the reason (INFO); an explicit bf16/fp16 on a
        device without native support is honoured with a warning, since it is usually slower than fp32 there.

    Raises:
        InputError: an unknown option.

    Example::

        policy = resolve_precision("auto", "cpu")  # bf16 on a CPU with AVX512-BF16/AMX, fp32 otherwise
        with torch.no_grad(), policy.autocast():
            logits = network(x)
    """
    requested = check_precision(amp)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device_type = torch.device(device).type
    native, auto, why = _native(device_type)
    if requested == Precision.AUTO:
        logger.info(f"precision 'auto' on {device_type}: {auto.value} ({why}).")
        return PrecisionPolicy(device_type, auto, requested, why)
    if requested != Precision.FP32 and not native[requested]:
        warnings.warn(
            f"precision {requested.value!r} on {device_type}: this device has no native {requested.value}; it is "
            f"emulated and usually slower than fp32 ('auto' would choose {auto.value}).",
            stacklevel=2,
        )
    return PrecisionPolicy(device_type, requested, requested, "requested")
