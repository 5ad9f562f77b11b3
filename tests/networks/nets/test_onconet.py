# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNet: variants, missing modalities, batching, attributions, uncertainty-weighted fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from monai_dianet.networks.nets import OncoNet, OncoNetOutput
from monai_dianet.utils import MODALITIES

NUM_GENES, NUM_CLINICAL = 16, 5


def _edges(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, NUM_GENES, (2, 48), generator=torch.Generator().manual_seed(seed))


def _batch(b: int = 4, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clinical = torch.randn(b, NUM_CLINICAL, generator=g)
    clinical[:, -1] = torch.randint(0, 3, (b,), generator=g).float()
    return {
        "image": torch.randn(b, 3, size, size, generator=g),
        "genes": torch.randn(b, NUM_GENES, generator=g),
        "clinical": clinical,
    }


def _net(**kwargs) -> OncoNet:
    torch.manual_seed(0)
    defaults = dict(
        in_channels=3, num_classes=3, num_genes=NUM_GENES, num_clinical=NUM_CLINICAL, embed_dim=16,
        clinical_categories=(3,), edge_index=_edges(), img_size=32, image_encoder="cnn",
    )
    defaults.update(kwargs)
    return OncoNet(**defaults)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"variant": "M1"},
        {"variant": "M2"},
        {"variant": "M3"},
        {"variant": "M5"},
        {"image_encoder": "cnn", "genomic_encoder": "transformer"},
        {"image_encoder": None, "genomic_encoder": None, "clinical": True},
    ],
)
def test_variants_forward_backward(kwargs):
    net = _net(**kwargs)
    batch = _batch()
    logits = net(**batch)
    assert logits.shape == (4, 3)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0]))
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    out = net.eval()(batch, return_all=True)
    assert isinstance(out, OncoNetOutput)
    assert out.embeddings.shape == (4, len(MODALITIES), 16)
    assert torch.allclose(out.alpha.sum(1), torch.ones(4), atol=1e-5)
    for slot, name in enumerate(MODALITIES):
        if name not in net.modalities:
            assert bool((out.alpha[:, slot] == 0).all())


def test_variant_table():
    assert _net(variant="M1").fusion.mode == "mean"
    assert _net(variant="M3").image_encoder_name == "vit" and _net(variant="M3").genomic_encoder_name == "graph"
    assert _net(variant="M5").uncertainty_weighted
    with pytest.raises(ValueError, match="variant"):
        _net(variant="M9")


@pytest.mark.parametrize("genomic", ["graph", "transformer"])
def test_missing_modality_gets_zero_weight(genomic):
    net = _net(genomic_encoder=genomic).eval()
    batch = _batch()
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [0, 1, 0]], dtype=torch.bool)
    batch["genes"][1] = float("nan")  # absent data may be anything
    out = net(batch | {"modality_mask": mask}, return_all=True, attribute=True)
    assert bool(torch.isfinite(out.logits).all())
    assert bool((out.alpha[~mask] == 0).all()) and bool((out.alpha[mask] > 0).all())
    assert float(out.alpha[2, 2].detach()) == 1.0 and float(out.alpha[3, 1].detach()) == 1.0
    # the prediction of a patient does not depend on the content of its missing modalities
    other = dict(batch)
    other["image"] = batch["image"].clone()
    other["image"][2:] = 100.0
    out2 = net(other | {"modality_mask": mask}, return_all=True)
    assert torch.allclose(out.logits[2:], out2.logits[2:], atol=1e-5)
    assert bool((out.gene_attributions[1] == 0).all()) and bool((out.clinical_attributions[3] == 0).all())
    assert bool((out.image_attributions[2] == 0).all())


