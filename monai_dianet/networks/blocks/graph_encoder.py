# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Graph neural network over a gene-gene interaction graph (OncoNet genomic encoder, Table 5 "GNN"), with
PyTorch Geometric."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from monai.utils import optional_import

# PyTorch Geometric is the optional "graph" extra: importing this module works without it, building the encoder does not
GATv2Conv, _has_pyg = optional_import("torch_geometric.nn", name="GATv2Conv")
GCNConv, _ = optional_import("torch_geometric.nn", name="GCNConv")
AttentionalAggregation, _ = optional_import("torch_geometric.nn.aggr", name="AttentionalAggregation")
segment_softmax, _ = optional_import("torch_geometric.utils", name="softmax")

__all__ = ["GeneGraphEncoder", "batch_edge_index"]


def batch_edge_index(edge_index: torch.Tensor, batch_size: int, num_nodes: int) -> torch.Tensor:
    """Disjoint union of ``batch_size`` graphs of ``num_nodes`` nodes, as ``Batch.from_data_list`` builds it.

    Args:
        edge_index: (2, E) edges shared by every graph, or (B, 2, E) one edge set per graph.
        batch_size: number of graphs B.
        num_nodes: nodes per graph.

    Returns:
        (2, B * E) edge index where graph ``b`` uses nodes ``b * num_nodes ... (b + 1) * num_nodes - 1``.

    Raises:
        ValueError: for a malformed edge index or node ids outside ``[0, num_nodes)``.
    """
    if edge_index.ndim == 2:
        edge_index = edge_index[None].expand(batch_size, -1, -1)
    if edge_index.ndim != 3 or edge_index.shape[0] != batch_size or edge_index.shape[1] != 2:
        raise ValueError(f"edge_index must be (2, E) or ({batch_size}, 2, E), got shape {tuple(edge_index.shape)}.")
    edge_index = edge_index.long()
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(
            f"edge_index refers to nodes outside [0, {num_nodes}) (got ids up to {int(edge_index.max())})."
        )
    offsets = torch.arange(batch_size, device=edge_index.device).view(-1, 1, 1) * num_nodes
    return (edge_index + offsets).permute(1, 0, 2).reshape(2, -1)


