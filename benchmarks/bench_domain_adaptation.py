# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Domain adaptation under a scanner-like intensity shift: source-only vs joint-BN vs MMD vs adversarial (eq 22-24).

The task is lesion presence classification on generated 2D slices (``monai_dianet.data.synthetic.domain_shift``); the
target domain is the same anatomy through ``RandDomainShift`` (gamma, contrast, bias field, offset, noise).
Every method trains the same DIANet-2D from the same seed, with the same source data order, optimiser and
number of iterations:

- ``source``: ``DIANetTrainer`` on labelled source batches only (the baseline);
- ``joint``: ``DomainAdaptiveTrainer`` without a domain loss (target batches only share the batch-norm
  statistics: separates that effect from the domain loss);
- ``mmd``: ``DomainAdaptiveTrainer`` + ``MMDLoss`` on the pooled latent (eq 22-23);
- ``adv``: ``DomainAdaptiveTrainer`` + ``DomainAdversarialLoss`` (discriminator + gradient reversal with the
  DANN schedule, eq 24);
- ``im`` / ``mmd_im``: the target information-maximisation term alone / added to ``mmd``
  (``target_entropy_weight=--im-weight``).

The domain weight lambda3 is constant (``--ramp``: DANN ramp-up); the adversarial loss's reversal weight always
follows the DANN schedule. Reported per method (mean
over seeds): source and target test accuracy, the MMD between source-test and target-test pooled latents of
the trained model, and ratios against ``source`` run side by side in the same process.

Example::

    python benchmarks/bench_domain_adaptation.py --iters 128 --seeds 0 1 2 3 4 --methods source mmd --ramp --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from monai.utils import set_determinism
from torch.utils.data import DataLoader
from tqdm import tqdm

from monai_dianet.data.synthetic.domain_shift import make_domain_shift_task
from monai_dianet.engines import DIANetTrainer, DomainAdaptiveTrainer
from monai_dianet.losses import DIANetLoss, DomainAdversarialLoss, MMDLoss
from monai_dianet.networks.blocks.gradient_reversal import DANNSchedule
from monai_dianet.networks.nets import DIANet

METHODS = ("source", "joint", "mmd", "adv", "im", "mmd_im")


def build_net(latent_channels: int) -> DIANet:
    return DIANet(
        2, 1, 2, tasks=("classification",), codebook_size=0, diffuser=False, fusion_channels=32,
        latent_channels=latent_channels,
    )


@torch.no_grad()
def evaluate(net: DIANet, task: dict) -> dict[str, float]:
    net.eval()
    result, feats = {}, {}
    for split in ("source_test", "target_test"):
        x = torch.stack([d["image"] for d in task[split]])
        y = torch.stack([d["label"] for d in task[split]])
        out = net(x, return_all=True)
        result[f"{split}_acc"] = float((out.classification.argmax(1) == y).float().mean())
        feats[split] = out.pooled_latent
    result["mmd"] = float(MMDLoss()(feats["source_test"], feats["target_test"]))
    return result


def run(method: str, task: dict, args: argparse.Namespace, seed: int) -> dict[str, float]:
    set_determinism(seed)
    net = build_net(args.latent_channels)
    source = DataLoader(task["source_train"], batch_size=args.batch, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    target = DataLoader(task["target_train"], batch_size=args.batch, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed + 1))
    epochs = max(1, args.iters // len(source))
    params = list(net.parameters())
    domain_loss = None
    if method in ("mmd", "mmd_im"):
        domain_loss = MMDLoss()
    elif method == "adv":
        domain_loss = DomainAdversarialLoss(in_channels=args.latent_channels)
        params += list(domain_loss.parameters())
    optimizer = torch.optim.Adam(params, args.lr)
    start = time.perf_counter()
    if method == "source":
        trainer = DIANetTrainer("cpu", epochs, source, net, optimizer, DIANetLoss())
    else:
        trainer = DomainAdaptiveTrainer(
            "cpu", epochs, source, target, net, optimizer, DIANetLoss(), domain_loss=domain_loss,
            domain_weight=args.domain_weight,
            domain_weight_schedule=DANNSchedule() if (domain_loss is not None and args.ramp) else None,
            domain_feature="pooled_latent",
            target_entropy_weight=args.im_weight if method in ("im", "mmd_im") else 0.0,
        )
    trainer.run()
    result = evaluate(net, task)
    result["train_s"] = time.perf_counter() - start
    result["iterations"] = trainer.state.iteration
    set_determinism(None)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--num-source", type=int, default=128)
    parser.add_argument("--num-target", type=int, default=128)
    parser.add_argument("--num-test", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--domain-weight", type=float, default=1.0)
    parser.add_argument("--im-weight", type=float, default=1.0, help="weight of the target information loss")
    parser.add_argument("--ramp", action="store_true", help="ramp lambda3 up with the DANN schedule")
    parser.add_argument("--latent-channels", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    raw: dict[str, list[dict[str, float]]] = {m: [] for m in args.methods}
    jobs = [(seed, m) for seed in args.seeds for m in args.methods]
    tasks: dict[int, dict] = {}
    for seed, method in tqdm(jobs, desc="runs"):
        if seed not in tasks:
            tasks = {seed: make_domain_shift_task(args.num_source, args.num_target, args.num_test, size=args.size,
                                                  seed=seed, task="classification")}
        res = run(method, tasks[seed], args, seed)
        res["seed"] = seed
        raw[method].append(res)
        tqdm.write(f"seed {seed} {method:7s} " + " ".join(f"{k}={v:.3f}" for k, v in res.items() if k != "seed"))

    print(f"\nconfig: {vars(args)}")
    base = raw.get("source")
    header = (
        "| method | source acc | target acc (per seed) | target acc / source-only | MMD (src vs tgt latent) "
        "| MMD / source-only | train s |"
    )
    print(header)
    print("|" + "---|" * 7)
    for method, runs in raw.items():
        keys = ("source_test_acc", "target_test_acc", "mmd", "train_s")
        mean = {k: float(np.mean([r[k] for r in runs])) for k in keys}
        ratio_acc = ratio_mmd = float("nan")
        if base:
            ratio_acc = mean["target_test_acc"] / float(np.mean([r["target_test_acc"] for r in base]))
            ratio_mmd = mean["mmd"] / float(np.mean([r["mmd"] for r in base]))
        per_seed = ", ".join(f"{r['target_test_acc']:.2f}" for r in runs)
        print(f"| {method} | {mean['source_test_acc']:.3f} | {mean['target_test_acc']:.3f} ({per_seed}) | "
              f"{ratio_acc:.2f}x | {mean['mmd']:.3f} | {ratio_mmd:.2f}x | {mean['train_s']:.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": vars(args), "runs": raw}, f, indent=2)


if __name__ == "__main__":
    main()
