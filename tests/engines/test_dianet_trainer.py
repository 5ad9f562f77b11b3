# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import logging
import math

import pytest
import torch
from monai.bundle import ConfigParser
from monai.handlers import MeanDice, StatsHandler, TensorBoardStatsHandler, from_engine
from monai.losses import DiceCELoss
from monai.transforms import Activationsd, AsDiscreted, Compose
from torch import nn

from monai_dianet.engines import DIANetTrainer, main_output, unwrap_network
from monai_dianet.handlers import LossPartsHandler, from_loss_parts
from monai_dianet.losses.dianet_loss import DIANetLoss
from monai_dianet.networks.nets.dianet import DIANet
from tests.utils import TinyNet, TinyOutput, random_segmentation_batches

SIZE = 32


def small_dianet(**kwargs) -> DIANet:
    opts = dict(codebook_size=0, diffuser=False, fusion_channels=16, latent_channels=8, decoder_channels=8)
    opts.update(kwargs)
    return DIANet(2, 1, 2, backbone="resnet10", **opts)


def seg_batches(n: int = 2, batch: int = 4, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    return random_segmentation_batches(n, batch, SIZE, seed)


class PartsLoss(nn.Module):
    """Cross-entropy on the main head with a made-up second part, exposing ``last_parts`` like DIANetLoss."""

    def forward(self, output, target):
        ce = nn.functional.cross_entropy(output.segmentation, target[:, 0].long())
        reg = 1e-2 * output.pooled_latent.pow(2).mean()
        self.last_parts = {"ce": float(ce.detach()), "reg": float(reg.detach()), "total": float((ce + reg).detach())}
        return ce + reg


def test_main_output_and_unwrap():
    t = torch.zeros(1)
    assert main_output(t) is t
    assert main_output(TinyOutput(t, t)) is t
    with pytest.raises(TypeError):
        main_output({"segmentation": t})
    net = TinyNet()
    assert unwrap_network(nn.DataParallel(net)) is net


def test_dianet_trainer_with_dianet_and_dianet_loss():
    torch.manual_seed(0)
    net = small_dianet()
    loss = DIANetLoss(segmentation_activation="softmax", weights={"kl": 1e-3})
    before = [p.detach().clone() for p in net.parameters()]
    trainer = DIANetTrainer(
        device="cpu",
        max_epochs=1,
        train_data_loader=seg_batches(),
        network=net,
        optimizer=torch.optim.Adam(net.parameters(), 1e-3),
        loss_function=loss,
        postprocessing=Compose(
            [Activationsd(keys="pred", softmax=True), AsDiscreted(keys=("pred", "label"), argmax=(True, False),
                                                                  to_onehot=2)]
        ),
        key_train_metric={
            "train_dice": MeanDice(include_background=False, output_transform=from_engine(["pred", "label"]))
        },
        train_handlers=[LossPartsHandler()],
    )
    trainer.run()
    out = trainer.state.output
    assert isinstance(out, list) and len(out) == 4  # decollated per item
    assert out[0]["pred"].shape == (2, SIZE, SIZE)  # main head (after the post transforms), not the dataclass
    parts = from_loss_parts(out)
    assert {"loss/segmentation", "loss/kl", "loss/total"} <= set(parts)
    assert all(math.isfinite(v) for v in parts.values())
    assert parts["loss/total"] == pytest.approx(float(out[0]["loss"]), rel=1e-5)
    assert 0.0 <= trainer.state.metrics["train_dice"] <= 1.0
    assert "loss/kl" in trainer.state.metrics  # epoch mean from LossPartsHandler
    assert any(not torch.equal(b, p) for b, p in zip(before, net.parameters()))


def test_reconstruction_head_gets_the_input_image():
    torch.manual_seed(0)
    net = small_dianet(tasks=("segmentation", "reconstruction"))
    trainer = DIANetTrainer(
        "cpu", 1, seg_batches(1), net, torch.optim.SGD(net.parameters(), 1e-3),
        DIANetLoss(segmentation_activation="softmax"),
    )
    trainer.run()
    parts = from_loss_parts(trainer.state.output)
    assert parts["loss/reconstruction"] > 0


def test_plain_monai_loss_on_main_head():
    net = TinyNet()
    trainer = DIANetTrainer(
        "cpu", 1, seg_batches(), net, torch.optim.SGD(net.parameters(), 0.1),
        DiceCELoss(softmax=True, to_onehot_y=True), loss_input="main",
    )
    trainer.run()
    assert set(from_loss_parts(trainer.state.output)) == {"loss/total"}
    with pytest.raises(ValueError, match="loss_input"):
        DIANetTrainer(
            "cpu", 1, seg_batches(), net, torch.optim.SGD(net.parameters(), 0.1), DiceCELoss(), loss_input="x"
        )


class _FakeWriter:
    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        pass


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_loss_parts_reach_stats_and_tensorboard_handlers():
    net = TinyNet()
    records = _ListHandler()
    logging.getLogger("dianet_test_stats").addHandler(records)
    writer = _FakeWriter()
    handlers = [
        StatsHandler(name="dianet_test_stats", output_transform=from_loss_parts, iteration_log=True),
        TensorBoardStatsHandler(summary_writer=writer, output_transform=from_loss_parts),
    ]
    trainer = DIANetTrainer(
        "cpu", 1, seg_batches(3), net, torch.optim.SGD(net.parameters(), 0.1), PartsLoss(), train_handlers=handlers
    )
    trainer.run()
    logging.getLogger("dianet_test_stats").removeHandler(records)
    text = "\n".join(records.messages)
    assert "loss/ce" in text and "loss/reg" in text
    tags = {t for t, _, _ in writer.scalars}
    assert {"loss/ce", "loss/reg", "loss/total"} <= tags
    steps = sorted({s for t, _, s in writer.scalars if t == "loss/ce"})
    assert steps == [1, 2, 3]


def test_accumulation_steps_average_the_gradients_of_each_group():
    """With accumulation_steps=2 each optimiser step uses the mean gradient of two iterations, as
    SupervisedTrainer does (checked against plain SGD steps on the averaged losses: exact, on any CPU)."""
    torch.manual_seed(0)
    net = TinyNet()
    reference = TinyNet()
    reference.load_state_dict(net.state_dict())
    opt = torch.optim.SGD(net.parameters(), 0.5)
    steps = []
    opt.register_step_post_hook(lambda *a: steps.append(1))
    data = seg_batches(4)
    trainer = DIANetTrainer("cpu", 5, data, net, opt, PartsLoss(), accumulation_steps=2)
    trainer.run()
    assert len(steps) == 5 * 2  # 4 iterations per epoch, one optimiser step every 2
    ref_opt = torch.optim.SGD(reference.parameters(), 0.5)
    for _ in range(5):
        for first, second in ((data[0], data[1]), (data[2], data[3])):
            ref_opt.zero_grad()
            loss = sum(PartsLoss()(reference(b["image"], return_all=True), b["label"]) for b in (first, second)) / 2
            loss.backward()
            ref_opt.step()
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_built_from_bundle_config():
    config = {
        "imports": ["$from monai_dianet.handlers import from_loss_parts"],
        "network": {"_target_": "monai_dianet.networks.nets.DIANet", "spatial_dims": 2, "in_channels": 1,
                    "out_channels": 2, "codebook_size": 0, "diffuser": False, "fusion_channels": 16,
                    "latent_channels": 8, "decoder_channels": 8},
        "loss": {"_target_": "monai_dianet.losses.DIANetLoss", "segmentation_activation": "softmax"},
        "optimizer": {"_target_": "torch.optim.Adam", "params": "$@network.parameters()", "lr": 1e-3},
        "trainer": {
            "_target_": "monai_dianet.engines.DIANetTrainer", "device": "cpu", "max_epochs": 1,
            "train_data_loader": "@data", "network": "@network", "optimizer": "@optimizer",
            "loss_function": "@loss",
            "train_handlers": [{"_target_": "StatsHandler", "output_transform": "$from_loss_parts"},
                               {"_target_": "monai_dianet.handlers.LossPartsHandler"}],
        },
    }
    parser = ConfigParser(config)
    parser["data"] = seg_batches(1)
    trainer = parser.get_parsed_content("trainer")
    assert isinstance(trainer, DIANetTrainer)
    trainer.run()
    assert "loss/segmentation" in trainer.state.metrics


def test_ddp_wrapped_network(tmp_path):
    dist = torch.distributed
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        net = small_dianet()
        # prior_logits feed no loss term here: static_graph lets DDP skip their (always unused) parameters
        ddp = nn.parallel.DistributedDataParallel(net, static_graph=True)
        trainer = DIANetTrainer(
            "cpu", 1, seg_batches(2), ddp, torch.optim.Adam(ddp.parameters(), 1e-3),
            DIANetLoss(segmentation_activation="softmax"),
        )
        trainer.run()
        assert unwrap_network(trainer.network) is net
        assert math.isfinite(from_loss_parts(trainer.state.output)["loss/total"])
    finally:
        dist.destroy_process_group()
