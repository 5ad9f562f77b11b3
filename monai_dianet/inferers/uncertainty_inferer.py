# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The common frame of the sampling inferers (MC dropout, ensembles, test-time augmentation): many predictions per
input, reduced to a mean probability and uncertainty maps by :class:`~monai_dianet.metrics.RunningUncertainty`.

Hand-written: MONAI's inferers return one prediction per input; ``monai.data.TestTimeAugmentation`` works on a data
dictionary through a ``DataLoader`` and returns mode/mean/std/volume-variation, not an ``Inferer`` with entropy and
mutual information that nests a ``SlidingWindowInferer`` and stands in an evaluator or the ACWI router.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

import torch
from monai.inferers import Inferer

from monai_dianet.metrics.uncertainty import RunningUncertainty, check_activation, predictive_entropy

__all__ = ["UncertaintyInferer", "network_head"]


def network_head(output: Any, network: Any = None, task: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits of one head and its heteroscedastic log-variance (or None) from a network output.

    Args:
        output: a tensor, a dict (``task`` or its first key), or a ``DIANetOutput``-like object with ``main`` and
            ``aleatoric_logvar``.
        network: the network (its ``tasks[0]`` names the main head's log-variance).
        task: the head to read; default the main one.

    Raises:
        KeyError: no such head.
        ValueError: an unsupported output type.
    """
    if isinstance(output, torch.Tensor):
        return output, None
    if isinstance(output, dict):
        key = task or next(iter(output))
        if key not in output:
            raise KeyError(f"network output has no key {key!r}; keys: {list(output)}.")
        return output[key], None
    if hasattr(output, "main"):
        logits = getattr(output, task) if task else output.main
        if logits is None:
            raise KeyError(f"network output has no {task!r} head.")
        logvars = getattr(output, "aleatoric_logvar", None) or {}
        name = task or (list(getattr(network, "tasks", []))[:1] or [None])[0]
        if name is None and len(logvars) == 1:
            name = next(iter(logvars))
        return logits, logvars.get(name) if name is not None else None
    raise ValueError(
        f"unsupported network output type {type(output).__name__}: expected a tensor, dict or DIANetOutput."
    )


class UncertaintyInferer(Inferer):
    """Base of the inferers that draw several predictions per input and return the mean and uncertainty maps.

    A subclass implements :meth:`predictions`, yielding logits aligned with its input (and a log-variance where the
    network has a heteroscedastic head). A call returns

    - ``"mean"``: ``E[p]`` ``(B, C, ...)``
    - ``"entropy"``: predictive entropy of the mean ``(B, 1, ...)`` (higher = less confident)
    - ``"variance"``: ``E[p^2] - E[p]^2`` per class (eq 34) ``(B, C, ...)``
    - ``"mutual_information"``: ``H(E[p]) - E[H(p)]``, the disagreement between the predictions ``(B, 1, ...)``
    - ``"aleatoric"``: ``E[exp(logvar)]`` ``(B, C, ...)`` when the network returns a log-variance for the head.

    Composition: with ``inferer`` (e.g. ``SlidingWindowInferer``) the predictions are drawn per window and that
    inferer blends the per-window "mean", "variance", "mutual_information" (and "aleatoric") over overlapping
    windows; the "entropy" is then computed from the blended mean. Variance and mutual information therefore
    measure the disagreement between the predictions, not differences between overlapping windows.

    Args:
        activation: "softmax" (exclusive classes) or "sigmoid" (multi-label).
        inferer: optional inner inferer called as ``inferer(inputs, predictor)``; ``None`` calls the predictor on
            the whole input.
        task: which head of a ``DIANetOutput`` to use; default the main head.

    Raises:
        ValueError: unknown activation.
    """

    def __init__(self, activation: str = "softmax", inferer: Inferer | Callable | None = None,
                 task: str | None = None) -> None:
        super().__init__()
        self.activation = check_activation(activation)
        self.inferer = inferer
        self.task = task

    @abstractmethod
    def predictions(
        self, x: torch.Tensor, network: Any, *args: Any, **kwargs: Any
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield ``(logits, logvar or None)``, each ``(B, C, ...)`` aligned with ``x`` (one prediction at a time)."""

    def head(self, output: Any, network: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:func:`network_head` of this inferer's ``task``."""
        return network_head(output, network, self.task)

    def run(self, network: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One full pass and its :meth:`head`; a network with a ``return_all`` switch (DIANet) is asked for all its
        outputs, so that a heteroscedastic head's log-variance comes along."""
        if hasattr(network, "return_all") and "return_all" not in kwargs:
            kwargs["return_all"] = True
        return self.head(network(x, *args, **kwargs), network)

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Draw the predictions and reduce them.

        Args:
            inputs: ``(B, C_in, *spatial)``.
            network: the model (in eval mode); extra ``args``/``kwargs`` go to it.

        Returns:
            dict of tensors, see the class docstring.
        """

        def predictor(x: torch.Tensor) -> dict[str, torch.Tensor]:
            return self.moments(x, network, *args, with_entropy=False, **kwargs)

        if self.inferer is None:  # the entropy of the mean, computed for the mutual information, is final here
            moments = self.moments(inputs, network, *args, **kwargs)
        else:
            moments = self.inferer(inputs, predictor)
        if not isinstance(moments, dict):
            raise ValueError(f"the inner inferer must return the predictor's dict, got {type(moments).__name__}.")
        if "entropy" not in moments:  # after an inner inferer: the entropy of the blended mean
            moments["entropy"] = predictive_entropy(moments["mean"], self.activation)
        order = ("mean", "entropy", "variance", "mutual_information", "aleatoric")
        return {k: moments[k] for k in order if k in moments}

    def moments(
        self, x: torch.Tensor, network: Any, *args: Any, with_entropy: bool = True, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """The maps of :meth:`predictions` on ``x``, no inner inferer (see :meth:`RunningUncertainty.moments`)."""
        acc = RunningUncertainty(self.activation)
        for logits, logvar in self.predictions(x, network, *args, **kwargs):
            acc.add(logits, logvar)
        return acc.moments(with_entropy)
