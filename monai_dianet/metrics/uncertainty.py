# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Predictive uncertainty from (Monte Carlo) probability samples: entropy, variance, mutual information.

DIANet paper, eq 33-35. Eq 33 writes the predictive entropy correctly (``-sum_c p_c log p_c``) but the text after it
says "a higher uncertainty value indicates a greater level of confidence": that is backwards, a HIGHER entropy means
LESS confidence (it is ``log K`` for a uniform prediction and 0 for a one-hot one). Eq 35 drops the minus sign
(``sum p log p`` is never positive) and sums over pixels instead of classes. Here every entropy is the non-negative
``-sum_c p_c log p_c`` over classes, computed per pixel/voxel, with case-level reductions done separately
(:func:`case_uncertainty`).

Hand-written: MONAI has no predictive-entropy / mutual-information helpers (``monai.metrics`` covers
calibration, not epistemic/aleatoric decomposition), so these follow Gal & Ghahramani (2016) and
Kendall & Gal (2017).

Two activations are supported everywhere:

- ``"softmax"``: mutually exclusive classes along the channel dim; entropy ``-sum_c p_c log p_c``.
- ``"sigmoid"``: independent (multi-label) channels; the entropy is the sum over channels of the binary entropies
  ``-p log p - (1 - p) log(1 - p)``, i.e. the entropy of the joint of independent Bernoulli labels
  (maximum ``C log 2``). ``reduce_channels=False`` keeps the per-channel binary entropies.

References:
    Lu, Zhang & Liu, "Deep learning-based image classification for integrating pathology and radiology in
    AI-assisted medical imaging", Scientific Reports, 2025.
"""

from __future__ import annotations

import torch

from monai_dianet.utils import Activation

__all__ = [
    "check_activation",
    "predictive_entropy",
    "expected_entropy",
    "sample_variance",
    "mutual_information",
    "expected_aleatoric",
    "uncertainty_maps",
    "RunningUncertainty",
    "case_uncertainty",
]


def check_activation(activation: str) -> str:
    """Validate an activation name and return it lower-cased.

    Raises:
        ValueError: when ``activation`` is not "softmax" or "sigmoid".
    """
    act = str(activation).lower()
    if act not in tuple(Activation):
        raise ValueError(f"activation must be one of {tuple(a.value for a in Activation)}, got {activation!r}.")
    return act


def predictive_entropy(probs: torch.Tensor, activation: str = "softmax", reduce_channels: bool = True) -> torch.Tensor:
    """Entropy of a probability map over the channel (class) dimension, per pixel/voxel (eq 33, sign fixed).

    Args:
        probs: probabilities ``(B, C[, H, W[, D]])`` (after softmax or sigmoid).
        activation: "softmax" (exclusive classes) or "sigmoid" (multi-label, binary entropy per channel).
        reduce_channels: sum over channels (keepdim) giving ``(B, 1, ...)``; with ``False`` and sigmoid the
            per-channel binary entropies ``(B, C, ...)`` are returned (softmax always reduces).

    Returns:
        Non-negative entropy in nats (``0 log 0 = 0`` via ``torch.special.xlogy``), ``(B, 1, ...)``
        (or ``(B, C, ...)``, see ``reduce_channels``).
        Uniform softmax over K classes gives ``log K``; a one-hot vector gives 0.

    Example:
        >>> predictive_entropy(torch.full((1, 4), 0.25))  # tensor([[1.3863]])
    """
    act = check_activation(activation)
    if probs.ndim < 2:
        raise ValueError(f"probs must have shape (B, C, ...), got {tuple(probs.shape)}.")
    p = probs.float().clamp(0.0, 1.0)
    if act == "softmax":
        return -torch.special.xlogy(p, p).sum(1, keepdim=True)
    q = 1.0 - p
    ent = -(torch.special.xlogy(p, p) + torch.special.xlogy(q, q))
    return ent.sum(1, keepdim=True) if reduce_channels else ent


def expected_entropy(
    samples: torch.Tensor, activation: str = "softmax", reduce_channels: bool = True, dim: int = 0
) -> torch.Tensor:
    """Mean over samples of the per-sample entropy (the aleatoric part of the entropy decomposition).

    Args:
        samples: stacked probability samples, ``(T, B, C, ...)`` with the sample axis at ``dim``.
        activation: "softmax" or "sigmoid".
        reduce_channels: see :func:`predictive_entropy`.
        dim: the sample axis.

    Returns:
        ``(B, 1, ...)`` (or ``(B, C, ...)``).
    """
    s = samples.movedim(dim, 0)
    ent = predictive_entropy(s.flatten(0, 1), activation, reduce_channels)
    return ent.reshape(s.shape[0], s.shape[1], *ent.shape[1:]).mean(0)


def sample_variance(samples: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Variance over samples, ``E[y^2] - E[y]^2`` (eq 34), per class and position (population variance).

    Args:
        samples: ``(T, B, C, ...)`` with the sample axis at ``dim``.
        dim: the sample axis.

    Returns:
        ``(B, C, ...)``, non-negative; exactly 0 when all samples are identical.
    """
    s = samples.float().movedim(dim, 0)
    d = s - s[:1]  # shifted by the first sample: exact zeros for identical samples, less cancellation
    return ((d**2).mean(0) - d.mean(0) ** 2).clamp_min(0.0)


