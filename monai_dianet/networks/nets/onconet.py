# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNet: image + genomic + clinical fusion by modality attention (OncoNet/OncoStrat paper, sec. 3.3; eq 21-22,
26 of its OncoStrat part).

References:
    the OncoNet/OncoStrat paper: a multimodal (imaging, genomic, clinical) deep-learning framework for the
    diagnosis of mitochondrial-dysregulation-related blood cancers, with the OncoStrat treatment strategy
    (title, authors and venue: see the README, "References").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from monai_dianet.networks.blocks.clinical_encoder import ClinicalEncoder
from monai_dianet.networks.blocks.genomic_encoder import GeneTransformerEncoder
from monai_dianet.networks.blocks.graph_encoder import GeneGraphEncoder
from monai_dianet.networks.blocks.image_encoder import ImageEncoder
from monai_dianet.networks.blocks.modality_fusion import ModalityAttentionFusion, inverse_variance_weights
from monai_dianet.networks.blocks.snn_encoder import SNNEncoder
from monai_dianet.utils import MODALITIES

__all__ = ["OncoNet", "OncoNetOutput", "ONCONET_VARIANTS"]


# Table 5 ablations. M2 "CNN + ViT + MLP": ViT with its convolutional patch embedding; M4 (no domain adaptation)
# differs from M5 only in the training objective (DomainAdversarialLoss), not in the network.
ONCONET_VARIANTS: dict[str, dict[str, Any]] = {
    name: {"image_encoder": img, "genomic_encoder": gen, "clinical": True, "fusion": fusion, "uncertainty_weighted": uw}
    for name, img, gen, fusion, uw in (
        ("M1", "cnn", "mlp", "mean", False),
        ("M2", "vit", "mlp", "attention", False),
        ("M3", "vit", "graph", "attention", False),
        ("M5", "dianet", "graph", "attention", True),
    )
}


@dataclass
class OncoNetOutput:
    """Everything one OncoNet forward pass computes (M = 3 modality slots: image, genes, clinical).

    Attributes:
        logits: (B, K) class logits (eq 18 before the softmax; plus the wide path's, if any), or (B, 1) risk scores
            or (B, T) discrete-time hazard logits for survival.
        alpha: (B, M) modality attention (eq 16); exactly 0 for missing or disabled modalities.
        fusion_weights: (B, M) weights of the fused sum: ``alpha``, or ``alpha`` combined with eq 21.
        uncertainty_weights: (B, M) eq 21 inverse-variance weights, or None.
        modality_variance: (B, M) MC-dropout variance sigma_i^2 of each embedding, or None.
        embeddings: (B, M, d) shared-space embeddings Z_i (zeros where missing).
        fused: (B, d) fused representation z (eq 17 / 22).
        modality_mask: (B, M) bool, the modalities that took part (after modality dropout).
        gene_attributions: (B, G) per-gene attributions (attention, or gradient x input for the SNN and MLP), or None.
        clinical_attributions: (B, C) gradient x input per clinical column (``attribute=True``), or None.
        image_attributions: (B, 1, H, W[, D]) image-region attention map, or None.
    """

    logits: torch.Tensor
    alpha: torch.Tensor
    fusion_weights: torch.Tensor
    uncertainty_weights: torch.Tensor | None
    modality_variance: torch.Tensor | None
    embeddings: torch.Tensor
    fused: torch.Tensor
    modality_mask: torch.Tensor
    gene_attributions: torch.Tensor | None = None
    clinical_attributions: torch.Tensor | None = None
    image_attributions: torch.Tensor | None = None

    @property
    def probabilities(self) -> torch.Tensor:
        """(B, K) softmax of the logits (meaningful for classification, K >= 2)."""
        return torch.softmax(self.logits, dim=1)


