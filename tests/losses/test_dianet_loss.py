# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DIANetLoss: task defaults, target routing, regulariser parts and zeros, logging parts, errors, and one
SupervisedTrainer iteration with a real DIANet."""

from __future__ import annotations

import pytest
import torch
from monai.engines import SupervisedTrainer
from monai.losses import DiceCELoss

from monai_dianet.losses import DIANetLoss, GaussianKLLoss
from monai_dianet.networks.nets.dianet import DIANet, DIANetOutput


def _output(tasks=("segmentation",), b=2, c=3, k=4, size=16, latent=4, zero_latent=False, requires_grad=False):
    torch.manual_seed(0)
    gen = lambda *s: torch.randn(*s, requires_grad=requires_grad)  # noqa: E731
    mu = torch.zeros(b, 8, latent, latent) if zero_latent else gen(b, 8, latent, latent)
    logvar = torch.zeros(b, 8, latent, latent) if zero_latent else gen(b, 8, latent, latent)
    lat = gen(b, 8, latent, latent)
    return DIANetOutput(
        segmentation=gen(b, c, size, size) if "segmentation" in tasks else None,
        classification=gen(b, k) if "classification" in tasks else None,
        reconstruction=gen(b, 2, size, size) if "reconstruction" in tasks else None,
        aleatoric_logvar={},
        mu=mu,
        logvar=logvar,
        latent=lat,
        pooled_latent=lat.mean((2, 3)),
        prior_logits=gen(b, c, latent, latent) if "segmentation" in tasks else None,
        codebook_assignment=None,
        tasks=tuple(tasks),
    )


def test_segmentation_only_matches_dicece_plus_kl():
    out = _output()
    y = (torch.rand(2, 3, 16, 16) > 0.5).float()
    loss = DIANetLoss(weights={"kl": 0.01})
    total = loss(out, y)
    expected_seg = DiceCELoss(sigmoid=True)(out.segmentation, y)
    expected_kl = GaussianKLLoss()(out.mu, out.logvar)
    assert total.ndim == 0
    assert total.item() == pytest.approx(expected_seg.item() + 0.01 * expected_kl.item(), rel=1e-5)
    assert set(loss.last_parts) == {"segmentation", "kl", "total"}
    assert loss.last_parts["segmentation"] == pytest.approx(expected_seg.item(), rel=1e-5)


def test_multi_head_dict_targets_and_image_argument():
    out = _output(tasks=("classification", "segmentation", "reconstruction"))
    y = (torch.rand(2, 3, 16, 16) > 0.5).float()
    labels = torch.tensor([[1], [3]])  # (B, 1) class indices
    image = torch.randn(2, 2, 16, 16)
    loss = DIANetLoss(weights={"kl": 0.0, "classification": 0.5, "reconstruction": 2.0})
    total = loss(out, {"segmentation": y, "classification": labels}, image=image)
    ce = torch.nn.functional.cross_entropy(out.classification, labels[:, 0])
    mse = torch.nn.functional.mse_loss(out.reconstruction, image)
    seg = DiceCELoss(sigmoid=True)(out.segmentation, y)
    assert total.item() == pytest.approx(0.5 * ce.item() + 2.0 * mse.item() + seg.item(), rel=1e-5)
    # "image" key stands in for the reconstruction target; a tensor target goes to the main head (tasks[0])
    same = loss(out, {"segmentation": y, "classification": labels, "image": image})
    assert same.item() == pytest.approx(total.item(), rel=1e-6)
    cls_only = DIANetLoss(weights={"kl": 0.0, "segmentation": 0.0, "reconstruction": 0.0})
    assert cls_only(out, labels).item() == pytest.approx(ce.item(), rel=1e-5)


def test_softmax_segmentation_with_class_index_target():
    out = _output(c=3)
    y = torch.randint(0, 3, (2, 1, 16, 16))
    loss = DIANetLoss(segmentation_activation="softmax", weights={"kl": 0.0, "anatomical_l2": 1.0})
    loss(out, y)
    expected = DiceCELoss(softmax=True, to_onehot_y=True)(out.segmentation, y)
    assert loss.last_parts["segmentation"] == pytest.approx(expected.item(), rel=1e-5)
    assert loss.last_parts["anatomical_l2"] > 0


def test_regularisers_are_zero_when_prediction_equals_prior():
    prior = torch.rand(3, 4, 4).clamp(0.05, 0.95)
    out = _output(zero_latent=True)
    # segmentation logits: logit of the prior, constant on 4x4 blocks (averages back onto the prior grid)
    out.segmentation = torch.logit(prior).repeat_interleave(4, 1).repeat_interleave(4, 2)[None].repeat(2, 1, 1, 1)
    out.prior_logits = torch.logit(prior)[None].repeat(2, 1, 1, 1)
    loss = DIANetLoss(prior_map=prior, weights={"segmentation": 0.0, "kl": 1.0, "prior_kl": 1.0, "anatomical_l1": 1.0})
    total = loss(out, torch.zeros(2, 3, 16, 16))
    assert set(loss.last_parts) == {"kl", "prior_kl", "anatomical_l1", "total"}
    for name in ("kl", "prior_kl", "anatomical_l1"):
        assert loss.last_parts[name] == pytest.approx(0.0, abs=1e-5)
    assert total.item() == pytest.approx(0.0, abs=1e-5)


def test_anatomical_l2_known_value_against_coarse_target():
    out = _output()
    out.prior_logits = torch.zeros(2, 3, 4, 4)  # P(h) = 0.5 everywhere
    y = (torch.rand(2, 3, 16, 16) > 2).float()  # empty target -> P_target = 0
    loss = DIANetLoss(weights={"segmentation": 0.0, "kl": 0.0, "anatomical_l2": 3.0})
    assert loss(out, y).item() == pytest.approx(3.0 * 0.25)


def test_latent_adversarial_generator_term_and_gradients():
    out = _output(requires_grad=True)
    loss = DIANetLoss(weights={"latent_adv": 0.1}, latent_channels=8)
    loss(out, (torch.rand(2, 3, 16, 16) > 0.5).float()).backward()
    assert "latent_adv" in loss.last_parts
    assert out.latent.grad is not None and out.latent.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.latent_adversarial.discriminator.parameters())
    d_loss = loss.latent_adversarial.discriminator_loss(out.latent)
    assert d_loss.ndim == 0


def test_per_call_prior_from_target_dict():
    prior = torch.rand(3, 4, 4).clamp(0.05, 0.95)
    out = _output()
    out.segmentation = torch.logit(prior).repeat_interleave(4, 1).repeat_interleave(4, 2)[None].repeat(2, 1, 1, 1)
    loss = DIANetLoss(weights={"segmentation": 0.0, "kl": 0.0, "prior_kl": 1.0})
    assert loss(out, {"segmentation": torch.zeros(2, 3, 16, 16), "prior": prior}).item() == pytest.approx(0, abs=1e-5)


def test_errors():
    out = _output(tasks=("segmentation", "reconstruction"))
    y = torch.zeros(2, 3, 16, 16)
    with pytest.raises(KeyError, match="unknown"):
        DIANetLoss(weights={"dice": 1.0})
    with pytest.raises(KeyError, match="unknown task"):
        DIANetLoss(task_losses={"detection": torch.nn.MSELoss()})
    with pytest.raises(ValueError, match=">= 0"):
        DIANetLoss(weights={"kl": -1.0})
    with pytest.raises(ValueError, match="latent_adv"):
        DIANetLoss(weights={"latent_adv": 1.0})
    with pytest.raises(ValueError, match="scalar"):
        DIANetLoss(reduction="none")
    with pytest.raises(ValueError, match="softmax"):
        DIANetLoss(segmentation_activation="tanh")
    with pytest.raises(KeyError, match="reconstruction"):
        DIANetLoss()(out, y)
    with pytest.raises(KeyError, match="unknown key"):
        DIANetLoss()(out, {"segmentation": y, "label": y})
    with pytest.raises(ValueError, match="prior map"):
        DIANetLoss(weights={"prior_kl": 1.0})(out, {"segmentation": y, "reconstruction": torch.zeros(2, 2, 16, 16)})
    with pytest.raises(ValueError, match="return_all=True"):
        DIANetLoss()(torch.zeros(2, 3, 16, 16), y)


def test_prior_mode_metadata_must_match_activation(tmp_path):
    from monai_dianet.networks.utils import save_spatial_prior

    path = save_spatial_prior(torch.rand(3, 4, 4).softmax(0), tmp_path / "prior.pt", mode="softmax")
    with pytest.raises(ValueError, match="softmax"):
        DIANetLoss(prior_map=path)  # default segmentation_activation is sigmoid
    assert DIANetLoss(prior_map=path, segmentation_activation="softmax").weights["prior_kl"] == 0.1


def test_supervised_trainer_iteration_with_real_dianet():
    torch.manual_seed(0)
    net = DIANet(2, 2, 3, return_all=True, fusion_channels=8, latent_channels=8, codebook_size=4)
    x = torch.randn(2, 2, 32, 32)
    y = (torch.rand(2, 3, 32, 32) > 0.7).float()
    prior = torch.rand(3, 8, 8).clamp(0.05, 0.95)
    loss = DIANetLoss(prior_map=prior, weights={"anatomical_l1": 0.1, "latent_adv": 0.01}, latent_channels=8)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=[{"image": x, "label": y}],
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=1e-3),
        loss_function=loss,
        decollate=False,
    )
    trainer.run()
    assert torch.isfinite(trainer.state.output["loss"])
    assert {"segmentation", "kl", "prior_kl", "anatomical_l1", "latent_adv", "total"} == set(loss.last_parts)
    assert loss.last_parts["total"] == pytest.approx(trainer.state.output["loss"].item(), rel=1e-5)


def test_aleatoric_term_trains_log_variance_heads():
    out = _output(tasks=("segmentation", "reconstruction"))
    seg_logvar = torch.zeros(2, 3, 16, 16, requires_grad=True)
    rec_logvar = torch.zeros(2, 2, 16, 16, requires_grad=True)
    out.aleatoric_logvar = {"segmentation": seg_logvar, "reconstruction": rec_logvar}
    y = (torch.rand(2, 3, 16, 16) > 0.5).float()
    image = torch.randn(2, 2, 16, 16)
    loss = DIANetLoss(weights={"kl": 0.0})
    loss(out, {"segmentation": y, "image": image}).backward()
    assert "aleatoric" in loss.last_parts
    assert seg_logvar.grad is not None and seg_logvar.grad.abs().sum() > 0
    assert rec_logvar.grad is not None and rec_logvar.grad.abs().sum() > 0
    off = DIANetLoss(weights={"kl": 0.0, "aleatoric": 0.0})
    off(out, {"segmentation": y, "image": image})
    assert "aleatoric" not in off.last_parts


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_outputs_with_cpu_loss_module():
    out = _output()
    dev = torch.device("cuda")
    for name in ("segmentation", "mu", "logvar", "latent", "prior_logits"):
        setattr(out, name, getattr(out, name).to(dev))
    prior = torch.rand(3, 4, 4).clamp(0.05, 0.95)
    loss = DIANetLoss(prior_map=prior, weights={"anatomical_l1": 0.1, "latent_adv": 0.1}, latent_channels=8)
    total = loss(out, (torch.rand(2, 3, 16, 16) > 0.5).float().to(dev))
    assert total.device.type == "cuda" and torch.isfinite(total)
    assert loss.latent_adversarial.discriminator_loss(out.latent).device.type == "cuda"
