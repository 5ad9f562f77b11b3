# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Deep-ensemble inference: one prediction per member network, reduced to the mean and uncertainty maps.

Deep ensembles (Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive Uncertainty Estimation using
Deep Ensembles", NeurIPS 2017) train N copies of a network from different initialisations; their disagreement (the
mutual information between prediction and member) is the reference epistemic estimate, and the one that degrades
least under dataset shift (Ovadia et al., "Can You Trust Your Model's Uncertainty? Evaluating Predictive Uncertainty
Under Dataset Shift", NeurIPS 2019). Hand-written: MONAI has no ensemble inferer (``monai.transforms.MeanEnsemble``
averages finished predictions, without the entropy, variance and mutual-information maps).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn as nn
from monai.inferers import Inferer

from monai_dianet.inferers.uncertainty_inferer import UncertaintyInferer

__all__ = ["EnsembleInferer", "load_checkpoint_state"]


def load_checkpoint_state(path: str | os.PathLike, key: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint file: the file itself, or its ``key`` entry (e.g. ``"model"`` of MONAI's
    ``CheckpointSaver``); with ``key=None`` a single ``"model"``/``"state_dict"`` entry is taken when present.

    Raises:
        FileNotFoundError: no such file.
        KeyError: ``key`` is not in the checkpoint.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if key is not None:
        if not isinstance(state, dict) or key not in state:
            raise KeyError(f"{path}: no {key!r} entry (keys: {sorted(state) if isinstance(state, dict) else []}).")
        return state[key]
    for name in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(name), dict):
            return state[name]
    return state


class EnsembleInferer(UncertaintyInferer):
    """Run every member network once on the input and return the mean and uncertainty maps over the members.

    The maps are those of :class:`~monai_dianet.inferers.UncertaintyInferer` (the statistics of
    :class:`~monai_dianet.inferers.MCDropoutInferer`, with members in place of dropout samples): "mean", "entropy"
    (of the mean), "variance", "mutual_information" (the members' disagreement) and, for heteroscedastic members,
    "aleatoric". Members are called one after the other (each on the whole batch), so memory is that of one pass.

    Composition: with ``inferer=SlidingWindowInferer(...)`` every window runs all members; as a router's refine
    path, ``ACWIRouter(refine_inferer=EnsembleInferer(members))``.

    Args:
        networks: the members (each in eval mode, on the input's device). ``None``: the ``network`` given at call
            time must be a sequence (list, tuple, ``nn.ModuleList``) of members. When members are given here, the
            ``network`` argument of a call is not used, so the inferer can stand where one network is passed
            (``SupervisedEvaluator``, ``ACWIRouter``).
        activation: "softmax" or "sigmoid".
        inferer: optional inner inferer (e.g. ``SlidingWindowInferer``).
        task: which head of a ``DIANetOutput`` to use; default the main head.

    Raises:
        ValueError: an empty member list.

    Example::

        members = [DIANet(3, 4, 3, dropout=0.0) for _ in range(5)]  # trained from 5 seeds
        inferer = EnsembleInferer([m.eval() for m in members], activation="sigmoid")
        with torch.no_grad():
            out = inferer(image, None)  # out["mutual_information"]: (1, 1, H, W, D) member disagreement
    """

    def __init__(
        self,
        networks: Sequence[nn.Module] | None = None,
        activation: str = "softmax",
        inferer: Inferer | Callable | None = None,
        task: str | None = None,
    ) -> None:
        super().__init__(activation, inferer, task)
        if networks is not None and len(networks) == 0:
            raise ValueError("an ensemble needs at least one member network.")
        self.networks = None if networks is None else list(networks)

    @classmethod
    def from_checkpoints(
        cls, network: nn.Module, checkpoints: Sequence[str | os.PathLike], key: str | None = None, **kwargs: Any
    ) -> EnsembleInferer:
        """An ensemble of copies of ``network``, each loaded (strictly) from one checkpoint and put in eval mode.

        Args:
            network: the architecture (its weights are not used).
            checkpoints: one file per member (see :func:`load_checkpoint_state` for ``key``).
            key: entry of the checkpoint dicts that holds the state dict.
            kwargs: the other arguments of :class:`EnsembleInferer`.

        Raises:
            ValueError: no checkpoint given.
            FileNotFoundError, KeyError: see :func:`load_checkpoint_state`.
        """
        if not checkpoints:
            raise ValueError("from_checkpoints needs at least one checkpoint file.")
        members = []
        for path in checkpoints:
            member = copy.deepcopy(network)
            member.load_state_dict(load_checkpoint_state(path, key))
            members.append(member.eval())
        return cls(members, **kwargs)

    @property
    def total_samples(self) -> int | None:
        """Number of members (None until a call provides them)."""
        return None if self.networks is None else len(self.networks)

    def predictions(
        self, x: torch.Tensor, network: Any, *args: Any, **kwargs: Any
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield each member's ``(logits, logvar or None)`` on ``x``."""
        members = self.networks
        if members is None:
            if not isinstance(network, (list, tuple, nn.ModuleList)) or len(network) == 0:
                raise ValueError(
                    "EnsembleInferer without members needs a non-empty sequence of networks at call time, got "
                    f"{type(network).__name__}."
                )
            members = list(network)
        for member in members:
            yield self.run(member, x, *args, **kwargs)