class GeneGraphEncoder(nn.Module):
    """Genomic encoder over the gene-gene interaction graph (e.g. STRING), one graph per patient sharing the edges.

    Node ``g`` of patient ``b`` starts as ``value_embedding(x_bg) + gene_embedding(g)``; ``num_layers`` message
    passing layers (``GATv2Conv`` or ``GCNConv``, each with a residual connection, LayerNorm and GELU) refine the
    nodes; PyTorch Geometric's ``AttentionalAggregation`` pools each patient's graph into one vector. The batch is
    the disjoint union of the B patient graphs (``batch_edge_index``, the same graph ``Batch.from_data_list``
    builds), so a batch gives the same results as the patients one at a time. The per-gene attributions are the
    pooling gate's softmax over the nodes of each graph.

    Works on ``edge_index`` only (no torch-scatter / torch-sparse needed).

    Args:
        num_genes: nodes per patient graph G.
        embed_dim: output size d.
        hidden_channels: node feature size (default ``embed_dim``).
        num_layers: message passing layers.
        conv: ``"gatv2"`` or ``"gcn"``.
        heads: attention heads of GATv2 (``hidden_channels`` must be divisible by it).
        dropout: dropout on the node features between layers (and on GATv2 attention coefficients).
        edge_index: optional (2, E) default edges, stored as a buffer (saved with the weights).

    Example::

        edges = torch.tensor([[0, 1, 2], [1, 2, 3]])
        enc = GeneGraphEncoder(num_genes=4, embed_dim=16, edge_index=edges)
        z, gene_weights = enc(torch.randn(2, 4))  # (2, 16), (2, 4)
    """

    def __init__(
        self,
        num_genes: int,
        embed_dim: int = 64,
        hidden_channels: int | None = None,
        num_layers: int = 2,
        conv: str = "gatv2",
        heads: int = 2,
        dropout: float = 0.0,
        edge_index: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        hidden = hidden_channels or embed_dim
        if not _has_pyg:
            raise ImportError("GeneGraphEncoder needs PyTorch Geometric: pip install 'monai-dianet[graph]'.")
        if num_genes < 1:
            raise ValueError(f"num_genes must be positive, got {num_genes}.")
        if conv not in ("gatv2", "gcn"):
            raise ValueError(f"conv must be 'gatv2' or 'gcn', got {conv!r}.")
        if conv == "gatv2" and hidden % heads != 0:
            raise ValueError(f"hidden_channels ({hidden}) must be divisible by heads ({heads}).")
        self.num_genes = num_genes
        self.out_features = embed_dim
        self.value_embedding = nn.Linear(1, hidden)
        self.gene_embedding = nn.Embedding(num_genes, hidden)
        nn.init.normal_(self.gene_embedding.weight, std=0.1)
        self.convs = nn.ModuleList(
            [
                (
                    GATv2Conv(hidden, hidden // heads, heads=heads, dropout=dropout)
                    if conv == "gatv2"
                    else GCNConv(hidden, hidden)
                )
                for _ in range(num_layers)
            ]
        )
        self.norms = nn.ModuleList([nn.LayerNorm(hidden) for _ in range(num_layers)])
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.pool = AttentionalAggregation(gate_nn=nn.Linear(hidden, 1), nn=nn.Linear(hidden, embed_dim))
        if edge_index is not None:
            batch_edge_index(torch.as_tensor(edge_index), 1, num_genes)  # validates
            self.register_buffer("edge_index", torch.as_tensor(edge_index).long())
        else:
            self.edge_index = None

    def forward(self, genes: torch.Tensor, edge_index: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            genes: (B, G) gene values (NaN is read as 0, the mean after standardisation).
            edge_index: (2, E) shared edges, (B, 2, E) per-patient edges, or a ``torch_geometric.data.Batch`` of
                the B patient graphs (``Batch.from_data_list``, its ``edge_index`` is used as it is); default:
                the stored edges.

        Returns:
            embedding (B, d) and per-gene attributions (B, G) (pooling gate, rows sum to 1).

        Raises:
            ValueError: without any edges, or for a wrong gene count.
        """
        if genes.ndim != 2 or genes.shape[1] != self.num_genes:
            raise ValueError(f"genes must be (B, {self.num_genes}), got shape {tuple(genes.shape)}.")
        if edge_index is None:
            edge_index = self.edge_index
        if edge_index is None:
            raise ValueError("GeneGraphEncoder needs an edge_index (constructor argument or forward argument).")
        batch_size = genes.shape[0]
        genes = torch.nan_to_num(genes.float(), nan=0.0)
        ids = torch.arange(self.num_genes, device=genes.device)
        x = self.value_embedding(genes[..., None]) + self.gene_embedding(ids)[None]
        x = x.reshape(-1, x.shape[-1])
        if hasattr(edge_index, "edge_index"):  # an already batched PyG graph
            if int(edge_index.num_nodes) != batch_size * self.num_genes:
                raise ValueError(
                    f"the PyG batch has {int(edge_index.num_nodes)} nodes, expected {batch_size} x {self.num_genes}."
                )
            edges = edge_index.edge_index.to(genes.device).long()
        else:
            edges = batch_edge_index(torch.as_tensor(edge_index).to(genes.device), batch_size, self.num_genes)
        batch = torch.arange(batch_size, device=genes.device).repeat_interleave(self.num_genes)
        for conv, norm in zip(self.convs, self.norms):
            x = norm(x + self.dropout(self.act(conv(x, edges))))
        pooled = self.pool(x, batch, dim_size=batch_size)
        gate = segment_softmax(self.pool.gate_nn(x), batch, num_nodes=x.shape[0], dim=0)
        return pooled, gate.view(batch_size, self.num_genes)
