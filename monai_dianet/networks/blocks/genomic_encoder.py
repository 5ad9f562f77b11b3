# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Transformer encoder over gene tokens (OncoNet sec. 3.3.2, eq 13)."""

from __future__ import annotations

import torch
import torch.nn as nn
from monai.networks.blocks import TransformerBlock

from monai_dianet.networks.blocks.modality_fusion import AttentionPooling

__all__ = ["GeneTransformerEncoder"]


class GeneTransformerEncoder(nn.Module):
    """Genomic encoder of OncoNet: a transformer over one token per gene.

    Each gene ``g`` of a patient becomes a token ``value_embedding(x_g) + gene_embedding(g)`` (the value embedding is
    a linear map of the scalar expression/mutation value, the learnable gene identity embedding plays the role of the
    positional encoding of eq 13). MONAI ``TransformerBlock`` layers apply multi-head self-attention
    ``softmax(Q K^T / sqrt(d_k)) V`` between all gene tokens; the tokens are then pooled either by attention pooling
    (eq 26, the default) or by a learnable CLS token. The per-gene attribution is the pooling weight of each gene
    (``pooling="attention"``) or the last layer's CLS-to-gene attention averaged over heads (``pooling="cls"``).

    Missing values (NaN) are set to 0 (the mean after standardisation).
    Self-attention costs O(G^2) per layer: select a few hundred genes (top variance) before this encoder.

    Args:
        num_genes: number of gene tokens G.
        embed_dim: token and output size d (divisible by ``num_heads``).
        num_layers: number of transformer blocks.
        num_heads: attention heads.
        mlp_dim: feed-forward width (default ``2 * embed_dim``).
        dropout: dropout rate inside the blocks.
        pooling: ``"attention"`` or ``"cls"``.

    Example::

        enc = GeneTransformerEncoder(num_genes=50, embed_dim=32)
        z, gene_weights = enc(torch.randn(4, 50))  # (4, 32), (4, 50)
    """

    def __init__(
        self,
        num_genes: int,
        embed_dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_dim: int | None = None,
        dropout: float = 0.0,
        pooling: str = "attention",
    ) -> None:
        super().__init__()
        if num_genes < 1:
            raise ValueError(f"num_genes must be positive, got {num_genes}.")
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}).")
        if pooling not in ("attention", "cls"):
            raise ValueError(f"pooling must be 'attention' or 'cls', got {pooling!r}.")
        self.num_genes = num_genes
        self.out_features = embed_dim
        self.pooling = pooling
        self.value_embedding = nn.Linear(1, embed_dim)
        self.gene_embedding = nn.Embedding(num_genes, embed_dim)
        nn.init.normal_(self.gene_embedding.weight, std=0.02)
        self.blocks = nn.ModuleList(
            [
                TransformerBlock(embed_dim, mlp_dim or 2 * embed_dim, num_heads, dropout_rate=dropout, save_attn=True)
                for _ in range(num_layers)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim)
        if pooling == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        else:
            self.pool = AttentionPooling(embed_dim, hidden_features=embed_dim)

    def forward(self, genes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            genes: (B, G) gene values.

        Returns:
            embedding (B, d) and per-gene attributions (B, G) (non-negative, rows sum to 1).
        """
        if genes.ndim != 2 or genes.shape[1] != self.num_genes:
            raise ValueError(f"genes must be (B, {self.num_genes}), got shape {tuple(genes.shape)}.")
        genes = torch.nan_to_num(genes.float(), nan=0.0)
        ids = torch.arange(self.num_genes, device=genes.device)
        tokens = self.value_embedding(genes[..., None]) + self.gene_embedding(ids)[None]
        if self.pooling == "cls":
            tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.norm(tokens)
        if self.pooling == "cls":
            attn = self.blocks[-1].attn.att_mat  # (B, heads, 1 + G, 1 + G)
            weights = attn[:, :, 0, 1:].mean(dim=1)
            return tokens[:, 0], weights / weights.sum(dim=-1, keepdim=True)
        return self.pool(tokens)
