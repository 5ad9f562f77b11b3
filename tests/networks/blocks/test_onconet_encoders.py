# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNet encoders and fusion blocks: shapes, gradients, masking, PyG batching."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from monai_dianet.networks.blocks import (
    AttentionPooling,
    ClinicalEncoder,
    GeneGraphEncoder,
    GeneTransformerEncoder,
    ImageEncoder,
    ModalityAttentionFusion,
    batch_edge_index,
    inverse_variance_weights,
)


def _edges(num_genes: int, num_edges: int = 40, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_genes, (2, num_edges), generator=g)


@pytest.mark.parametrize(
    "kwargs, size",
    [
        ({"encoder": "cnn"}, (32, 32)),
        ({"encoder": "dianet"}, (32, 32)),
        ({"encoder": "vit", "img_size": 32, "patch_size": 8}, (32, 32)),
        ({"encoder": "cnn", "spatial_dims": 3, "in_channels": 1}, (32, 32, 32)),
    ],
)
def test_image_encoder_shapes_and_gradients(kwargs, size):
    torch.manual_seed(0)
    in_channels = kwargs.pop("in_channels", 3)
    spatial_dims = kwargs.pop("spatial_dims", 2)
    enc = ImageEncoder(spatial_dims, in_channels, embed_dim=16, **kwargs)
    x = torch.randn(2, in_channels, *size, requires_grad=True)
    z, region = enc(x)
    assert z.shape == (2, 16)
    assert region.shape == (2, 1, *size)
    assert bool((region >= 0).all())
    z.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in enc.pool.parameters())


def test_image_encoder_errors():
    with pytest.raises(ValueError, match="img_size"):
        ImageEncoder(2, 3, encoder="vit")
    with pytest.raises(ValueError, match="encoder"):
        ImageEncoder(2, 3, encoder="resnet")
    enc = ImageEncoder(2, 3, embed_dim=16, encoder="vit", img_size=32)
    with pytest.raises(ValueError, match="size"):
        enc(torch.zeros(1, 3, 48, 48))


@pytest.mark.parametrize("pooling", ["attention", "cls"])
def test_gene_transformer(pooling):
    torch.manual_seed(0)
    enc = GeneTransformerEncoder(num_genes=12, embed_dim=16, num_heads=4, pooling=pooling)
    genes = torch.randn(3, 12)
    genes[0, 3] = float("nan")
    z, weights = enc(genes)
    assert z.shape == (3, 16) and weights.shape == (3, 12)
    assert torch.allclose(weights.sum(1), torch.ones(3), atol=1e-5)
    assert bool(torch.isfinite(z).all())
    z.sum().backward()
    assert enc.gene_embedding.weight.grad is not None
    with pytest.raises(ValueError, match="genes must be"):
        enc(torch.randn(3, 11))


def test_gene_transformer_uses_gene_identity():
    """Swapping two genes' values changes the output: tokens carry the gene identity, not just the value set."""
    torch.manual_seed(0)
    enc = GeneTransformerEncoder(num_genes=6, embed_dim=16).eval()
    genes = torch.randn(1, 6)
    swapped = genes[:, [1, 0, 2, 3, 4, 5]]
    assert not torch.allclose(enc(genes)[0], enc(swapped)[0])


@pytest.mark.parametrize("conv", ["gatv2", "gcn"])
def test_graph_encoder_batch_equals_single(conv):
    torch.manual_seed(0)
    edges = _edges(10)
    enc = GeneGraphEncoder(num_genes=10, embed_dim=16, conv=conv, edge_index=edges).eval()
    genes = torch.randn(5, 10)
    z, weights = enc(genes)
    assert z.shape == (5, 16) and weights.shape == (5, 10)
    assert torch.allclose(weights.sum(1), torch.ones(5), atol=1e-5)
    for b in range(5):
        z_b, w_b = enc(genes[b : b + 1])
        assert torch.allclose(z[b], z_b[0], atol=1e-5)
        assert torch.allclose(weights[b], w_b[0], atol=1e-5)


def test_graph_encoder_per_patient_edges_and_gradients():
    torch.manual_seed(0)
    enc = GeneGraphEncoder(num_genes=8, embed_dim=16)
    genes = torch.randn(2, 8, requires_grad=True)
    per_patient = torch.stack([_edges(8, 20, 0), _edges(8, 20, 1)])
    z, _ = enc(genes, per_patient)
    z.sum().backward()
    assert genes.grad is not None and float(genes.grad.abs().sum()) > 0
    # different graphs give different embeddings for the same expression
    enc.eval()
    same = torch.randn(1, 8).repeat(2, 1)
    z2, _ = enc(same, per_patient)
    assert not torch.allclose(z2[0], z2[1])
    with pytest.raises(ValueError, match="edge_index"):
        GeneGraphEncoder(num_genes=8, embed_dim=16)(genes)
    with pytest.raises(ValueError, match="outside"):
        enc(same, torch.tensor([[0, 8], [1, 2]]))


