# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigParser
from torch import nn

from monai_dianet.data.synthetic.domain_shift import make_domain_shift_task
from monai_dianet.engines import DomainAdaptiveTrainer, domain_features, split_output
from monai_dianet.engines.domain_adaptive_trainer import target_information_loss
from monai_dianet.handlers import from_loss_parts
from monai_dianet.losses import DIANetLoss, DomainAdversarialLoss, L2SPLoss, MMDLoss
from monai_dianet.networks.blocks.gradient_reversal import DANNSchedule
from monai_dianet.networks.nets.dianet import DIANet, DIANetOutput
from tests.utils import TinyNet, TinyOutput, random_segmentation_batches

SIZE = 16


class CELoss(nn.Module):
    def forward(self, output, target):
        loss = nn.functional.cross_entropy(output.segmentation, target[:, 0].long())
        self.last_parts = {"ce": float(loss.detach()), "total": float(loss.detach())}
        return loss


def source_batches(n: int = 3, batch: int = 4, size: int = SIZE, seed: int = 0):
    return random_segmentation_batches(n, batch, size, seed)


class CountingTargets:
    """Unlabelled target batches that count how often they are restarted and drawn."""

    def __init__(self, n: int = 1, batch: int = 3, size: int = SIZE) -> None:
        g = torch.Generator().manual_seed(1)
        self.batches = [{"image": 2.0 + torch.rand(batch, 1, size, size, generator=g)} for _ in range(n)]
        self.restarts = 0
        self.drawn = 0

    def __iter__(self):
        self.restarts += 1
        for b in self.batches:
            self.drawn += 1
            yield b

    def __len__(self) -> int:
        return len(self.batches)


def record_parts(trainer) -> list[dict[str, float]]:
    history: list[dict[str, float]] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: history.append(from_loss_parts(e.state.output)))
    return history


def test_split_output_on_dianet_output():
    b = 5
    out = DIANetOutput(
        segmentation=torch.randn(b, 2, 8, 8), classification=None, reconstruction=None,
        aleatoric_logvar={"segmentation": torch.randn(b, 2, 8, 8)}, mu=torch.randn(b, 4, 2, 2),
        logvar=torch.randn(b, 4, 2, 2), latent=torch.randn(b, 4, 2, 2), pooled_latent=torch.randn(b, 4),
        prior_logits=torch.randn(b, 2, 2, 2), codebook_assignment=None,
        stage_attention=[torch.randn(b, 1, 4, 4), torch.randn(b, 1, 2, 2)], fusion_attention=[],
        fused=torch.randn(b, 8, 2, 2),
    )
    first, second = split_output(out, [3, 2])
    assert isinstance(first, DIANetOutput) and first.tasks == out.tasks
    assert first.segmentation.shape[0] == 3 and second.segmentation.shape[0] == 2
    torch.testing.assert_close(torch.cat([first.pooled_latent, second.pooled_latent]), out.pooled_latent)
    assert [a.shape[0] for a in second.stage_attention] == [2, 2]
    assert second.aleatoric_logvar["segmentation"].shape[0] == 2
    assert first.classification is None
    torch.testing.assert_close(first.main, out.main[:3])
    a, c = split_output(torch.arange(6), [4, 2])
    assert a.tolist() == [0, 1, 2, 3] and c.tolist() == [4, 5]


def test_domain_features_lookup():
    t = torch.zeros(2, 3)
    assert domain_features(t, "main") is t
    out = TinyOutput(t, t, t, t)
    assert domain_features(out, "pooled_latent") is t
    with pytest.raises(KeyError, match="latent"):
        domain_features(out, "latent")
    with pytest.raises(KeyError):
        domain_features(t, "pooled_latent")


