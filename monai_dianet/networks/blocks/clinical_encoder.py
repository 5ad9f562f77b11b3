# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""MLP encoder for tabular clinical variables (OncoNet eq 14)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

__all__ = ["ClinicalEncoder"]


class _ResidualBlock(nn.Module):
    """Linear -> [BatchNorm] -> GELU -> Dropout, with a (projected) residual connection when asked."""

    def __init__(self, in_features: int, out_features: int, dropout: float, norm: bool, residual: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(in_features, out_features),
            nn.BatchNorm1d(out_features) if norm else nn.Identity(),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.skip: nn.Module | None = None
        if residual:
            same = in_features == out_features
            self.skip = nn.Identity() if same else nn.Linear(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out if self.skip is None else out + self.skip(x)


class ClinicalEncoder(nn.Module):
    """Clinical MLP of OncoNet: ``Z_c = sigma(W_c x + b_c)`` stacked (eq 14) with GELU, dropout and optional batch
    norm and residual connections, over numeric and categorical columns.

    The input is one (B, num_numeric + num_categorical) tensor: numeric columns first (already standardised on the
    training cases, e.g. by ``monai_dianet.apps.tcga.transforms``), then one column of integer category codes per
    categorical variable. A NaN numeric value is replaced by 0 and flagged in a missingness indicator input; a
    NaN or negative code is the "missing" category. Each categorical variable has its own embedding table.
    Also used as the plain gene MLP of the Table 5 M1/M2 ablations.

    Args:
        num_numeric: number of numeric columns.
        categorical_cardinalities: number of categories of each categorical column (codes ``0 .. n - 1``).
        embed_dim: output size d.
        hidden_dims: widths of the hidden layers.
        dropout: dropout after each hidden layer.
        norm: add ``BatchNorm1d`` after each linear layer.
        residual: add residual connections.
        category_embed_dim: size of each categorical embedding.
        missing_indicator: append a 0/1 "is missing" input per numeric column.

    Example::

        enc = ClinicalEncoder(num_numeric=3, categorical_cardinalities=(2, 4), embed_dim=16)
        x = torch.tensor([[0.5, float("nan"), -1.0, 1, 3]])
        z = enc(x)  # (1, 16)
    """

    def __init__(
        self,
        num_numeric: int,
        categorical_cardinalities: Sequence[int] = (),
        embed_dim: int = 64,
        hidden_dims: Sequence[int] = (64, 64),
        dropout: float = 0.1,
        norm: bool = True,
        residual: bool = True,
        category_embed_dim: int = 8,
        missing_indicator: bool = True,
    ) -> None:
        super().__init__()
        self.num_numeric = int(num_numeric)
        self.cardinalities = tuple(int(c) for c in categorical_cardinalities)
        if self.num_numeric < 0 or any(c < 1 for c in self.cardinalities):
            raise ValueError("num_numeric must be >= 0 and every categorical cardinality >= 1.")
        if self.num_numeric + len(self.cardinalities) == 0:
            raise ValueError("ClinicalEncoder needs at least one numeric or categorical column.")
        self.num_features = self.num_numeric + len(self.cardinalities)
        self.out_features = embed_dim
        self.missing_indicator = missing_indicator
        # index 0 of every table is "missing"
        self.category_embeddings = nn.ModuleList([nn.Embedding(c + 1, category_embed_dim) for c in self.cardinalities])
        width = self.num_numeric * (2 if missing_indicator else 1) + category_embed_dim * len(self.cardinalities)
        layers = []
        for hidden in hidden_dims:
            layers.append(_ResidualBlock(width, hidden, dropout, norm, residual))
            width = hidden
        self.mlp = nn.Sequential(*layers)
        self.head = nn.Linear(width, embed_dim)

    @property
    def column_groups(self) -> list[slice]:
        """For each clinical column, the slice of the ``columns(x)`` features it occupies (for attributions)."""
        groups = []
        step = 2 if self.missing_indicator else 1
        for i in range(self.num_numeric):
            groups.append(slice(i * step, (i + 1) * step))
        offset = self.num_numeric * step
        for table in self.category_embeddings:
            groups.append(slice(offset, offset + table.embedding_dim))
            offset += table.embedding_dim
        return groups

    def columns(self, x: torch.Tensor) -> torch.Tensor:
        """Column features fed to the MLP, (B, width): per numeric column its value then (optionally) its missingness
        flag, then the categorical embeddings.

        Args:
            x: (B, num_numeric + num_categorical) clinical table rows.
        """
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"clinical input must be (B, {self.num_features}) = {self.num_numeric} numeric + "
                f"{len(self.cardinalities)} categorical columns, got shape {tuple(x.shape)}."
            )
        x = x.float()
        numeric = x[:, : self.num_numeric]
        values = torch.nan_to_num(numeric, nan=0.0)
        if self.missing_indicator:
            values = torch.stack([values, torch.isnan(numeric).to(x.dtype)], dim=2).flatten(1)
        parts = [values]
        for i, table in enumerate(self.category_embeddings):
            codes = x[:, self.num_numeric + i]
            known = ~torch.isnan(codes) & (codes >= 0)
            index = torch.where(known, torch.nan_to_num(codes, nan=-1.0) + 1, torch.zeros_like(codes)).long()
            if bool((index > self.cardinalities[i]).any()):
                raise ValueError(
                    f"categorical column {i} has a code >= its cardinality {self.cardinalities[i]} "
                    f"(max code {int(index.max()) - 1})."
                )
            parts.append(table(index))
        return torch.cat(parts, dim=1)

    def forward_columns(self, columns: torch.Tensor) -> torch.Tensor:
        """The MLP and output layer applied to ``columns(x)``."""
        return self.head(self.mlp(columns))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, num_numeric + num_categorical) clinical table rows.

        Returns:
            (B, d) embedding.
        """
        return self.forward_columns(self.columns(x))
