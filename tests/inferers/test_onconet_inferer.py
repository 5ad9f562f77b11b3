# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNetInferer: MC-dropout probabilities of OncoNet with its attention and attributions."""

from __future__ import annotations

import pytest
import torch

from monai_dianet.inferers import OncoNetInferer
from monai_dianet.networks.nets import OncoNet


def test_outputs_and_seeded_mc_samples():
    torch.manual_seed(0)
    net = OncoNet(in_channels=3, num_classes=3, num_genes=12, num_clinical=4, embed_dim=16, image_encoder="cnn",
                  img_size=32, dropout=0.3).eval()
    g = torch.Generator().manual_seed(1)
    inputs = {"image": torch.randn(4, 3, 32, 32, generator=g), "genes": torch.randn(4, 12, generator=g),
              "clinical": torch.randn(4, 4, generator=g),
              "modality_mask": torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 0]], dtype=torch.bool)}
    torch.manual_seed(5)
    out = OncoNetInferer(mc_samples=6)(inputs, net)
    assert out["mean"].shape == out["std"].shape == (4, 3) and out["entropy"].shape == (4,)
    torch.testing.assert_close(out["mean"].sum(1), torch.ones(4))
    assert (out["mutual_information"] >= 0).all() and (out["std"] > 0).any()
    assert torch.equal(out["modality_mask"], inputs["modality_mask"])
    assert (out["alpha"][~inputs["modality_mask"]] == 0).all()
    assert out["gene_attributions"].shape == (4, 12) and (out["gene_attributions"][1] == 0).all()
    torch.manual_seed(5)
    again = OncoNetInferer(mc_samples=6)(inputs, net)
    torch.testing.assert_close(again["mean"], out["mean"])  # the global seed fixes the dropout masks
    plain = OncoNetInferer(mc_samples=2, attribute=False)(inputs, net)
    assert "clinical_attributions" not in plain and plain["mean"].shape == (4, 3)
    with pytest.raises(ValueError, match="mc_samples"):
        OncoNetInferer(mc_samples=1)