class OncoNet(nn.Module):
    """OncoNet: modality-specific encoders projected to a shared space, fused by modality attention, classified.

    Encoders (``monai_dianet.networks.blocks``): :class:`ImageEncoder` (``"dianet"``, ``"cnn"`` or ``"vit"``),
    a genomic encoder (:class:`SNNEncoder` ``"snn"``, the self-normalising network of Pathomic Fusion / PORPOISE /
    MCAT and the default because it suits cohorts of a few hundred patients; :class:`GeneTransformerEncoder`
    ``"transformer"``; :class:`GeneGraphEncoder` ``"graph"``; or a tabular MLP ``"mlp"``), and
    :class:`ClinicalEncoder`. Each output is mapped to the shared d-dimensional space
    by ``Z_i = W_i Dropout(LayerNorm(h_i)) + b_i``; :class:`ModalityAttentionFusion` computes
    ``alpha_i = softmax_i(w . Z_i)`` over the modalities present for each patient (missing ones are masked out of
    the softmax, never imputed, so their alpha is exactly 0) and ``z = sum_i alpha_i Z_i`` (eq 16-17); a softmax
    classifier gives the class logits (eq 18). With ``wide=True`` a linear "wide" path (Cheng et al., "Wide & Deep
    Learning for Recommender Systems", DLRS 2016) maps the raw tabular inputs (gene values and clinical column
    features) straight to the outputs and is added to the deep logits: on small cohorts where a linear model is
    hard to beat, the network keeps that model as a special case and the deep branches only add to it.
    ``num_classes=1`` gives one output, a risk score (Cox models); survival heads with T discrete-time bins use
    ``num_classes=T``.

    Options: ``modality_dropout`` drops whole modalities per patient in training (at least one is kept);
    ``uncertainty_weighted`` estimates each embedding's MC-dropout variance sigma_i^2 (the variance of ``Z_i`` under
    the projection's dropout, averaged over the d dimensions) and fuses with ``alpha_i w_i`` renormalised, ``w_i``
    proportional to 1/sigma_i^2 (OncoStrat eq 21-22). Because the projection is linear in the dropped vector ``x``,
    that variance has the closed form ``p / (1 - p) * sum_j W_kj^2 x_j^2``, the limit of the MC estimate for
    infinitely many samples: with ``mc_samples=0`` (default) it is used, so predictions stay deterministic in
    ``eval()`` and independent of the batch; ``mc_samples=T > 1`` draws T dropout samples instead.
    ``variant`` selects a Table 5 ablation and then overrides ``image_encoder``,
    ``genomic_encoder``, ``clinical``, ``fusion`` and ``uncertainty_weighted``:
    M1 CNN + gene MLP + clinical MLP with mean fusion; M2 ViT + gene MLP + clinical MLP; M3 ViT + GNN + clinical MLP;
    M5 DIANet encoder + GNN + clinical MLP with uncertainty-weighted attention fusion.

    Args:
        in_channels: image channels.
        num_classes: K outputs (>= 1; 1 for a Cox risk score).
        num_genes: genes per patient G (needed with a genomic encoder).
        num_clinical: clinical columns C, numeric first then ``len(clinical_categories)`` categorical codes.
        embed_dim: shared space size d.
        image_encoder: ``"dianet"``, ``"vit"``, ``"cnn"`` or None (no image branch).
        genomic_encoder: ``"snn"``, ``"transformer"``, ``"graph"``, ``"mlp"`` or None.
        clinical: whether to build the clinical branch.
        wide: add the linear wide path from the tabular inputs (genes, clinical) to the outputs.
        variant: None or one of ``"M1"``, ``"M2"``, ``"M3"``, ``"M5"``.
        modality_dropout: per-patient probability of dropping each modality in training.
        uncertainty_weighted: fuse with eq 21-22 inverse-variance weights (needs ``dropout > 0``).
        dropout: dropout of the projections, the classifier and the clinical/gene MLPs (kept on for MC dropout).
        spatial_dims: image dims (2 for histology tiles, 3 for volumes).
        fusion: ``"attention"`` (eq 16) or ``"mean"``.
        clinical_categories: cardinalities of the categorical clinical columns (the last columns).
        edge_index: (2, E) gene-gene edges for ``genomic_encoder="graph"`` (also accepted by ``forward``).
        img_size: image size, needed by the ViT encoder.
        mc_samples: 0 for the closed-form dropout variance of ``uncertainty_weighted``, or T >= 2 MC samples.
        image_kwargs / genomic_kwargs / clinical_kwargs: extra keyword arguments of the encoders.

    Raises:
        ValueError: no modality enabled, unknown names, or missing sizes.

    Example::

        net = OncoNet(3, num_classes=3, num_genes=50, num_clinical=6, embed_dim=32, image_encoder="cnn",
                      genomic_encoder="transformer")
        out = net(torch.randn(2, 3, 64, 64), genes=torch.randn(2, 50), clinical=torch.randn(2, 6),
                  modality_mask=torch.tensor([[1, 1, 1], [1, 0, 1]], dtype=torch.bool), return_all=True)
        out.alpha[1, 1]  # 0.0: the second patient has no gene data
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        num_genes: int = 0,
        num_clinical: int = 0,
        embed_dim: int = 64,
        image_encoder: str | None = "dianet",
        genomic_encoder: str | None = "snn",
        clinical: bool = True,
        variant: str | None = None,
        modality_dropout: float = 0.0,
        uncertainty_weighted: bool = False,
        dropout: float = 0.1,
        spatial_dims: int = 2,
        fusion: str = "attention",
        clinical_categories: Sequence[int] = (),
        edge_index: torch.Tensor | None = None,
        img_size: Sequence[int] | int | None = None,
        mc_samples: int = 0,
        wide: bool = False,
        image_kwargs: Mapping[str, Any] | None = None,
        genomic_kwargs: Mapping[str, Any] | None = None,
        clinical_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if variant is not None:
            if variant not in ONCONET_VARIANTS:
                raise ValueError(f"variant must be one of {sorted(ONCONET_VARIANTS)} or None, got {variant!r}.")
            settings = ONCONET_VARIANTS[variant]
            image_encoder, genomic_encoder = settings["image_encoder"], settings["genomic_encoder"]
            clinical, fusion = settings["clinical"], settings["fusion"]
            uncertainty_weighted = settings["uncertainty_weighted"]
        if image_encoder is None and genomic_encoder is None and not clinical:
            raise ValueError("OncoNet needs at least one modality (image_encoder, genomic_encoder or clinical).")
        if genomic_encoder not in (None, "snn", "transformer", "graph", "mlp"):
            raise ValueError(
                f"genomic_encoder must be 'snn', 'transformer', 'graph', 'mlp' or None, got {genomic_encoder!r}."
            )
        if not 0.0 <= modality_dropout < 1.0 or not 0.0 <= dropout < 1.0:
            raise ValueError("modality_dropout and dropout must be in [0, 1).")
        if uncertainty_weighted and dropout <= 0.0:
            raise ValueError("uncertainty_weighted needs dropout > 0 (its variances are MC-dropout variances).")
        if mc_samples < 0 or mc_samples == 1:
            raise ValueError(f"mc_samples must be 0 (closed form) or >= 2, got {mc_samples}.")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
        self.num_classes = num_classes
        self.num_genes = num_genes
        self.num_clinical = num_clinical
        self.embed_dim = embed_dim
        self.variant = variant
        self.modality_dropout = modality_dropout
        self.uncertainty_weighted = uncertainty_weighted
        self.dropout_rate = dropout
        self.mc_samples = mc_samples
        self.image_encoder_name, self.genomic_encoder_name = image_encoder, genomic_encoder
        self.encoders = nn.ModuleDict()
        if image_encoder is not None:
            self.encoders["image"] = ImageEncoder(
                spatial_dims,
                in_channels,
                embed_dim,
                encoder=image_encoder,
                img_size=img_size,
                **dict(image_kwargs or {}),
            )
        if genomic_encoder is not None:
            if num_genes < 1:
                raise ValueError("num_genes must be given (>= 1) with a genomic encoder.")
            kwargs = dict(genomic_kwargs or {})
            if genomic_encoder == "snn":
                kwargs.setdefault("dropout", dropout)
                self.encoders["genes"] = SNNEncoder(num_genes, embed_dim, **kwargs)
            elif genomic_encoder == "transformer":
                self.encoders["genes"] = GeneTransformerEncoder(num_genes, embed_dim, **kwargs)
            elif genomic_encoder == "graph":
                self.encoders["genes"] = GeneGraphEncoder(num_genes, embed_dim, edge_index=edge_index, **kwargs)
            else:
                kwargs.setdefault("dropout", dropout)
                self.encoders["genes"] = ClinicalEncoder(num_genes, (), embed_dim, missing_indicator=False, **kwargs)
        if clinical:
            num_numeric = num_clinical - len(clinical_categories)
            if num_clinical < 1 or num_numeric < 0:
                raise ValueError(
                    f"num_clinical ({num_clinical}) must be >= 1 and cover the {len(clinical_categories)} "
                    "categorical columns."
                )
            kwargs = dict(clinical_kwargs or {})
            kwargs.setdefault("dropout", dropout)
            self.encoders["clinical"] = ClinicalEncoder(num_numeric, clinical_categories, embed_dim, **kwargs)
        self.dropout = nn.Dropout(dropout)
        self.norms = nn.ModuleDict({name: nn.LayerNorm(enc.out_features) for name, enc in self.encoders.items()})
        self.projections = nn.ModuleDict(
            {name: nn.Linear(enc.out_features, embed_dim) for name, enc in self.encoders.items()}
        )
        self.fusion = ModalityAttentionFusion(embed_dim, mode=fusion)
        self.classifier = nn.Linear(embed_dim, num_classes)
        self.wide: nn.Linear | None = None
        if wide:
            width = sum(self._wide_width(name) for name in ("genes", "clinical") if name in self.encoders)
            if width == 0:
                raise ValueError("wide=True needs a genomic encoder or the clinical branch (tabular inputs).")
            self.wide = nn.Linear(width, num_classes)
            # start as the deep model; the data decide what the linear part adds
            nn.init.zeros_(self.wide.weight)
            nn.init.zeros_(self.wide.bias)

    def _wide_width(self, name: str) -> int:
        encoder = self.encoders[name]
        if isinstance(encoder, (ClinicalEncoder, SNNEncoder)):
            return sum(g.stop - g.start for g in encoder.column_groups)
        return self.num_genes

    def _columns(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Column features of a tabular input as its encoder sees them (NaN-free), (B, width)."""
        encoder = self.encoders[name]
        if isinstance(encoder, (ClinicalEncoder, SNNEncoder)):
            return encoder.columns(x)
        return torch.nan_to_num(x.float(), nan=0.0)

    def _wide_logits(self, columns: dict[str, torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        """The wide path's (B, K) outputs from the tabular column features of the present modalities."""
        parts = []
        for name in ("genes", "clinical"):
            if name not in self.encoders:
                continue
            width = self._wide_width(name)
            x = columns.get(name)
            if x is None:
                x = present.new_zeros((present.shape[0], width), dtype=self.wide.weight.dtype)
            keep = present[:, MODALITIES.index(name), None]
            parts.append(torch.where(keep, x, torch.zeros_like(x)))
        return self.wide(torch.cat(parts, dim=1))

    def penalty(self) -> torch.Tensor:
        """Sparsity penalty of the encoders' feature gates (:class:`FeatureGate`; 0 without gates)."""
        total = self.classifier.weight.new_zeros(())
        for encoder in self.encoders.values():
            if isinstance(encoder, SNNEncoder):
                total = total + encoder.penalty()
        return total

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modality slots this network has encoders for (a subset of ``MODALITIES``, in that order)."""
        return tuple(m for m in MODALITIES if m in self.encoders)

    @property
    def attention_vector(self) -> torch.Tensor:
        """w of eq 16 (penalised by eq 10/19)."""
        return self.fusion.attention_vector

    @property
    def classifier_weight(self) -> torch.Tensor:
        """W_o of eq 18, (K, d) (penalised by eq 10/19)."""
        return self.classifier.weight

    @contextlib.contextmanager
    def mc_dropout(self, enabled: bool = True) -> Iterator[OncoNet]:
        """Keep the dropout layers stochastic inside the context, even in ``eval()`` (MC dropout, eq 25);
        batch norm stays in its current mode."""
        layers = [m for m in self.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
        states = [m.training for m in layers]
        for m in layers:
            m.train(enabled or m.training)
        try:
            yield self
        finally:
            for m, state in zip(layers, states):
                m.train(state)

    def _unpack(self, image: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(image, Mapping):
            batch = dict(image)
            inputs = {
                "image": batch.get("image"),
                "genes": batch.get("genes"),
                "clinical": batch.get("clinical"),
                "modality_mask": batch.get("modality_mask"),
                "edge_index": batch.get("edge_index", batch.get("graph")),
            }
            inputs.update({k: v for k, v in kwargs.items() if v is not None})
            return inputs
        return {"image": image, **kwargs}

    def forward(
        self,
        image: torch.Tensor | Mapping[str, Any] | None = None,
        genes: torch.Tensor | None = None,
        clinical: torch.Tensor | None = None,
        modality_mask: torch.Tensor | None = None,
        edge_index: torch.Tensor | None = None,
        return_all: bool = False,
        attribute: bool = False,
    ) -> torch.Tensor | OncoNetOutput:
        """
        Args:
            image: (B, C, H, W[, D]) images, or a batch dictionary with keys ``image``, ``genes``, ``clinical``,
                ``modality_mask`` and ``edge_index`` (or ``graph``).
            genes: (B, G) gene values.
            clinical: (B, C) clinical columns.
            modality_mask: (B, 3) bool presence of [image, genes, clinical]; default: present when given.
            edge_index: gene graph edges, (2, E), (B, 2, E) or a PyG ``Batch`` of the patient graphs (graph encoder
                only; default: the stored ones).
            return_all: return :class:`OncoNetOutput` instead of the logits.
            attribute: also compute gradient x input attributions of the predicted class for the tabular inputs
                (clinical columns, and genes for the ``"mlp"`` genomic encoder).

        Returns:
            (B, K) logits, or an :class:`OncoNetOutput`.

        Raises:
            ValueError: no input, inconsistent batch sizes, or a patient without any present modality.
        """
        inputs = self._unpack(
            image, {"genes": genes, "clinical": clinical, "modality_mask": modality_mask, "edge_index": edge_index}
        )
        data = {m: inputs.get(m) for m in MODALITIES}
        sizes = {m: int(v.shape[0]) for m, v in data.items() if v is not None}
        if not sizes:
            raise ValueError("OncoNet needs at least one of image, genes, clinical.")
        if len(set(sizes.values())) != 1:
            raise ValueError(f"inputs must share the batch size, got {sizes}.")
        batch_size = next(v.shape[0] for v in data.values() if v is not None)  # no int(): traced sizes stay symbolic
        device = next(self.parameters()).device
        present = torch.tensor(
            [m in self.encoders and data[m] is not None for m in MODALITIES], dtype=torch.bool, device=device
        ).expand(batch_size, -1)
        mask = inputs.get("modality_mask")
        if mask is not None:
            mask = torch.as_tensor(mask, device=device)
            if mask.shape != (batch_size, len(MODALITIES)):
                raise ValueError(
                    f"modality_mask must be ({batch_size}, {len(MODALITIES)}) [image, genes, clinical], "
                    f"got {tuple(mask.shape)}."
                )
            present = present & mask.bool()
        if not bool(present.any(dim=1).all()):
            rows = torch.nonzero(~present.any(dim=1)).flatten().tolist()
            raise ValueError(f"patients {rows} have no modality that this OncoNet can use ({self.modalities}).")
        if self.training and self.modality_dropout > 0:
            keep = present & (torch.rand(present.shape, device=device) >= self.modality_dropout)
            present = torch.where(keep.any(dim=1, keepdim=True), keep, present)

        features: dict[str, torch.Tensor] = {}
        columns: dict[str, torch.Tensor] = {}
        attributions: dict[str, torch.Tensor | None] = {m: None for m in MODALITIES}
        for name in self.modalities:
            if data[name] is None:
                continue
            x = data[name].to(device)
            encoder = self.encoders[name]
            if isinstance(encoder, GeneGraphEncoder):
                edges = inputs.get("edge_index")
                if edges is not None and not hasattr(edges, "edge_index"):  # a PyG Batch goes through as it is
                    edges = torch.as_tensor(edges, device=device)
                    if edges.ndim == 3 and bool((edges == edges[:1]).all()):
                        edges = edges[0]  # collated copies of one shared graph
                features[name], attributions[name] = encoder(x, edges)
            elif isinstance(encoder, (ClinicalEncoder, SNNEncoder)):
                columns[name] = encoder.columns(x)
                features[name] = encoder.forward_columns(columns[name])
            else:
                if self.wide is not None and name == "genes":
                    columns[name] = self._columns(name, x)
                features[name], attributions[name] = encoder(x)

        ref = next(iter(features.values()))
        zeros = ref.new_zeros(batch_size, self.embed_dim)
        embeddings = torch.stack(
            [
                self.projections[m](self.dropout(self.norms[m](features[m]))) if m in features else zeros
                for m in MODALITIES
            ],
            dim=1,
        )
        variance = uncertainty = None
        if self.uncertainty_weighted:
            variance = self._embedding_variance(features, zeros)
            uncertainty = inverse_variance_weights(variance, present, self.fusion.eps)
        fused, alpha, weights = self.fusion(embeddings, present, variance)
        logits = self.classifier(self.dropout(fused))
        if self.wide is not None:
            logits = logits + self._wide_logits(columns, present)
        if not return_all:
            return logits

        if attribute:
            target = logits.argmax(dim=1)
            for slot, name in enumerate(MODALITIES):
                encoder = self.encoders[name] if name in self.encoders else None
                if isinstance(encoder, (ClinicalEncoder, SNNEncoder)) and data[name] is not None:
                    attributions[name] = self._tabular_attribution(
                        slot, name, data[name].to(device), embeddings, columns, present, variance, target
                    )
        for name in MODALITIES:
            if attributions[name] is not None:
                keep = present[:, MODALITIES.index(name)].view(-1, *([1] * (attributions[name].ndim - 1)))
                attributions[name] = torch.where(keep, attributions[name], torch.zeros_like(attributions[name]))
        return OncoNetOutput(
            logits=logits,
            alpha=alpha,
            fusion_weights=weights,
            uncertainty_weights=uncertainty,
            modality_variance=variance,
            embeddings=embeddings,
            fused=fused,
            modality_mask=present,
            gene_attributions=attributions["genes"],
            clinical_attributions=attributions["clinical"],
            image_attributions=attributions["image"],
        )

    def _embedding_variance(self, features: dict[str, torch.Tensor], zeros: torch.Tensor) -> torch.Tensor:
        """(B, M) dropout variance of each modality embedding, averaged over the d dimensions (detached): closed
        form (``mc_samples=0``) or the sample variance of ``mc_samples`` dropout draws."""
        out = []
        with torch.no_grad():
            for m in MODALITIES:
                if m not in features:
                    out.append(zeros[:, 0])
                    continue
                x = self.norms[m](features[m].detach())
                p = self.dropout_rate
                if self.mc_samples == 0:
                    weight = self.projections[m].weight
                    out.append((p / (1 - p)) * (x.pow(2) @ weight.pow(2).T).mean(dim=-1))
                else:
                    x = x.unsqueeze(0).expand(self.mc_samples, -1, -1)
                    samples = self.projections[m](F.dropout(x, p, training=True))
                    out.append(samples.var(dim=0).mean(dim=-1))
        return torch.stack(out, dim=1)

    def _tabular_attribution(
        self,
        slot: int,
        name: str,
        x: torch.Tensor,
        embeddings: torch.Tensor,
        all_columns: dict[str, torch.Tensor],
        mask: torch.Tensor,
        variance: torch.Tensor | None,
        target: torch.Tensor,
    ) -> torch.Tensor:
        """Gradient x input of the ``target`` logits (deep and wide paths) with respect to each column of a tabular
        input, (B, C)."""
        encoder: ClinicalEncoder | SNNEncoder = self.encoders[name]  # type: ignore[assignment]
        with torch.enable_grad():
            columns = encoder.columns(x).detach().requires_grad_(True)
            z = self.projections[name](self.norms[name](encoder.forward_columns(columns)))
            others = embeddings.detach()
            stacked = torch.cat([others[:, :slot], z[:, None], others[:, slot + 1 :]], dim=1)
            logits = self.classifier(self.fusion(stacked, mask, variance)[0])
            if self.wide is not None:
                logits = logits + self._wide_logits({**all_columns, name: columns}, mask)
            score = logits.gather(1, target[:, None]).sum()
            (grad,) = torch.autograd.grad(score, columns)
        contrib = (grad * columns).detach()
        return torch.stack([contrib[:, g].sum(dim=1) for g in encoder.column_groups], dim=1)