def mutual_information(
    samples: torch.Tensor, activation: str = "softmax", reduce_channels: bool = True, dim: int = 0
) -> torch.Tensor:
    """Mutual information between prediction and model parameters (epistemic uncertainty, BALD).

    ``MI = H(E_t[p_t]) - E_t[H(p_t)]``: entropy of the mean minus the mean entropy; 0 when all samples agree.

    Args:
        samples: ``(T, B, C, ...)`` probability samples with the sample axis at ``dim``.
        activation: "softmax" or "sigmoid".
        reduce_channels: see :func:`predictive_entropy`.
        dim: the sample axis.

    Returns:
        ``(B, 1, ...)`` (or ``(B, C, ...)``), clamped at 0 against round-off.
    """
    mean = samples.float().mean(dim)
    mi = predictive_entropy(mean, activation, reduce_channels) - expected_entropy(
        samples, activation, reduce_channels, dim
    )
    return mi.clamp_min(0.0)


def expected_aleatoric(logvar_samples: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Expected aleatoric variance from a heteroscedastic head: ``E_t[exp(log sigma_t^2)]``.

    The heteroscedastic head predicts a per-output log-variance of the logits (Kendall & Gal 2017); averaging its
    exponential over the MC samples gives the expected data (aleatoric) variance in logit space.

    Args:
        logvar_samples: ``(T, B, C, ...)`` log-variances with the sample axis at ``dim`` (a single deterministic
            prediction can be passed with ``T = 1``).
        dim: the sample axis.

    Returns:
        ``(B, C, ...)`` non-negative variance.
    """
    return logvar_samples.float().exp().mean(dim)


def uncertainty_maps(
    samples: torch.Tensor,
    activation: str = "softmax",
    logvar_samples: torch.Tensor | None = None,
    dim: int = 0,
) -> dict[str, torch.Tensor]:
    """All maps at once from stacked probability samples.

    Args:
        samples: ``(T, B, C, ...)`` probabilities.
        activation: "softmax" or "sigmoid".
        logvar_samples: optional heteroscedastic log-variances ``(T, B, C, ...)``.
        dim: the sample axis.

    Returns:
        dict with "mean" ``(B, C, ...)``, "entropy" ``(B, 1, ...)``, "variance" ``(B, C, ...)``,
        "mutual_information" ``(B, 1, ...)`` and, when ``logvar_samples`` is given, "aleatoric" ``(B, C, ...)``.
    """
    mean = samples.float().mean(dim)
    out = {
        "mean": mean,
        "entropy": predictive_entropy(mean, activation),
        "variance": sample_variance(samples, dim),
        "mutual_information": mutual_information(samples, activation, dim=dim),
    }
    if logvar_samples is not None:
        out["aleatoric"] = expected_aleatoric(logvar_samples, dim)
    return out


class RunningUncertainty:
    """The maps of :func:`uncertainty_maps`, accumulated one prediction at a time from logits.

    For inferers that draw many predictions (MC dropout, ensemble members, test-time augmentations): only running
    sums are kept, ``sum p``, ``sum p^2``, ``sum H(p)`` (and ``sum exp(logvar)``), never the stacked samples. The
    softmax entropy of each prediction comes from one ``log_softmax`` (``p = exp(log p)``, no second logarithm).

    Args:
        activation: "softmax" or "sigmoid" (how logits become probabilities).

    Example::

        acc = RunningUncertainty("softmax")
        for member in ensemble:
            acc.add(member(x))
        maps = acc.moments()  # mean, entropy, variance, mutual_information
    """

    def __init__(self, activation: str = "softmax") -> None:
        self.activation = check_activation(activation)
        self.count = 0
        self._sums: dict[str, torch.Tensor] = {}

    def add(self, logits: torch.Tensor, logvar: torch.Tensor | None = None) -> None:
        """Add one prediction: logits ``(B, C, ...)`` and, from a heteroscedastic head, its log-variance.

        Raises:
            ValueError: a shape differs from the previous predictions', or a log-variance is given for some
                predictions only.
        """
        logits = logits.float()
        if self._sums and logits.shape != self._sums["s1"].shape:
            raise ValueError(f"prediction shape {tuple(logits.shape)} differs from {tuple(self._sums['s1'].shape)}.")
        if self._sums and (logvar is None) == ("aleatoric" in self._sums):
            raise ValueError("a log-variance must be given with every prediction or with none.")
        if self.activation == "softmax":
            logp = torch.log_softmax(logits, 1)
            probs = logp.exp()
            h = logp.mul_(probs).sum(1, keepdim=True).neg_()
        else:
            probs = torch.sigmoid(logits)
            h = predictive_entropy(probs, "sigmoid")
        var = None if logvar is None else logvar.float().exp()
        if not self._sums:
            self._sums = {"s1": probs, "s2": probs * probs, "entropy": h}
            if var is not None:
                self._sums["aleatoric"] = var
        else:
            self._sums["s1"].add_(probs)
            self._sums["s2"].addcmul_(probs, probs)
            self._sums["entropy"].add_(h)
            if var is not None:
                self._sums["aleatoric"].add_(var)
        self.count += 1

    def moments(self, with_entropy: bool = True) -> dict[str, torch.Tensor]:
        """The maps over the predictions added so far.

        Args:
            with_entropy: include ``"entropy"`` (the entropy of the mean; it is computed anyway for the mutual
                information). An inferer that blends the other maps over windows leaves it out and recomputes it
                from the blended mean.

        Returns:
            "mean" ``(B, C, ...)``, "variance" ``(B, C, ...)`` (population variance over the predictions, eq 34),
            "mutual_information" ``(B, 1, ...)`` (``H(E[p]) - E[H(p)]``), "entropy" ``(B, 1, ...)`` and, with
            log-variances, "aleatoric" ``(B, C, ...)`` (``E[exp(logvar)]``).

        Raises:
            ValueError: nothing was added.
        """
        if not self.count:
            raise ValueError("no prediction was added.")
        n = float(self.count)
        mean = self._sums["s1"] / n
        entropy = predictive_entropy(mean, self.activation)
        out = {
            "mean": mean,
            "variance": (self._sums["s2"] / n - mean * mean).clamp_min(0.0),
            "mutual_information": (entropy - self._sums["entropy"] / n).clamp_min(0.0),
        }
        if with_entropy:
            out["entropy"] = entropy
        if "aleatoric" in self._sums:
            out["aleatoric"] = self._sums["aleatoric"] / n
        return out


def case_uncertainty(
    uncertainty_map: torch.Tensor,
    reduction: str = "mean",
    mask: torch.Tensor | None = None,
    quantile: float = 0.95,
) -> torch.Tensor:
    """Reduce a per-pixel/voxel (or per-class) uncertainty map to one score per case.

    Args:
        uncertainty_map: ``(B, ...)``; every non-batch element is pooled (channels included).
        reduction: "mean", "sum", "max" or "quantile" (the ``quantile`` of the values).
        mask: optional boolean/0-1 mask broadcastable to ``uncertainty_map`` (e.g. the predicted foreground
            dilated); only masked elements are pooled; a case with an empty mask scores 0.
        quantile: used by ``reduction="quantile"``.

    Returns:
        ``(B,)`` float tensor.

    Raises:
        ValueError: for an unknown reduction or a quantile outside [0, 1].
    """
    if reduction not in ("mean", "sum", "max", "quantile"):
        raise ValueError(f"reduction must be 'mean', 'sum', 'max' or 'quantile', got {reduction!r}.")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}.")
    u = uncertainty_map.float()
    b = u.shape[0]
    if mask is None:
        flat = u.reshape(b, -1)
        if reduction == "mean":
            return flat.mean(1)
        if reduction == "sum":
            return flat.sum(1)
        if reduction == "max":
            return flat.amax(1)
        return torch.quantile(flat, quantile, dim=1)
    m = torch.broadcast_to(mask.bool(), u.shape).reshape(b, -1)
    flat = u.reshape(b, -1)
    scores = []
    for i in range(b):
        vals = flat[i][m[i]]
        if vals.numel() == 0:
            scores.append(flat.new_zeros(()))
        elif reduction == "mean":
            scores.append(vals.mean())
        elif reduction == "sum":
            scores.append(vals.sum())
        elif reduction == "max":
            scores.append(vals.max())
        else:
            scores.append(torch.quantile(vals, quantile))
    return torch.stack(scores)