def test_absent_input_and_errors():
    net = _net(genomic_encoder="transformer").eval()
    batch = _batch()
    out = net(batch["image"], clinical=batch["clinical"], return_all=True)  # no genes at all
    assert bool((out.alpha[:, 1] == 0).all()) and out.gene_attributions is None
    with pytest.raises(ValueError, match="no modality"):
        net(batch, modality_mask=torch.zeros(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="batch size"):
        net(batch["image"], genes=batch["genes"][:2])
    with pytest.raises(ValueError, match="at least one modality"):
        OncoNet(image_encoder=None, genomic_encoder=None, clinical=False)
    with pytest.raises(ValueError, match="uncertainty_weighted"):
        _net(uncertainty_weighted=True, dropout=0.0)


def test_batch_equals_one_at_a_time():
    net = _net(image_encoder="dianet", genomic_encoder="graph").eval()
    batch = _batch(b=3)
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1]], dtype=torch.bool)
    out = net(batch | {"modality_mask": mask}, return_all=True)
    for b in range(3):
        single = {k: v[b : b + 1] for k, v in batch.items()}
        out_b = net(single | {"modality_mask": mask[b : b + 1]}, return_all=True)
        assert torch.allclose(out.logits[b], out_b.logits[0], atol=1e-4)
        assert torch.allclose(out.alpha[b], out_b.alpha[0], atol=1e-5)
        assert torch.allclose(out.gene_attributions[b], out_b.gene_attributions[0], atol=1e-5)
    # collated copies of the shared graph, (B, 2, E), give the same result as the stored (2, E) edges
    collated = net(batch | {"modality_mask": mask, "graph": _edges()[None].repeat(3, 1, 1)}, return_all=True)
    assert torch.allclose(collated.logits, out.logits, atol=1e-5)
    # so does a PyG Batch of the patient graphs (as monai_dianet.apps.tcga.data.tcga_collate builds it)
    graphs = Batch.from_data_list([Data(x=g[:, None], edge_index=_edges()) for g in batch["genes"]])
    pyg = net(batch | {"modality_mask": mask, "graph": graphs}, return_all=True)
    assert torch.allclose(pyg.logits, out.logits, atol=1e-5)


def test_modality_dropout_only_in_training():
    net = _net(modality_dropout=0.5, image_encoder=None)
    batch = {k: v for k, v in _batch(b=64).items() if k != "image"}
    out = net(batch, return_all=True)
    assert bool(out.modality_mask.any(1).all())
    assert 0 < int((~out.modality_mask[:, 1:]).sum()) < 64 * 2
    net.eval()
    assert bool(net(batch, return_all=True).modality_mask[:, 1:].all())


def test_uncertainty_weighted_fusion():
    net = _net(uncertainty_weighted=True, dropout=0.3).eval()
    batch = _batch()
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=torch.bool)
    out = net(batch | {"modality_mask": mask}, return_all=True)
    w = out.uncertainty_weights
    assert w is not None and torch.allclose(w.sum(1), torch.ones(4), atol=1e-5)
    assert bool((w[~mask] == 0).all()) and bool((out.fusion_weights[~mask] == 0).all())
    # fusion weights are alpha * w renormalised (eq 16 x eq 21)
    expected = out.alpha * w / (out.alpha * w).sum(1, keepdim=True)
    assert torch.allclose(out.fusion_weights, expected, atol=1e-5)
    assert torch.allclose(out.fused, torch.einsum("bm,bmd->bd", out.fusion_weights, out.embeddings), atol=1e-5)


def test_clinical_attributions_gradient_x_input():
    net = _net(image_encoder=None, genomic_encoder="mlp").eval()
    batch = {k: v for k, v in _batch().items() if k != "image"}
    out = net(batch, return_all=True, attribute=True)
    assert out.clinical_attributions.shape == (4, NUM_CLINICAL)
    assert out.gene_attributions.shape == (4, NUM_GENES)
    assert float(out.clinical_attributions.abs().sum()) > 0
    # a numeric column set to 0 (the mean) has zero value-attribution; only its missingness flag could count
    batch["clinical"][:, 0] = 0.0
    out = net(batch, return_all=True, attribute=True)
    assert torch.allclose(out.clinical_attributions[:, 0], torch.zeros(4), atol=1e-6)