def test_mmd_training_records_parts_and_cycles_the_target_loader():
    torch.manual_seed(0)
    net = TinyNet()
    targets = CountingTargets(n=1)
    trainer = DomainAdaptiveTrainer(
        "cpu", 2, source_batches(3), targets, net, torch.optim.Adam(net.parameters(), 1e-2), CELoss(),
        domain_loss=MMDLoss(), domain_weight=0.5,
    )
    history = record_parts(trainer)
    trainer.run()
    assert len(history) == 6
    assert targets.drawn == 6 and targets.restarts == 6  # a one-batch target set restarts every iteration
    assert net.calls == 6  # joint forward: one pass per iteration
    for parts in history:
        assert {"loss/ce", "loss/task", "loss/domain", "loss/domain_weight", "loss/total"} <= set(parts)
        assert parts["loss/domain_weight"] == 0.5
        assert parts["loss/total"] == pytest.approx(parts["loss/task"] + 0.5 * parts["loss/domain"], rel=1e-4)
        assert "loss/grl_coeff" not in parts
    out = trainer.state.output
    assert out[0]["pred"].shape == (2, SIZE, SIZE) and len(out) == 4  # source batch only


def test_long_target_loader_is_not_restarted():
    net = TinyNet()
    targets = CountingTargets(n=10)
    trainer = DomainAdaptiveTrainer(
        "cpu", 1, source_batches(3), targets, net, torch.optim.SGD(net.parameters(), 0.1), CELoss(),
        domain_loss=MMDLoss(),
    )
    trainer.run()
    assert targets.restarts == 1 and targets.drawn == 3


def test_adversarial_training_follows_the_dann_schedule_and_trains_the_discriminator():
    torch.manual_seed(0)
    net = TinyNet()
    adv = DomainAdversarialLoss(in_channels=4, hidden_features=(8,))
    disc_before = [p.detach().clone() for p in adv.parameters()]
    epochs, per_epoch = 2, 3
    trainer = DomainAdaptiveTrainer(
        "cpu", epochs, source_batches(per_epoch), CountingTargets(n=2), net, torch.optim.Adam(net.parameters(), 1e-2),
        CELoss(), domain_loss=adv, discriminator_optimizer=torch.optim.Adam(adv.parameters(), 1e-2),
        domain_weight_schedule=DANNSchedule(gamma=5.0),
    )
    history = record_parts(trainer)
    trainer.run()
    total = epochs * per_epoch
    expected_coeff = [DANNSchedule()(i / total) for i in range(total)]
    assert [h["loss/grl_coeff"] for h in history] == pytest.approx(expected_coeff)
    expected_weight = [DANNSchedule(5.0)(i / total) for i in range(total)]
    assert [h["loss/domain_weight"] for h in history] == pytest.approx(expected_weight)
    assert all(0.0 <= h["loss/domain_accuracy"] <= 1.0 for h in history)
    assert any(not torch.equal(b, p) for b, p in zip(disc_before, adv.parameters()))


def test_separate_forward_passes_and_different_target_size():
    net = TinyNet()
    targets = CountingTargets(n=2, size=2 * SIZE)  # other spatial size: falls back to two passes
    trainer = DomainAdaptiveTrainer(
        "cpu", 1, source_batches(2), targets, net, torch.optim.SGD(net.parameters(), 0.1), CELoss(),
        domain_loss=MMDLoss(), domain_feature="pooled_latent", joint_forward=True,
    )
    trainer.run()
    assert net.calls == 4
    net2 = TinyNet()
    DomainAdaptiveTrainer(
        "cpu", 1, source_batches(2), CountingTargets(n=2), net2, torch.optim.SGD(net2.parameters(), 0.1), CELoss(),
        domain_loss=MMDLoss(spatial="flatten"), domain_feature="fused", joint_forward=False,
    ).run()
    assert net2.calls == 4


@pytest.mark.parametrize("spatial", [(), (3, 3)])
def test_target_information_loss_known_values(spatial):
    confident_balanced = torch.tensor([[20.0, -20.0], [-20.0, 20.0]]).view(2, 2, *([1] * len(spatial)))
    confident_balanced = confident_balanced.expand(2, 2, *spatial)
    collapsed = torch.tensor([[20.0, -20.0], [20.0, -20.0]]).view(2, 2, *([1] * len(spatial))).expand(2, 2, *spatial)
    uniform = torch.zeros(2, 2, *spatial)
    # confident and balanced: H(p_i) = 0, H(mean p) = log 2 -> the minimum -log 2
    assert float(target_information_loss(confident_balanced)) == pytest.approx(-math.log(2), abs=1e-5)
    # collapsed onto one class: no diversity reward
    assert float(target_information_loss(collapsed)) == pytest.approx(0.0, abs=1e-5)
    # uniform predictions: H(p_i) = log 2 = H(mean p)
    assert float(target_information_loss(uniform)) == pytest.approx(0.0, abs=1e-5)
    assert float(target_information_loss(uniform, diversity=False)) == pytest.approx(math.log(2), abs=1e-5)
    logits = torch.randn(4, 3, *spatial, requires_grad=True)
    target_information_loss(logits).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="logits"):
        target_information_loss(torch.zeros(4, 1))