def test_batch_edge_index_matches_pyg_batch():
    edges = _edges(7, 15)
    data = [Data(x=torch.zeros(7, 1), edge_index=edges) for _ in range(4)]
    expected = Batch.from_data_list(data).edge_index
    assert torch.equal(batch_edge_index(edges, 4, 7), expected)


@pytest.mark.parametrize("norm, residual", [(True, True), (False, False), (True, False)])
def test_clinical_encoder(norm, residual):
    torch.manual_seed(0)
    enc = ClinicalEncoder(3, (2, 4), embed_dim=8, hidden_dims=(16, 16), norm=norm, residual=residual)
    x = torch.tensor([[0.5, float("nan"), -1.0, 1, 3], [0.1, 0.2, 0.3, float("nan"), 0], [1.0, 2.0, 3.0, -1, 2]])
    z = enc(x)
    assert z.shape == (3, 8) and bool(torch.isfinite(z).all())
    z.sum().backward()
    assert all(p.grad is not None for p in enc.head.parameters())
    groups = enc.column_groups
    assert len(groups) == 5 and groups[-1].stop == enc.columns(x).shape[1]
    with pytest.raises(ValueError, match="cardinality"):
        enc(torch.tensor([[0.0, 0.0, 0.0, 2, 0]]))
    with pytest.raises(ValueError, match="clinical input"):
        enc(torch.zeros(2, 4))


def test_clinical_missing_value_differs_from_zero():
    torch.manual_seed(0)
    enc = ClinicalEncoder(2, embed_dim=8).eval()
    a = enc(torch.tensor([[0.0, 1.0]]))
    b = enc(torch.tensor([[float("nan"), 1.0]]))
    assert not torch.allclose(a, b)  # the missingness indicator tells them apart


def test_attention_pooling_mask_and_values():
    pool = AttentionPooling(4)
    with torch.no_grad():
        pool.score.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    x = torch.tensor([[[1.0, 0, 0, 0], [0.0, 1, 0, 0], [2.0, 0, 0, 0]]])
    pool.requires_grad_(False)
    pooled, w = pool(x)
    expected = torch.softmax(torch.tensor([1.0, 0.0, 2.0]), 0)
    assert torch.allclose(w[0], expected)
    assert torch.allclose(pooled[0], (expected[:, None] * x[0]).sum(0))
    pooled, w = pool(x, torch.tensor([[True, True, False]]))
    assert float(w[0, 2]) == 0.0
    assert torch.allclose(w[0, :2], torch.softmax(torch.tensor([1.0, 0.0]), 0))


def test_modality_fusion_masking_and_uncertainty():
    torch.manual_seed(0)
    fusion = ModalityAttentionFusion(8).requires_grad_(False)
    z = torch.randn(3, 3, 8)
    z[1, 1] = float("nan")  # a missing modality may hold garbage: it must not leak
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    fused, alpha, weights = fusion(z, mask)
    assert float(alpha[1, 1]) == 0.0 and float(alpha[2, 0]) == 0.0 and float(alpha[2, 2]) == 1.0
    assert bool(torch.isfinite(fused).all())
    assert torch.allclose(fused[2], z[2, 2])
    assert torch.equal(alpha, weights)
    # eq 21-22 exactly with uniform attention ("mean" mode)
    mean_fusion = ModalityAttentionFusion(8, mode="mean")
    var = torch.tensor([[1.0, 2.0, 4.0], [1.0, 1.0, 3.0], [1.0, 1.0, 1.0]])
    _, alpha_m, w = mean_fusion(z, mask, var)
    inv = 1 / torch.tensor([1.0, 2.0, 4.0])
    assert torch.allclose(w[0], inv / inv.sum(), atol=1e-5)
    assert torch.allclose(w[1], torch.tensor([0.75, 0.0, 0.25]), atol=1e-5)
    assert torch.allclose(alpha_m[0], torch.full((3,), 1 / 3))
    assert torch.allclose(inverse_variance_weights(var[:1]), inv / inv.sum(), atol=1e-5)
    with pytest.raises(ValueError, match="at least one present"):
        fusion(z, torch.tensor([[1, 1, 1], [0, 0, 0], [0, 0, 1]], dtype=torch.bool))