def test_mc_dropout_context():
    net = _net(image_encoder=None, dropout=0.5).eval()
    batch = {k: v for k, v in _batch().items() if k != "image"}
    assert torch.equal(net(batch), net(batch))
    with net.mc_dropout():
        assert not torch.allclose(net(batch), net(batch))
    assert torch.equal(net(batch), net(batch))


def test_closed_form_variance_matches_mc_dropout():
    torch.manual_seed(0)
    net = _net(image_encoder=None, uncertainty_weighted=True, dropout=0.3).eval()
    batch = {k: v for k, v in _batch().items() if k != "image"}
    out = net(batch, return_all=True)
    assert torch.equal(out.logits, net(batch))  # deterministic in eval
    net.mc_samples = 4000
    sampled = net(batch, return_all=True).modality_variance
    assert torch.allclose(sampled[:, 1:], out.modality_variance[:, 1:], rtol=0.1)
    assert bool((out.modality_variance[:, 0] == 0).all())


def _train_and_score(modalities, train, val, data, seed):
    """Train an OncoNet on the given modalities of the generated cohort; validation AUC."""
    from sklearn.metrics import roc_auc_score

    from monai_dianet.losses import OncoNetLoss

    keep = torch.tensor([m in modalities for m in MODALITIES])
    torch.manual_seed(seed)
    net = OncoNet(
        3, num_classes=2, num_genes=data.num_genes, num_clinical=data.num_clinical, embed_dim=16, dropout=0.1,
        image_encoder="cnn" if "image" in modalities else None,
        genomic_encoder="mlp" if "genes" in modalities else None, clinical="clinical" in modalities,
    )
    loss_fn = OncoNetLoss(net)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    n = len(train["label"])
    for _ in range(10):
        net.train()
        perm = torch.randperm(n)
        for start in range(0, n - 1, 16):
            idx = perm[start : start + 16]
            batch = {k: v[idx] for k, v in train.items() if k != "label"} | {"modality_mask": train["modality_mask"][idx] & keep}
            loss = loss_fn(net(batch, return_all=True), train["label"][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        batch = {k: v for k, v in val.items() if k != "label"} | {"modality_mask": val["modality_mask"] & keep}
        probs = torch.softmax(net(batch), 1)[:, 1]
    return roc_auc_score(val["label"].numpy(), probs.numpy())


@pytest.mark.slow
def test_fusion_beats_every_single_modality(tmp_path):
    """On the generated cohort each modality carries a third of the risk signal: fused, all three must beat each.

    Validation AUC on 120 cases moves by about 0.05 from one cohort to the next, so a single cohort can go either
    way; the claim is checked on the mean over three cohorts (seeds 0-2, 240 cases each, about 40 s on one core).
    Measured (2026-12-01, OMP_NUM_THREADS=1 / 2): fused 0.736 / 0.738, best single modality (clinical) 0.679 /
    0.678, a margin of about 0.06."""
    from monai_dianet.apps.tcga.data import build_tcga_data
    from monai_dianet.data.synthetic.tcga import generate_tcga

    def stack(ds):
        items = [ds[i] for i in range(len(ds))]
        return {k: torch.stack([torch.as_tensor(it[k]) for it in items])
                for k in ("image", "genes", "clinical", "modality_mask", "label")}

    scores = []
    for seed in range(3):
        generate_tcga(tmp_path / str(seed), num=240, seed=seed, num_genes=96, patch_size=16, missing_rate=0.0,
                      progress=False)
        data = build_tcga_data(tmp_path / str(seed), num_genes=32, val_fraction=0.5, seed=seed,
                               spatial_size=(16, 16), random_patch_train=False)
        train, val = stack(data.datasets["training"]), stack(data.datasets["validation"])
        scores.append({m: _train_and_score((m,), train, val, data, seed) for m in MODALITIES}
                      | {"fused": _train_and_score(MODALITIES, train, val, data, seed)})
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    assert all(mean["fused"] > mean[m] for m in MODALITIES), scores
    assert mean["fused"] > 0.7, scores