def test_target_information_term_is_added_with_its_weight():
    torch.manual_seed(0)
    net = TinyNet()
    trainer = DomainAdaptiveTrainer(
        "cpu", 1, source_batches(3), CountingTargets(), net, torch.optim.SGD(net.parameters(), 0.1), CELoss(),
        domain_loss=MMDLoss(), domain_weight=0.5, target_entropy_weight=0.3,
    )
    history = record_parts(trainer)
    trainer.run()
    for h in history:
        expected = h["loss/task"] + 0.5 * h["loss/domain"] + 0.3 * h["loss/target_entropy"]
        assert h["loss/total"] == pytest.approx(expected, rel=1e-4)


def test_penalties_and_no_domain_loss():
    torch.manual_seed(0)
    net = TinyNet()
    l2sp = L2SPLoss(net)
    trainer = DomainAdaptiveTrainer(
        "cpu", 1, source_batches(3), CountingTargets(), net, torch.optim.SGD(net.parameters(), 0.5), CELoss(),
        domain_loss=None, penalties={"l2sp": l2sp}, penalty_weights={"l2sp": 2.0},
    )
    history = record_parts(trainer)
    trainer.run()
    assert history[0]["loss/l2sp"] == 0.0  # still at the source parameters
    assert history[-1]["loss/l2sp"] > 0.0
    for h in history:
        assert "loss/domain" not in h
        assert h["loss/total"] == pytest.approx(h["loss/task"] + 2.0 * h["loss/l2sp"], rel=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"domain_weight": -1.0}, "lambda3"),
        ({"penalties": {}, "penalty_weights": {"ewc": 1.0}}, "ewc"),
        ({"target_entropy_weight": -0.1}, "target_entropy_weight"),
    ],
)
def test_bad_arguments(kwargs, match):
    net = TinyNet()
    with pytest.raises(ValueError, match=match):
        DomainAdaptiveTrainer(
            "cpu", 1, source_batches(1), CountingTargets(), net, torch.optim.SGD(net.parameters(), 0.1), CELoss(),
            **kwargs,
        )


def test_empty_target_loader_raises():
    net = TinyNet()
    trainer = DomainAdaptiveTrainer(
        "cpu", 1, source_batches(1), [], net, torch.optim.SGD(net.parameters(), 0.1), CELoss(), domain_loss=MMDLoss()
    )
    with pytest.raises(ValueError, match="no batch"):
        trainer.run()


def test_ddp_joint_forward(tmp_path):
    dist = torch.distributed
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        net = TinyNet()
        ddp = nn.parallel.DistributedDataParallel(net)
        trainer = DomainAdaptiveTrainer(
            "cpu", 1, source_batches(2), CountingTargets(n=2), ddp, torch.optim.SGD(ddp.parameters(), 0.1), CELoss(),
            domain_loss=MMDLoss(), penalties={"l2sp": L2SPLoss(net)},
        )
        trainer.run()
        assert math.isfinite(from_loss_parts(trainer.state.output)["loss/total"])
    finally:
        dist.destroy_process_group()


