# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""EnsembleInferer: statistics against an explicit loop over the members, sliding windows, checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from monai.inferers import SlidingWindowInferer

from monai_dianet.inferers import ACWIRouter, EnsembleInferer, load_checkpoint_state
from monai_dianet.metrics import uncertainty_maps


def member(seed: int, out_channels: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, out_channels, 1)).eval()


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_statistics_equal_explicit_loop(activation):
    members = [member(s) for s in range(4)]
    x = torch.randn(2, 2, 10, 12)
    act = (lambda z: torch.softmax(z, 1)) if activation == "softmax" else torch.sigmoid
    with torch.no_grad():
        out = EnsembleInferer(members, activation=activation)(x, None)
        ref = uncertainty_maps(torch.stack([act(m(x)) for m in members]), activation)
    assert set(out) == set(ref) == {"mean", "entropy", "variance", "mutual_information"}
    for key in ref:
        assert out[key].shape == ref[key].shape
        assert torch.allclose(out[key], ref[key], atol=1e-5), key
    assert float(out["mutual_information"].min()) >= 0 and float(out["mutual_information"].max()) > 1e-3


def test_members_at_call_time_and_identical_members_agree():
    members = [member(s) for s in range(3)]
    x = torch.randn(1, 2, 8, 8)
    with torch.no_grad():
        a = EnsembleInferer(members)(x, None)
        b = EnsembleInferer()(x, nn.ModuleList(members))
        same = EnsembleInferer([members[0]] * 3)(x, None)
    for key in a:
        assert torch.allclose(a[key], b[key])
    assert float(same["mutual_information"].max()) < 1e-5 and float(same["variance"].max()) < 1e-6
    with pytest.raises(ValueError, match="sequence of networks"):
        EnsembleInferer()(x, members[0])
    with pytest.raises(ValueError, match="at least one"):
        EnsembleInferer([])


def test_composes_with_sliding_window():
    members = [member(s) for s in range(3)]
    x = torch.randn(1, 2, 12, 12)
    sw = SlidingWindowInferer(roi_size=(8, 8), sw_batch_size=2, overlap=0.5)
    with torch.no_grad():
        out = EnsembleInferer(members, inferer=sw)(x, None)
        # the mean is linear: blending per-window ensemble means equals averaging each member's blended softmax
        ref = torch.stack([sw(x, lambda z, m=m: torch.softmax(m(z), 1)) for m in members]).mean(0)
    assert torch.allclose(out["mean"], ref, atol=1e-5)
    assert out["entropy"].shape == (1, 1, 12, 12) and all(bool(torch.isfinite(v).all()) for v in out.values())


def test_heteroscedastic_dianet_members_give_aleatoric_map():
    from monai_dianet.networks.nets import DIANet

    members = []
    for s in range(2):
        torch.manual_seed(s)
        members.append(
            DIANet(2, 1, 2, heteroscedastic=True, backbone_width=0.125, fusion_channels=8, latent_channels=8,
                   codebook_size=0, diffuser=False, decoder_channels=4).eval()
        )
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        out = EnsembleInferer(members)(x, None)
        outs = [m(x, return_all=True) for m in members]
    ref = torch.stack([o.aleatoric_logvar["segmentation"].exp() for o in outs]).mean(0)
    assert torch.allclose(out["aleatoric"], ref, atol=1e-5)
    assert torch.allclose(out["mean"], torch.stack([torch.softmax(o.segmentation, 1) for o in outs]).mean(0), atol=1e-5)


def test_from_checkpoints(tmp_path):
    members = [member(s) for s in range(2)]
    torch.save(members[0].state_dict(), tmp_path / "a.pt")
    torch.save({"model": members[1].state_dict(), "epoch": 3}, tmp_path / "b.pt")
    ens = EnsembleInferer.from_checkpoints(member(9), [tmp_path / "a.pt", tmp_path / "b.pt"], activation="sigmoid")
    x = torch.randn(1, 2, 8, 8)
    with torch.no_grad():
        a, b = ens(x, None), EnsembleInferer(members, activation="sigmoid")(x, None)
    assert ens.total_samples == 2 and all(torch.allclose(a[k], b[k]) for k in a)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        EnsembleInferer.from_checkpoints(member(0), [tmp_path / "missing.pt"])
    with pytest.raises(KeyError, match="'net'"):
        load_checkpoint_state(tmp_path / "b.pt", key="net")


def test_refine_path_of_the_router():
    """As ACWIRouter's slow path: refined cases get the ensemble's maps; accepted ones keep the fast pass."""
    members = [member(s) for s in range(3)]
    x = torch.randn(2, 2, 8, 8)
    ensemble = EnsembleInferer(members)
    with torch.no_grad():
        ref = ensemble(x, None)
        refined = ACWIRouter(refine_inferer=ensemble, thresholds={"accept": -1.0, "review": None})(x, members[0])
        accepted = ACWIRouter(refine_inferer=ensemble, thresholds={"accept": 1e9, "review": None})(x, members[0])
    assert refined["decision"] == ["refine", "refine"]
    for key in ref:
        assert torch.allclose(refined[key], ref[key], atol=1e-5), key
    assert accepted["decision"] == ["accept", "accept"]
    assert torch.allclose(accepted["mean"], torch.softmax(members[0](x), 1), atol=1e-5)
