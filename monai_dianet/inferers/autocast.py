# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Mixed-precision inference for any inferer, on CPU and GPU.

MONAI's evaluators autocast only on CUDA (``amp=True`` means ``torch.autocast("cuda")``); a bf16 run on a CPU needs
the autocast elsewhere. :class:`AutocastInferer` wraps an inferer (``SlidingWindowInferer``,
:class:`~monai_dianet.inferers.MCDropoutInferer`, :class:`~monai_dianet.inferers.ACWIRouter`, ...) the way those
wrap each other, so it works in MONAI's ``SupervisedEvaluator`` (with its own ``amp=False``), in bundle workflows
and in plain code alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer

from monai_dianet.utils.enums import Precision
from monai_dianet.utils.precision import PrecisionPolicy, check_precision, resolve_precision, to_float32

__all__ = ["AutocastInferer"]


def _device_of(network: Any, inputs: Any) -> torch.device:
    """Where the network computes: its first parameter's device, else the first input tensor's, else the CPU."""
    if isinstance(network, torch.nn.Module):
        for p in network.parameters():
            return p.device
    if isinstance(inputs, torch.Tensor):
        return inputs.device
    if isinstance(inputs, dict):
        for v in inputs.values():
            if isinstance(v, torch.Tensor):
                return v.device
    return torch.device("cpu")


class AutocastInferer(Inferer):
    """Run an inferer with the network in the precision :func:`~monai_dianet.utils.resolve_precision` chooses.

    The wrapped call runs inside :meth:`~monai_dianet.utils.PrecisionPolicy.autocast` (matrix products and
    convolutions in bf16/fp16) and every bf16/fp16 tensor of its result is cast to float32. Statistics computed
    by the wrapped inferers (probabilities, entropy, variance, mutual information, window blending) cast the logits
    to float32 first, and autocast leaves float32 element-wise and reduction arithmetic in float32, so the returned
    maps are float32 sums of float32 terms.

    The policy is resolved on first use for the device of the network's parameters (else of the inputs) and kept
    per device type; ``"auto"`` logs its choice then.

    Args:
        inferer: the wrapped inferer, called as ``inferer(inputs, network, *args, **kwargs)``; ``None`` calls
            ``network(inputs, *args, **kwargs)`` (MONAI's ``SimpleInferer``).
        amp: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (``True`` = ``"auto"``, ``False`` = ``"fp32"``).

    Raises:
        InputError: an unknown ``amp``.

    Example::

        inferer = AutocastInferer(MCDropoutInferer(num_samples=8, inferer=SlidingWindowInferer((96, 96, 96))))
        with torch.no_grad():
            maps = inferer(image, network)  # float32 "mean", "entropy", ... computed from bf16 forward passes
    """

    def __init__(self, inferer: Inferer | Callable | None = None, amp: str | bool | None = Precision.AUTO) -> None:
        super().__init__()
        self.inferer = inferer
        self.amp = check_precision(amp)
        self._policies: dict[str, PrecisionPolicy] = {}

    def policy(self, device: str | torch.device) -> PrecisionPolicy:
        """The precision used on ``device`` (resolved once per device type)."""
        device_type = torch.device(device).type
        if device_type not in self._policies:
            self._policies[device_type] = resolve_precision(self.amp, device_type)
        return self._policies[device_type]

    def __call__(self, inputs: Any, network: Callable, *args: Any, **kwargs: Any) -> Any:
        """Args:
        inputs: what the wrapped inferer takes (a tensor ``(B, C, *spatial)``, or a dict of tensors).
        network: the model.

        Returns:
            the wrapped inferer's result with bf16/fp16 tensors cast to float32.
        """
        with self.policy(_device_of(network, inputs)).autocast():
            if self.inferer is None:
                out = network(inputs, *args, **kwargs)
            else:
                out = self.inferer(inputs, network, *args, **kwargs)
        return to_float32(out)