def test_built_from_bundle_config_with_dianet():
    config = {
        "imports": ["$from monai_dianet.handlers import from_loss_parts"],
        "network": {"_target_": "monai_dianet.networks.nets.DIANet", "spatial_dims": 2, "in_channels": 1,
                    "out_channels": 2, "tasks": ["classification"], "codebook_size": 0, "diffuser": False,
                    "fusion_channels": 16, "latent_channels": 8},
        "domain_loss": {"_target_": "monai_dianet.losses.DomainAdversarialLoss", "in_channels": 8},
        "optimizer": {"_target_": "torch.optim.Adam", "lr": 1e-3,
                      "params": "$list(@network.parameters()) + list(@domain_loss.parameters())"},
        "trainer": {
            "_target_": "monai_dianet.engines.DomainAdaptiveTrainer", "device": "cpu", "max_epochs": 1,
            "train_data_loader": "@source", "target_data_loader": "@target", "network": "@network",
            "optimizer": "@optimizer", "loss_function": {"_target_": "monai_dianet.losses.DIANetLoss"},
            "domain_loss": "@domain_loss", "domain_weight": 0.1, "domain_feature": "mu",
            "train_handlers": [{"_target_": "StatsHandler", "output_transform": "$from_loss_parts"},
                               {"_target_": "monai_dianet.handlers.LossPartsHandler"}],
        },
    }
    parser = ConfigParser(config)
    g = torch.Generator().manual_seed(0)
    parser["source"] = [{"image": torch.rand(4, 1, 32, 32, generator=g), "label": torch.tensor([0, 1, 0, 1])}]
    parser["target"] = [{"image": torch.rand(4, 1, 32, 32, generator=g) + 1}]
    trainer = parser.get_parsed_content("trainer")
    assert isinstance(trainer, DomainAdaptiveTrainer)
    trainer.run()
    assert {"loss/classification", "loss/domain", "loss/grl_coeff", "loss/total"} <= set(trainer.state.metrics)


# ---------------------------------------------------------------------------------------------- domain-shift demo
def test_update_on_the_demo_task_is_task_plus_weighted_mmd_gradient():
    """Eq 22 on the domain-shift demo, exactly: one DomainAdaptiveTrainer iteration of DIANet-2D with MMD on the pooled
    latents of a joint source + target forward gives the gradient of the task loss plus lambda3 times the gradient of
    MMD(source latents, target latents).

    A deterministic property of the method (the same on any CPU up to float rounding), in place of a trained-accuracy
    claim: whether adaptation raises target accuracy depends on each training trajectory, which differs between CPUs,
    so that claim is measured over seeds in benchmarks/bench_domain_adaptation.py (benchmarks/RESULTS.md, mean +- sd).
    """
    task = make_domain_shift_task(8, 8, 1, size=32, seed=0, task="classification")
    source = {"image": torch.stack([d["image"] for d in task["source_train"]]),
              "label": torch.stack([d["label"] for d in task["source_train"]])}
    target = {"image": torch.stack([d["image"] for d in task["target_train"]])}
    weight = 0.7
    torch.manual_seed(0)
    initial = DIANet(2, 1, 2, tasks=("classification",), codebook_size=0, diffuser=False, fusion_channels=32,
                     latent_channels=16).state_dict()

    def gradients(domain_loss):
        net = DIANet(2, 1, 2, tasks=("classification",), codebook_size=0, diffuser=False, fusion_channels=32,
                     latent_channels=16)
        net.load_state_dict(initial)
        torch.manual_seed(1)  # the same latent sampling noise in every run
        DomainAdaptiveTrainer("cpu", 1, [source], [target], net, torch.optim.SGD(net.parameters(), 0.0),
                              DIANetLoss(), domain_loss=domain_loss, domain_weight=weight,
                              domain_feature="pooled_latent").run()
        return net, {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}

    _, task_only = gradients(None)
    net, with_mmd = gradients(MMDLoss())
    net.zero_grad()
    net.train()
    torch.manual_seed(1)
    latent = net(torch.cat([source["image"], target["image"]]), return_all=True).pooled_latent
    MMDLoss()(latent[:8], latent[8:]).backward()
    mmd_grad = {n: p.grad for n, p in net.named_parameters() if p.grad is not None}
    assert set(with_mmd) == set(task_only) | set(mmd_grad)
    encoder = [n for n in mmd_grad if float(mmd_grad[n].abs().max()) > 0]
    assert len(encoder) > 10  # the domain term reaches the encoder, not just the latent head
    for name, grad in with_mmd.items():
        expected = task_only.get(name, 0) + weight * mmd_grad.get(name, torch.zeros_like(grad))
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)
